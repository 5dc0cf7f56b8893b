"""The custom actions, run as the action server runs them, with rasa-sdk's own
dispatcher and tracker: answers, and red flags first in every answering action."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet

from actions.actions import (
    ActionAnswerQuestion,
    ActionHandleEmergency,
    ActionHandleFallback,
    ActionHandleOutOfScope,
    ActionListProcedures,
    ActionRecordFeedback,
    ActionReferSpecialist,
    ActionSessionStart,
    ActionShowSources,
    PatientAction,
)


def run(action, dispatcher, tracker, domain):
    return asyncio.run(action.run(dispatcher, tracker, domain))


def slots_of(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_answer_uses_the_entity_and_sets_last_answer(dispatcher, tracker, domain, knowledge, referral):
    entities = [{"entity": "procedure", "value": "radiofrequency_ablation", "start": 18, "end": 21}]
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_recovery_time", entities), domain)
    assert [m["text"] for m in dispatcher.messages] == [
        knowledge.answer("radiofrequency_ablation", "recovery_time").text,
        referral,
    ]
    assert slots_of(events)["last_answer"] == "radiofrequency_ablation/recovery_time"
    assert SlotSet("procedure", "radiofrequency_ablation") in events


def test_answer_falls_back_on_the_procedure_slot(dispatcher, tracker, domain, knowledge):
    run(
        ActionAnswerQuestion(),
        dispatcher,
        tracker("ask_risks", slots={"procedure": "intrathecal_pump"}),
        domain,
    )
    assert dispatcher.messages[0]["text"] == knowledge.answer("intrathecal_pump", "risks").text


def test_entities_are_answered_in_the_order_they_were_named(dispatcher, tracker, domain, knowledge):
    entities = [
        {"entity": "procedure", "value": "nerve_block", "start": 30, "end": 40},
        {"entity": "procedure", "value": "joint_injection", "start": 5, "end": 15},
    ]
    run(ActionAnswerQuestion(), dispatcher, tracker("ask_cost", entities), domain)
    (side_by_side, _referral) = dispatcher.messages
    joint = side_by_side["text"].index(knowledge.entries["joint_injection"].short_name)
    assert joint < side_by_side["text"].index(knowledge.entries["nerve_block"].short_name)


def test_missing_procedure_sends_buttons_and_remembers_the_question(dispatcher, tracker, domain):
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_preparation"), domain)
    (message,) = dispatcher.messages
    assert len(message["buttons"]) == 10
    assert message["buttons"][0] == {
        "title": "Epidural injection",
        "payload": '/ask_preparation{"procedure":"epidural_steroid_injection"}',
    }
    assert slots_of(events)["pending_topic"] == "preparation"


def level_texts(knowledge, settings, level):
    """A triage level's message, then what to do after it, filled with the clinic settings."""
    values = settings.template_values()
    found = knowledge.triage.levels[level]
    return [found.message.format(**values), found.then.format(**values)]


def triage_events(level):
    return [SlotSet("pending_topic", None), SlotSet("triage_level", level)]


def entity(name, value, start=0, end=10):
    return {"entity": name, "value": value, "start": start, "end": end}


@pytest.mark.parametrize(
    "category, level",
    [
        ("limb_weakness_numbness", "emergency"),
        ("bladder_bowel_saddle", "emergency"),
        ("suicide_self_harm", "crisis"),
        ("pump_problem", "urgent"),
        ("wound_infection", "urgent"),
    ],
)
def test_emergency_reads_the_red_flag_entity(
    dispatcher, tracker, domain, knowledge, settings, category, level
):
    entities = [entity("red_flag", category)]
    events = run(ActionHandleEmergency(), dispatcher, tracker("emergency", entities), domain)
    assert [m["text"] for m in dispatcher.messages] == level_texts(knowledge, settings, level)
    assert all(not m["buttons"] for m in dispatcher.messages)
    assert events == triage_events(level)


