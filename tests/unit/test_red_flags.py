"""The red-flag guard on the independent test phrases (tests/data/red_flags.yml)
and on the cases the product brief names."""

from __future__ import annotations

import pytest

from bot.safety.red_flags import detect_red_flag


def test_every_positive_phrase_triggers_its_category(red_flag_cases):
    missed = []
    for case in red_flag_cases["positive"]:
        flag = detect_red_flag(case["text"])
        if flag is None or flag.category != case["category"]:
            missed.append((case["category"], flag and flag.category, case["text"]))
    assert not missed, missed


def test_no_negative_phrase_triggers(red_flag_cases):
    false_alarms = [
        (text, detect_red_flag(text)) for text in red_flag_cases["negative"] if detect_red_flag(text)
    ]
    assert not false_alarms, false_alarms


def test_the_test_phrases_cover_every_category(red_flag_cases):
    categories = {case["category"] for case in red_flag_cases["positive"]}
    assert categories == {
        "neuro",
        "cauda_equina",
        "infection",
        "spinal_headache",
        "pump",
        "cardio_respiratory",
        "self_harm",
    }


@pytest.mark.parametrize(
    "text, category",
    [
        ("My legs went weak all of a sudden", "neuro"),
        ("I can't control my bowels since yesterday", "cauda_equina"),
        ("numbness in my groin after the epidural", "cauda_equina"),
        ("I have a fever and the injection site is red and draining", "infection"),
        ("worst headache of my life since the spinal injection", "spinal_headache"),
        ("my pain pump alarm is going off", "pump"),
        ("I think I'm going through withdrawal", "pump"),
        ("I have chest pain and trouble breathing", "cardio_respiratory"),
        ("I want to end my life", "self_harm"),
        ("I feel like hurting myself", "self_harm"),
        ("I CAN'T FEEL MY LEGS", "neuro"),
        ("<b>I can’t breathe</b>", "cardio_respiratory"),
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
        "",
        "   ",
        "😀😀😀",
    ],
)
def test_ordinary_messages_do_not_trigger(text):
    assert detect_red_flag(text) is None


def test_self_harm_wins_over_other_categories():
    flag = detect_red_flag("I have chest pain and I want to kill myself")
    assert flag.category == "self_harm"


def test_huge_message_is_checked_quickly_and_safely():
    assert detect_red_flag("back pain " * 5000) is None
    assert detect_red_flag("I suddenly can't feel my legs " + "x" * 20000).category == "neuro"
