"""The action server accepts only the Rasa server: a shared secret in a header.

rasa-sdk has no authentication: anyone who can reach its port can run any action
with any tracker (and read the clinic's answers, or fill the logs). This module
wraps rasa-sdk's Sanic app:

- every request except ``GET /health`` must carry the header
  ``X-Action-Server-Token`` equal to the environment variable
  ``ACTION_SERVER_TOKEN`` (compared in constant time); missing: 401, wrong: 403,
  with a body that says nothing else;
- ``/health`` answers ``{"status": "ok"}`` and nothing more;
- no CORS: no browser has any business calling the action server;
- errors answer ``{"error": "internal error"}``. rasa-sdk's own handler echoes the
  whole request (the conversation's tracker: messages, slots) in the response,
  which the Rasa server then logs at ERROR.

Rasa sends the header from ``endpoints.yml``::

    action_endpoint:
      url: "http://localhost:5055/webhook"
      headers:
        X-Action-Server-Token: "${ACTION_SERVER_TOKEN}"
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Optional

logger = logging.getLogger(__name__)

TOKEN_ENV = "ACTION_SERVER_TOKEN"
TOKEN_HEADER = "X-Action-Server-Token"
OPEN_PATHS = frozenset({"/health"})
MIN_TOKEN_LENGTH = 16


class TokenError(ValueError):
    """``ACTION_SERVER_TOKEN`` is missing or too weak."""


def token_from_env() -> str:
    """The shared secret from ``ACTION_SERVER_TOKEN``.

    Raises:
        TokenError: when it is unset or shorter than 16 characters.

    """
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise TokenError(
            f"{TOKEN_ENV} is not set. The Rasa server sends it in the {TOKEN_HEADER} header "
            "(endpoints.yml); `make run` generates one per run. For a quick local experiment only: "
            "--insecure-no-token."
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN_LENGTH} random characters.")
    return token


def token_matches(provided: Optional[str], token: str) -> bool:
    """Constant-time comparison of a provided header value with the token."""
    return provided is not None and hmac.compare_digest(provided.encode("utf-8"), token.encode("utf-8"))


def protect(app: Any, token: Optional[str]) -> None:
    """Adds the token check (unless ``token`` is None) and the content-free error handler to ``app``."""
    from sanic import response

    if token is not None:

        async def require_token(request: Any) -> Optional[Any]:
            if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
                return None
            provided = request.headers.get(TOKEN_HEADER)
            if provided is None:
                logger.warning("Refused %s %s: no %s header.", request.method, request.path, TOKEN_HEADER)
                return response.json({"error": "unauthorized"}, status=401)
            if not token_matches(provided, token):
                logger.warning("Refused %s %s: wrong %s.", request.method, request.path, TOKEN_HEADER)
                return response.json({"error": "forbidden"}, status=403)
            return None

        app.register_middleware(require_token, "request")

    async def content_free_error(request: Any, exception: Exception) -> Any:
        from sanic.exceptions import SanicException

        if isinstance(exception, SanicException) and exception.status_code < 500:
            return response.json({"error": exception.__class__.__name__}, status=exception.status_code)
        logger.error(
            "Action server error on %s %s (%s)",
            request.method,
            request.path,
            exception.__class__.__name__,
            exc_info=exception,
        )
        return response.json({"error": "internal error"}, status=500)

    # Replaces rasa-sdk's handler for Exception, which echoes the request body.
    app.error_handler.add(Exception, content_free_error)


def create_app(token: Optional[str]) -> Any:
    """rasa-sdk's app for ``actions.actions``, without CORS, protected by ``token``."""
    from rasa_sdk.endpoint import create_app as create_sdk_app

    app = create_sdk_app("actions.actions", cors_origins=None)
    protect(app, token)
    return app
