"""The red-flag rules (the floor under the triage classifier) on the older test
phrases (tests/data/red_flags.yml, in the rules' former categories) and on the cases
the product brief names."""

from __future__ import annotations

import pytest

from benchmarks.triage import DEV_LEVELS
from bot.safety.red_flags import _SYMPTOMS, detect_red_flag, detect_red_flags


def test_every_rule_category_is_a_knowledge_file_category(knowledge):
    assert set(_SYMPTOMS) | {"fever_after_procedure"} <= set(knowledge.triage.categories)


def test_every_positive_phrase_triggers_a_category_of_its_level(red_flag_cases, knowledge):
    missed = []
    for case in red_flag_cases["positive"]:
        levels = knowledge.triage.levels_of(f.category for f in detect_red_flags(case["text"]))
        if DEV_LEVELS[case["category"]] not in levels and not (levels and levels[0] == "emergency"):
            missed.append((case["category"], levels, case["text"]))
    assert not missed, missed


def test_no_negative_phrase_triggers(red_flag_cases):
    false_alarms = [
        (text, detect_red_flag(text)) for text in red_flag_cases["negative"] if detect_red_flag(text)
    ]
    assert not false_alarms, false_alarms


def test_the_test_phrases_cover_every_former_category(red_flag_cases):
    assert {case["category"] for case in red_flag_cases["positive"]} == set(DEV_LEVELS)


@pytest.mark.parametrize(
    "text, category",
    [
        ("My legs went weak all of a sudden", "limb_weakness_numbness"),
        ("I can't control my bowels since yesterday", "bladder_bowel_saddle"),
        ("numbness in my groin after the epidural", "bladder_bowel_saddle"),
        ("I have a fever and the injection site is red and draining", "wound_infection"),
        ("worst headache of my life since the spinal injection", "positional_headache"),
        ("my pain pump alarm is going off", "pump_problem"),
        ("I think I'm going through withdrawal", "pump_problem"),
        ("I have chest pain and trouble breathing", "chest_breathing_fainting"),
        ("I want to end my life", "suicide_self_harm"),
        ("I feel like hurting myself", "suicide_self_harm"),
        ("I CAN'T FEEL MY LEGS", "limb_weakness_numbness"),
        ("<b>I can’t breathe</b>", "chest_breathing_fainting"),
        ("my husband took too many pills and I can't wake him", "overdose"),
        ("her face is drooping and her speech is slurred", "stroke_vision"),
        ("my lips and tongue are swelling up", "allergic_reaction"),
        ("fever and a stiff neck since the epidural", "fever_stiff_neck"),
        ("the needle site won't stop bleeding", "heavy_bleeding"),
        ("this is an emergency", "stated_emergency"),
        ("my stimulator keeps shocking me", "stimulator_problem"),
        ("whats the point of going on, nothing works", "suicide_self_harm"),
        ("my husbands face looked droopy after his neck block", "stroke_vision"),
        ("i havent urinated since the procedure yesterday", "bladder_bowel_saddle"),
        ("he hasnt passed urine all day since the injection", "bladder_bowel_saddle"),
        # patients in a hurry misspell the signs
        ("fevr 101 stif neck bad hedache after my shot in the back", "fever_stiff_neck"),
        ("feaver and stiffness in my neck", "fever_stiff_neck"),
    ],
)
def test_brief_red_flags(text, category):
    flag = detect_red_flag(text)
    assert flag is not None and flag.category == category


@pytest.mark.parametrize(
    "text",
    [
        "what are the risks of an epidural?",
        "can an epidural cause a headache?",
        "is infection a risk with the stimulator",
        "could RFA cause leg weakness",
        "does the pump need refills",
        "my back is killing me",
        "whats the point of physical therapy if it hurts",
        "",
        "   ",
        "😀😀😀",
    ],
)
def test_ordinary_messages_do_not_trigger(text):
    assert detect_red_flag(text) is None


def test_self_harm_wins_over_other_categories():
    flag = detect_red_flag("I have chest pain and I want to kill myself")
    assert flag.category == "suicide_self_harm"
    assert [f.category for f in detect_red_flags("I have chest pain and I want to kill myself")] == [
        "suicide_self_harm",
        "chest_breathing_fainting",
    ]


def test_a_stiff_neck_is_a_red_flag_only_with_a_fever():
    assert detect_red_flag("my neck is stiff from sleeping on the couch") is None
    assert detect_red_flag("i have a fever and a stiff neck").category == "fever_stiff_neck"


def test_huge_message_is_checked_quickly_and_safely():
    assert detect_red_flag("back pain " * 5000) is None
    assert (
        detect_red_flag("I suddenly can't feel my legs " + "x" * 20000).category == "limb_weakness_numbness"
    )
