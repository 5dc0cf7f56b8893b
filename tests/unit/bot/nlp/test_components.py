"""TriageGuard, the last NLU component: the entities it adds for the actions, and the
intent it sets. With an untrained classifier only the red-flag rules decide, so these
tests need no trained model."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.components import TriageGuard

TRIAGE_ENTITIES = ("red_flag", "red_flag_conditional", "crisis_check", "recent_procedure")


@pytest.fixture(scope="module")
def guard() -> TriageGuard:
    return TriageGuard({}, None, None)  # rules only: the classifier is untrained


def parsed(text: str, ranking, entities=()) -> Message:
    """A message as the intent classifier left it: ``ranking`` is (intent, confidence) pairs."""
    ranking = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return Message(
        data={"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": list(entities)}
    )


def triage_entities(message: Message):
    return [
        (e["entity"], e["value"], e["start"], e["end"])
        for e in message.get("entities")
        if e["entity"] in TRIAGE_ENTITIES
    ]


def test_a_red_flag_makes_the_intent_emergency_with_one_entity_per_category(guard):
    text = "I suddenly can't feel my legs and can't pee"
    (message,) = guard.process([parsed(text, [("ask_risks", 0.6), ("ask_recovery_time", 0.2)])])
    assert message.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert [r["name"] for r in message.get("intent_ranking")] == [
        "emergency",
        "ask_risks",
        "ask_recovery_time",
    ]
    assert sorted(triage_entities(message)) == [
        ("red_flag", "bladder_bowel_saddle", 0, len(text)),
        ("red_flag", "limb_weakness_numbness", 0, len(text)),
    ]
    assert all(e["extractor"] == "TriageGuard" for e in message.get("entities"))


def test_an_emergency_guess_without_a_red_flag_uses_the_next_intent(guard):
    text = "what should i do before my epidural"
    ranking = [("emergency", 0.5), ("ask_preparation", 0.3), ("ask_risks", 0.1)]
    (message,) = guard.process([parsed(text, ranking)])
    assert message.get("intent") == {"name": "ask_preparation", "confidence": 0.3}
    assert [r["name"] for r in message.get("intent_ranking")] == ["ask_preparation", "ask_risks"]
    assert triage_entities(message) == []


def test_an_emergency_guess_without_a_red_flag_and_no_confident_second_is_the_fallback(guard):
    text = "what counts as an emergency"
    ranking = [("emergency", 0.59), ("out_of_scope", 0.12), ("list_procedures", 0.07)]
    (message,) = guard.process([parsed(text, ranking)])
    assert message.get("intent") == {"name": "nlu_fallback", "confidence": 1.0}
    assert [r["name"] for r in message.get("intent_ranking")] == [
        "nlu_fallback",
        "out_of_scope",
        "list_procedures",
    ]
    assert triage_entities(message) == []


def test_other_intents_are_left_as_they_are_without_a_red_flag(guard):
    ranking = [("ask_cost", 0.8), ("emergency", 0.1)]
    (message,) = guard.process([parsed("how much is a nerve block", ranking)])
    assert message.get("intent") == {"name": "ask_cost", "confidence": 0.8}
    assert [r["name"] for r in message.get("intent_ranking")] == ["ask_cost", "emergency"]


def test_a_sign_that_needs_a_procedure_is_conditional_and_keeps_the_intent(guard):
    text = "i have a headache that gets better when i lie down"
    (message,) = guard.process([parsed(text, [("ask_recovery_time", 0.55)])])
    assert message.get("intent") == {"name": "ask_recovery_time", "confidence": 0.55}
    assert triage_entities(message) == [("red_flag_conditional", "positional_headache", 0, len(text))]


def test_a_procedure_the_patient_had_fills_recent_procedure(guard):
    text = "i had my epidural yesterday"
    procedure = {"entity": "procedure", "value": "epidural_steroid_injection", "start": 9, "end": 17}
    (message,) = guard.process([parsed(text, [("inform", 0.33)], [procedure])])
    assert message.get("intent") == {"name": "inform", "confidence": 0.33}
    assert triage_entities(message) == [("recent_procedure", "yes", 0, len(text))]
    assert procedure in message.get("entities")  # the procedure entity stays


def test_self_harm_words_about_the_past_get_the_crisis_check(guard):
    text = "my uncle died by suicide years ago"
    (message,) = guard.process([parsed(text, [("out_of_scope", 0.29)])])
    assert message.get("intent") == {"name": "out_of_scope", "confidence": 0.29}
    assert triage_entities(message) == [("crisis_check", "suicide_self_harm", 0, len(text))]


def test_triage_entities_are_replaced_not_added_to(guard):
    text = "I want to kill myself"
    stale = {"entity": "red_flag", "value": "self_harm", "start": 0, "end": len(text)}
    (message,) = guard.process([parsed(text, [("emergency", 0.9)], [stale])])
    (again,) = guard.process([message])
    assert triage_entities(again) == [("red_flag", "suicide_self_harm", 0, len(text))]
