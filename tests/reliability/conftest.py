"""Servers these tests may break: each module gets its own real action server and
real Rasa server (started with ``tests/servers.py``) that its tests kill, freeze,
restart and load, and helpers that read the SQLite tracker store directly."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import requests
import yaml

from tests.servers import ROOT, Bot, free_port, server_env, start_action_server, start_rasa_server, stop

# How long a patient may wait for any reply: the promise ("within 3 seconds").
REPLY_DEADLINE_SECONDS = 3.0


@dataclass
class Servers:
    """A real action server and Rasa server that a test may stop and start again.

    Both come back on the same ports, and the Rasa server on the same SQLite
    tracker store, so a restart looks to a client like a short outage.
    """

    workdir: Path
    env: Dict[str, str]
    actions_port: int = field(default_factory=free_port)
    rasa_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(32))  # JWT secret
    actions: Optional[subprocess.Popen] = None
    rasa: Optional[subprocess.Popen] = None
    bot: Optional[Bot] = None

    # -- action server -----------------------------------------------------------
    def start_actions(self) -> None:
        """Starts the action server on its port (it must not be running)."""
        self.actions, _, _ = start_action_server(self.workdir, self.env, port=self.actions_port)

    def kill_actions(self) -> None:
        """``kill -9`` of the action server; returns once its port is closed."""
        assert self.actions is not None
        self.actions.kill()
        self.actions.wait(timeout=30)
        self.actions = None

    def freeze_actions(self) -> None:
        """SIGSTOP: the action server still accepts connections but never answers."""
        assert self.actions is not None
        os.kill(self.actions.pid, signal.SIGSTOP)

    def thaw_actions(self) -> None:
        """SIGCONT after :meth:`freeze_actions`."""
        assert self.actions is not None
        os.kill(self.actions.pid, signal.SIGCONT)

    def ensure_actions(self) -> None:
        """The action server running and answering (after whatever a test did)."""
        if self.actions is not None and self.actions.poll() is None:
            self.thaw_actions()
            return
        self.start_actions()

    # -- Rasa server ---------------------------------------------------------------
    def start_rasa(self) -> Bot:
        """Starts the Rasa server on its port and tracker store; returns its client."""
        self.rasa, self.bot = start_rasa_server(
            self.workdir, self.actions_port, self.env, token=self.token, port=self.rasa_port
        )
        return self.bot

    def stop_rasa(self, sig: int = signal.SIGTERM) -> None:
        """Stops the Rasa server with ``sig`` (SIGTERM: orderly; SIGKILL: ``kill -9``)."""
        assert self.rasa is not None
        self.rasa.send_signal(sig)
        try:
            self.rasa.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.rasa.kill()
            self.rasa.wait(timeout=30)
        self.rasa = None

    def stop_all(self) -> None:
        """Stops whatever still runs (thawing a frozen action server first)."""
        if self.actions is not None and self.actions.poll() is None:
            os.kill(self.actions.pid, signal.SIGCONT)
        stop([p for p in (self.rasa, self.actions) if p is not None and p.poll() is None])


def start_servers(workdir: Path, **env: str) -> Servers:
    """Both servers on free 127.0.0.1 ports (with extra environment ``env``)."""
    servers = Servers(workdir=workdir, env=server_env(SANIC_HOST="127.0.0.1", **env))
    try:
        servers.start_actions()
        servers.start_rasa()
    except BaseException:
        servers.stop_all()
        raise
    return servers


def load_test_settings(workdir: Path) -> Path:
    """``bot/clinic.yml`` with rate limits a load test from one address does not hit.

    All simulated patients share 127.0.0.1, so the per-address limit is off; each
    conversation may send more than a real patient would, but is still limited.
    The default file stays as it is (``CLINIC_SETTINGS`` points at this copy).
    """
    settings = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text(encoding="utf-8"))
    if "rate_limit" in settings:
        settings["rate_limit"].update(
            sender_burst=100, sender_per_minute=600, client_burst=None, client_per_minute=None
        )
    path = workdir / "clinic.load-test.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="package")
def servers(tmp_path_factory) -> Iterator[Servers]:
    """The pair of servers all reliability tests share (one Rasa start: they are slow
    to start), with rate limits that fit a load test from one address.

    Tests that break them leave them running again (see ``running``).
    """
    workdir = tmp_path_factory.mktemp("reliability")
    servers = start_servers(workdir, CLINIC_SETTINGS=str(load_test_settings(workdir)))
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture
def running(servers: Servers) -> Iterator[Servers]:
    """The shared servers, both running and answering before and after the test."""
    servers.ensure_actions()
    if servers.rasa is None:
        servers.start_rasa()
    try:
        yield servers
    finally:
        servers.ensure_actions()
        if servers.rasa is None:
            servers.start_rasa()


def new_sender(prefix: str = "rel") -> str:
    """A conversation id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def timed_send(bot: Bot, sender: str, message: str, timeout: float = 30) -> tuple:
    """Sends ``message`` over REST; returns (reply texts, seconds until the reply arrived)."""
    started = time.monotonic()
    response = requests.post(
        f"{bot.url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return [m.get("text", "") for m in response.json()], elapsed


def stored_user_messages(db: Path, sender: str) -> List[str]:
    """The texts of ``sender``'s user messages in the SQLite tracker store, in order.

    Read with plain SQL from Rasa's ``events`` table, as ``bot/analytics/report.py`` does.
    """
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,)
        ).fetchall()
    return [json.loads(data).get("text") for (data,) in rows]
