"""No message text, slot value or secret in the logs of the real servers, at the
default log level (the session's servers) and at INFO set explicitly (``secure``),
including Rasa's error paths that log the message at ERROR (bot/server/logs.py)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.servers import action_server_token

pytestmark = pytest.mark.e2e

SLOT_VALUE = "spinal_cord_stimulation/risks"


def _question(marker: str) -> str:
    return f"what are the risks of spinal cord stimulation? {marker}"


def _assert_clean(texts, *secrets: str) -> None:
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}... found in the {name} log"


def test_messages_slots_and_secrets_stay_out_of_the_logs_at_the_default_level(bot):
    marker = f"qzmark{uuid.uuid4().hex}"
    sender = f"logs-{uuid.uuid4().hex[:8]}"
    assert bot.texts(sender, _question(marker))
    assert bot.slot(sender, "last_answer") == SLOT_VALUE
    assert bot.slot(sender, "procedure") == "spinal_cord_stimulation"
    texts = {"rasa": bot.log.read_text(), "actions": bot.actions_log.read_text()}
    _assert_clean(texts, marker, SLOT_VALUE, action_server_token(), bot.token)


def test_error_paths_at_info_log_no_message_text(secure):
    """Two faults that make Rasa log conversation content at ERROR:

    1. A tracker store that stays busy (another process holds the SQLite file's
       write lock): the save fails and Rasa's fail-safe store logs the SQL error,
       whose parameters are the events, with the message text.
    2. A message Rasa cannot handle (a list instead of a text, which Rasa's own
       ``rest`` channel passes on): the REST channel logs
       ``rest.message.received.failure`` with the message and a traceback.
    """
    bot = secure.bot
    sender = f"errors-{uuid.uuid4().hex[:8]}"
    first, second = f"qzfirst{uuid.uuid4().hex}", f"qzsecond{uuid.uuid4().hex}"
    assert bot.texts(sender, "hello")  # the conversation exists before the faults

    holder = sqlite3.connect(bot.db, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        replies = bot.texts(sender, _question(first))  # answered from memory, not saved
        assert time.monotonic() - started >= 4, "the save waited for the busy database"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert replies

    response = requests.post(
        f"{bot.url}/webhooks/rest/webhook",
        json={"sender": sender, "message": [f"is it painful? {second}"]},
        timeout=60,
    )
    assert response.status_code == 200 and response.json() == [], "Rasa's channel swallows the error"

    log = bot.log.read_text()
    assert "Error happened when trying to save conversation tracker" in log, "fault 1 happened"
    assert "rest.message.received.failure" in log, "fault 2 happened"
    assert "[redacted]" in log
    texts = {"rasa": log, "actions": secure.actions_log.read_text()}
    _assert_clean(texts, first, second, SLOT_VALUE, action_server_token(), bot.token)
    # And the conversation carries on.
    assert bot.texts(sender, "what is a nerve block")
    assert bot.slot(sender, "last_answer") == "nerve_block/overview"


def test_secrets_are_not_in_the_process_list(bot):
    """Secrets reach the servers through the environment, not the command line,
    where every local user can read them."""
    commands = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended
            continue
        if "rasa run" in command or "-m actions" in command:
            commands.append(command)
    assert len(commands) >= 2, "the session's servers are running"
    for command in commands:
        assert action_server_token() not in command and bot.token not in command
