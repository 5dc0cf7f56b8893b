"""Slack against the real Rasa server and action server: signed events and
button clicks go in, ``chat.postMessage`` calls come out at a fake Slack Web API.
Replies are compared with the knowledge file, as in the REST tests."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
import uuid
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode

import pytest
import requests

pytestmark = pytest.mark.e2e


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10].upper()


def sign(secret: str, body: bytes, timestamp: Optional[int] = None) -> Dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def post(channels, body: bytes, content_type: str, headers=None, secret=None, timestamp=None):
    signed = sign(secret or channels.slack_secret, body, timestamp)
    return requests.post(
        f"{channels.bot.url}/webhooks/slack/webhook",
        data=body,
        headers={"Content-Type": content_type, **signed, **(headers or {})},
        timeout=10,
    )


def event_body(text: str, user: str, channel: str, thread_ts: Optional[str] = None, **extra) -> bytes:
    event = {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": f"{time.time():.6f}",
        "channel": channel,
        **({"thread_ts": thread_ts} if thread_ts else {}),
    }
    body = {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "event_id": new_id("Ev"),
        "event_time": int(time.time()),
        "authorizations": [{"user_id": "UBOT", "is_bot": True}],
        **extra,
    }
    return json.dumps(body).encode()


def say(channels, text: str, user: str, channel: str, **kwargs) -> requests.Response:
    response = post(channels, event_body(text, user, channel, **kwargs), "application/json")
    assert response.status_code == 200, response.text
    return response


def texts(calls) -> List[str]:
    return [html.unescape(c.params["text"]) for c in calls]


def posts(channels, channel: str, count: int) -> List[Any]:
    return channels.slack.wait_for("chat.postMessage", count, channel=channel)


def button_values(call) -> List[Dict[str, Any]]:
    return [e for b in call.params.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def test_question_and_follow_up_are_answered_with_the_referral(channels, knowledge, referral):
    user, channel = new_id("U"), new_id("D")
    say(channels, "What is radiofrequency ablation?", user, channel)
    first = posts(channels, channel, 2)
    assert texts(first) == [knowledge.answer("radiofrequency_ablation", "overview").text, referral]
    assert [b["value"] for b in button_values(first[1])]  # the feedback buttons
    assert all(c.headers["Authorization"] == "Bearer xoxb-test-token" for c in first)
    assert not any("thread_ts" in c.params for c in first)

    say(channels, "how long is recovery?", user, channel)
    assert texts(posts(channels, channel, 4)[2:]) == [
        knowledge.answer("radiofrequency_ablation", "recovery_time").text,
        referral,
    ]


def test_buttons_are_slack_buttons_and_a_click_answers(channels, knowledge, referral):
    user, channel = new_id("U"), new_id("D")
    say(channels, "how long does the relief last?", user, channel)
    (question,) = posts(channels, channel, 1)
    assert html.unescape(question.params["text"]) == knowledge.messages["ask_which_procedure"]
    buttons = button_values(question)
    assert [b["text"]["text"] for b in buttons] == [e.short_name for e in knowledge.procedures]
    assert all(b["type"] == "button" for b in buttons)
    stimulator = next(b for b in buttons if "spinal_cord_stimulation" in b["value"])

    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1700000000.000100"},
        "message": {
            "ts": "1700000000.000100",
            "text": question.params["text"],
            "blocks": question.params["blocks"],
        },
        "actions": [{**stimulator, "action_ts": f"{time.time():.6f}"}],
    }
    response = post(
        channels, urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.text
    assert texts(posts(channels, channel, 3)[1:]) == [
        knowledge.answer("spinal_cord_stimulation", "relief_duration").text,
        referral,
    ]
    # The clicked message now shows the choice instead of the buttons.
    (update,) = channels.slack.wait_for("chat.update", 1, channel=channel)
    assert update.params["ts"] == "1700000000.000100"
    assert not any(b["type"] == "actions" for b in update.params["blocks"])
    assert stimulator["text"]["text"] in json.dumps(update.params["blocks"])


def test_red_flag_comes_first(channels, knowledge, settings):
    user, channel = new_id("U"), new_id("D")
    say(channels, "I suddenly can't feel my legs since the injection", user, channel)
    emergency = knowledge.triage.levels["emergency"]
    values = settings.template_values()
    assert texts(posts(channels, channel, 2)) == [
        emergency.message.format(**values),
        emergency.then.format(**values),
    ]


def test_reply_goes_in_the_thread_the_patient_wrote_in(channels, knowledge, referral):
    user, channel = new_id("U"), new_id("C")
    thread = "1700000000.000200"
    say(channels, "<@UBOT> what is a nerve block", user, channel, thread_ts=thread)
    calls = posts(channels, channel, 2)
    assert texts(calls) == [knowledge.answer("nerve_block", "overview").text, referral]
    assert [c.params.get("thread_ts") for c in calls] == [thread, thread]


def test_mention_in_a_channel_is_answered_once(channels, knowledge):
    user, channel = new_id("U"), new_id("C")
    ts = f"{time.time():.6f}"
    for kind in ("message", "app_mention"):
        body = json.loads(event_body("<@UBOT> what is a nerve block", user, channel))
        body["event"].update(type=kind, ts=ts, channel_type="channel")
        assert post(channels, json.dumps(body).encode(), "application/json").status_code == 200
    time.sleep(2)
    assert len(posts(channels, channel, 2)) == 2  # answer + referral, not twice


def test_wrong_signature_and_stale_timestamp_are_refused(channels):
    user, channel = new_id("U"), new_id("D")
    body = event_body("what is a nerve block", user, channel)
    wrong = post(channels, body, "application/json", secret="not-the-secret")
    stale = post(channels, body, "application/json", timestamp=int(time.time()) - 6 * 60)
    headers = {"X-Slack-Request-Timestamp": str(int(time.time()))}
    unsigned = requests.post(
        f"{channels.bot.url}/webhooks/slack/webhook", data=body, headers=headers, timeout=10
    )
    assert (wrong.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
    challenge = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    assert post(channels, challenge, "application/json", secret="nope").status_code == 401
    time.sleep(2)
    assert channels.slack.find("chat.postMessage", channel=channel) == []


def test_url_verification_challenge(channels):
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "3eZbrw1a"}).encode()
    response = post(channels, body, "application/json")
    assert response.status_code == 200 and response.json() == {"challenge": "3eZbrw1a"}


def test_retries_never_answer_twice(channels, knowledge, referral):
    user, channel = new_id("U"), new_id("D")
    body = event_body("what is a nerve block", user, channel)
    say_response = post(channels, body, "application/json")
    assert say_response.status_code == 200
    assert len(posts(channels, channel, 2)) == 2
    for number, reason in ((1, "http_timeout"), (2, "http_error")):
        retry = post(
            channels,
            body,
            "application/json",
            headers={"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": reason},
        )
        assert retry.status_code == 200 and retry.headers.get("X-Slack-No-Retry") == "1"
    time.sleep(2)
    assert texts(channels.slack.find("chat.postMessage", channel=channel)) == [
        knowledge.answer("nerve_block", "overview").text,
        referral,
    ]
