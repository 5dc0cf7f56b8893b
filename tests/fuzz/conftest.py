"""A real action server and a real Rasa server for the bad-input and rate-limit tests.

The Rasa server runs with its own clinic settings file: the bundled one with
small rate limits (so the limit tests finish quickly) and ``SANIC_PROXIES_COUNT=1``
(as behind nginx), so that each test can act as a client at its own address by
sending ``X-Forwarded-For``. The fuzz tests use a new address and sender per
example and so never meet the limits; the limit tests meet them on purpose.

Hypothesis's profiles are set in tests/conftest.py.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import yaml

from tests.servers import ROOT, start_action_server, start_rasa_server, stop

# The limits of the test server (bot/clinic.yml has the production defaults).
LIMITS = {
    "enabled": True,
    "sender_burst": 5,
    "sender_per_minute": 30,  # one message every 2 seconds
    "client_burst": 15,
    "client_per_minute": 60,  # one message a second
    "max_tracked": 1000,
}
NORMAL_QUESTION = "What is radiofrequency ablation?"

_addresses = itertools.count(1)


def new_address() -> str:
    """A client address of its own (sent as X-Forwarded-For), in 10.0.0.0/8."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def new_sender(prefix: str = "fuzz") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Server:
    """The running Rasa server of these tests."""

    url: str
    process: Any
    log: Path
    session: requests.Session

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def post(
        self, body: Any = None, *, raw: Any = None, address: Optional[str] = None, **kwargs: Any
    ) -> requests.Response:
        """POSTs ``body`` as JSON (or ``raw`` bytes) from ``address`` (a new one by default)."""
        headers = {
            "Content-Type": "application/json",
            "X-Forwarded-For": address or new_address(),
            **kwargs.pop("headers", {}),
        }
        data = json.dumps(body).encode() if raw is None else raw
        return self.session.post(self.webhook, data=data, headers=headers, timeout=60, **kwargs)

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"the Rasa server died; log:\n{self.log.read_text()[-3000:]}"


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory) -> Iterator[Server]:
    from tests.servers import server_env

    workdir = tmp_path_factory.mktemp("fuzz")
    clinic = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text())
    clinic["rate_limit"] = LIMITS
    settings_file = workdir / "clinic.yml"
    settings_file.write_text(yaml.safe_dump(clinic, sort_keys=False))
    env = server_env(CLINIC_SETTINGS=str(settings_file), SANIC_PROXIES_COUNT="1")
    processes = []
    try:
        actions, actions_port, _ = start_action_server(workdir, env)
        processes.append(actions)
        rasa, bot = start_rasa_server(workdir, actions_port, env, name="fuzz")
        processes.append(rasa)
        with requests.Session() as session:
            yield Server(bot.url, rasa, bot.log, session)
    finally:
        stop(processes)


@pytest.fixture(scope="session")
def normal_reply(knowledge, referral) -> List[str]:
    """What the bot answers to :data:`NORMAL_QUESTION`."""
    return [knowledge.answer("radiofrequency_ablation", "overview").text, referral]


@pytest.fixture(scope="session")
def polite(responder) -> Dict[str, str]:
    """The channel's own polite messages."""
    return {
        key: responder.message(key) for key in ("rate_limited", "message_too_long", "service_unavailable")
    }


@pytest.fixture
def answered_normally(fuzz_server: Server, normal_reply: List[str]):
    """Checks that the server is alive and answers a normal question normally."""

    def check() -> None:
        fuzz_server.assert_alive()
        sender = new_sender("normal")
        response = fuzz_server.post({"sender": sender, "message": NORMAL_QUESTION})
        assert response.status_code == 200, response.text
        assert [m.get("text") for m in response.json()] == normal_reply

    return check


class SocketClient:
    """A real socket.io client (python-socketio over websocket); ``received`` collects the bot's messages."""

    def __init__(self, url: str, address: Optional[str] = None) -> None:
        import socketio

        self.url = url
        self.address = address or new_address()
        self.client = socketio.Client(reconnection=False)
        self.received: List[Any] = []
        self.changed = threading.Condition(threading.RLock())
        self.session_id: Optional[str] = None

        def bot_uttered(data: Any) -> None:
            with self.changed:
                self.received.append(data)
                self.changed.notify_all()

        def session_confirm(data: Any) -> None:
            with self.changed:
                self.session_id = data
                self.changed.notify_all()

        def disconnect(*_: Any) -> None:
            with self.changed:
                self.changed.notify_all()

        self.client.on("bot_uttered", bot_uttered)
        self.client.on("session_confirm", session_confirm)
        self.client.on("disconnect", disconnect)

    def connect(self, session_id: Optional[str] = None) -> SocketClient:
        """Connects over websocket and starts a session."""
        self.client.connect(
            self.url, transports=["websocket"], headers={"X-Forwarded-For": self.address}, wait_timeout=30
        )
        self.emit("session_request", {"session_id": session_id or new_sender("socket")})
        self.wait_for(lambda: self.session_id is not None, "session_confirm")
        return self

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    def emit(self, event: str, data: Any) -> None:
        self.client.emit(event, data)

    def say(self, text: str) -> None:
        self.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def texts(self) -> List[str]:
        with self.changed:
            return [m.get("text", "") if isinstance(m, dict) else repr(m) for m in self.received]

    def wait_for(self, condition, what: str, timeout: float = 60) -> None:
        """Waits until ``condition()`` holds (a missing reply fails; the timeout is only a safety net)."""
        with self.changed:
            if not self.changed.wait_for(condition, timeout):
                raise AssertionError(f"no {what} within {timeout} s; received {self.received!r}")

    def wait_for_text(self, text: str, timeout: float = 60) -> List[str]:
        self.wait_for(lambda: text in self.texts(), repr(text[:40]), timeout)
        return self.texts()

    def wait_for_turn(self, replies: List[str], timeout: float = 60) -> List[str]:
        """Waits until ``replies`` arrived one after the other; returns everything received."""

        def arrived() -> bool:
            texts = self.texts()
            return any(texts[i : i + len(replies)] == replies for i in range(len(texts)))

        self.wait_for(arrived, f"reply {replies[0][:40]!r}...", timeout)
        return self.texts()

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def socket_client(fuzz_server: Server) -> Iterator[Any]:
    """Opens real socket.io connections to the test server; closes them afterwards."""
    clients: List[SocketClient] = []

    def open_client(address: Optional[str] = None, session_id: Optional[str] = None) -> SocketClient:
        client = SocketClient(fuzz_server.url, address)
        clients.append(client)
        return client.connect(session_id)

    yield open_client
    for client in clients:
        client.close()
