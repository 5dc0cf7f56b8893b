"""Rasa's socket.io channel, fixed for the pinned python-socketio, plus an origin check.

Three changes to Rasa 3.6's ``socketio`` channel, everything else is Rasa's own:

1. **Session persistence works.** Rasa's ``session_request`` handler calls
   ``sio.enter_room()`` without ``await``; since python-socketio 5.9 (the project
   pins 5.18.1) that is a coroutine, so the socket never joins the
   conversation's room and, with ``session_persistence: true``, no bot reply ever
   reaches the browser (Python only warns "coroutine 'AsyncServer.enter_room' was
   never awaited"). This channel awaits it.
2. **Optional origin check.** Rasa creates its socket.io server with origin
   checking switched off (``cors_allowed_origins=[]``) and reads no setting to
   change that. Rasa's ``--cors`` flag only adds CORS headers to HTTP responses,
   and browsers do not apply CORS to WebSockets, so any website could open a
   socket to the assistant. This channel reads ``cors_allowed_origins`` from
   ``credentials.yml`` and refuses a connection whose ``Origin`` names another
   site. Pages served by the Rasa server itself (the demo page) are always
   allowed. Without the setting the clinic's ``allowed_origins`` (``bot/clinic.yml``)
   are used; ``"*"`` accepts every origin, as Rasa's channel does.
3. **Bad input and flooding.** Rasa's ``user_uttered`` handler raises on a
   payload that is not an object or has a non-text ``session_id`` or bad
   metadata, and passes any message on. This one ignores a malformed payload
   (logged without its content), replaces control characters, answers a message
   longer than ``input_limits.max_message_chars`` with a polite request for a
   shorter one, and applies the per-sender and per-address rate limit
   (:mod:`bot.ratelimit`): the first refused message gets a polite "please wait",
   the ones after it are dropped until the sender is under the limit again. The
   session stays open throughout. Frames above 1 MB are refused by the
   websocket itself (Sanic closes the connection; the client reconnects).
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput
from sanic import Blueprint

from bot.channels import install_server_hooks
from bot.channels.inputs import PoliteMessages, clean_text, max_message_chars, valid_sender
from bot.ratelimit import client_address, get_limiter

logger = logging.getLogger(__name__)


class SocketIOInput(RasaSocketIOInput):
    """Rasa's ``socketio`` channel; ``cors_allowed_origins`` limits who may connect."""

    # None: every origin is accepted (Rasa's behaviour).
    allowed_origins: Optional[FrozenSet[str]] = None
    polite = PoliteMessages()

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Rasa's settings, plus ``cors_allowed_origins`` (a list of origins, or ``"*"``)."""
        install_server_hooks()
        channel = super().from_credentials(credentials)
        setting = (credentials or {}).get("cors_allowed_origins")
        channel.allowed_origins = _normalise(setting if setting is not None else _clinic_origins())
        return channel

    def origin_allowed(self, origin: Optional[str], environ: Dict[str, Any]) -> bool:
        """Whether a connection from a page at ``origin`` is accepted."""
        if self.allowed_origins is None or not origin:
            # No list configured, or not a browser (browsers always send Origin
            # on WebSocket and cross-site requests).
            return True
        origin = origin.strip().rstrip("/").lower()
        own = _own_origin(environ)
        return origin in self.allowed_origins or origin == own

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's blueprint, with the changes described in the module."""
        self.polite.load()
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        handlers = sio.handlers[self.namespace or "/"]
        rasa_connect = handlers["connect"]

        async def connect(sid: str, environ: Dict, auth: Optional[Dict] = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if not self.origin_allowed(origin, environ):
                logger.warning(
                    "Refused a socket.io connection from %s (not in cors_allowed_origins).", origin
                )
                return False
            return await rasa_connect(sid, environ, auth)

        async def session_request(sid: str, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            if valid_sender(data.get("session_id")) is None:
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
            logger.debug(f"User {sid} joined session {data['session_id']}.")

        sio.on("connect", connect, namespace=self.namespace)
        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, self._message_handler(on_new_message), namespace=self.namespace)
        return blueprint

    def _message_handler(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Callable:
        """The ``user_uttered`` handler: Rasa's, with input checks and rate limits (module docstring)."""

        async def handle_message(sid: str, data: Any = None, *_: Any) -> None:
            try:
                await self._handle_message(sid, data, on_new_message)
            except Exception:
                logger.exception("A socket.io message of %s could not be handled.", sid)

        return handle_message

    async def _handle_message(
        self, sid: str, data: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        problem = _payload_problem(data, self.session_persistence, self.metadata_key)
        if problem:
            logger.warning("Ignored a socket.io message of %s: %s.", sid, problem)
            return
        sender = data["session_id"] if self.session_persistence else sid
        metadata = _metadata(data.get(self.metadata_key))
        output = SocketIOOutput(self.sio, self.bot_message_evt)
        environ = self.sio.get_environ(sid, namespace=self.namespace) or {}
        decision = get_limiter().check(sender, client_address(environ.get("sanic.request")))
        if not decision.allowed:
            # Say it once; the messages that follow while still over the limit are dropped.
            if decision.first_refusal:
                logger.info("Rate limit: refusing messages of conversation %s.", sender)
                await output.send_text_message(sender, self.polite.rate_limited())
            return
        text = clean_text(data.get("message", ""))
        if len(text) > max_message_chars():
            logger.info("Refused a message of %d characters from conversation %s.", len(text), sender)
            await output.send_text_message(sender, self.polite.too_long())
            return
        message = UserMessage(text, output, sender, input_channel=self.name(), metadata=metadata)
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("Handling a message of conversation %s failed.", sender)
            await output.send_text_message(sender, self.polite.unavailable())


def _payload_problem(data: Any, session_persistence: bool, metadata_key: Optional[str]) -> Optional[str]:
    """What makes a ``user_uttered`` payload unusable, or ``None`` (never the text itself)."""
    if not isinstance(data, dict):
        return f"the payload is a {type(data).__name__}, not an object"
    if session_persistence and valid_sender(data.get("session_id")) is None:
        return "no valid session_id (send session_request first)"
    if not isinstance(data.get("message", ""), str):
        return "'message' is not a text"
    if metadata_key and _metadata(data.get(metadata_key)) is None:
        return f"'{metadata_key}' is not an object"
    return None


def _metadata(value: Any) -> Optional[Dict[str, Any]]:
    """The message metadata (an object, possibly sent as JSON text), ``{}`` if absent, else ``None``."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _clinic_origins() -> list:
    """The clinic's ``allowed_origins`` (bot/clinic.yml), the default for ``cors_allowed_origins``."""
    from bot.settings import get_settings

    return list(get_settings().allowed_origins)


def _own_origin(environ: Dict[str, Any]) -> Optional[str]:
    """The origin of pages served by this server (as the browser sees it)."""
    host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
    if not host:
        return None
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme") or "http"
    return f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}".lower()


def _normalise(origins: Any) -> Optional[FrozenSet[str]]:
    """``None`` (accept all) for no setting or ``"*"``; otherwise the set of origins."""
    if origins is None:
        return None
    if isinstance(origins, str):
        origins = [origins]
    cleaned = frozenset(str(origin).strip().rstrip("/").lower() for origin in origins if str(origin).strip())
    return None if "*" in cleaned else cleaned


__all__ = ["SocketIOInput"]
