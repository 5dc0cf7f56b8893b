"""What a message says is happening now (bot.safety.context): negated, past and
"what if" parts are left out, and negations that are themselves red flags stay."""

from __future__ import annotations

import pytest

from bot.safety.context import current


@pytest.mark.parametrize(
    "text",
    [
        "i cant feel my legs",
        "i havent been able to pee all day",
        "he is not breathing right",
        "my husband wont wake up and he is not responding",
        "no feeling in my legs since this morning",
        "i do not want to live anymore",
        "there is no point going on",
        "im not going to be around for my next appointment",
        "it still hasnt come back today",
        "he isnt breathing",
        "is it normal that i cant feel my legs since this morning?",
        "can you call an ambulance my mom just collapsed",
        "i had my epidural 2 days ago and now i cant feel my legs",
        # the past and "what if" triggers are whole words: "back in" is not "back injection",
        # "if" is not "iffy", "used to" is not "used to numb"... only at a word's end
        "Sudden Weakness In My Leg After My Back Injection, Can Barely Walk",
        "my legs went weak after the back injection and i cant feel my legs",
        "feeling iffy and i cant feel my legs",
    ],
)
def test_reports_of_now_are_kept(text):
    kept = current(text)
    important = [
        w
        for w in (
            "feel",
            "pee",
            "breathing",
            "wake",
            "live",
            "point",
            "around",
            "back",
            "ambulance",
            "weakness",
        )
        if w in text
    ]
    assert all(w in kept for w in important), kept


@pytest.mark.parametrize(
    "text, gone",
    [
        ("no numbness in my groin, no trouble peeing, just the usual sore back", "numbness"),
        ("my legs arent weak or numb, just the usual back ache after the shot", "numb"),
        ("Years ago my leg gave out once after a long hike. Should I mention it?", "gave out"),
        ("I had a fever after my knee injection back in March but it was the flu", "fever"),
        ("what if my legs go numb after the epidural?", "numb"),
        ("what are the withdrawal symptoms if a pain pump stops working", "withdrawal"),
        ("can an epidural cause leg weakness?", "weakness"),
        ("No Fever, No Drainage, Incision Healing Fine", "fever"),
        ("this hold music is going to be the death of me", "death"),
        ("what are the warning signs of an infection", "infection"),
    ],
)
def test_denials_past_and_what_ifs_are_left_out(text, gone):
    assert gone not in current(text)


def test_a_crisis_said_as_a_what_if_is_kept_when_framing_is_off():
    text = "nobody would even notice if i was gone"
    assert "gone" not in current(text)
    assert "gone" in current(text, framing=False)


@pytest.mark.parametrize(
    "text, kept",
    [
        # how people in crisis say it is often a negation: the crisis reading keeps it
        ("sometimes i picture just not being around anymore", "not being around anymore"),
        ("my family would save so much money if i just wasnt here anymore", "wasnt here anymore"),
        ("got a new gun permit last week. it isn't for hunting", "isn't for hunting"),
        # a past attempt told with its return is happening now
        ("i overdosed on purpose in 2019 and lately i feel the way i did right before", "lately i feel"),
        ("i tried to overdose 2 yrs ago and im having the same thoughts again", "same thoughts again"),
    ],
)
def test_the_crisis_reading_keeps_negations_and_a_past_that_is_back(text, kept):
    assert kept in current(text, framing=False)


def test_the_crisis_reading_still_leaves_out_a_past_that_has_not_come_back():
    text = "back in my 20s i went through a rough patch with suicidal thoughts, im doing well now"
    assert "suicidal" not in current(text, framing=False)
    assert "isn't for hunting" not in current("it isn't for hunting")


@pytest.mark.parametrize(
    "text, kept",
    [
        # "since the numbing wore off" says when a sign began, not that it passed
        ("the needle sites are in agony since the numbing wore off", "agony since the numbing wore off"),
        ("the block wore off and now my leg is weak", "my leg is weak"),
        # stroke signs that pass are still an emergency (a warning stroke)
        ("her face was drooping and her speech was slurred, she's fine now", "face was drooping"),
        ("my husband couldnt speak for 10 minutes after the neck shot but now hes fine", "couldnt speak"),
        # not passing urine is the sign itself, not a denial of one
        ("i havent urinated since the procedure, my belly is swollen", "havent urinated since the procedure"),
        # asking about something that has happened keeps the report
        ("is it bad if my leg went totally numb after the shot", "my leg went totally numb after the shot"),
        ("is it normal that my wound is still oozing", "wound is oozing"),
        ("is it bad if ive had a headache since the epidural", "ive had a headache since the epidural"),
        ("is it bad if he was confused after the neck shot", "he was confused after the neck shot"),
    ],
)
def test_reports_framed_as_passing_or_as_questions_are_kept(text, kept):
    assert kept in current(text)


@pytest.mark.parametrize(
    "text",
    [
        "the knee was numb this morning but the numbing wore off",
        "it was sore but now it's fine",
        # asking about something that may happen stays a what-if
        "is it bad if i get a fever after the injection",
        "is it ok to shower tonight",
        "what if my leg went numb",
    ],
)
def test_signs_that_have_passed_and_what_ifs_are_left_out(text):
    assert current(text) == ""


def test_not_better_now_is_no_resolution():
    assert "numb" in current("my leg is still numb and weak, and its not better now")
