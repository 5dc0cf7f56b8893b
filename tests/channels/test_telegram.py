"""Telegram against the real Rasa server and action server: updates go in with
the secret token, Bot API calls come out at a fake Telegram API that was down
when Rasa started."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any, Dict, List, Optional

import pytest
import requests

from tests.channels.conftest import TELEGRAM_TOKEN, TELEGRAM_WEBHOOK

pytestmark = pytest.mark.e2e

_update_ids = itertools.count(random.randint(10_000, 10_000_000))


def new_chat() -> int:
    return random.randint(10**8, 10**9)


def send(channels, update: Dict[str, Any], secret: Optional[str] = "") -> requests.Response:
    headers = {}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret or channels.telegram_secret
    return requests.post(
        f"{channels.bot.url}/webhooks/telegram/webhook", json=update, headers=headers, timeout=60
    )


def message(chat: int, text: str) -> Dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": random.randint(1, 10**6),
            "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
            "chat": {"id": chat, "type": "private"},
            "date": int(time.time()),
            "text": text,
        },
    }


def say(channels, chat: int, text: str) -> None:
    response = send(channels, message(chat, text))
    assert response.status_code == 200, response.text


def sent_to(telegram, chat: int, count: int) -> List[Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = [c for c in telegram.find("sendMessage") if str(c.params.get("chat_id")) == str(chat)]
        if len(calls) >= count:
            time.sleep(0.3)
            return [c for c in telegram.find("sendMessage") if str(c.params.get("chat_id")) == str(chat)]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} messages to {chat}, got {telegram.find('sendMessage')}")


def keyboard(call) -> List[Dict[str, str]]:
    return [row[0] for row in call.params["reply_markup"]["inline_keyboard"]]


def test_start_up_with_telegram_down_serves_and_then_sets_the_webhook(
    channels, telegram, knowledge, referral
):
    # While the Bot API was unreachable, Rasa had started and answered on REST.
    assert channels.observed["rest_while_down"] == [
        knowledge.answer("nerve_block", "overview").text,
        referral,
    ]
    assert channels.observed["health_while_down"]["webhook_set"] is False
    # Once it came up, the webhook was set with the secret token.
    (call, *_) = telegram.find("setWebhook")
    assert call.path == f"/bot{TELEGRAM_TOKEN}/setWebhook"
    assert call.params["url"] == TELEGRAM_WEBHOOK
    assert call.params["secret_token"] == channels.telegram_secret
    assert requests.get(f"{channels.bot.url}/webhooks/telegram/", timeout=10).json()["webhook_set"] is True


def test_question_and_follow_up_are_answered(channels, telegram, knowledge, referral):
    chat = new_chat()
    say(channels, chat, "What is radiofrequency ablation?")
    first = sent_to(telegram, chat, 2)
    assert [c.params["text"] for c in first] == [
        knowledge.answer("radiofrequency_ablation", "overview").text,
        referral,
    ]
    assert "reply_markup" not in first[0].params
    assert len(keyboard(first[1])) == 3  # helpful / not helpful / sources
    say(channels, chat, "how long is recovery?")
    assert [c.params["text"] for c in sent_to(telegram, chat, 4)[2:]] == [
        knowledge.answer("radiofrequency_ablation", "recovery_time").text,
        referral,
    ]


def test_buttons_are_an_inline_keyboard_and_a_press_answers(channels, telegram, knowledge, referral):
    chat = new_chat()
    say(channels, chat, "how long does the relief last?")
    (question,) = sent_to(telegram, chat, 1)
    assert question.params["text"] == knowledge.messages["ask_which_procedure"]
    buttons = keyboard(question)
    assert [b["text"] for b in buttons] == [e.short_name for e in knowledge.procedures]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    stimulator = buttons[[e.id for e in knowledge.procedures].index("spinal_cord_stimulation")]

    press = {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"cb{chat}",
            "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
            "message": {"message_id": 5, "chat": {"id": chat, "type": "private"}, "date": 0, "text": "?"},
            "chat_instance": "1",
            "data": stimulator["callback_data"],
        },
    }
    assert send(channels, press).status_code == 200
    assert [c.params["text"] for c in sent_to(telegram, chat, 3)[1:]] == [
        knowledge.answer("spinal_cord_stimulation", "relief_duration").text,
        referral,
    ]
    assert telegram.find("answerCallbackQuery", callback_query_id=f"cb{chat}")


def test_start_greets_and_red_flags_come_first(channels, telegram, knowledge, settings):
    chat = new_chat()
    say(channels, chat, "/start")
    (greeting,) = sent_to(telegram, chat, 1)
    assert settings.name in greeting.params["text"] and settings.emergency_number in greeting.params["text"]
    say(channels, chat, "I lost control of my bladder this morning")
    emergency = knowledge.triage.levels["emergency"]
    values = settings.template_values()
    assert [call.params["text"] for call in sent_to(telegram, chat, 3)[1:]] == [
        emergency.message.format(**values),
        emergency.then.format(**values),
    ]


def test_requests_without_the_secret_get_403_and_no_reply(channels, telegram):
    chat = new_chat()
    missing = send(channels, message(chat, "what is a nerve block"), secret=None)
    wrong = send(channels, message(chat, "what is a nerve block"), secret="wrong-secret")
    assert (missing.status_code, wrong.status_code) == (403, 403)
    time.sleep(2)
    assert [c for c in telegram.find("sendMessage") if str(c.params.get("chat_id")) == str(chat)] == []


def test_an_update_delivered_twice_is_answered_once(channels, telegram):
    chat = new_chat()
    update = message(chat, "what is a nerve block")
    assert send(channels, update).status_code == 200
    assert send(channels, update).status_code == 200
    time.sleep(1)
    assert len(sent_to(telegram, chat, 2)) == 2
