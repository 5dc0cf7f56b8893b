"""The Slack and Telegram channels' memory (events already answered, Telegram's
long button payloads) shared by replicas through the real Redis: first the store
itself, then the two Rasa replicas receiving the same deliveries."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest
import requests

from bot.channels.state import KEY_PREFIX, MemoryState, RedisState, channel_state, redis_connection
from bot.channels.telegram import MAX_CALLBACK_DATA, CallbackData
from tests.channels.test_slack import event_body, new_id, sign

pytestmark = pytest.mark.scale

_update_ids = itertools.count(random.randint(10**7, 10**8))


def connection(topology) -> Dict[str, Any]:
    return redis_connection(
        {
            "REDIS_HOST": topology.redis.host,
            "REDIS_PORT": str(topology.redis.port),
            "REDIS_PASSWORD": topology.redis.password,
        }
    )


def test_without_redis_host_the_state_is_in_memory(monkeypatch):
    monkeypatch.delenv("REDIS_HOST", raising=False)
    assert isinstance(channel_state("slack:seen", 60), MemoryState)
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", "6390")
    state = channel_state("slack:seen", 60)
    assert isinstance(state, RedisState) and state.connection["port"] == 6390
    assert state.connection["db"] == 1


def test_of_two_replicas_recording_one_event_at_once_exactly_one_wins(topology):
    async def race() -> List[bool]:
        replicas = [RedisState("test:seen", 60, connection(topology)) for _ in range(2)]
        try:
            key = new_id("Ev")
            # 20 attempts each, interleaved on two connections.
            attempts = [replicas[i % 2].first_time(key, f"C1:{key}") for i in range(40)]
            results = await asyncio.gather(*attempts)
            # A second key naming the same message (Slack's message + app_mention) is a repeat too.
            results.append(await replicas[1].first_time(new_id("Ev"), f"C1:{key}"))
            return results
        finally:
            for replica in replicas:
                await replica.close()

    results = asyncio.run(race())
    assert results.count(True) == 1 and results[-1] is False


def test_entries_expire_in_redis(topology):
    async def record() -> str:
        state = RedisState("test:ttl", 120, connection(topology))
        key = new_id("Ev")
        try:
            assert await state.first_time(key)
        finally:
            await state.close()
        return key

    key = asyncio.run(record())
    ttl_ms = topology.redis.client(db=1).pttl(f"{KEY_PREFIX}test:ttl:{key}")
    assert 0 < ttl_ms <= 120_000


def test_a_long_button_payload_made_on_one_replica_is_found_on_another(topology):
    payload = '/ask_medication_reliance{"procedure":"epidural_steroid_injection","extra":"x"}'

    async def exchange() -> List[Any]:
        made_by = CallbackData(shared=RedisState("test:callback", 3600, connection(topology)))
        pressed_on = CallbackData(shared=RedisState("test:callback", 3600, connection(topology)))
        alone = CallbackData()  # a single process without Redis: unknown after a restart
        try:
            data = await made_by.remember(payload)
            return [data, await pressed_on.lookup(data), await alone.lookup(data)]
        finally:
            await made_by.shared.close()
            await pressed_on.shared.close()

    data, found, unknown = asyncio.run(exchange())
    assert data.startswith("#") and len(data.encode()) <= MAX_CALLBACK_DATA
    assert found == payload and unknown is None


def test_when_redis_is_unreachable_the_channel_falls_back_to_memory(topology, caplog):
    async def attempt() -> List[bool]:
        dead = {**connection(topology), "port": topology.redis.port + 1 if topology.redis.port < 65535 else 1}
        state = RedisState("test:down", 60, dead)
        try:
            return [await state.first_time("Ev1"), await state.first_time("Ev1")]
        finally:
            await state.close()

    assert asyncio.run(attempt()) == [True, False]
    assert "Redis unavailable for the channel state" in caplog.text


# -- the replicas ---------------------------------------------------------------


def telegram_update(chat: int, text: str) -> Dict[str, Any]:
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


def telegram_post(topology, replica: int, update: Dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{topology.replicas[replica].url}/webhooks/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": topology.telegram_secret},
        timeout=60,
    )


def telegram_sent(topology, chat: int, count: int) -> List[Any]:
    """The messages sent to ``chat``, once ``count`` have arrived (and a moment for any extra)."""
    topology.telegram.wait_for("sendMessage", count, chat_id=str(chat))
    time.sleep(2)  # let a wrongly duplicated answer arrive too
    return topology.telegram.find("sendMessage", chat_id=str(chat))


def test_a_telegram_update_delivered_to_both_replicas_is_answered_once(topology, knowledge, referral):
    chat = random.randint(10**8, 10**9)
    update = telegram_update(chat, "what is a nerve block")
    with ThreadPoolExecutor(2) as pool:
        statuses = [r.status_code for r in pool.map(lambda i: telegram_post(topology, i, update), (0, 1))]
    assert statuses == [200, 200]
    assert [c.params["text"] for c in telegram_sent(topology, chat, 2)] == [
        knowledge.answer("nerve_block", "overview").text,
        referral,
    ]


def test_a_telegram_button_made_by_one_replica_works_on_the_other(topology, knowledge, referral):
    chat = random.randint(10**8, 10**9)
    first = telegram_update(chat, "tell me about epidural steroid injections")
    assert telegram_post(topology, 0, first).status_code == 200
    topology.telegram.wait_for("sendMessage", 2, chat_id=str(chat))
    # Not understood (the NLU fallback intent, sent as a payload), with the procedure known:
    # "which topic?" with one button per topic, some payloads longer than Telegram allows.
    assert telegram_post(topology, 0, telegram_update(chat, "/nlu_fallback")).status_code == 200
    question = topology.telegram.wait_for("sendMessage", 3, chat_id=str(chat))[2]
    assert "reply_markup" in question.params, [c.params for c in topology.telegram.find("sendMessage")][-3:]
    buttons = [row[0] for row in question.params["reply_markup"]["inline_keyboard"]]
    long_ones = [b for b in buttons if b["callback_data"].startswith("#")]
    assert long_ones, f"no payload longer than {MAX_CALLBACK_DATA} bytes among {buttons}"
    button = long_ones[0]
    press = {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"cb{chat}",
            "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
            "message": {"message_id": 5, "chat": {"id": chat, "type": "private"}, "date": 0, "text": "?"},
            "chat_instance": "1",
            "data": button["callback_data"],
        },
    }
    assert telegram_post(topology, 1, press).status_code == 200  # pressed on the other replica
    sent = topology.telegram.wait_for("sendMessage", 6, chat_id=str(chat))
    topic = next(t for t, label in knowledge.topic_labels.items() if label == button["text"])
    assert [c.params["text"] for c in sent[4:6]] == [
        knowledge.answer("epidural_steroid_injection", topic).text,
        referral,
    ]
    (ack,) = topology.telegram.find("answerCallbackQuery", callback_query_id=f"cb{chat}")
    assert "text" not in ack.params  # not "this button has expired"


def slack_post(topology, replica: int, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{topology.replicas[replica].url}/webhooks/slack/webhook",
        data=body,
        headers={"Content-Type": "application/json", **sign(topology.slack_secret, body), **headers},
        timeout=30,
    )


def test_a_slack_retry_reaching_the_other_replica_is_not_answered_again(topology, knowledge, referral):
    user, channel = new_id("U"), new_id("D")
    body = event_body("what is a nerve block", user, channel)
    assert slack_post(topology, 0, body).status_code == 200
    topology.slack.wait_for("chat.postMessage", 2, channel=channel)
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    retry = slack_post(topology, 1, body, **retry_headers)
    assert retry.status_code == 200 and retry.headers.get("X-Slack-No-Retry") == "1"
    time.sleep(2)  # let a wrongly repeated answer arrive too
    assert [c.params["text"] for c in topology.slack.find("chat.postMessage", channel=channel)] == [
        knowledge.answer("nerve_block", "overview").text,
        referral,
    ]


def test_a_slack_mention_delivered_twice_to_both_replicas_at_once_is_answered_once(topology, knowledge):
    user, channel = new_id("U"), new_id("C")
    message = json.loads(event_body("<@UBOT> what is a nerve block", user, channel))
    bodies = []
    for kind in ("message", "app_mention"):
        delivery = {**message, "event_id": new_id("Ev"), "event": {**message["event"], "type": kind}}
        bodies.append(json.dumps(delivery).encode())
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda i: slack_post(topology, i, bodies[i]).status_code, (0, 1)))
    assert statuses == [200, 200]
    topology.slack.wait_for("chat.postMessage", 2, channel=channel)
    time.sleep(2)
    posted = topology.slack.find("chat.postMessage", channel=channel)
    assert posted[0].params["text"] == knowledge.answer("nerve_block", "overview").text
    assert len(posted) == 2
