"""Starts the real action server and a real Rasa server (with the trained model and
``credentials.yml``) on free local ports, once per test session.

The ``bot`` fixture defined here is made available to every test by
``tests/conftest.py``, so the end-to-end tests and the browser tests share one
pair of servers.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "pain-clinic.tar.gz"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited early (code {process.returncode}); log:\n{log.read_text()[-3000:]}"
            )
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout}s; log:\n{log.read_text()[-3000:]}")


@lru_cache(maxsize=1)
def action_server_token() -> str:
    """This test session's shared secret between the Rasa server and the action server."""
    return secrets.token_urlsafe(32)


def make_jwt(secret: str, username: str = "tests", role: str = "admin", lifetime: float = 3600) -> str:
    """A JWT for Rasa's HTTP API in the payload Rasa 3.6 expects (``rasa/server.py`` requires_auth)."""
    import jwt

    payload = {"user": {"username": username, "role": role}, "exp": int(time.time() + lifetime)}
    return jwt.encode(payload, secret, algorithm="HS256")


def jwt_headers(secret: str) -> Dict[str, str]:
    """``Authorization: Bearer`` headers with an admin JWT signed with ``secret``."""
    return {"Authorization": f"Bearer {make_jwt(secret)}"}


class Bot:
    """A client for the running Rasa server's REST channel and tracker API."""

    def __init__(self, url: str, token: str, db: Path, port: int, log: Path) -> None:
        self.url = url
        self.token = token  # the HTTP API's JWT secret (RASA_JWT_SECRET)
        self.db = db  # the SQLite tracker store the server writes
        self.port = port
        self.log = log

    def send(self, sender: str, message: str) -> List[Dict]:
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def texts(self, sender: str, message: str) -> List[str]:
        return [m.get("text", "") for m in self.send(sender, message)]

    def tracker(self, sender: str) -> Dict:
        """The conversation's tracker, with every event of every session."""
        response = requests.get(
            f"{self.url}/conversations/{sender}/tracker",
            params={"include_events": "ALL"},
            headers=jwt_headers(self.token),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def slot(self, sender: str, name: str):
        response = requests.get(
            f"{self.url}/conversations/{sender}/tracker", headers=jwt_headers(self.token), timeout=30
        )
        response.raise_for_status()
        return response.json()["slots"].get(name)


def start_action_server(
    workdir: Path, env: Dict[str, str], port: Optional[int] = None
) -> Tuple[subprocess.Popen, int, Path]:
    """Starts the real action server on ``port`` (default: a free one); returns it, its port
    and its log (appended to, so a restarted server keeps one log)."""
    port = port or free_port()
    log = workdir / "actions.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "actions", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, 60, process, log)
    except BaseException:
        stop([process])
        raise
    return process, port, log


def start_rasa_server(
    workdir: Path,
    actions_port: int,
    env: Dict[str, str],
    credentials: Path = ROOT / "credentials.yml",
    token: Optional[str] = None,
    name: str = "rasa",
    port: Optional[int] = None,
    endpoints: Optional[Path] = None,
) -> Tuple[subprocess.Popen, Bot]:
    """Starts a real Rasa server with the trained model and ``credentials`` on a free
    port, talking to the action server on ``actions_port`` and keeping conversations
    in its own SQLite file in ``workdir``; returns it once the model is loaded.

    With ``endpoints`` (e.g. ``deploy/endpoints.production.yml``, its variables set
    in ``env``) that file is used as it is instead, and ``actions_port`` is unused."""
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    port = port or free_port()
    token = token or secrets.token_hex(32)  # the HTTP API's JWT secret
    db = workdir / ("conversations.db" if name == "rasa" else f"conversations.{name}.db")
    if endpoints is None:
        # The project's endpoints.yml as it is (token header, selective domain, SQLite
        # store), pointed at this action server and this test's own database.
        config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
        config["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
        config["tracker_store"]["db"] = str(db)
        endpoints = workdir / f"endpoints.{name}.yml"
        endpoints.write_text(yaml.safe_dump(config, sort_keys=False))
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        [
            # Plain `rasa run`, as Rasa's docs start it: the project's channels in
            # `credentials` install its server hooks (bot/server/__init__.py).
            str(VENV_BIN / "rasa"),
            "run",
            "-m",
            str(MODEL),
            "--port",
            str(port),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials),
            # The HTTP API is enabled here only so tests can read slots from the tracker,
            # with a JWT signed with RASA_JWT_SECRET (bot/server/http_api.py).
            "--enable-api",
            "--jwt-method",
            "HS256",
        ],
        cwd=ROOT,
        env={**env, "RASA_JWT_SECRET": token},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def model_loaded() -> bool:
        status = requests.get(f"{url}/status", headers=jwt_headers(token), timeout=2).json()
        return bool(status.get("model_file"))

    try:
        wait_until(model_loaded, 240, process, log)
    except BaseException:
        stop([process])
        raise
    return process, Bot(url, token, db, port, log)


def server_env(**extra: str) -> Dict[str, str]:
    """The environment the servers run in."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
        # The shared secret both servers need (endpoints.yml, actions/auth.py).
        "ACTION_SERVER_TOKEN": action_server_token(),
        **extra,
    }


def stop(processes: List[subprocess.Popen]) -> None:
    """Stops ``processes`` (SIGTERM, then SIGKILL after 20 s)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def bot(tmp_path_factory) -> Iterator[Bot]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    workdir = tmp_path_factory.mktemp("servers")
    env = server_env()
    processes = []
    try:
        actions, actions_port, actions_log = start_action_server(workdir, env)
        processes.append(actions)
        rasa, bot = start_rasa_server(workdir, actions_port, env)
        processes.append(rasa)
        bot.actions_log = actions_log
        bot.actions_port = actions_port
        yield bot
    finally:
        stop(processes)
