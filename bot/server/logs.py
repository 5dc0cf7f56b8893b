"""Keeps what patients write, and slot values, out of the logs at INFO and above.

Rasa 3.6 and rasa-sdk log conversation content in a few places that are not
debug output:

- ``rest.message.received.failure`` (and ``...timeout``): the REST channel logs the
  patient's message at ERROR, with a traceback, whenever handling it fails (for
  example a busy lock or a crashing component). Other channels do the same.
- The fail-safe tracker store logs ``Error happened when trying to save
  conversation tracker ... {error}`` at ERROR; an SQLAlchemy error includes the
  statement's parameters, i.e. the stored events with the message text and slots.
- Structured events carry ``text``, ``slot_values``, ``rasa_event``... at WARNING
  and ERROR (Rasa's own anonymizer only acts when a Rasa Pro pipeline is set up).
- rasa-sdk answers an action error with the whole tracker (``request_body``); Rasa
  then logs that body inside the exception at ERROR (fixed in ``actions/auth.py``).

This module, installed in the Rasa server (``bot/server`` hook) and in the action
server (``python -m actions``), does four things:

1. Structured (structlog) events at INFO and above have the values of the keys in
   :data:`SENSITIVE_KEYS` replaced with ``[redacted]``, and their tracebacks are
   plain text: Rasa's JSON logs (what it writes when stdout is not a terminal, as in
   containers) render tracebacks with every frame's local variables, i.e. the
   message, the tracker and the slots.
2. The text of the message being handled (and, in the action server, the
   conversation's slot values) is remembered for the current request
   (``contextvars``); every standard ``logging`` record at INFO or above made
   while handling it, structured events included (they reach ``logging`` as
   rendered text) and tracebacks, has each occurrence replaced with ``[redacted]``.
3. SQLAlchemy engines of the SQL tracker store hide statement parameters in errors.
4. Nothing is done to DEBUG records: debug logging is for a developer's machine and
   shows conversations (SECURITY.md says so).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from contextvars import ContextVar
from typing import Any, Callable, Dict, Iterable, MutableMapping, Optional, Set, Tuple

REDACTED = "[redacted]"

# Rasa's own list of anonymizable structlog keys (rasa/utils/log_utils.py), plus the
# names under which rasa-sdk, this project and the API pass conversation content.
SENSITIVE_KEYS = frozenset(
    {
        "text",
        "response_text",
        "user_text",
        "slot_values",
        "parse_data_text",
        "parse_data_entities",
        "prediction_events",
        "tracker_latest_message",
        "prefilled_slots",
        "message",
        "response",
        "slot_candidates",
        "rasa_event",
        "rasa_events",
        "tracker_states",
        "current_states",
        "old_states",
        "successes",
        "current_entity",
        "next_entity",
        "states",
        "entity",
        "token_text",
        "user_message",
        "json_message",
        # beyond Rasa's list
        "slots",
        "slot",
        "slot_value",
        "value",
        "events",
        "tracker",
        "latest_message",
        "parse_data",
        "request_body",
        "body",
        "metadata",
    }
)

# Shorter values are not scrubbed from free text: replacing "yes" or "hip" inside
# every log line would garble the logs without protecting anything.
MIN_SCRUB_LENGTH = 4

_DEBUG_METHODS = frozenset({"debug", "trace"})
_current_values: ContextVar[Tuple[str, ...]] = ContextVar("bot_log_redaction_values", default=())


def variants(value: str) -> Tuple[str, ...]:
    """``value`` as it may appear in a log line: raw, JSON-escaped (both ways) and repr-escaped."""
    forms = {
        value,
        value.strip(),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
    }
    return tuple(form for form in forms if len(form) >= MIN_SCRUB_LENGTH)


def remember(values: Iterable[Any]) -> None:
    """Marks ``values`` (message text, slot values) as content to redact while handling this request."""
    found: Set[str] = set()
    for value in values:
        if isinstance(value, str):
            found.update(variants(value))
        elif isinstance(value, (list, tuple)):
            found.update(form for item in value if isinstance(item, str) for form in variants(item))
    # Longest first, so a value containing another is replaced whole.
    _current_values.set(tuple(sorted(found, key=len, reverse=True)))


def scrub(text: str, values: Optional[Tuple[str, ...]] = None) -> str:
    """``text`` with every remembered value (or ``values``) replaced by ``[redacted]``."""
    for value in _current_values.get() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_event_dict(
    _: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor for INFO-and-above events.

    Sensitive keys become ``[redacted]``, and a traceback becomes plain text (scrubbed
    of the current message) instead of the structured one Rasa's JSON logging
    renders, which lists every frame's local variables: the message, the tracker,
    the slots.
    """
    if method_name in _DEBUG_METHODS:
        return event_dict
    for key in SENSITIVE_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    _plain_traceback(method_name, event_dict)
    return event_dict


