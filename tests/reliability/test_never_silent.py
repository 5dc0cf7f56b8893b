"""Never silent: whatever happens to the action server, the patient gets a reply
within 3 seconds (an apology with the clinic's phone, then the referral), and when
the action server is back the conversation carries on where it was.

The tests kill, freeze and replace the real action server of the shared servers
(always on the same port), and leave it running."""

from __future__ import annotations

import http.server
import re
import threading
from typing import List

import pytest

from bot.safety.red_flags import detect_red_flags
from tests.reliability.conftest import REPLY_DEADLINE_SECONDS, Servers, new_sender, timed_send

pytestmark = pytest.mark.e2e

RFA = "radiofrequency_ablation"


@pytest.fixture(scope="module")
def apology(responder) -> List[str]:
    """What a patient gets while the action server fails: apology, then the referral."""
    return [responder.message("service_unavailable"), responder.referral().text]


def start_conversation(servers: Servers, knowledge, referral) -> str:
    """A conversation about radiofrequency ablation, answered normally."""
    sender = new_sender()
    texts, _ = timed_send(servers.bot, sender, "What is radiofrequency ablation?")
    assert texts == [knowledge.answer(RFA, "overview").text, referral]
    return sender


def assert_carries_on(servers: Servers, sender: str, knowledge, referral) -> None:
    """The next question is answered for the procedure from before the outage."""
    texts, _ = timed_send(servers.bot, sender, "what are the risks?")
    assert texts == [knowledge.answer(RFA, "risks").text, referral]
    assert servers.bot.slot(sender, "procedure") == RFA
    assert servers.bot.slot(sender, "last_answer") == f"{RFA}/risks"


def test_apology_when_the_action_server_is_killed_then_carries_on_after_restart(
    running: Servers, knowledge, referral, apology, settings
):
    sender = start_conversation(running, knowledge, referral)

    running.kill_actions()
    texts, elapsed = timed_send(running.bot, sender, "how long is recovery?")
    print(f"\nreply with the action server killed: {elapsed:.2f} s")
    assert texts == apology
    assert settings.phone in texts[0]
    assert elapsed < REPLY_DEADLINE_SECONDS

    # A second message during the outage is answered the same way (the conversation
    # is listening, not stuck in a failed action).
    texts, _ = timed_send(running.bot, sender, "is it safe?")
    assert texts == apology

    running.start_actions()  # same port
    assert_carries_on(running, sender, knowledge, referral)


def test_apology_when_the_action_server_hangs_then_carries_on_after_it_resumes(
    running: Servers, knowledge, referral, apology, settings
):
    sender = start_conversation(running, knowledge, referral)

    running.freeze_actions()  # SIGSTOP: connections are accepted, nothing answers
    texts, elapsed = timed_send(running.bot, sender, "how long is recovery?")
    print(f"\nreply with the action server frozen: {elapsed:.2f} s")
    assert texts == apology
    assert settings.phone in texts[0]
    assert elapsed < REPLY_DEADLINE_SECONDS

    # A new patient while it hangs: action_session_start and the answer both need
    # the action server, and still the whole turn stays within the deadline. The
    # session's clinic slots are set locally, so domain.yml responses still name
    # the clinic.
    newcomer = new_sender()
    texts, elapsed = timed_send(running.bot, newcomer, "what is a nerve block?")
    print(f"first message of a new conversation, action server frozen: {elapsed:.2f} s")
    assert texts == apology
    assert elapsed < REPLY_DEADLINE_SECONDS
    assert running.bot.slot(newcomer, "clinic_phone") == settings.phone
    (greeting,), _ = timed_send(running.bot, newcomer, "hello")
    assert settings.name in greeting and settings.emergency_number in greeting

    running.thaw_actions()
    assert_carries_on(running, sender, knowledge, referral)


@pytest.mark.parametrize(
    "message, level",
    [
        ("I suddenly can't feel my legs and can't pee", "emergency"),
        ("I don't want to live anymore, I want to end it all", "crisis"),
    ],
)
def test_emergency_instructions_are_not_lost_when_the_action_server_is_down(
    running: Servers, responder, knowledge, referral, settings, message, level
):
    sender = start_conversation(running, knowledge, referral)
    running.kill_actions()

    texts, elapsed = timed_send(running.bot, sender, message)
    # The same instructions the action server gives, from the same knowledge file:
    # the level's message first, then what to do after.
    categories = [flag.category for flag in detect_red_flags(message)]
    assert knowledge.triage.levels_of(categories) == [level]
    assert texts == responder.triage(categories).texts
    values = settings.template_values()
    assert texts == [
        knowledge.triage.levels[level].message.format(**values),
        knowledge.triage.levels[level].then.format(**values),
    ]
    assert elapsed < REPLY_DEADLINE_SECONDS
    assert running.bot.slot(sender, "triage_level") == level


class _FailingActionServer(http.server.BaseHTTPRequestHandler):
    """An action server that is up but broken: every call gets HTTP 500."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": "internal"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Quiet."""


def test_apology_when_the_action_server_answers_with_an_error(running: Servers, knowledge, referral, apology):
    sender = start_conversation(running, knowledge, referral)
    running.kill_actions()
    failing = http.server.ThreadingHTTPServer(("127.0.0.1", running.actions_port), _FailingActionServer)
    thread = threading.Thread(target=failing.serve_forever, daemon=True)
    thread.start()
    try:
        texts, elapsed = timed_send(running.bot, sender, "how long is recovery?")
    finally:
        failing.shutdown()
        failing.server_close()
    assert texts == apology
    assert elapsed < REPLY_DEADLINE_SECONDS

    running.start_actions()
    assert_carries_on(running, sender, knowledge, referral)


def test_failures_are_logged_as_warnings_without_message_text(running: Servers, knowledge, referral):
    sender = start_conversation(running, knowledge, referral)
    running.kill_actions()
    secret = "my neighbour Zebulon Quist has back pain"
    timed_send(running.bot, sender, secret)
    running.start_actions()

    log = running.bot.log.read_text()
    warnings = re.findall(r".*WARNING.*never_silent.*", log)
    assert warnings, log[-2000:]
    assert "Zebulon" not in log
