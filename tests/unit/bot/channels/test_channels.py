"""The project's input channels: the web widget channel and the socket.io channel
(session persistence fix and origin check). The browser tests exercise both
through a real server; these check the details quickly."""

from __future__ import annotations

import asyncio
import re

import pytest
import yaml

from bot.channels.socketio import SocketIOInput
from bot.channels.web import (
    ASSETS,
    NODE_MODULES,
    VENDOR,
    WEB_DIR,
    WebChatInput,
    clinic_config,
    demo_page_policy,
)
from tests.servers import ROOT


async def _noop(message) -> None:
    return None


def test_credentials_name_the_project_channels():
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    assert "bot.channels.rest.RestInput" in credentials
    socket = credentials["bot.channels.socketio.SocketIOInput"]
    assert socket["user_message_evt"] == "user_uttered"
    assert socket["bot_message_evt"] == "bot_uttered"
    assert socket["session_persistence"] is True
    assert "bot.channels.web.WebChatInput" in credentials


def test_config_is_the_clinic_settings_and_the_disclaimer_from_the_knowledge_file(settings, knowledge):
    values = settings.template_values()
    assert clinic_config() == {
        "disclaimer": [
            knowledge.messages["disclaimer"].format(**values),
            knowledge.messages["disclaimer_emergency"].format(**values),
        ],
        "emergency_line": knowledge.messages["emergency_line"].format(**values),
        "name": settings.name,
        "phone": settings.phone,
        "hours": settings.hours,
        "booking_url": settings.booking_url,
        "emergency_number": settings.emergency_number,
        "crisis_line": settings.crisis_line,
    }


def test_demo_page_policy_allows_only_its_own_server():
    policy = demo_page_policy("localhost:5005")
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "connect-src 'self' ws://localhost:5005 wss://localhost:5005;" in policy
    # A forged Host header cannot add sources.
    assert "evil" not in demo_page_policy("evil.example; script-src *")
    assert "connect-src 'self';" in demo_page_policy(None)


def test_web_channel_settings():
    assert WebChatInput.from_credentials(None).demo is True
    assert WebChatInput.from_credentials({"demo": False}).demo is False
    assert WebChatInput.name() == "web"


def test_served_files_exist_and_request_nothing_from_other_servers():
    for name in ASSETS:
        # Web addresses appear only in comments (the embed example), never as something loaded.
        text = re.sub(r"/\*.*?\*/|<!--.*?-->", "", (WEB_DIR / name).read_text(encoding="utf-8"), flags=re.S)
        assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text), name
        assert "@import" not in text and "fonts.googleapis" not in text, name
    assert (NODE_MODULES / VENDOR["socket.io.min.js"]).exists(), "run `npm ci` (make install)"


@pytest.mark.parametrize(
    "setting, expected",
    [
        (None, {"http://localhost:5005", "http://127.0.0.1:5005"}),  # bot/clinic.yml allowed_origins
        ("*", None),
        (["https://www.clinic.example/", "*"], None),
        ("https://www.clinic.example", frozenset({"https://www.clinic.example"})),
        (
            ["https://WWW.clinic.example/", "https://clinic.example"],
            {"https://www.clinic.example", "https://clinic.example"},
        ),
    ],
)
def test_socket_allowed_origins_setting(setting, expected):
    credentials = {"session_persistence": True}
    if setting is not None:
        credentials["cors_allowed_origins"] = setting
    channel = SocketIOInput.from_credentials(credentials)
    assert channel.allowed_origins == (frozenset(expected) if expected is not None else None)
    assert channel.session_persistence is True


def _connect(channel, origin):
    handlers = channel.sio.handlers["/"]
    environ = {"HTTP_HOST": "bot.clinic.example:5005", "wsgi.url_scheme": "http"}
    if origin:
        environ["HTTP_ORIGIN"] = origin
    return asyncio.run(handlers["connect"]("sid", environ, None))


def test_socket_refuses_other_websites_when_a_list_is_set():
    channel = SocketIOInput.from_credentials({"cors_allowed_origins": ["https://www.clinic.example"]})
    channel.blueprint(_noop)
    assert _connect(channel, "https://www.clinic.example") is True
    assert _connect(channel, "http://bot.clinic.example:5005") is True, "the server's own pages"
    assert _connect(channel, None) is True, "not a browser"
    assert _connect(channel, "https://evil.example") is False


def test_socket_uses_the_clinic_origins_without_a_list():
    channel = SocketIOInput.from_credentials({})
    channel.blueprint(_noop)
    assert _connect(channel, "http://localhost:5005") is True, "bot/clinic.yml allowed_origins"
    assert _connect(channel, "https://anywhere.example") is False


def test_socket_accepts_every_website_only_when_told():
    channel = SocketIOInput.from_credentials({"cors_allowed_origins": "*"})
    channel.blueprint(_noop)
    assert _connect(channel, "https://anywhere.example") is True


def test_session_request_joins_the_conversation_room():
    """Rasa 3.6 forgets to await enter_room with python-socketio 5.9+: replies were lost."""
    channel = SocketIOInput.from_credentials({"session_persistence": True})
    channel.blueprint(_noop)
    sio = channel.sio
    emitted = []

    async def emit(*args, **kwargs):
        emitted.append((args, kwargs))

    sio.emit = emit

    async def run():
        sid = await sio.manager.connect("engine-io-id", "/")
        await sio.handlers["/"]["session_request"](sid, {"session_id": "conversation-1"})
        return sid, [participant for participant, _ in sio.manager.get_participants("/", "conversation-1")]

    sid, participants = asyncio.run(run())
    assert participants == [sid]
    assert emitted == [(("session_confirm", "conversation-1"), {"room": sid, "namespace": None})]