def _plain_traceback(method_name: str, event_dict: MutableMapping[str, Any]) -> None:
    exc_info = event_dict.get("exc_info")
    if exc_info is None and method_name == "exception":
        exc_info = True
    if not exc_info:
        return
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is not None:
        event_dict["exception"] = scrub("".join(traceback.format_exception(*exc_info)).rstrip("\n"))
    # False, not absent: structlog's set_exc_info would bring the live exception back.
    event_dict["exc_info"] = False


def scrub_record(record: logging.LogRecord) -> None:
    """Redacts the remembered values in an INFO-or-above ``record`` (message and traceback)."""
    if record.levelno < logging.INFO:
        return
    values = _current_values.get()
    if not values:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return
    cleaned = scrub(message, values)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        cleaned = scrub(text, values)
        if cleaned != text:
            record.exc_text = cleaned


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_bot_redacting", False):
        return

    def redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    redacting_record_factory._bot_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_record_factory)


def _install_structlog_redaction() -> None:
    """Chains :func:`redact_event_dict` after Rasa's anonymizer.

    The anonymizer is the first processor ``rasa.utils.log_utils.configure_structlog``
    puts in every structlog pipeline.
    """
    import rasa.utils.log_utils as log_utils

    anonymizer = log_utils._anonymizer
    if getattr(anonymizer, "_bot_redacting", False):
        return

    @functools.wraps(anonymizer)
    def anonymize_and_redact(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return redact_event_dict(logger, method_name, anonymizer(logger, method_name, event_dict))

    anonymize_and_redact._bot_redacting = True  # type: ignore[attr-defined]
    log_utils._anonymizer = anonymize_and_redact
    # Rasa's CLI has configured structlog already when a channel or the model installs
    # this: its processor list (shared by every logger, cached ones included) gets the
    # redacting anonymizer in place of the plain one.
    import structlog

    processors = structlog.get_config()["processors"]
    for index, processor in enumerate(processors):
        if processor is anonymizer:
            processors[index] = anonymize_and_redact


def _install_sql_parameter_hiding() -> None:
    """The SQL tracker store's engines hide statement parameters in errors and logs."""
    import rasa.core.tracker_store as tracker_store

    create_engine_kwargs: Callable[..., Dict[str, Any]] = tracker_store.create_engine_kwargs
    if getattr(create_engine_kwargs, "_bot_redacting", False):
        return

    @functools.wraps(create_engine_kwargs)
    def hiding_parameters(*args: Any, **kwargs: Any) -> Dict[str, Any]:
        return {**create_engine_kwargs(*args, **kwargs), "hide_parameters": True}

    hiding_parameters._bot_redacting = True  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = hiding_parameters


def _install_message_tracking() -> None:
    """Remembers each message's text while the agent handles it (and after, in the same request)."""
    from rasa.core.agent import Agent

    for name in ("handle_message", "parse_message"):
        method = getattr(Agent, name)
        if getattr(method, "_bot_redacting", False):
            continue

        def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(method)
            async def remembering(self: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
                remember([getattr(message, "text", message)])
                return await method(self, message, *args, **kwargs)

            remembering._bot_redacting = True  # type: ignore[attr-defined]
            return remembering

        setattr(Agent, name, wrap(method))


def _install_action_call_tracking() -> None:
    """Remembers the message text and slot values of each action call in the action server."""
    from rasa_sdk.executor import ActionExecutor

    run = ActionExecutor.run
    if getattr(run, "_bot_redacting", False):
        return

    @functools.wraps(run)
    async def remembering(self: Any, action_call: Any, *args: Any, **kwargs: Any) -> Any:
        tracker = action_call.get("tracker") if isinstance(action_call, dict) else None
        if isinstance(tracker, dict):
            latest = tracker.get("latest_message") or {}
            slots = tracker.get("slots") or {}
            remember([latest.get("text"), *(slots.values() if isinstance(slots, dict) else [])])
        return await run(self, action_call, *args, **kwargs)

    remembering._bot_redacting = True  # type: ignore[attr-defined]
    ActionExecutor.run = remembering


def install() -> None:
    """The Rasa server's redaction (a ``bot.server`` hook)."""
    _install_record_factory()
    _install_structlog_redaction()
    _install_sql_parameter_hiding()
    _install_message_tracking()


def install_action_server() -> None:
    """The action server's redaction (called by ``python -m actions``)."""
    _install_record_factory()
    _install_action_call_tracking()
