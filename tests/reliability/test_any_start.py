"""The project's safety however the Rasa server is started (bot/server/__init__.py).

The session's servers (tests/servers.py) are plain ``rasa run`` with the project's
``credentials.yml`` and ``endpoints.yml``: every end-to-end test checks that start.
These tests start Rasa in the ways that load no channel of the project, with its
own ``rest`` channel (``--connector rest``, as Rasa's docs show): the model still
installs the hooks, so a patient is never left without the apology and the
referral, and an HTTP API that could no longer be made safe stops the server.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import List

import pytest
import requests
import yaml

from tests.servers import MODEL, ROOT, VENV_BIN, free_port, server_env, stop

pytestmark = pytest.mark.e2e

READY_SECONDS = 240


def endpoints_without_action_server(workdir: Path) -> Path:
    """The project's endpoints.yml with the action server at a port where nothing listens."""
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    config["action_endpoint"]["url"] = f"http://127.0.0.1:{free_port()}/webhook"
    config["tracker_store"]["db"] = str(workdir / "conversations.db")
    path = workdir / "endpoints.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rasa_run(workdir: Path, port: int, *extra: str, env=None) -> subprocess.Popen:
    """Plain ``rasa run`` with Rasa's own REST channel and the project's model and endpoints."""
    return subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "-m", str(MODEL), "--port", str(port), "--connector", "rest"]
        + ["--endpoints", str(endpoints_without_action_server(workdir)), *extra],
        cwd=ROOT,
        env=env or server_env(),
        stdout=(workdir / "rasa.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def first_reply(process: subprocess.Popen, url: str, log: Path) -> List[str]:
    """The texts of the first answer to a question, once the model is loaded."""
    sender = f"start-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rasa run exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            response = requests.post(
                url, json={"sender": sender, "message": "What is radiofrequency ablation?"}, timeout=30
            )
            if response.status_code == 200 and response.json():
                return [message.get("text", "") for message in response.json()]
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"no answer after {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


def test_rasas_own_rest_channel_still_gets_the_apology_and_referral_without_an_action_server(
    tmp_path, responder, settings
):
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train`.")
    port = free_port()
    process = rasa_run(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        texts = first_reply(process, url, tmp_path / "rasa.log")
        # Without the hooks Rasa logs the failed action and the patient gets nothing.
        assert texts == [responder.message("service_unavailable"), responder.referral().text]
        assert settings.phone in texts[0]
        # A red flag keeps its instructions even with the action server down.
        message = "my husband cant move his legs since the epidural this morning"
        reply = requests.post(url, json={"sender": "any-start-2", "message": message}, timeout=30)
        texts = [m.get("text", "") for m in reply.json()]
        assert texts and settings.emergency_number in texts[0], texts
        log = (tmp_path / "rasa.log").read_text()
        assert "sent the local reply instead" in log
        assert message not in log  # the log redaction is installed too
    finally:
        stop([process])


def test_the_http_api_without_the_projects_checks_stops_the_server(tmp_path):
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train`.")
    port = free_port()
    process = rasa_run(
        tmp_path,
        port,
        "--enable-api",
        env=server_env(RASA_JWT_SECRET="j" * 40),
    )
    try:
        process.wait(timeout=READY_SECONDS)
    except subprocess.TimeoutExpired:
        stop([process])
        pytest.fail("rasa run with --enable-api and no channel of the project kept running")
    log = (tmp_path / "rasa.log").read_text()
    assert process.returncode != 0
    assert "Not started: the HTTP API (--enable-api) was switched on before the project's checks" in log
    # It never served the unchecked API.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/status", timeout=2)
