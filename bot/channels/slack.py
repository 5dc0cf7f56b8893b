"""Slack, built on Rasa 3.6's own connector with its gaps fixed.

Named in ``credentials.channels.yml`` as ``bot.channels.slack.SlackInput``; Slack
sends events and button clicks to ``/webhooks/slack/webhook``. What differs from
``rasa.core.channels.slack``:

- Every request's ``X-Slack-Signature`` and ``X-Slack-Request-Timestamp`` are
  checked (v0 HMAC-SHA256, at most five minutes old) before anything else, the
  URL-verification challenge included; a failure gets 401 and no reply.
- Messages are handled in the background and acknowledged at once, so Slack has
  no reason to retry. A retry (``X-Slack-Retry-Num``) of an event already seen,
  and a second event for the same message (a mention in a channel the bot also
  reads arrives as ``message`` and ``app_mention``), are acknowledged with
  ``X-Slack-No-Retry: 1`` and never answered twice. A retry of an event this
  server never received is answered. With several replicas, what was answered is
  kept in Redis (``REDIS_HOST``, see ``bot/channels/state.py``), so a retry that
  reaches another replica is not answered again either.
- The challenge is answered as ``{"challenge": ...}``; edits, joins and other
  message subtypes and the bot's own messages are ignored.
- Buttons are sent as Slack interactive buttons, up to 25 per row of actions
  (Rasa's connector dropped them all when there were more than 5); a click is
  answered like typed text, and the clicked message is updated to show the choice
  without its buttons, so the same question cannot be answered twice.
- Replies go in the thread when the patient wrote in one (``use_threads: true``
  starts a thread for every message); a whole reply is one Slack message.
- The Web API address is configurable (``slack_api_url``); tests use a fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, cast

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot as RasaSlackBot
from rasa.core.channels.slack import SlackInput as RasaSlackInput
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import install_server_hooks
from bot.channels.state import MemoryState, channel_state

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
MAX_BUTTONS_PER_ROW = 25  # Slack's limit for one "actions" block
MAX_BUTTON_TEXT = 75  # Slack's limit for a button's label
SEEN_TTL_SECONDS = 3600
ACK = {"X-Slack-No-Retry": "1"}  # "received; do not retry"


def escape(text: str) -> str:
    """Slack's required escaping for message text (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SeenEvents(MemoryState):
    """The events and messages already handled in this process, forgotten after an hour."""

    def __init__(self, ttl: float = SEEN_TTL_SECONDS, size: int = 10000) -> None:
        super().__init__(ttl, size)


class SlackBot(RasaSlackBot):
    """Sends replies through the Slack Web API (``chat.postMessage``)."""

    def __init__(
        self,
        token: str,
        slack_channel: Optional[str] = None,
        thread_id: Optional[str] = None,
        proxy: Optional[str] = None,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, base_url=api_url, proxy=proxy)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """One Slack message per reply (Rasa split replies at blank lines)."""
        await self._post_message(channel=self.slack_channel or recipient_id, text=escape(text))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """An image block."""
        block = {"type": "image", "image_url": image, "alt_text": image}
        await self._post_message(channel=self.slack_channel or recipient_id, text=image, blocks=[block])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """The text, then the buttons as interactive Slack buttons (rows of up to 25)."""
        elements = [
            {
                "type": "button",
                "action_id": f"rasa_button_{index}",
                "text": {"type": "plain_text", "text": button["title"][:MAX_BUTTON_TEXT], "emoji": True},
                "value": button["payload"],
            }
            for index, button in enumerate(buttons)
        ]
        blocks: List[Dict[str, Any]] = [{"type": "section", "text": {"type": "plain_text", "text": text}}]
        for start in range(0, len(elements), MAX_BUTTONS_PER_ROW):
            blocks.append({"type": "actions", "elements": elements[start : start + MAX_BUTTONS_PER_ROW]})
        await self._post_message(channel=self.slack_channel or recipient_id, text=escape(text), blocks=blocks)

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        """Passes a custom message to ``chat.postMessage`` as it is."""
        message = dict(json_message)
        channel = message.pop("channel", self.slack_channel or recipient_id)
        await self._post_message(channel=channel, **message)


