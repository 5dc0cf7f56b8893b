"""Never silent: a reply in time even when the action server is down, fails or is slow.

Why Rasa 3.6 needs this: ``RemoteAction.run`` waits up to
``rasa.core.constants.DEFAULT_REQUEST_TIMEOUT`` (300 s) for the action server, and
``MessageProcessor._run_action`` catches any failure, logs it and drops the
action's events: the patient gets no reply at all. This hook changes two things:

- ``MessageProcessor.handle_message`` gives each patient message a budget of
  action-server time (``action_timeout_seconds`` in ``bot/clinic.yml``, default
  2 s), shared by all the action-server calls of that message (a new
  conversation's ``action_session_start`` and the answer).
- ``RemoteAction.run`` (wrapped; the previous function still does the work) runs
  under what is left of that budget. If the action server cannot be reached,
  answers with an error, answers something invalid or uses up the budget, the
  action returns a local reply instead of nothing:

  - ``action_session_start``: Rasa's own session start plus the clinic details in
    slots (what the action server would have set), so ``domain.yml`` responses
    still name the clinic's phone;
  - ``action_handle_emergency``: the triage level's instructions themselves
    (emergency, crisis or "call the clinic today"), built here from the same
    knowledge file, because they must never be lost; any other action whose
    message raised a red flag after a procedure gets them too;
  - any other action: the ``service_unavailable`` apology (with the clinic's
    phone number) and then the referral every answer ends with,

  followed by ``action_listen`` so the conversation continues. A rejection by
  the action server (HTTP 400, ``ActionExecutionRejection``) is not a failure and
  goes on to Rasa as before. A call whose connection was dropped is tried once
  more within the budget (see :func:`connection_dropped`).

**Only the action server's time counts.** The budget is spent in steps of
:data:`TICK_SECONDS` while the server waits for the reply; when the Rasa server is
busy with other patients' messages (NLU runs on its event loop) and wakes up late,
the delay is not charged to the action server. An idle Rasa server with a hung
action server gives up after the budget (2 s, so the patient has the apology
within 3 s); a Rasa server under heavy load answers slower, but with real answers
instead of apologies for an action server that is working.

The wording comes from the knowledge file and the clinic settings through
:class:`bot.replies.Responder`, exactly as the action server builds it. Failures are
logged at WARNING with the action name and the kind of failure only, never message
text or slot values.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, List, Optional, TypeVar

import aiohttp
from rasa.core.actions.action import (
    ActionExecutionRejection,
    ActionSessionStart,
    RemoteAction,
    create_bot_utterance,
)
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, FollowupAction, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.knowledge import KnowledgeError
from bot.replies import Outcome, responder, triage_slots
from bot.settings import SettingsError, get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_START = "action_session_start"
EMERGENCY = "action_handle_emergency"
_MARK = "__never_silent__"

# How often the wait for the action server checks its budget (seconds).
TICK_SECONDS = 0.1
# How often a call whose connection was lost or refused is tried again (within the budget).
CONNECTION_RETRIES = 1


@dataclass
class Budget:
    """Action-server time left for one patient message, in seconds."""

    seconds: float


# The budget of the patient message being handled (set per message, per task).
_TURN_BUDGET: contextvars.ContextVar[Optional[Budget]] = contextvars.ContextVar(
    "never_silent_turn_budget", default=None
)


def install() -> None:
    """Wraps ``MessageProcessor.handle_message`` and ``RemoteAction.run``; safe to call twice.

    Loads the clinic settings and the knowledge file first, so that a broken file
    stops the server at start-up rather than the first time a local reply is needed.

    Raises:
        SystemExit: the settings or knowledge file is malformed (naming entry and field).

    """
    try:
        responder()
    except (KnowledgeError, SettingsError) as error:
        raise SystemExit(f"Rasa server not started: {error}") from error

    if not getattr(MessageProcessor.handle_message, _MARK, False):
        MessageProcessor.handle_message = _with_turn_budget(MessageProcessor.handle_message)
    if not getattr(RemoteAction.run, _MARK, False):
        RemoteAction.run = _never_silent(RemoteAction.run)


def current_budget() -> Budget:
    """The budget of the message being handled (a whole new one outside a message).

    Outside a message means e.g. the HTTP API's ``execute`` endpoint.
    """
    return _TURN_BUDGET.get() or Budget(get_settings().action_timeout_seconds)


async def within_budget(awaitable: Awaitable[T], budget: Budget) -> T:
    """Awaits ``awaitable``, charging the wait to ``budget``.

    Each check charges at most :data:`TICK_SECONDS`, however late the event loop
    got round to it: time the loop spent on other work is not the action server's.

    Raises:
        asyncio.TimeoutError: the budget ran out first (``awaitable`` is cancelled).

    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    try:
        while budget.seconds > 0:
            step = min(TICK_SECONDS, budget.seconds)
            started = loop.time()
            done, _ = await asyncio.wait({task}, timeout=step)
            budget.seconds -= min(loop.time() - started, step)
            if done:
                return task.result()
    except asyncio.CancelledError:
        task.cancel()
        raise
    task.cancel()
    await asyncio.wait({task})
    raise asyncio.TimeoutError


