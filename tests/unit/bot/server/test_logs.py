"""Log redaction (bot/server/logs.py) in process: records and structured events at INFO and above
lose the message text and sensitive keys; the real servers' logs are checked in tests/security."""

from __future__ import annotations

import logging

from bot.server import logs


def test_records_at_info_and_above_are_scrubbed_of_the_current_message():
    logs.install_action_server()  # installs the record factory (idempotent)
    logs.remember(["my secret question", {"not": "text"}, "no"])
    try:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "got %r", ("my secret question",), None
        )
        assert "my secret question" not in record.getMessage() and logs.REDACTED in record.getMessage()
        debug = logging.getLogger("t").makeRecord(
            "t", logging.DEBUG, __file__, 1, "got %s", ("my secret question",), None
        )
        assert "my secret question" in debug.getMessage(), "DEBUG is left alone"
        try:
            raise ValueError("bad input: my secret question")
        except ValueError:
            import sys

            failed = logging.getLogger("t").makeRecord(
                "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
            )
        assert "my secret question" not in logging.Formatter().format(failed)
        assert logs.scrub("a no b") == "a no b", "values shorter than 4 characters are left"
        assert logs.scrub('{"text": "my secret question"}') == '{"text": "[redacted]"}'
    finally:
        logs.remember([])


def test_structured_events_lose_sensitive_keys_above_debug():
    event = {
        "event": "rest.message.received.failure",
        "text": "hi there",
        "slot_values": {"a": 1},
        "count": 2,
    }
    assert logs.redact_event_dict(None, "error", dict(event)) == {
        **event,
        "text": logs.REDACTED,
        "slot_values": logs.REDACTED,
    }
    assert logs.redact_event_dict(None, "debug", dict(event)) == event


def test_structured_tracebacks_carry_no_local_variables():
    """Rasa's JSON logging renders tracebacks with every frame's locals."""
    import structlog

    render = structlog.processors.JSONRenderer()
    dict_tracebacks = structlog.processors.dict_tracebacks

    def fail(text: str) -> None:
        raise ValueError("cannot handle it")

    words = "qzlocal " + "secret words"  # only in a local variable, not in the source line
    try:
        fail(words)
    except ValueError:
        unsafe = render(
            None, "exception", dict_tracebacks(None, "exception", {"event": "x", "exc_info": True})
        )
        safe_dict = logs.redact_event_dict(None, "exception", {"event": "x"})
        safe = render(None, "exception", dict_tracebacks(None, "exception", safe_dict))
    assert "qzlocal secret words" in unsafe, "structlog's own rendering shows the locals"
    assert "qzlocal secret words" not in safe and "cannot handle it" in safe and "Traceback" in safe
