"""Three per-message costs of Rasa 3.6 that this project removes (measured with ``make bench``).

Found by profiling the Rasa server's message processor (``python -m benchmarks.profile``);
``docs/evaluation/speed.md`` records what each bought.

1. **Validating the action server's reply.** ``RemoteAction._validate_action_result``
   calls ``jsonschema.validate``, which first checks the (constant) response schema
   against the JSON-Schema meta-schema, on every call. With the pinned jsonschema
   4.17 that check costs tens of milliseconds of CPU per custom action, more than
   the rest of the message together. Here the validator is built and its schema
   checked once; every reply is still validated against the same schema, with the
   same error (and message) when it does not match.
2. **A new HTTP session per action call.** ``EndpointConfig.request`` opens an aiohttp
   ``ClientSession`` (and so a new TCP connection) for every call to the action
   server. One session per endpoint settings and event loop is kept instead, with
   keep-alive connections; they are closed when the server stops.
3. **Finding an event's class.** Reading a conversation from the tracker store turns
   each stored event back into an object; ``Event.resolve_by_type`` finds the class
   by walking all subclasses of ``Event`` (with an ``inspect.isabstract`` check of
   each) for every single event, about a millisecond per event. The classes are
   indexed by type name once instead (and again if a name is not found, in case
   more event classes were imported since).

The SQLite tracker store's connection pool and write-ahead log, once a fourth patch
here, are now the project's tracker store's own (:mod:`bot.stores.tracker`, named in
``endpoints.yml``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Dict, Optional, Tuple

logger = logging.getLogger(__name__)

_MARK = "__bot_performance__"

# (event loop id, headers, auth) -> the shared session
_SESSIONS: Dict[Tuple[int, Any, Any], Any] = {}


def install() -> None:
    """Installs the three changes; safe to call more than once."""
    _install_cached_response_validator()
    _install_shared_http_sessions()
    _install_event_class_index()


# --------------------------------------------------------------------------- 1. validation


@functools.lru_cache(maxsize=1)
def response_validator() -> Any:
    """A validator for the action server's response schema, its schema checked once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _install_cached_response_validator() -> None:
    from jsonschema import ValidationError, exceptions
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, _MARK, False):
        return

    def validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        """``jsonschema.validate(result, schema)`` with the schema checked once (same errors)."""
        error = exceptions.best_match(response_validator().iter_errors(result))
        if error is None:
            return True
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(validate_action_result, _MARK, True)
    RemoteAction._validate_action_result = validate_action_result


# --------------------------------------------------------------------------- 2. HTTP sessions


class _SharedSession:
    """``async with`` yields the shared session and leaves it open."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *_: Any) -> None:
        return None


def _install_shared_http_sessions() -> None:
    import aiohttp
    import rasa.core.run
    from rasa.utils.endpoints import EndpointConfig

    if getattr(EndpointConfig.session, _MARK, False):
        return
    create_session = EndpointConfig.session

    @functools.wraps(create_session)
    def shared_session(self: EndpointConfig) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in a coroutine: the caller owns a fresh session
            return create_session(self)
        auth = tuple(sorted(self.basic_auth.items())) if self.basic_auth else None
        key = (id(loop), tuple(sorted(self.headers.items())), auth)
        session: Optional[aiohttp.ClientSession] = _SESSIONS.get(key)
        if session is None or session.closed or getattr(session, "_loop", loop) is not loop:
            session = create_session(self)
            _SESSIONS[key] = session
        return _SharedSession(session)

    setattr(shared_session, _MARK, True)
    EndpointConfig.session = shared_session

    close_resources = rasa.core.run.close_resources

    @functools.wraps(close_resources)
    async def close_resources_and_sessions(*args: Any, **kwargs: Any) -> None:
        await close_shared_sessions()
        await close_resources(*args, **kwargs)

    rasa.core.run.close_resources = close_resources_and_sessions


async def close_shared_sessions() -> None:
    """Closes the shared HTTP sessions of the running event loop."""
    loop_id = id(asyncio.get_running_loop())
    for key in [key for key in _SESSIONS if key[0] == loop_id]:
        session = _SESSIONS.pop(key)
        if not session.closed:
            await session.close()


# --------------------------------------------------------------------------- 3. event classes


def _install_event_class_index() -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    resolve_by_type = Event.resolve_by_type
    if getattr(resolve_by_type, _MARK, False):
        return
    index: Dict[str, Any] = {}

    def indexed_resolve_by_type(type_name: str, default: Optional[Any] = None) -> Optional[Any]:
        """``Event.resolve_by_type`` from an index of the event classes (same result)."""
        found = index.get(type_name)
        if found is None:
            index.clear()
            for cls in all_subclasses(Event):  # the first class with a name wins, as in Rasa
                index.setdefault(cls.type_name, cls)
            found = index.get(type_name)
        if found is not None:
            return found
        return resolve_by_type(type_name, default)

    setattr(indexed_resolve_by_type, _MARK, True)
    Event.resolve_by_type = staticmethod(indexed_resolve_by_type)
