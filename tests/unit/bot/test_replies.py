"""What the bot says: every procedure x topic answer with its referral, context
carry-over, the missing-procedure prompt, the referral on every path, and red flags
first (each triage level's message, most urgent first, then what to do after)."""

from __future__ import annotations

import pytest

from bot.knowledge import GENERAL, LEVELS, PROCEDURES, TOPICS
from bot.replies import INTENT_TOPICS, TOPIC_INTENTS, intent_payload

NO_SLOTS = {"procedure": None, "topic": None, "pending_topic": None}
EMERGENCY = [
    "limb_weakness_numbness",
    "bladder_bowel_saddle",
    "chest_breathing_fainting",
    "overdose",
    "stroke_vision",
    "allergic_reaction",
    "fever_stiff_neck",
    "heavy_bleeding",
    "stated_emergency",
]
CRISIS = ["suicide_self_harm"]
URGENT = [
    "wound_infection",
    "fever_after_procedure",
    "positional_headache",
    "severe_site_pain",
    "pump_problem",
    "stimulator_problem",
]
FORMER_CATEGORIES = [
    "neuro",
    "cauda_equina",
    "infection",
    "spinal_headache",
    "pump",
    "cardio_respiratory",
    "self_harm",
]


@pytest.mark.parametrize("procedure", PROCEDURES)
@pytest.mark.parametrize("topic", TOPICS)
def test_every_procedure_and_topic_is_answered_then_referred(
    responder, knowledge, referral, procedure, topic
):
    outcome = responder.answer_question(TOPIC_INTENTS[topic], [procedure], NO_SLOTS)
    assert outcome.texts == [knowledge.answer(procedure, topic).text, referral]
    assert outcome.slots["last_answer"] == f"{procedure}/{topic}"
    assert outcome.slots["procedure"] == procedure
    assert outcome.slots["knowledge_version"] == knowledge.version


def test_referral_uses_the_clinic_settings(referral, settings):
    assert settings.phone in referral and settings.name in referral and settings.booking_url in referral
    assert "pain specialist" in referral


def test_context_carries_over_to_the_next_question(responder, knowledge):
    first = responder.answer_question("ask_procedure", ["radiofrequency_ablation"], NO_SLOTS)
    follow_up = responder.answer_question("ask_recovery_time", [], {**NO_SLOTS, **first.slots})
    assert follow_up.texts[0] == knowledge.answer("radiofrequency_ablation", "recovery_time").text
    assert follow_up.slots["last_answer"] == "radiofrequency_ablation/recovery_time"


def test_a_new_procedure_replaces_the_context(responder):
    slots = {**NO_SLOTS, "procedure": "radiofrequency_ablation", "topic": "risks"}
    outcome = responder.answer_question("ask_risks", ["spinal_cord_stimulation"], slots)
    assert outcome.slots["last_answer"] == "spinal_cord_stimulation/risks"


def test_what_about_another_procedure_keeps_the_topic(responder, knowledge):
    slots = {**NO_SLOTS, "procedure": "radiofrequency_ablation", "topic": "recovery_time"}
    outcome = responder.answer_question("inform", ["epidural_steroid_injection"], slots)
    assert outcome.texts[0] == knowledge.answer("epidural_steroid_injection", "recovery_time").text


@pytest.mark.parametrize("topic", ["recovery_time", "relief_duration", "preparation"])
def test_missing_procedure_asks_which_with_buttons_then_answers_the_pending_question(
    responder, knowledge, referral, topic
):
    ask = responder.answer_question(TOPIC_INTENTS[topic], [], NO_SLOTS)
    assert ask.texts == [knowledge.messages["ask_which_procedure"]]
    buttons = ask.replies[0].buttons
    assert [b.title for b in buttons] == [knowledge.entries[p].short_name for p in PROCEDURES]
    assert buttons[3].payload == intent_payload(TOPIC_INTENTS[topic], procedure=PROCEDURES[3])
    assert ask.slots["pending_topic"] == topic

    # The patient then names the procedure on its own ("inform").
    answered = responder.answer_question("inform", ["nerve_block"], {**NO_SLOTS, **ask.slots})
    assert answered.texts == [knowledge.answer("nerve_block", topic).text, referral]
    assert answered.slots["pending_topic"] is None
    assert answered.slots["last_answer"] == f"nerve_block/{topic}"


@pytest.mark.parametrize("topic", ["overview", "medication_reliance", "risks", "candidacy", "cost"])
def test_general_questions_are_answered_from_the_general_entry(responder, knowledge, referral, topic):
    outcome = responder.answer_question(TOPIC_INTENTS[topic], [], NO_SLOTS)
    assert outcome.texts == [knowledge.answer(GENERAL, topic).text, referral]
    assert outcome.slots["last_answer"] == f"general/{topic}"