def test_emergency_gives_every_level_raised_most_urgent_first(
    dispatcher, tracker, domain, knowledge, settings
):
    entities = [
        entity("red_flag", "suicide_self_harm", 0, 20),
        entity("red_flag", "pump_problem", 0, 20),
        entity("red_flag", "overdose", 0, 20),
    ]
    events = run(ActionHandleEmergency(), dispatcher, tracker("emergency", entities), domain)
    emergency, emergency_then = level_texts(knowledge, settings, "emergency")
    crisis, _ = level_texts(knowledge, settings, "crisis")
    assert [m["text"] for m in dispatcher.messages] == [emergency, crisis, emergency_then]
    assert events == triage_events("emergency")


@pytest.mark.parametrize("entities", [[], [entity("red_flag", "neuro")]], ids=["payload", "former-category"])
def test_emergency_without_a_known_category_gives_the_emergency_level_alone(
    dispatcher, tracker, domain, knowledge, settings, entities
):
    events = run(ActionHandleEmergency(), dispatcher, tracker("emergency", entities), domain)
    texts = [m["text"] for m in dispatcher.messages]
    assert texts == level_texts(knowledge, settings, "emergency")
    assert not any(settings.crisis_line in text for text in texts)
    assert events == triage_events("emergency")


PATIENT_ACTIONS = [
    ActionAnswerQuestion(),
    ActionListProcedures(),
    ActionReferSpecialist(),
    ActionHandleFallback(),
    ActionHandleOutOfScope(),
    ActionShowSources(),
    ActionRecordFeedback(),
]


@pytest.mark.parametrize("action", PATIENT_ACTIONS, ids=lambda a: a.name())
def test_every_answering_action_puts_a_red_flag_first_and_does_not_answer(
    dispatcher, tracker, domain, knowledge, settings, action
):
    entities = [
        entity("procedure", "spinal_cord_stimulation", 4, 14),
        entity("red_flag", "stimulator_problem", 0, 40),
    ]
    slots = {"procedure": "nerve_block", "last_answer": "nerve_block/risks", "recent_procedure": None}
    events = run(action, dispatcher, tracker("ask_risks", entities, slots), domain)
    assert [m["text"] for m in dispatcher.messages] == level_texts(knowledge, settings, "urgent")
    assert events == triage_events("urgent")


def test_every_action_but_session_start_is_a_patient_action():
    import actions.actions as module

    answering = {
        cls().name()
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, PatientAction) and cls is not PatientAction
    }
    assert answering == {action.name() for action in PATIENT_ACTIONS} | {"action_handle_emergency"}


def test_a_question_with_a_red_flag_gets_the_triage_and_no_answer(
    dispatcher, tracker, domain, knowledge, settings
):
    entities = [
        entity("procedure", "epidural_steroid_injection", 30, 38),
        entity("red_flag", "limb_weakness_numbness", 0, 50),
        entity("recent_procedure", "yes", 0, 50),
    ]
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_recovery_time", entities), domain)
    texts = [m["text"] for m in dispatcher.messages]
    assert texts == level_texts(knowledge, settings, "emergency")
    assert knowledge.answer("epidural_steroid_injection", "recovery_time").text not in texts
    assert events == triage_events("emergency")  # no last_answer: nothing was answered


def test_a_conditional_red_flag_after_a_procedure_the_conversation_told_of_is_urgent(
    dispatcher, tracker, domain, knowledge, settings
):
    entities = [entity("red_flag_conditional", "positional_headache", 0, 50)]
    told = tracker("ask_recovery_time", entities, {"recent_procedure": "yes"})
    events = run(ActionAnswerQuestion(), dispatcher, told, domain)
    assert [m["text"] for m in dispatcher.messages] == level_texts(knowledge, settings, "urgent")
    assert events == triage_events("urgent")


def test_a_conditional_red_flag_without_a_procedure_is_answered_as_usual(
    dispatcher, tracker, domain, knowledge
):
    entities = [entity("red_flag_conditional", "positional_headache", 0, 50)]
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_recovery_time", entities), domain)
    assert [m["text"] for m in dispatcher.messages] == [knowledge.messages["ask_which_procedure"]]
    assert events == [
        SlotSet("pending_topic", "recovery_time"),
        SlotSet("topic", "recovery_time"),
        SlotSet("procedure", None),
        SlotSet("pending_question", None),
    ]