def _with_turn_budget(
    handle_message: Callable[[MessageProcessor, UserMessage], Awaitable[Any]],
) -> Callable[[MessageProcessor, UserMessage], Awaitable[Any]]:
    """``MessageProcessor.handle_message`` that gives the message its action-server budget."""

    @functools.wraps(handle_message)
    async def wrapped(self: MessageProcessor, message: UserMessage) -> Any:
        token = _TURN_BUDGET.set(Budget(get_settings().action_timeout_seconds))
        try:
            return await handle_message(self, message)
        finally:
            _TURN_BUDGET.reset(token)

    setattr(wrapped, _MARK, True)
    return wrapped


def _never_silent(
    run: Callable[..., Awaitable[List[Event]]],
) -> Callable[..., Awaitable[List[Event]]]:
    """``RemoteAction.run`` bounded by the budget, with a local reply on failure."""

    @functools.wraps(run)
    async def wrapped(
        self: Any,
        output_channel: OutputChannel,
        nlg: NaturalLanguageGenerator,
        tracker: DialogueStateTracker,
        domain: Domain,
    ) -> List[Event]:
        budget = current_budget()
        given = budget.seconds
        started = time.monotonic()
        reason = "no action-server time left for this message"
        for attempt in range(1 + CONNECTION_RETRIES):
            if budget.seconds <= 0:
                break
            try:
                return await within_budget(run(self, output_channel, nlg, tracker, domain), budget)
            except ActionExecutionRejection:
                raise
            except asyncio.TimeoutError:
                reason = f"no reply within its {given:.1f} s"
                break
            except Exception as error:  # noqa: BLE001 - any failure gets the local reply
                reason = describe_failure(error) + (f", {attempt + 1} attempts" if attempt else "")
                if not connection_dropped(error):
                    break
        events = await local_reply_events(self.name(), output_channel, nlg, tracker, domain)
        logger.warning(
            "Action server failed for '%s' (%s) after %.2f s; sent the local reply instead.",
            self.name(),
            reason,
            time.monotonic() - started,
        )
        return events

    setattr(wrapped, _MARK, True)
    return wrapped


def connection_dropped(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a lost or refused connection.

    Sanic closes a connection that has sent no request for 5 s (its keep-alive
    timeout), so a Rasa server too busy to write the request it just connected for
    gets "Cannot write to closing transport". Such a call is tried once more
    (:data:`CONNECTION_RETRIES`): the project's actions only read the tracker, so
    running one twice does no harm. A refused connection fails again at once.
    """
    seen: Optional[BaseException] = error
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_failure(error: BaseException) -> str:
    """The kind of failure, without any text that could come from a message or slot.

    Names the exception classes along the cause chain and the HTTP status, if any.
    """
    kinds: List[str] = []
    status: Optional[int] = None
    seen: Optional[BaseException] = error
    while seen is not None and len(kinds) < 4:
        kinds.append(type(seen).__name__)
        status = status or getattr(seen, "status", None)
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(kinds) + (f", HTTP {status}" if isinstance(status, int) else "")


async def local_reply_events(
    action_name: str,
    output_channel: OutputChannel,
    nlg: NaturalLanguageGenerator,
    tracker: DialogueStateTracker,
    domain: Domain,
) -> List[Event]:
    """The events a failed custom action returns instead of nothing.

    The replies come from the same :class:`bot.replies.Responder` methods the
    action server uses: :meth:`~bot.replies.Responder.emergency` for the emergency
    action, :meth:`~bot.replies.Responder.unavailable` (red flags first, else the
    apology) for any other.
    """
    if action_name == SESSION_START:
        # Rasa's own session start (it ends with action_listen), plus the clinic slots.
        events = await ActionSessionStart().run(output_channel, nlg, tracker, domain)
        slot_names = {slot.name for slot in domain.slots}
        values = responder().settings.template_values()
        clinic = [SlotSet(name, value) for name, value in values.items() if name in slot_names]
        return [*events[:-1], *clinic, events[-1]]

    replies = responder()
    entities = tracker.latest_message.entities if tracker.latest_message else []
    slots = triage_slots(tracker.get_slot)
    if action_name == EMERGENCY:
        outcome = replies.emergency(entities, slots)
    else:
        outcome = replies.unavailable(entities, slots)
    return [
        *_utterances(outcome),
        *(SlotSet(name, value) for name, value in outcome.slots.items()),
        FollowupAction(ACTION_LISTEN_NAME),
    ]


def _utterances(outcome: Outcome) -> List[Event]:
    return [
        create_bot_utterance(
            {"text": reply.text, "buttons": [button.as_dict() for button in reply.buttons] or None}
        )
        for reply in outcome.replies
    ]
