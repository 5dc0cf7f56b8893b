"""Only the clinic's websites may use the assistant from a browser: CORS on the HTTP
routes (bot/server/origins.py) and the socket.io origin check (bot/channels/socketio.py),
both from ``allowed_origins`` in the clinic settings. The ``secure`` server's
settings allow https://www.clinic.example only."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
import socketio

from tests.security.conftest import CLINIC_ORIGIN

pytestmark = pytest.mark.e2e

FOREIGN_ORIGINS = [
    "https://evil.example",
    "http://localhost:5005",
    "https://www.clinic.example.evil.example",
    "null",
]


def _preflight(url: str, origin: str) -> requests.Response:
    return requests.options(
        f"{url}/webhooks/rest/webhook",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )


def test_rest_cors_allows_the_clinic_site_only(secure):
    url = secure.bot.url
    allowed = _preflight(url, CLINIC_ORIGIN)
    assert allowed.headers.get("Access-Control-Allow-Origin") == CLINIC_ORIGIN
    body = {"sender": f"cors-{uuid.uuid4().hex[:8]}", "message": "what is a nerve block"}
    post = requests.post(
        f"{url}/webhooks/rest/webhook", json=body, headers={"Origin": CLINIC_ORIGIN}, timeout=30
    )
    assert post.headers.get("Access-Control-Allow-Origin") == CLINIC_ORIGIN and post.json()
    for origin in FOREIGN_ORIGINS:
        assert "Access-Control-Allow-Origin" not in _preflight(url, origin).headers, origin
        post = requests.post(
            f"{url}/webhooks/rest/webhook", json=body, headers={"Origin": origin}, timeout=30
        )
        assert "Access-Control-Allow-Origin" not in post.headers, origin


def test_the_default_settings_allow_local_pages_only(bot):
    """The session's server runs with bot/clinic.yml as it is (localhost only)."""
    assert _preflight(bot.url, "http://localhost:5005").headers.get("Access-Control-Allow-Origin")
    assert "Access-Control-Allow-Origin" not in _preflight(bot.url, "https://evil.example").headers


def _socket(url: str, origin: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(url, headers={"Origin": origin}, transports=["polling"], wait_timeout=20)
    return client


def test_socketio_refuses_foreign_websites(secure):
    for origin in FOREIGN_ORIGINS:
        with pytest.raises(socketio.exceptions.ConnectionError):
            _socket(secure.bot.url, origin).disconnect()
    assert "Refused a socket.io connection" in secure.bot.log.read_text()


def test_socketio_serves_the_clinic_site(secure, knowledge):
    client = _socket(secure.bot.url, CLINIC_ORIGIN)
    replies, confirmed, answered = [], threading.Event(), threading.Event()
    client.on("session_confirm", lambda *_: confirmed.set())

    def on_reply(message):
        replies.append(message.get("text"))
        if len(replies) >= 2:
            answered.set()

    client.on("bot_uttered", on_reply)
    try:
        session = uuid.uuid4().hex
        client.emit("session_request", {"session_id": session})
        assert confirmed.wait(20)
        client.emit("user_uttered", {"message": "what is a nerve block", "session_id": session})
        assert answered.wait(60), replies
    finally:
        client.disconnect()
    assert replies[0] == knowledge.answer("nerve_block", "overview").text
