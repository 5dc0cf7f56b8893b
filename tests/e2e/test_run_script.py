"""`make run`'s script starts both servers, says where to talk to them, answers,
and stops both cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from tests.e2e.conftest import MODEL, ROOT, free_port

pytestmark = pytest.mark.e2e


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_run_script_serves_and_stops_on_ctrl_c(tmp_path, knowledge, referral):
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train`.")
    rasa_port, actions_port = free_port(), free_port()
    log = tmp_path / "run.log"
    env = {**os.environ, "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port)}
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh", "server"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "The assistant is running" not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        assert f"localhost:{rasa_port}/webhooks/rest/webhook" in log.read_text()
        reply = requests.post(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
            json={"sender": "run-script", "message": "what is a nerve block"},
            timeout=30,
        ).json()
        assert [m["text"] for m in reply] == [knowledge.answer("nerve_block", "overview").text, referral]
        # A browser at the server's address gets the demo clinic page with the chat widget.
        assert f"http://localhost:{rasa_port}/ (the demo clinic page" in log.read_text()
        page = requests.get(f"http://127.0.0.1:{rasa_port}/", headers={"Accept": "text/html"}, timeout=30)
        assert page.url.endswith("/webhooks/web/") and 'src="widget.js"' in page.text

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(timeout=60) is not None
        time.sleep(1)
        assert port_is_free(rasa_port) and port_is_free(actions_port), "a server outlived Ctrl-C"
        assert "Stopped." in log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