def test_several_procedures_in_one_question_get_one_side_by_side_then_the_referral(
    responder, knowledge, referral
):
    outcome = responder.answer_question(
        "ask_risks",
        ["radiofrequency_ablation", "epidural_steroid_injection", "radiofrequency_ablation"],
        NO_SLOTS,
    )
    (side_by_side, last) = outcome.texts
    assert last == referral
    assert side_by_side.startswith(knowledge.messages["compare_intro"])
    rfa = knowledge.entries["radiofrequency_ablation"].short_name
    esi = knowledge.entries["epidural_steroid_injection"].short_name
    assert side_by_side.count(f"- {rfa}: ") == side_by_side.count(f"- {esi}: ") == 1  # risks only
    assert side_by_side.index(rfa) < side_by_side.index(esi)
    first = knowledge.answer("radiofrequency_ablation", "risks").text.split(". ")[0]
    assert first in side_by_side
    assert outcome.slots["last_answer"] == "compare:radiofrequency_ablation,epidural_steroid_injection:risks"


def test_unknown_entity_values_are_ignored(responder, knowledge):
    outcome = responder.answer_question("ask_procedure", ["acupuncture"], NO_SLOTS)
    assert outcome.texts[0] == knowledge.answer(GENERAL, "overview").text


def test_inform_without_any_topic_gives_the_overview(responder, knowledge):
    outcome = responder.answer_question("inform", ["trigger_point_injection"], NO_SLOTS)
    assert outcome.texts[0] == knowledge.answer("trigger_point_injection", "overview").text


def level_texts(knowledge, settings, level):
    """A triage level's message and what to do after it, as the knowledge file words them."""
    values = settings.template_values()
    found = knowledge.triage.levels[level]
    return found.message.format(**values), found.then.format(**values)


def red_flag(category, entity="red_flag", start=0):
    return {"entity": entity, "value": category, "start": start, "end": start + 10}


def test_the_triage_levels_and_categories_are_those_of_the_knowledge_file(responder, knowledge, settings):
    assert LEVELS == ("emergency", "crisis", "urgent")
    assert tuple(knowledge.triage.levels) == LEVELS
    assert {c: knowledge.triage.level_of(c) for c in EMERGENCY + CRISIS + URGENT} == {
        **{c: "emergency" for c in EMERGENCY},
        **{c: "crisis" for c in CRISIS},
        **{c: "urgent" for c in URGENT},
    }
    for category in knowledge.triage.categories.values():
        assert responder.triage([category.id]).texts == list(level_texts(knowledge, settings, category.level))
    for former in FORMER_CATEGORIES:
        assert former not in knowledge.triage.categories
    for former in ("emergency", "emergency_self_harm", "after_emergency"):
        assert former not in knowledge.messages


@pytest.mark.parametrize("category", EMERGENCY + CRISIS + URGENT)
def test_each_category_gets_its_level_message_first_then_what_to_do_after(
    responder, knowledge, settings, category
):
    level = knowledge.triage.level_of(category)
    outcome = responder.triage([category])
    assert outcome.texts == list(level_texts(knowledge, settings, level))
    assert outcome.slots == {"pending_topic": None, "triage_level": level}
    assert all(not reply.buttons for reply in outcome.replies)


def test_the_level_messages_name_who_to_call(responder, settings):
    emergency, crisis, urgent = (responder.level_message(level) for level in LEVELS)
    assert settings.emergency_number in emergency and settings.crisis_line not in emergency
    assert settings.crisis_line in crisis and settings.emergency_number in crisis
    assert settings.phone in urgent and settings.hours in urgent and settings.after_hours_phone in urgent
    assert settings.emergency_number in urgent


def test_an_emergency_makes_an_urgent_level_redundant(responder, knowledge, settings):
    outcome = responder.triage(["wound_infection", "chest_breathing_fainting", "pump_problem"])
    assert outcome.texts == list(level_texts(knowledge, settings, "emergency"))
    assert outcome.slots == {"pending_topic": None, "triage_level": "emergency"}


def test_a_crisis_and_an_emergency_get_both_emergency_first(responder, knowledge, settings):
    emergency, emergency_then = level_texts(knowledge, settings, "emergency")
    crisis, _ = level_texts(knowledge, settings, "crisis")
    for categories in (["suicide_self_harm", "overdose"], ["overdose", "suicide_self_harm"]):
        outcome = responder.triage(categories)
        assert outcome.texts == [emergency, crisis, emergency_then]
        assert outcome.slots == {"pending_topic": None, "triage_level": "emergency"}
    # With an urgent one too: the urgent level goes, the crisis stays.
    every = responder.triage(["pump_problem", "suicide_self_harm", "limb_weakness_numbness"])
    assert every.texts == [emergency, crisis, emergency_then]