def test_crisis_check_shows_the_crisis_line_then_the_normal_answer(
    dispatcher, tracker, domain, knowledge, settings, referral
):
    entities = [
        entity("procedure", "iv_infusion", 40, 48),
        entity("crisis_check", "suicide_self_harm", 0, 60),
    ]
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_relief_duration", entities), domain)
    line = knowledge.triage.crisis_check.format(**settings.template_values())
    assert [m["text"] for m in dispatcher.messages] == [
        line,
        knowledge.answer("iv_infusion", "relief_duration").text,
        referral,
    ]
    assert not dispatcher.messages[0]["buttons"]
    assert len(dispatcher.messages[-1]["buttons"]) == 3  # feedback and sources, as always
    assert events == [
        SlotSet("procedure", "iv_infusion"),
        SlotSet("topic", "relief_duration"),
        SlotSet("pending_topic", None),
        SlotSet("pending_question", None),
        SlotSet("last_answer", "iv_infusion/relief_duration"),
        SlotSet("knowledge_version", knowledge.version),
    ]


def test_crisis_check_goes_with_other_answers_too(dispatcher, tracker, domain, knowledge, settings, referral):
    entities = [entity("crisis_check", "suicide_self_harm", 0, 30)]
    events = run(ActionHandleOutOfScope(), dispatcher, tracker("out_of_scope", entities), domain)
    assert [m["text"] for m in dispatcher.messages] == [
        knowledge.triage.crisis_check.format(**settings.template_values()),
        knowledge.messages["out_of_scope"].format(**settings.template_values()),
        referral,
    ]
    assert events == []


@pytest.mark.parametrize(
    "action",
    [ActionHandleFallback(), ActionHandleOutOfScope(), ActionListProcedures()],
    ids=lambda a: a.name(),
)
def test_other_actions_end_with_the_referral(dispatcher, tracker, domain, referral, action):
    run(action, dispatcher, tracker("nlu_fallback"), domain)
    assert dispatcher.messages[-1]["text"] == referral


def test_specialist_action(dispatcher, tracker, domain, settings):
    run(ActionReferSpecialist(), dispatcher, tracker("request_specialist"), domain)
    assert settings.booking_url in dispatcher.messages[0]["text"]


def test_session_start_fills_the_clinic_slots_the_domain_responses_use(dispatcher, tracker, domain, settings):
    events = run(ActionSessionStart(), dispatcher, tracker("greet"), domain)
    assert events[0]["event"] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    slots = slots_of(events)
    assert slots["clinic_phone"] == settings.phone
    assert set(settings.template_values()) <= set(domain["slots"])
    assert set(settings.template_values()) <= set(slots)
    for variants in domain["responses"].values():
        for variant in variants:
            variant["text"].format(**slots)  # every placeholder in domain.yml is filled


def test_action_names_match_the_domain(domain):
    # Registered as the action server registers them (rasa_sdk's create_app): every
    # subclass of Action that is not abstract, so a base class must be abstract.
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions.actions")
    assert set(executor.actions) == set(domain["actions"])


def test_sources_action_reads_last_answer(dispatcher, tracker, domain, knowledge):
    slots = {"last_answer": "spinal_cord_stimulation/risks"}
    run(ActionShowSources(), dispatcher, tracker("ask_source", slots=slots), domain)
    for source in knowledge.answer("spinal_cord_stimulation", "risks").sources:
        assert source.url in dispatcher.messages[0]["text"]


@pytest.mark.parametrize(
    "intent, value", [("feedback_helpful", "helpful"), ("feedback_unhelpful", "unhelpful")]
)
def test_feedback_action_sets_the_feedback_slot(dispatcher, tracker, domain, intent, value):
    events = run(
        ActionRecordFeedback(),
        dispatcher,
        tracker(intent, slots={"last_answer": "nerve_block/risks"}),
        domain,
    )
    assert slots_of(events) == {"feedback": value}
