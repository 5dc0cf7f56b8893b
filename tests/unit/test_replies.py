"""What the bot says: every procedure x topic answer with its referral, context
carry-over, the missing-procedure prompt, and the referral on every path."""

from __future__ import annotations

import pytest

from bot.knowledge import GENERAL, PROCEDURES, TOPICS
from bot.replies import INTENT_TOPICS, TOPIC_INTENTS, intent_payload

NO_SLOTS = {"procedure": None, "topic": None, "pending_topic": None}


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


def test_several_procedures_in_one_question_are_all_answered_once_referred(responder, knowledge, referral):
    outcome = responder.answer_question(
        "ask_risks",
        ["radiofrequency_ablation", "epidural_steroid_injection", "radiofrequency_ablation"],
        NO_SLOTS,
    )
    assert outcome.texts == [
        knowledge.answer("radiofrequency_ablation", "risks").text,
        knowledge.answer("epidural_steroid_injection", "risks").text,
        referral,
    ]


def test_unknown_entity_values_are_ignored(responder, knowledge):
    outcome = responder.answer_question("ask_procedure", ["acupuncture"], NO_SLOTS)
    assert outcome.texts[0] == knowledge.answer(GENERAL, "overview").text


def test_inform_without_any_topic_gives_the_overview(responder, knowledge):
    outcome = responder.answer_question("inform", ["trigger_point_injection"], NO_SLOTS)
    assert outcome.texts[0] == knowledge.answer("trigger_point_injection", "overview").text


@pytest.mark.parametrize("category", ["neuro", "cauda_equina", "infection", "pump", "cardio_respiratory"])
def test_red_flags_get_emergency_instructions_first_then_the_specialist(responder, settings, category):
    texts = responder.emergency(category).texts
    assert settings.emergency_number in texts[0]
    assert settings.phone in texts[-1]


def test_self_harm_gets_the_crisis_line_first(responder, settings):
    texts = responder.emergency("self_harm").texts
    assert settings.crisis_line in texts[0]
    assert settings.phone in texts[-1]


def test_emergency_without_category_gives_both_lines(responder, settings):
    texts = responder.emergency(None).texts
    assert settings.emergency_number in texts[0] and settings.crisis_line in texts[1]


@pytest.mark.parametrize(
    "outcome_of",
    [
        lambda r: r.fallback(None),
        lambda r: r.fallback("spinal_cord_stimulation"),
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
    first = responder.fallback("radiofrequency_ablation").replies[0]
    assert [b.title for b in first.buttons] == [knowledge.topic_labels[t] for t in TOPICS]
    assert first.buttons[0].payload == '/ask_procedure{"procedure":"radiofrequency_ablation"}'


def test_fallback_without_context_offers_procedures(responder):
    first = responder.fallback(None).replies[0]
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