def test_a_crisis_is_never_dropped_for_an_urgent_level(responder, knowledge, settings):
    crisis, crisis_then = level_texts(knowledge, settings, "crisis")
    urgent, _ = level_texts(knowledge, settings, "urgent")
    outcome = responder.triage(["stimulator_problem", "suicide_self_harm"])
    assert outcome.texts == [crisis, urgent, crisis_then]
    assert outcome.slots == {"pending_topic": None, "triage_level": "crisis"}


def test_repeated_categories_of_a_level_give_its_message_once(responder, knowledge, settings):
    outcome = responder.triage(["bladder_bowel_saddle", "limb_weakness_numbness", "bladder_bowel_saddle"])
    assert outcome.texts == list(level_texts(knowledge, settings, "emergency"))


@pytest.mark.parametrize("categories", [[], ["neuro"], ["self_harm"], ["not_a_category"]], ids=str)
def test_without_a_known_category_the_emergency_level_alone(responder, knowledge, settings, categories):
    outcome = responder.triage(categories)
    assert outcome.texts == list(level_texts(knowledge, settings, "emergency"))
    assert outcome.slots == {"pending_topic": None, "triage_level": "emergency"}
    assert not any(settings.crisis_line in text for text in outcome.texts)


def test_red_flags_first_triages_the_red_flag_entities_in_message_order(responder):
    entities = [
        {"entity": "procedure", "value": "spinal_cord_stimulation", "start": 0, "end": 10},
        red_flag("suicide_self_harm", start=20),
        red_flag("stimulator_problem", start=5),
    ]
    outcome = responder.red_flags_first(entities, {})
    assert outcome.texts == responder.triage(["stimulator_problem", "suicide_self_harm"]).texts
    assert outcome.slots == {"pending_topic": None, "triage_level": "crisis"}


def test_red_flags_first_without_a_red_flag_is_none(responder):
    assert responder.red_flags_first([], {}) is None
    assert responder.red_flags_first([], {"recent_procedure": "yes"}) is None
    procedure = [{"entity": "procedure", "value": "nerve_block", "start": 0, "end": 10}]
    assert responder.red_flags_first(procedure, {"recent_procedure": "yes"}) is None
    assert responder.red_flags_first([red_flag("suicide_self_harm", "crisis_check")], {}) is None


@pytest.mark.parametrize("category", ["positional_headache", "fever_after_procedure", "severe_site_pain"])
def test_a_conditional_red_flag_counts_only_after_a_recent_procedure(
    responder, knowledge, settings, category
):
    entities = [red_flag(category, "red_flag_conditional")]
    assert responder.red_flags_first(entities, {}) is None
    assert responder.red_flags_first(entities, {"recent_procedure": None}) is None
    outcome = responder.red_flags_first(entities, {"recent_procedure": "yes"})
    assert outcome.texts == list(level_texts(knowledge, settings, "urgent"))
    assert outcome.slots == {"pending_topic": None, "triage_level": "urgent"}


def test_a_conditional_red_flag_after_a_procedure_is_not_dropped_by_a_crisis(responder, knowledge, settings):
    crisis, crisis_then = level_texts(knowledge, settings, "crisis")
    urgent, _ = level_texts(knowledge, settings, "urgent")
    entities = [red_flag("suicide_self_harm"), red_flag("fever_after_procedure", "red_flag_conditional")]
    assert responder.red_flags_first(entities, {}).texts == [crisis, crisis_then]
    told = responder.red_flags_first(entities, {"recent_procedure": "yes"})
    assert told.texts == [crisis, urgent, crisis_then]
    assert told.slots == {"pending_topic": None, "triage_level": "crisis"}


def test_with_crisis_check_puts_the_crisis_line_before_the_answer(responder, knowledge, settings, referral):
    answer = responder.answer_question("ask_risks", ["iv_infusion"], NO_SLOTS)
    line = knowledge.triage.crisis_check.format(**settings.template_values())
    assert settings.crisis_line in line

    checked = responder.with_crisis_check(answer, [red_flag("suicide_self_harm", "crisis_check")])
    assert checked.texts == [line, knowledge.answer("iv_infusion", "risks").text, referral]
    assert checked.slots == answer.slots
    assert checked.replies[-1].buttons == answer.replies[-1].buttons  # the answer's buttons stay
    assert not checked.replies[0].buttons

    assert responder.with_crisis_check(answer, []) is answer
    assert responder.with_crisis_check(answer, [red_flag("suicide_self_harm")]) is answer


