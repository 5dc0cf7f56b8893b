"""The real action server serves only the real Rasa server (actions/auth.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import requests

from actions.auth import TOKEN_HEADER
from tests.servers import ROOT, action_server_token, server_env

pytestmark = pytest.mark.e2e


def _action_call(text: str, slots: dict) -> dict:
    return {
        "next_action": "action_answer_question",
        "sender_id": "direct",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "direct",
            "slots": slots,
            "latest_message": {
                "text": text,
                "intent": {"name": "ask_risks", "confidence": 1.0},
                "entities": [{"entity": "procedure", "value": "nerve_block"}],
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def test_requests_without_the_token_are_refused(bot):
    url = f"http://127.0.0.1:{bot.actions_port}"
    call = _action_call("what are the risks of a nerve block", {})
    assert requests.post(f"{url}/webhook", json=call, timeout=10).status_code == 401
    wrong = {TOKEN_HEADER: action_server_token()[:-1] + "x"}
    assert requests.post(f"{url}/webhook", json=call, headers=wrong, timeout=10).status_code == 403
    assert (
        requests.post(f"{url}/webhook", json=call, headers={TOKEN_HEADER: ""}, timeout=10).status_code == 403
    )
    for path in ("/actions", "/webhook", "/nothing-here"):
        response = requests.get(f"{url}{path}", timeout=10)
        assert response.status_code == 401, path
        assert response.json() == {"error": "unauthorized"}, "says nothing else"


def test_health_stays_open_and_reveals_nothing(bot):
    response = requests.get(f"http://127.0.0.1:{bot.actions_port}/health", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_no_cors_on_the_action_server(bot):
    response = requests.options(
        f"http://127.0.0.1:{bot.actions_port}/webhook",
        headers={"Origin": "http://localhost:5005", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_right_token_is_served(bot, knowledge):
    response = requests.post(
        f"http://127.0.0.1:{bot.actions_port}/webhook",
        json=_action_call("what are the risks of a nerve block", {}),
        headers={TOKEN_HEADER: action_server_token()},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["responses"][0]["text"] == knowledge.answer("nerve_block", "risks").text


def test_the_rasa_servers_calls_succeed(bot, knowledge):
    sender = f"token-{uuid.uuid4().hex[:8]}"
    assert (
        bot.texts(sender, "what are the risks of a nerve block")[0]
        == knowledge.answer("nerve_block", "risks").text
    )
    assert bot.slot(sender, "last_answer") == "nerve_block/risks"


def test_an_error_answers_without_the_conversation(bot):
    """rasa-sdk's own error handler sends the whole tracker back (and Rasa logs it)."""
    marker = f"errmarker{uuid.uuid4().hex}"
    call = _action_call(f"my name is {marker}", {"procedure": marker})
    call["tracker"]["latest_message"]["entities"] = "not a list"  # makes the action raise
    response = requests.post(
        f"http://127.0.0.1:{bot.actions_port}/webhook",
        json=call,
        headers={TOKEN_HEADER: action_server_token()},
        timeout=30,
    )
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert marker not in bot.actions_log.read_text()
    assert "Action server error on POST /webhook" in bot.actions_log.read_text(), "the error was logged"


def test_the_action_server_does_not_start_without_a_token():
    env = server_env()
    del env["ACTION_SERVER_TOKEN"]
    result = subprocess.run(
        [sys.executable, "-m", "actions", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ACTION_SERVER_TOKEN is not set" in result.stderr
