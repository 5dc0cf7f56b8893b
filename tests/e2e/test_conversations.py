"""Multi-turn conversations with the real Rasa server and action server over the
REST webhook. Replies are compared with the knowledge file, so a content change
never breaks these tests, but a wrong answer does."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.e2e


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def test_greeting_has_the_disclaimer_with_clinic_details(bot, settings):
    (greeting,) = bot.texts(new_sender(), "hello")
    assert settings.name in greeting and settings.emergency_number in greeting
    assert "not medical advice" in greeting


def test_question_follow_up_and_another_procedure(bot, knowledge, referral):
    sender = new_sender()
    assert bot.texts(sender, "What is radiofrequency ablation?") == [
        knowledge.answer("radiofrequency_ablation", "overview").text,
        referral,
    ]
    assert bot.slot(sender, "last_answer") == "radiofrequency_ablation/overview"

    assert bot.texts(sender, "how long is recovery?") == [
        knowledge.answer("radiofrequency_ablation", "recovery_time").text,
        referral,
    ]
    assert bot.slot(sender, "last_answer") == "radiofrequency_ablation/recovery_time"

    assert (
        bot.texts(sender, "what about epidurals?")[0]
        == knowledge.answer("epidural_steroid_injection", "recovery_time").text
    )
    assert bot.slot(sender, "last_answer") == "epidural_steroid_injection/recovery_time"


def test_missing_procedure_is_asked_with_buttons_then_answered(bot, knowledge, referral):
    sender = new_sender()
    (question,) = bot.send(sender, "how long does the relief last?")
    assert question["text"] == knowledge.messages["ask_which_procedure"]
    titles = [b["title"] for b in question["buttons"]]
    assert titles == [entry.short_name for entry in knowledge.procedures]

    stimulator = next(b for b in question["buttons"] if "spinal_cord_stimulation" in b["payload"])
    assert bot.texts(sender, stimulator["payload"]) == [
        knowledge.answer("spinal_cord_stimulation", "relief_duration").text,
        referral,
    ]
    assert bot.slot(sender, "last_answer") == "spinal_cord_stimulation/relief_duration"


def test_typed_procedure_answers_the_pending_question(bot, knowledge):
    sender = new_sender()
    bot.send(sender, "how should I prepare?")
    assert bot.texts(sender, "the nerve block")[0] == knowledge.answer("nerve_block", "preparation").text


@pytest.mark.parametrize(
    "message, category",
    [
        ("I suddenly can't feel my legs since the injection", "emergency"),
        ("I lost control of my bladder this morning", "emergency"),
        ("my pain pump is beeping and I feel shaky", "emergency"),
        ("I want to kill myself", "emergency_self_harm"),
    ],
)
def test_red_flags_come_first(bot, knowledge, settings, message, category):
    sender = new_sender()
    bot.send(sender, "what is an epidural")
    texts = bot.texts(sender, message)
    expected_first = knowledge.messages[category].split("{")[0]
    assert texts[0].startswith(expected_first)
    assert (
        settings.crisis_line if category == "emergency_self_harm" else settings.emergency_number
    ) in texts[0]
    assert settings.phone in texts[-1]


def test_ordinary_risk_question_is_not_a_red_flag(bot, knowledge, referral):
    assert bot.texts(new_sender(), "what are the risks of an epidural?") == [
        knowledge.answer("epidural_steroid_injection", "risks").text,
        referral,
    ]


@pytest.mark.parametrize(
    "message",
    [
        "Does a cortisone shot in my knee hurt?",
        "will the stimulator let me cut down on my oxycodone",
        "is rfa covered by medicare",
        "who is a good candidate for a pain pump",
        "I've had back pain for two years and my doctor wants me to try an epidural. "
        "what are the side effects?",
        "how much does interventional pain management cost",
        "what is interventional pain management",
        "can you help me with my taxes",
        "asdf qwer zxcv",
    ],
)
def test_every_health_answer_ends_with_the_referral(bot, referral, message):
    texts = bot.texts(new_sender(), message)
    assert len(texts) >= 2
    assert texts[-1] == referral


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "🙂🙂🙂",
        "x" * 10_000,
        "pain " * 2_000,
        "¿Cuánto cuesta una inyección epidural en la espalda?",
        "硬膜外注射有什么风险",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "\u0000\u0007 control characters",
    ],
    ids=[
        "empty",
        "spaces",
        "emoji",
        "10k-chars",
        "long-words",
        "spanish",
        "chinese",
        "script",
        "html",
        "control",
    ],
)
def test_strange_input_gets_a_polite_reply_and_the_bot_carries_on(bot, knowledge, referral, message):
    sender = new_sender()
    texts = bot.texts(sender, message)
    assert texts, "the bot must never be silent"
    assert all(text.strip() for text in texts)
    assert "<script" not in " ".join(texts)
    assert bot.texts(sender, "what is a trigger point injection") == [
        knowledge.answer("trigger_point_injection", "overview").text,
        referral,
    ]


def test_request_for_a_specialist(bot, settings):
    texts = bot.texts(new_sender(), "can I make an appointment with a doctor?")
    assert settings.phone in texts[-1] and settings.booking_url in texts[-1]


def test_list_procedures_offers_buttons(bot, knowledge):
    messages = bot.send(new_sender(), "what treatments do you offer?")
    assert len(messages[0]["buttons"]) == len(knowledge.procedures)


def test_sources_button_and_feedback_after_an_answer(bot, knowledge, referral):
    sender = new_sender()
    messages = bot.send(sender, "what are the risks of a spinal cord stimulator")
    assert messages[-1]["text"] == referral
    buttons = {b["title"]: b["payload"] for b in messages[-1]["buttons"]}
    sources = bot.texts(sender, buttons[knowledge.button_labels["sources"]])
    for source in knowledge.answer("spinal_cord_stimulation", "risks").sources:
        assert source.url in sources[0]
    assert sources[-1] == referral

    typed = bot.texts(sender, "where does this information come from?")
    assert typed == sources

    assert bot.texts(sender, buttons[knowledge.button_labels["unhelpful"]]) == [
        knowledge.messages["feedback_missing"],
        referral,
    ]
    assert bot.slot(sender, "feedback") == "unhelpful"
    assert bot.slot(sender, "last_answer") == "spinal_cord_stimulation/risks"


def test_knowledge_version_in_the_tracker_and_the_start_up_log(bot, knowledge):
    sender = new_sender()
    bot.send(sender, "how long does a nerve block last")
    assert bot.slot(sender, "knowledge_version") == knowledge.version
    assert bot.slot(sender, "last_answer") == "nerve_block/relief_duration"
    assert f"version {knowledge.version}" in bot.actions_log.read_text()