def test_respond_gives_the_answer_only_when_no_red_flag_comes_first(responder, knowledge, settings, referral):
    asked = []

    def answer():
        asked.append(True)
        return responder.answer_question("ask_cost", ["nerve_block"], NO_SLOTS)

    triaged = responder.respond([red_flag("overdose")], {}, answer)
    assert triaged.texts == list(level_texts(knowledge, settings, "emergency"))
    assert triaged.slots == {"pending_topic": None, "triage_level": "emergency"}
    assert asked == []

    conditional = [red_flag("positional_headache", "red_flag_conditional")]
    told = responder.respond(conditional, {"recent_procedure": "yes"}, answer)
    assert told.texts == list(level_texts(knowledge, settings, "urgent"))
    assert asked == []

    answered = responder.respond(conditional, {"recent_procedure": None}, answer)
    assert answered.texts == [knowledge.answer("nerve_block", "cost").text, referral]
    assert answered.slots["last_answer"] == "nerve_block/cost"
    assert "triage_level" not in answered.slots
    assert asked == [True]


def test_respond_shows_the_crisis_line_with_the_answer_when_triage_was_unsure(responder, knowledge, settings):
    line = knowledge.triage.crisis_check.format(**settings.template_values())
    unsure = [red_flag("suicide_self_harm", "crisis_check")]
    outcome = responder.respond(unsure, {}, responder.out_of_scope)
    assert outcome.texts == [line, *responder.out_of_scope().texts]
    # A red flag comes first, and alone: the level's own message says what to do.
    raised = responder.respond([*unsure, red_flag("chest_breathing_fainting")], {}, responder.out_of_scope)
    assert raised.texts == list(level_texts(knowledge, settings, "emergency"))


@pytest.mark.parametrize(
    "outcome_of",
    [
        lambda r: r.not_understood(None),
        lambda r: r.not_understood("spinal_cord_stimulation"),
        lambda r: r.out_of_scope(),
        lambda r: r.list_procedures(),
        lambda r: r.answer_question("ask_cost", [], NO_SLOTS),
        lambda r: r.answer_question("ask_cost", ["iv_infusion"], NO_SLOTS),
    ],
    ids=["fallback", "fallback-with-context", "out-of-scope", "list", "general-cost", "cost"],
)
def test_every_other_path_ends_with_the_referral(responder, referral, outcome_of):
    assert outcome_of(responder).texts[-1] == referral


def test_specialist_request_gives_phone_hours_and_booking_link(responder, settings):
    (text,) = responder.specialist().texts
    assert settings.phone in text and settings.hours in text and settings.booking_url in text


def test_fallback_offers_topics_for_the_current_procedure(responder, knowledge):
    first = responder.not_understood("radiofrequency_ablation").replies[0]
    assert [b.title for b in first.buttons] == [knowledge.topic_labels[t] for t in TOPICS]
    assert first.buttons[0].payload == '/ask_procedure{"procedure":"radiofrequency_ablation"}'


def test_fallback_without_context_offers_procedures(responder):
    first = responder.not_understood(None).replies[0]
    assert len(first.buttons) == len(PROCEDURES)


def test_every_intent_topic_exists():
    assert set(INTENT_TOPICS.values()) == set(TOPICS)


def test_knowledge_answers_offer_feedback_and_sources_on_the_referral(responder, knowledge):
    referral = responder.answer_question("ask_risks", ["nerve_block"], NO_SLOTS).replies[-1]
    assert [(b.title, b.payload) for b in referral.buttons] == [
        (knowledge.button_labels["helpful"], "/feedback_helpful"),
        (knowledge.button_labels["unhelpful"], "/feedback_unhelpful"),
        (knowledge.button_labels["sources"], "/ask_source"),
    ]


@pytest.mark.parametrize("procedure", PROCEDURES)
@pytest.mark.parametrize("topic", TOPICS)
def test_sources_of_the_last_answer(responder, knowledge, referral, procedure, topic):
    answer = knowledge.answer(procedure, topic)
    entry = knowledge.entries[procedure]
    texts = responder.sources(f"{procedure}/{topic}").texts
    assert texts[-1] == referral
    assert entry.review.reviewed_on.strftime("%Y") in texts[0]
    for source in answer.sources:
        assert source.url in texts[0] and source.title in texts[0]
    if answer.refer and not answer.sources:
        assert texts[0].startswith(knowledge.messages["sources_refer"].split("{")[0])


def test_sources_before_any_answer(responder, knowledge):
    assert responder.sources(None).texts == [knowledge.messages["sources_none"]]
    assert responder.sources("nonsense").texts == [knowledge.messages["sources_none"]]


def test_feedback(responder, knowledge, referral):
    helpful = responder.feedback(True)
    assert helpful.texts == [knowledge.messages["feedback_thanks"]] and helpful.slots == {
        "feedback": "helpful"
    }
    unhelpful = responder.feedback(False)
    assert unhelpful.texts == [knowledge.messages["feedback_missing"], referral]
    assert unhelpful.slots == {"feedback": "unhelpful"}
