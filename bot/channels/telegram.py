"""Telegram, talking to the Bot API with plain aiohttp.

Named in ``credentials.channels.yml`` as ``bot.channels.telegram.TelegramInput``;
Telegram sends updates to ``/webhooks/telegram/webhook``. It replaces Rasa 3.6's
``telegram`` connector, which with aiogram 2.15 sets the webhook in a throw-away
event loop (answers then fail with "Event loop is closed"), cannot tell
Telegram's requests from anyone else's, and stops Rasa from starting when
Telegram cannot be reached. Here:

- After the server has started, the webhook is registered (``setWebhook``) with
  a ``secret_token``, in the background: while Telegram is unreachable it logs and
  tries again every ``webhook_retry_seconds``, and the other channels serve as usual.
- A request without the matching ``X-Telegram-Bot-Api-Secret-Token`` header gets
  403 and no reply. An update delivered twice (same ``update_id``) is answered once.
- Buttons become an inline keyboard, one button per row. Pressing one answers the
  pending question and acknowledges the press (``answerCallbackQuery``). Payloads
  longer than Telegram's 64-byte ``callback_data`` are sent as a short key and
  looked up when pressed. With ``REDIS_HOST`` set (several replicas), the keys
  and the updates already answered are kept in Redis (``bot/channels/state.py``)
  for every replica and across restarts; otherwise in memory, so buttons older
  than a restart ask the patient to type instead.
- ``/start`` (Telegram's first message) greets the patient, with the disclaimer.
- Edited messages are not answered again. The Bot API address is configurable
  (``api_url``); tests use a fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Optional, cast

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import install_server_hooks
from bot.channels.state import ChannelState, channel_state

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CALLBACK_DATA = 64  # bytes
MAX_TEXT = 4096  # characters in one message
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
START_TEXT = "hello"  # what /start means to the assistant
UPDATE_TTL_SECONDS = 24 * 3600  # Telegram gives up redelivering an update after a day
CALLBACK_TTL_SECONDS = 90 * 24 * 3600  # how long a long button payload stays pressable (shared store)


class TelegramApiError(Exception):
    """The Bot API could not be reached or refused a call."""


class TelegramApi:
    """A minimal Bot API client: ``await api.call("sendMessage", chat_id=..., text=...)``."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, timeout: float = 15) -> None:
        self.token = token
        self.base = f"{api_url.rstrip('/')}/bot{token}/"
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        # One session per event loop: a session made in another (closed) loop is
        # what broke Rasa's connector.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def call(self, method: str, **params: Any) -> Any:
        """Calls ``method``; returns its ``result`` or raises :class:`TelegramApiError`."""
        try:
            async with self._client().post(self.base + method, json=params) as reply:
                body = await reply.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            detail = str(error).replace(self.token, "<token>")  # never log the bot token
            raise TelegramApiError(f"{method}: {type(error).__name__}: {detail}") from error
        if not isinstance(body, dict) or not body.get("ok"):
            description = body.get("description") if isinstance(body, dict) else body
            raise TelegramApiError(f"{method}: {description}")
        return body.get("result")

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


class CallbackData:
    """Button payloads as Telegram ``callback_data`` (at most 64 bytes).

    ``shared`` (see :func:`bot.channels.state.channel_state`) keeps the long ones for
    every replica; :meth:`remember` and :meth:`lookup` use it, :meth:`encode` and
    :meth:`decode` only this process's memory.
    """

    def __init__(self, size: int = 5000, shared: Optional[ChannelState] = None) -> None:
        self.size = size
        self.shared = shared
        self._long: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        """The payload itself if short enough, else a key for it."""
        if len(payload.encode()) <= MAX_CALLBACK_DATA and not payload.startswith("#"):
            return payload
        key = "#" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self._long[key] = payload
        self._long.move_to_end(key)
        while len(self._long) > self.size:
            self._long.popitem(last=False)
        return key

    def decode(self, data: str) -> Optional[str]:
        """The payload for ``data``; None for a key no longer known."""
        return self._long.get(data) if data.startswith("#") else data

    async def remember(self, payload: str) -> str:
        """Like :meth:`encode`, and a long payload is also stored for every replica."""
        data = self.encode(payload)
        if data != payload and self.shared is not None:
            await self.shared.store(data, payload)
        return data

    async def lookup(self, data: str) -> Optional[str]:
        """Like :meth:`decode`, asking the shared store for keys this process never made."""
        payload = self.decode(data)
        if payload is None and self.shared is not None and data.startswith("#"):
            payload = await self.shared.load(data)
        return payload


