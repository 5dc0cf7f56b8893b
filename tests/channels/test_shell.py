"""`make shell` (scripts/run.sh shell) in a real terminal, driven with pexpect:
the real action server and the trained model, buttons as a numbered choice."""

from __future__ import annotations

import os
import re
import signal

import pexpect
import pytest

from tests.servers import MODEL, ROOT, free_port

pytestmark = pytest.mark.e2e

DOWN = "\x1b[B"  # the down-arrow key
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def words(text: str) -> str:
    """``text`` without terminal codes and with single spaces, to compare screen output."""
    return " ".join(ANSI.sub(" ", text).split())


def test_shell_two_turn_conversation_with_a_button(knowledge, referral, tmp_path):
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train`.")
    env = {
        **os.environ,
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "RASA_TELEMETRY_ENABLED": "false",
        "TERM": "xterm",
    }
    log = (tmp_path / "shell.log").open("w")
    shell = pexpect.spawn(
        "bash",
        ["scripts/run.sh", "shell"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=240,
        dimensions=(60, 400),
    )
    shell.logfile_read = log
    try:
        shell.expect("Your input ->")
        shell.sendline("how long does the relief last")
        # The question and one numbered choice per procedure, then "Type out your own message...".
        shell.expect("Type out your own message", timeout=60)
        screen = words(shell.before)
        assert knowledge.messages["ask_which_procedure"] in screen
        procedures = [e.id for e in knowledge.procedures]
        index = procedures.index("spinal_cord_stimulation")
        stimulator = knowledge.entry("spinal_cord_stimulation")
        assert f"{index + 1}: {stimulator.short_name} (/" in screen
        shell.send(DOWN * index)
        shell.send("\r")
        answer = knowledge.answer("spinal_cord_stimulation", "relief_duration").text
        # The answer, then the referral as the next question (it has feedback buttons).
        shell.expect("Type out your own message", timeout=60)
        screen = words(shell.before)
        assert words(answer) in screen
        assert words(referral) in screen
        assert screen.index(words(answer)) < screen.index(words(referral))
    finally:
        log.close()
        if shell.isalive():
            os.killpg(shell.pid, signal.SIGTERM)
        shell.close(force=True)
