"""Rasa's socket.io channel, fixed for the pinned python-socketio, plus an origin check.

Two changes to Rasa 3.6's ``socketio`` channel, everything else is Rasa's own:

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
   allowed. Without the setting every origin is accepted, as with Rasa's channel.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint

logger = logging.getLogger(__name__)


class SocketIOInput(RasaSocketIOInput):
    """Rasa's ``socketio`` channel; ``cors_allowed_origins`` limits who may connect."""

    # None: every origin is accepted (Rasa's behaviour).
    allowed_origins: Optional[FrozenSet[str]] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Rasa's settings, plus ``cors_allowed_origins`` (a list of origins, or ``"*"``)."""
        channel = super().from_credentials(credentials)
        channel.allowed_origins = _normalise((credentials or {}).get("cors_allowed_origins"))
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
        """Rasa's blueprint, with the two changes described in the module."""
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
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
            logger.debug(f"User {sid} joined session {data['session_id']}.")

        sio.on("connect", connect, namespace=self.namespace)
        sio.on("session_request", session_request, namespace=self.namespace)
        return blueprint


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
