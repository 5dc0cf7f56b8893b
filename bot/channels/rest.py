"""Rasa's REST channel that checks what it is sent, limits each sender, and never answers 500.

Rasa 3.6's ``rest`` channel reads ``request.json`` and calls ``.get()`` on it, so a
JSON list or number crashes it (HTTP 500); a non-text ``message`` or ``sender``
is passed on and silently produces no reply or a conversation named ``['x']``; a
missing ``sender`` puts everyone into one conversation called ``default``; and it
logs the message text when handling fails. This channel keeps the name ``rest``
(so the URL stays ``/webhooks/rest/webhook``) and the same request and reply
format, and instead:

- ``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}``
  (and optional ``metadata`` object and ``input_channel`` text) answers
  ``200`` with the list of bot messages, as before.
- A malformed request gets a 4xx with a short JSON error
  ``{"error": "<code>", "detail": "<what is wrong>"}``: ``400`` for a body that
  is not UTF-8 (``invalid_utf8``), not JSON (``invalid_json``), not a JSON object
  (``not_an_object``), or has a missing or wrongly typed field
  (``invalid_sender``, ``invalid_message``, ``invalid_metadata``,
  ``invalid_input_channel``); ``413`` (``body_too_large``) for a body above
  ``input_limits.max_body_bytes``, refused without reading it to the end.
- A sender over its rate limit gets ``429`` with ``Retry-After`` and, as the
  body, the usual list of bot messages holding one polite message
  (``rate_limited`` in the knowledge file).
- A message longer than ``input_limits.max_message_chars`` gets ``200`` with a
  polite request for a shorter one; control characters are replaced (see
  :mod:`bot.channels.inputs`).
- If handling the message fails anyway, the patient gets the
  ``service_unavailable`` apology with the clinic's phone number (``200``), and
  the log names the conversation but never the text.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.channels import install_server_hooks
from bot.channels.inputs import (
    MAX_SENDER_CHARS,
    PoliteMessages,
    clean_text,
    max_body_bytes,
    max_message_chars,
    valid_sender,
)
from bot.ratelimit import client_address, get_limiter

logger = logging.getLogger(__name__)

MAX_INPUT_CHANNEL_CHARS = 64


class BadRequest(Exception):
    """A request the channel refuses, with its HTTP status and error code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def response(self, **extra: Any) -> HTTPResponse:
        """The JSON error response."""
        headers = {"Connection": "close"} if self.status == 413 else None
        return response.json(
            {"error": self.code, "detail": self.detail, **extra}, status=self.status, headers=headers
        )


class RestInput(RasaRestInput):
    """Rasa's ``rest`` channel with input checks, per-sender rate limits and no 500s."""

    polite = PoliteMessages()

    @classmethod
    def name(cls) -> str:
        """``rest``, as Rasa's channel: the URL stays ``/webhooks/rest/webhook``."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Rasa's (no settings); installs the project's server hooks first."""
        install_server_hooks()
        return super().from_credentials(credentials)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The health check and the webhook."""
        self.polite.load()
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # stream=True: the handler reads the body itself, so an oversized one is
        # refused without first being held in memory in full.
        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[HTTPResponse, ResponseStream]:
            try:
                return await self._receive(request, on_new_message)
            except BadRequest as refused:
                return refused.response()
            except SanicException as error:  # e.g. broken chunked encoding while reading the body
                code = getattr(error, "status_code", None) or 400
                status = code if 400 <= code < 500 else 400
                return BadRequest(status, "bad_request", str(error)).response()
            except Exception:
                # A bug, not the client's fault: the patient still gets a polite reply.
                logger.exception("The REST channel failed on a request.")
                return response.json([{"recipient_id": None, "text": self.polite.unavailable()}])

        return webhook

    async def _receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Union[HTTPResponse, ResponseStream]:
        limit = max_body_bytes()
        body = await read_body(request, limit)
        sender, text, metadata, input_channel = parse_request(body)

        decision = get_limiter().check(sender, client_address(request))
        if not decision.allowed:
            logger.log(
                logging.INFO if decision.first_refusal else logging.DEBUG,
                "Rate limit: refused a message of conversation %s (retry in %.1f s).",
                sender,
                decision.retry_after,
            )
            return response.json(
                [{"recipient_id": sender, "text": self.polite.rate_limited()}],
                status=429,
                headers={"Retry-After": decision.retry_after_header},
            )

        text = clean_text(text)
        if len(text) > max_message_chars():
            logger.info("Refused a message of %d characters from conversation %s.", len(text), sender)
            return response.json([{"recipient_id": sender, "text": self.polite.too_long()}])

        if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
            return response.stream(
                self.stream_response(on_new_message, text, sender, input_channel, metadata),
                content_type="text/event-stream",
            )

        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=input_channel, metadata=metadata)
            )
        except asyncio.CancelledError:
            logger.error("Handling a message of conversation %s was cancelled (timeout).", sender)
        except Exception:
            logger.exception("Handling a message of conversation %s failed.", sender)
        messages: List[Dict[str, Any]] = collector.messages
        if not messages:
            messages = [{"recipient_id": sender, "text": self.polite.unavailable()}]
        return response.json(messages)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read up to ``limit`` bytes.

    Raises:
        BadRequest: 413 when the body is larger than ``limit`` (declared or sent).

    """
    too_large = BadRequest(413, "body_too_large", f"the request body may be at most {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large
        except ValueError:
            raise BadRequest(400, "invalid_length", "Content-Length is not a number") from None
    if request.stream is None:  # the body was read already (not a streaming route)
        body = request.body or b""
        if len(body) > limit:
            raise too_large
        return body
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes) -> Tuple[str, str, Optional[Dict[str, Any]], str]:
    """Validates a webhook body; returns the sender, text, metadata and input channel.

    Raises:
        BadRequest: 400, naming what is wrong.

    """
    try:
        document = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(400, "invalid_utf8", "the request body must be UTF-8 encoded JSON") from None
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        raise BadRequest(400, "invalid_json", "the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest(
            400, "not_an_object", 'expected a JSON object like {"sender": "...", "message": "..."}'
        )
    sender = valid_sender(data.get("sender"))
    if sender is None:
        raise BadRequest(
            400,
            "invalid_sender",
            f"'sender' must be a text of 1 to {MAX_SENDER_CHARS} characters without control characters",
        )
    text = data.get("message")
    if not isinstance(text, str):
        raise BadRequest(400, "invalid_message", "'message' must be a text")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest(400, "invalid_metadata", "'metadata' must be a JSON object")
    input_channel = data.get("input_channel") or RestInput.name()
    if valid_sender(input_channel) != input_channel or len(input_channel) > MAX_INPUT_CHANNEL_CHARS:
        raise BadRequest(400, "invalid_input_channel", "'input_channel' must be a short text")
    return sender, text, metadata, input_channel


__all__ = ["BadRequest", "RestInput", "parse_request", "read_body"]