class SlackInput(RasaSlackInput):
    """Receives Slack events and button clicks at ``/webhooks/slack/webhook``."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Rasa's settings, plus ``slack_api_url`` (the Web API address)."""
        install_server_hooks()
        if not credentials:
            cls.raise_missing_credentials_exception()
        # Not None from here: Rasa's raise_missing_credentials_exception is NoReturn, but Rasa ships
        # no type hints, so mypy cannot see that.
        credentials = cast(Dict[str, Any], credentials)
        return cls(
            slack_token=credentials.get("slack_token") or "",
            slack_channel=credentials.get("slack_channel") or None,
            proxy=credentials.get("proxy"),
            use_threads=bool(credentials.get("use_threads", False)),
            slack_signing_secret=credentials.get("slack_signing_secret") or "",
            conversation_granularity=credentials.get("conversation_granularity", "sender"),
            slack_api_url=credentials.get("slack_api_url") or DEFAULT_API_URL,
        )

    def __init__(
        self,
        slack_token: str,
        slack_channel: Optional[str] = None,
        proxy: Optional[str] = None,
        use_threads: bool = False,
        slack_signing_secret: str = "",
        conversation_granularity: Optional[str] = "sender",
        slack_api_url: str = DEFAULT_API_URL,
    ) -> None:
        super().__init__(
            slack_token,
            slack_channel,
            proxy,
            use_threads=use_threads,
            slack_signing_secret=slack_signing_secret,
            conversation_granularity=conversation_granularity,
        )
        if not slack_token:
            raise InvalidConfigException("The Slack channel needs `slack_token` (the bot token, xoxb-...).")
        self.api_url = slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/"
        # Shared by every replica when Redis is configured (bot/channels/state.py).
        self.seen = channel_state("slack:seen", SEEN_TTL_SECONDS)
        self._tasks: Set[asyncio.Task] = set()

    def get_output_channel(
        self, channel: Optional[str] = None, thread_id: Optional[str] = None
    ) -> OutputChannel:
        """A sender to ``channel`` (in thread ``thread_id`` if given)."""
        return SlackBot(self.slack_token, channel or self.slack_channel, thread_id, self.proxy, self.api_url)

    def _handle(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
        """Handles ``message`` in the background: Slack wants an answer within 3 seconds."""

        async def run() -> None:
            try:
                await on_new_message(message)
            except Exception:
                logger.exception("Slack message not handled")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _user_message(
        self,
        text: str,
        user: str,
        channel: Optional[str],
        thread_ts: Optional[str],
        message_ts: Optional[str],
        metadata: Dict[str, Any],
    ) -> UserMessage:
        reply_thread = thread_ts or (message_ts if self.use_threads else None)
        conversation_id = self._get_conversation_id(user, channel, thread_ts or message_ts)
        return UserMessage(
            text,
            self.get_output_channel(channel, reply_thread),
            conversation_id,
            input_channel=self.name(),
            metadata=metadata,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /`` (health) and ``POST /webhook`` (events and interactivity)."""
        slack_webhook = Blueprint("slack_webhook", __name__)

        @slack_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @slack_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self.is_request_from_slack_authentic(request):
                logger.warning("Refused a Slack request with a missing, wrong or stale signature.")
                return response.text("Invalid or stale Slack signature.", status=HTTPStatus.UNAUTHORIZED)
            content_type = (request.headers.get("content-type") or "").split(";")[0].strip()
            try:
                if content_type == "application/json":
                    return await self._event(request, on_new_message, json.loads(request.body))
                if content_type == "application/x-www-form-urlencoded":
                    return await self._interaction(request, on_new_message)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                logger.warning("Malformed Slack request: %s", error)
                return response.text("Malformed request.", status=HTTPStatus.BAD_REQUEST)
            return response.text("Unsupported content type.", status=HTTPStatus.BAD_REQUEST)

        return slack_webhook

    async def _event(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], body: Dict[str, Any]
    ) -> HTTPResponse:
        if body.get("type") == "url_verification":
            return response.json({"challenge": body.get("challenge")})
        if body.get("type") != "event_callback":
            return response.text("")
        event = body.get("event") or {}
        if (
            event.get("type") not in ("message", "app_mention")
            or event.get("subtype")
            or event.get("bot_id")
            or not event.get("text")
            or not event.get("user")
        ):
            return response.text("")
        channel = event.get("channel")
        metadata = {
            "out_channel": channel,
            "thread_id": event.get("thread_ts"),
            "users": [a.get("user_id") for a in body.get("authorizations") or [] if a.get("user_id")]
            or list(body.get("authed_users") or []),
        }
        if not self._is_supported_channel(body, metadata):
            logger.debug("Ignored a Slack message in channel %s.", channel)
            return response.text("", headers=ACK)
        retry = request.headers.get("x-slack-retry-num")
        # The event id covers Slack's retries; channel + ts covers the same message
        # delivered as both ``message`` and ``app_mention``.
        if not await self.seen.first_time(body.get("event_id"), f"{channel}:{event.get('ts')}"):
            if retry:
                logger.info("Ignored Slack retry #%s of an event already handled.", retry)
            return response.text("", headers=ACK)
        text = self._sanitize_user_message(event["text"], metadata["users"])
        if text:
            message = self._user_message(
                text, event["user"], channel, event.get("thread_ts"), event.get("ts"), metadata
            )
            self._handle(on_new_message, message)
        return response.text("", headers=ACK)

    async def _interaction(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        payload = json.loads(request.form.get("payload"))
        actions = payload.get("actions") or []
        if payload.get("type") != "block_actions" or not actions or actions[0].get("type") != "button":
            return response.text("")
        action = actions[0]
        value = action.get("value")
        if value is None:  # a link button: Slack opens the link, nothing to answer
            return response.text("")
        channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get(
            "channel_id"
        )
        message = payload.get("message") or {}
        thread_ts = message.get("thread_ts") or (payload.get("container") or {}).get("thread_ts")
        if not await self.seen.first_time(f"click:{channel}:{message.get('ts')}:{action.get('action_ts')}"):
            return response.text("")
        user = payload["user"]["id"]
        metadata = {"out_channel": channel, "thread_id": thread_ts, "users": [user]}
        self._handle(
            on_new_message,
            self._user_message(value, user, channel, thread_ts, thread_ts, metadata),
        )
        if channel and message.get("ts"):
            self._show_choice(channel, message, action)
        return response.text("")

    def _show_choice(self, channel: str, message: Dict[str, Any], action: Dict[str, Any]) -> None:
        """Replaces the clicked message's buttons with the choice made."""
        label = ((action.get("text") or {}).get("text")) or action.get("value", "")
        blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": f"✓ {label}"}]})

        async def update() -> None:
            client = AsyncWebClient(self.slack_token, base_url=self.api_url, proxy=self.proxy)
            try:
                await client.chat_update(
                    channel=channel, ts=message["ts"], text=message.get("text", ""), blocks=blocks
                )
            except Exception as error:  # cosmetic: the answer is sent anyway
                logger.info("Could not update the clicked Slack message: %s", error)

        task = asyncio.ensure_future(update())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["SlackBot", "SlackInput"]
