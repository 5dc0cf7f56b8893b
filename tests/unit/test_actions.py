"""The custom actions, run as the action server runs them, with rasa-sdk's own
dispatcher and tracker."""

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
    ActionReferSpecialist,
    ActionSessionStart,
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
    assert dispatcher.messages[0]["text"] == knowledge.answer("joint_injection", "cost").text
    assert dispatcher.messages[1]["text"] == knowledge.answer("nerve_block", "cost").text


def test_missing_procedure_sends_buttons_and_remembers_the_question(dispatcher, tracker, domain):
    events = run(ActionAnswerQuestion(), dispatcher, tracker("ask_preparation"), domain)
    (message,) = dispatcher.messages
    assert len(message["buttons"]) == 10
    assert message["buttons"][0] == {
        "title": "Epidural injection",
        "payload": '/ask_preparation{"procedure":"epidural_steroid_injection"}',
    }
    assert slots_of(events)["pending_topic"] == "preparation"


@pytest.mark.parametrize("category", ["self_harm", "neuro"])
def test_emergency_reads_the_red_flag_entity(dispatcher, tracker, domain, settings, category):
    entities = [{"entity": "red_flag", "value": category, "start": 0, "end": 10}]
    run(ActionHandleEmergency(), dispatcher, tracker("emergency", entities), domain)
    expected = settings.crisis_line if category == "self_harm" else settings.emergency_number
    assert expected in dispatcher.messages[0]["text"]
    assert settings.phone in dispatcher.messages[-1]["text"]


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
    from rasa_sdk import Action

    import actions.actions as module

    names = {
        cls().name()
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, Action) and cls is not Action
    }
    assert names == set(domain["actions"])


def test_sources_action_reads_last_answer(dispatcher, tracker, domain, knowledge):
    from actions.actions import ActionShowSources

    slots = {"last_answer": "spinal_cord_stimulation/risks"}
    run(ActionShowSources(), dispatcher, tracker("ask_source", slots=slots), domain)
    for source in knowledge.answer("spinal_cord_stimulation", "risks").sources:
        assert source.url in dispatcher.messages[0]["text"]


@pytest.mark.parametrize(
    "intent, value", [("feedback_helpful", "helpful"), ("feedback_unhelpful", "unhelpful")]
)
def test_feedback_action_sets_the_feedback_slot(dispatcher, tracker, domain, intent, value):
    from actions.actions import ActionRecordFeedback

    events = run(
        ActionRecordFeedback(),
        dispatcher,
        tracker(intent, slots={"last_answer": "nerve_block/risks"}),
        domain,
    )
    assert slots_of(events) == {"feedback": value}
