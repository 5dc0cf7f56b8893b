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


def level_texts(knowledge, settings, level):
    """A triage level's message, then what to do after it, as the bot words them."""
    values = settings.template_values()
    found = knowledge.triage.levels[level]
    return [found.message.format(**values), found.then.format(**values)]


@pytest.mark.parametrize(
    "message, level",
    [
        ("I suddenly can't feel my legs since the injection", "emergency"),
        ("I lost control of my bladder this morning", "emergency"),
        ("I can't breathe", "emergency"),
        ("my pain pump is beeping and I feel shaky", "urgent"),
        ("the injection site is red and swollen", "urgent"),
        ("I want to kill myself", "crisis"),
    ],
)
def test_red_flags_come_first(bot, knowledge, settings, message, level):
    sender = new_sender()
    bot.send(sender, "what is an epidural")
    texts = bot.texts(sender, message)
    message_first, then = level_texts(knowledge, settings, level)
    assert texts[0] == message_first
    assert texts == [message_first, then]
    who_to_call = {
        "emergency": settings.emergency_number,
        "crisis": settings.crisis_line,
        "urgent": settings.phone,
    }
    assert who_to_call[level] in texts[0]
    assert bot.slot(sender, "triage_level") == level
    assert bot.slot(sender, "pending_topic") is None


HEADACHE = "i have a headache that gets better when i lie down"


def test_a_positional_headache_is_urgent_only_after_a_procedure_the_conversation_told_of(
    bot, knowledge, settings, referral
):
    sender = new_sender()
    # On its own, a headache is an ordinary message: here, a question about recovery.
    alone = bot.texts(sender, HEADACHE)
    assert alone == [knowledge.messages["ask_which_procedure"]]
    assert bot.slot(sender, "triage_level") is None
    assert bot.slot(sender, "recent_procedure") is None

    # The patient tells of a procedure (answering the pending question about it)...
    told = bot.texts(sender, "i had my epidural yesterday")
    assert told[-1] == referral  # what the matcher decided for an epidural; no red flag yet
    assert not any(level.message[:30] in " ".join(told) for level in knowledge.triage.levels.values())
    assert bot.slot(sender, "recent_procedure") == "yes"
    assert bot.slot(sender, "triage_level") is None

    # ...and now the same headache needs the clinic today.
    assert bot.texts(sender, HEADACHE) == level_texts(knowledge, settings, "urgent")
    assert bot.slot(sender, "triage_level") == "urgent"


@pytest.mark.parametrize(
    "message", ["what counts as an emergency", "what if my legs go numb after the injection"]
)
def test_a_message_the_intent_classifier_calls_emergency_gets_no_crisis_line_without_a_red_flag(
    bot, responder, settings, message
):
    """The intent classifier alone ranks these ``emergency`` first; triage finds no red flag,
    so TriageGuard uses the next intent (here below the fallback threshold: ``nlu_fallback``).
    Formerly an ``emergency`` without a category gave both the emergency and the crisis line."""
    sender = new_sender()
    texts = bot.texts(sender, message)
    assert texts == responder.not_understood(None).texts
    assert not any(settings.crisis_line in text for text in texts)
    assert responder.level_message("emergency") not in texts
    assert bot.slot(sender, "triage_level") is None
    intents = [
        e["parse_data"]["intent"]["name"] for e in bot.tracker(sender)["events"] if e["event"] == "user"
    ]
    assert intents == ["nlu_fallback"]


def test_an_unsure_crisis_gets_the_crisis_line_with_the_answer(bot, knowledge, settings, referral):
    # Self-harm words about the past: no crisis now, but the gentle crisis line goes first.
    sender = new_sender()
    texts = bot.texts(sender, "in the past i was suicidal. how long does ketamine relief last")
    last_answer = bot.slot(sender, "last_answer")
    # the summary, a relief item, or "not covered" with the summary offered as such
    assert last_answer.startswith("iv_infusion/relief_duration")
    item = knowledge.item(last_answer.split("/")[2]) if last_answer.count("/") == 2 else None
    answer = item.text if item else knowledge.answer("iv_infusion", "relief_duration").text
    assert texts[0] == knowledge.triage.crisis_check.format(**settings.template_values())
    assert texts[-1] == referral and any(answer in text for text in texts[1:-1]), texts
    assert bot.slot(sender, "triage_level") is None


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


def test_a_specific_question_gets_its_item_and_its_sources(bot, knowledge, referral):
    sender = new_sender()
    item = knowledge.item("scs_mri")
    assert bot.texts(sender, "Can I have an MRI if I have a spinal cord stimulator?") == [item.text, referral]
    assert bot.slot(sender, "last_answer") == f"spinal_cord_stimulation/{item.topic}/{item.id}"
    (sources, again) = bot.texts(sender, "where is this from?")
    assert all(source.url in sources for source in item.sources)
    assert again == referral
    # the same question in a pump conversation is the pump's MRI item
    bot.texts(sender, "what is a pain pump?")
    assert bot.texts(sender, "is it ok to have an MRI scan with it?")[0] == knowledge.item("itp_mri").text


def test_a_specific_question_nothing_covers_is_said_plainly(bot, knowledge, referral):
    sender = new_sender()
    bot.texts(sender, "what is a ketamine infusion?")
    replies = bot.texts(sender, "will ketamine infusions change the colour of my hair?")
    assert replies[0] == knowledge.messages["not_covered"]
    assert replies[-1] == referral
    assert all(item.text not in replies for item in knowledge.items.values())


def test_two_procedures_get_one_side_by_side(bot, knowledge, referral):
    side_by_side, last = bot.texts(new_sender(), "what's the difference between a nerve block and RFA?")
    assert side_by_side.startswith(knowledge.messages["compare_intro"])
    for procedure in ("nerve_block", "radiofrequency_ablation"):
        assert f"- {knowledge.entries[procedure].short_name}: " in side_by_side
    assert last == referral


def test_a_condition_lists_its_procedures(bot, knowledge, referral):
    text, last = bot.texts(new_sender(), "what can help my sciatica?")
    assert text.startswith(knowledge.messages["condition_intro"].format(condition_name="sciatica")[:40])
    for entry in knowledge.treats("sciatica"):
        assert entry.name in text
    assert last == referral


def test_a_long_conversation_keeps_its_context_and_every_event(bot, knowledge, referral, settings):
    """More turns than the tracker store reads back (recent_turns, endpoints.yml): the procedure named
    at the start still answers "what are the risks?", and the database holds every turn."""
    import sqlite3
    import time

    import yaml

    from tests.servers import ROOT

    recent = yaml.safe_load((ROOT / "endpoints.yml").read_text())["tracker_store"]["recent_turns"]
    sender = new_sender()
    assert bot.texts(sender, "What is a spinal cord stimulator?")[0] == knowledge.answer(
        "spinal_cord_stimulation", "overview"
    ).text
    limit = settings.rate_limit
    for number in range(recent + 5):
        if number + 2 >= limit.sender_burst:  # at the patient's own pace, not the rate limit's
            time.sleep(60 / limit.sender_per_minute + 0.1)
        assert bot.texts(sender, "thank you")
    time.sleep(60 / limit.sender_per_minute + 0.1)
    assert bot.texts(sender, "what are the risks?") == [
        knowledge.answer("spinal_cord_stimulation", "risks").text,
        referral,
    ]
    with sqlite3.connect(bot.db) as connection:
        (turns,) = connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,)
        ).fetchone()
    assert turns == recent + 7
    events = bot.tracker(sender)["events"]
    assert sum(e["event"] == "user" for e in events) == recent + 7, "the API's tracker is whole"