class TelegramOutput(OutputChannel):
    """Sends replies with ``sendMessage`` (and ``sendPhoto``)."""

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return "telegram"

    def __init__(self, api: TelegramApi, callbacks: CallbackData) -> None:
        self.api = api
        self.callbacks = callbacks

    async def _send(self, chat_id: str, text: str, **extra: Any) -> None:
        parts = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)] or [""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self.api.call("sendMessage", chat_id=chat_id, text=part, **(extra if last else {}))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Plain text (no Markdown, so nothing in an answer is misread as markup)."""
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """The text with an inline keyboard, one button per row."""
        keyboard = [
            [{"text": button["title"], "callback_data": await self.callbacks.remember(button["payload"])}]
            for button in buttons
        ]
        await self._send(recipient_id, text, reply_markup={"inline_keyboard": keyboard})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """A photo by address."""
        await self.api.call("sendPhoto", chat_id=recipient_id, photo=image)

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        """``{"method": "sendLocation", ...}``: any Bot API call (default ``sendMessage``)."""
        params = dict(json_message)
        method = params.pop("method", "sendMessage")
        params.setdefault("chat_id", recipient_id)
        await self.api.call(method, **params)


class TelegramInput(InputChannel):
    """Receives Telegram updates at ``/webhooks/telegram/webhook``."""

    @classmethod
    def name(cls) -> str:
        """The URL name: ``/webhooks/telegram/``."""
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """``access_token``, ``webhook_url``, ``secret_token``; optional ``verify``, ``api_url``.

        ``verify`` is the bot's username; ``webhook_retry_seconds`` the wait between attempts.
        """
        install_server_hooks()
        if not credentials:
            cls.raise_missing_credentials_exception()
        # Not None from here: Rasa's raise_missing_credentials_exception is NoReturn, but Rasa ships
        # no type hints, so mypy cannot see that.
        credentials = cast(Dict[str, Any], credentials)
        return cls(
            access_token=credentials.get("access_token") or "",
            webhook_url=credentials.get("webhook_url") or "",
            secret_token=credentials.get("secret_token") or "",
            verify=credentials.get("verify") or None,
            api_url=credentials.get("api_url") or DEFAULT_API_URL,
            webhook_retry_seconds=float(credentials.get("webhook_retry_seconds", 30)),
        )

    def __init__(
        self,
        access_token: str,
        webhook_url: str,
        secret_token: str,
        verify: Optional[str] = None,
        api_url: str = DEFAULT_API_URL,
        webhook_retry_seconds: float = 30,
    ) -> None:
        if not access_token:
            raise InvalidConfigException("The Telegram channel needs `access_token` (from @BotFather).")
        if not webhook_url.startswith("https://") and not webhook_url.startswith("http://"):
            raise InvalidConfigException(
                "The Telegram channel needs `webhook_url`, the public https address of "
                "/webhooks/telegram/webhook."
            )
        if not _SECRET.match(secret_token or ""):
            raise InvalidConfigException(
                "The Telegram channel needs `secret_token`: 1-256 characters, A-Z a-z 0-9 _ - "
                "(e.g. `openssl rand -hex 32`)."
            )
        self.webhook_url = webhook_url
        self.secret_token = secret_token
        self.verify = verify
        self.retry_seconds = max(webhook_retry_seconds, 0.1)
        self.api = TelegramApi(access_token, api_url)
        # Shared by every replica when Redis is configured (bot/channels/state.py).
        self.callbacks = CallbackData(shared=channel_state("telegram:callback", CALLBACK_TTL_SECONDS))
        self.seen = channel_state("telegram:update", UPDATE_TTL_SECONDS)
        self.webhook_set = False
        self._registration: Optional[asyncio.Task] = None

    def get_output_channel(self) -> OutputChannel:
        """The sender every reply goes through."""
        return TelegramOutput(self.api, self.callbacks)

    async def register_webhook(self) -> None:
        """Sets the webhook, trying again until Telegram accepts it."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.api.call(
                    "setWebhook",
                    url=self.webhook_url,
                    secret_token=self.secret_token,
                    allowed_updates=["message", "callback_query"],
                )
            except TelegramApiError as error:
                logger.warning(
                    "Telegram webhook not set (attempt %d: %s); trying again in %ss.",
                    attempt,
                    error,
                    self.retry_seconds,
                )
                await asyncio.sleep(self.retry_seconds)
                continue
            self.webhook_set = True
            logger.info("Telegram webhook set to %s.", self.webhook_url)
            return

    async def _first_time(self, update_id: Any) -> bool:
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return True
        return await self.seen.first_time(str(update_id))

    def _text(self, text: str) -> str:
        """Drops ``@botname`` from commands and mentions; ``/start`` greets."""
        if self.verify:
            text = re.sub(rf"@{re.escape(self.verify)}\b", "", text, flags=re.IGNORECASE)
        text = text.strip()
        if text.split(" ")[0] == "/start":
            return START_TEXT
        return text

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /`` (health) and ``POST /webhook`` (updates)."""
        telegram = Blueprint("telegram_webhook", __name__)
        out_channel = self.get_output_channel()

        @telegram.listener("after_server_start")
        async def start_registration(_app: Any, _loop: Any) -> None:
            self._registration = asyncio.ensure_future(self.register_webhook())

        @telegram.listener("before_server_stop")
        async def stop(_app: Any, _loop: Any) -> None:
            if self._registration is not None:
                self._registration.cancel()
            await self.api.close()
            await self.seen.close()
            if self.callbacks.shared is not None:
                await self.callbacks.shared.close()

        @telegram.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "webhook_set": self.webhook_set})

        @telegram.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            secret = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(secret.encode(), self.secret_token.encode()):
                logger.warning("Refused a Telegram request without the right secret token.")
                return response.text("Forbidden", status=403)
            try:
                update = request.json
            except Exception:
                update = None
            if not isinstance(update, dict):
                return response.text("Bad request", status=400)
            if not await self._first_time(update.get("update_id")):
                return response.text("ok")
            try:
                await self._handle(update, out_channel, on_new_message)
            except Exception:
                # Telegram would only send the update again: log and acknowledge.
                logger.exception("Telegram update %s not handled", update.get("update_id"))
            return response.text("ok")

        return telegram

    async def _handle(
        self,
        update: Dict[str, Any],
        out_channel: OutputChannel,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        query = update.get("callback_query")
        if query:
            chat = ((query.get("message") or {}).get("chat") or {}).get("id") or query["from"]["id"]
            payload = await self.callbacks.lookup(query.get("data") or "")
            try:
                await self.api.call(
                    "answerCallbackQuery",
                    callback_query_id=query["id"],
                    **({} if payload else {"text": "This button has expired: please type your question."}),
                )
            except TelegramApiError as error:
                logger.info("answerCallbackQuery failed: %s", error)
            if not payload:
                return
            text, sender = payload, str(chat)
        else:
            message = update.get("message")
            if not message or not isinstance(message.get("text"), str):
                return  # edits, photos, stickers, channel posts, ...
            text, sender = self._text(message["text"]), str(message["chat"]["id"])
            if not text:
                return
        await on_new_message(
            UserMessage(
                text,
                out_channel,
                sender,
                input_channel=self.name(),
                metadata={"update_id": update.get("update_id")},
            )
        )


__all__ = ["TelegramApi", "TelegramApiError", "TelegramInput", "TelegramOutput"]
