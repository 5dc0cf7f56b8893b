"""The Rasa HTTP API: off by default, JWT only when on, and no remote model management.

Rasa 3.6 serves its HTTP API (conversations, trackers, model loading and training)
only with ``--enable-api``; this project's scripts never pass it. When an operator
does, this hook makes three of Rasa's choices safe:

1. **JWT only.** ``--auth-token`` is refused: Rasa reads that token from the URL
   (``?token=...``), where proxies, browsers and access logs keep it. The API needs
   a JWT signed with the secret in the environment variable ``RASA_JWT_SECRET``
   (or ``--jwt-secret``, which other local users can read in the process list),
   sent as ``Authorization: Bearer <jwt>``; at least 32 characters for the HMAC
   methods, and never the ``none`` method. Without a secret the server does not
   start with the API enabled.
2. **No remote model management.** ``PUT /model`` (load a model from a path or a
   URL), ``DELETE /model``, ``POST /model/train`` and ``POST /model/test/*`` are
   how a stolen token becomes code execution on the server (loading a model
   unpickles it: the CVE-2024-49375 class of attacks). A clinic deploys models by
   restarting with a new file, so these routes answer 403 for everyone, admins
   included, unless ``RASA_ALLOW_MODEL_ENDPOINTS=true`` is set on purpose.
3. JWT payloads are Rasa's: ``{"user": {"username": ..., "role": "admin"}}`` may
   call everything left; ``"role": "user"`` only its own conversation
   (``username`` = conversation id).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Any, Callable, Optional, Tuple

logger = logging.getLogger(__name__)

JWT_SECRET_ENV = "RASA_JWT_SECRET"
ALLOW_MODEL_ENDPOINTS_ENV = "RASA_ALLOW_MODEL_ENDPOINTS"
MIN_HMAC_SECRET_LENGTH = 32
ALLOWED_JWT_METHODS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")

# (method, path or path prefix ending in "/") of Rasa 3.6's model-management routes.
MODEL_ROUTES: Tuple[Tuple[str, str], ...] = (
    ("PUT", "/model"),
    ("DELETE", "/model"),
    ("POST", "/model/train"),
    ("POST", "/model/test/"),
)


class ApiConfigurationError(SystemExit):
    """The HTTP API was asked for in an unsafe way; the server does not start."""


def is_model_route(method: str, path: str) -> bool:
    """Whether ``method path`` is one of Rasa's model loading, training or testing routes."""
    path = "/" + path.strip("/")
    for route_method, route in MODEL_ROUTES:
        if method.upper() != route_method:
            continue
        if path == route.rstrip("/") or (route.endswith("/") and path.startswith(route)):
            return True
    return False


def model_endpoints_allowed() -> bool:
    """Whether the operator explicitly allowed the model-management routes."""
    return os.environ.get(ALLOW_MODEL_ENDPOINTS_ENV, "").strip().lower() in ("1", "true", "yes")


def checked_api_arguments(
    enable_api: bool, auth_token: Optional[str], jwt_secret: Optional[str], jwt_method: Optional[str]
) -> Tuple[Optional[str], Optional[str]]:
    """The JWT secret and method to start Rasa with.

    Raises:
        ApiConfigurationError: for ``--auth-token``, or an API without a usable JWT secret.

    """
    if auth_token:
        raise ApiConfigurationError(
            "Refusing --auth-token: Rasa reads it from the URL (?token=), where logs and proxies keep it. "
            f"Enable the HTTP API with a JWT secret instead: set {JWT_SECRET_ENV} (see SECURITY.md)."
        )
    if not enable_api:
        return jwt_secret, jwt_method
    secret = jwt_secret or os.environ.get(JWT_SECRET_ENV) or None
    method = (jwt_method or "HS256").strip()
    if not secret:
        raise ApiConfigurationError(
            f"--enable-api needs a JWT secret: set {JWT_SECRET_ENV} (e.g. `openssl rand -hex 32`). "
            "The API is off without --enable-api, which the assistant does not need."
        )
    if method not in ALLOWED_JWT_METHODS:
        raise ApiConfigurationError(f"--jwt-method {method!r} is not allowed; use HS256 (or RS256/ES256).")
    if method.startswith("HS") and len(secret) < MIN_HMAC_SECRET_LENGTH:
        raise ApiConfigurationError(
            f"The JWT secret is too short for {method}: use at least {MIN_HMAC_SECRET_LENGTH} characters."
        )
    return secret, method


def refuse_model_routes(app: Any) -> None:
    """Adds a request middleware to ``app`` answering 403 to the model-management routes."""
    from sanic import response

    async def model_routes_disabled(request: Any) -> Optional[Any]:
        if is_model_route(request.method, request.path):
            logger.warning("Refused %s %s: model management is disabled.", request.method, request.path)
            return response.json(
                {
                    "version": None,
                    "status": "failure",
                    "reason": "Forbidden",
                    "message": "Model management is disabled on this server (see SECURITY.md).",
                    "code": 403,
                },
                status=403,
            )
        return None

    app.register_middleware(model_routes_disabled, "request")


def answer_bad_tokens_with_401(app: Any) -> None:
    """A JWT that PyJWT rejects outright (``alg: none``, another algorithm) gets 401, not 500.

    sanic-jwt turns an invalid signature or an expired token into "not authenticated"
    but lets PyJWT's ``InvalidAlgorithmError`` escape as a server error.
    """
    import jwt
    from sanic import response

    async def not_authenticated(request: Any, exception: Exception) -> Any:
        logger.warning(
            "Refused %s %s: unusable JWT (%s).", request.method, request.path, type(exception).__name__
        )
        return response.json(
            {
                "version": None,
                "status": "failure",
                "reason": "NotAuthenticated",
                "message": "User is not authenticated.",
                "code": 401,
            },
            status=401,
        )

    app.error_handler.add(jwt.exceptions.PyJWTError, not_authenticated)


def wrap_configure_app(configure_app: Callable[..., Any]) -> Callable[..., Any]:
    """``rasa.core.run.configure_app`` with the checks of this module."""
    signature = inspect.signature(configure_app, follow_wrapped=True)

    @functools.wraps(configure_app)
    def configure_app_securely(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        secret, method = checked_api_arguments(
            bool(arguments.get("enable_api")),
            arguments.get("auth_token"),
            arguments.get("jwt_secret"),
            arguments.get("jwt_method"),
        )
        arguments["auth_token"] = None
        arguments["jwt_secret"] = secret
        arguments["jwt_method"] = method
        app = configure_app(*bound.args, **bound.kwargs)
        if arguments.get("enable_api"):
            answer_bad_tokens_with_401(app)
            if model_endpoints_allowed():
                logger.warning(
                    "%s is set: model management is open to admin JWTs.", ALLOW_MODEL_ENDPOINTS_ENV
                )
            else:
                refuse_model_routes(app)
        return app

    return configure_app_securely


_installed = False


def install() -> None:
    """Wraps ``rasa.core.run.configure_app`` (once per process)."""
    global _installed
    if _installed:
        return
    import rasa.core.run

    rasa.core.run.configure_app = wrap_configure_app(rasa.core.run.configure_app)
    _installed = True
