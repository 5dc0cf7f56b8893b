"""One more real Rasa server, with the Slack and Telegram channels of
``credentials.channels.yml`` enabled, sharing the session's real action server,
plus a fake Slack Web API and a fake Telegram Bot API on 127.0.0.1.

The fake Telegram API is started only after Rasa is up, so the tests can see
that Rasa starts and serves while Telegram is unreachable, and sets the webhook
once it is back (``telegram`` fixture)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List

import pytest
import requests

from tests.channels.fakes import FakeApi
from tests.servers import ROOT, Bot, free_port, server_env, start_rasa_server, stop

TELEGRAM_TOKEN = "123456:TEST-token"
TELEGRAM_WEBHOOK = "https://assistant.clinic.example/webhooks/telegram/webhook"


@dataclass
class Channels:
    bot: Bot  # the channel server's REST channel and tracker
    slack: FakeApi
    slack_secret: str
    telegram_port: int
    telegram_secret: str
    observed: Dict[str, object] = field(default_factory=dict)


def _slack_result(call) -> Dict[str, object]:
    return {"channel": call.params.get("channel"), "ts": f"{time.time():.6f}"}


def _telegram_result(call) -> Dict[str, object]:
    if call.method == "sendMessage":
        return {"result": {"message_id": len(call.params.get("text", "")), "chat": {"id": 1}}}
    return {"result": True}


def channel_credentials(slack_api: str, telegram_api: str) -> str:
    """``credentials.channels.yml`` as it is (its ${VARIABLES} filled by Rasa from the
    environment), pointed at the fake APIs and retrying the webhook quickly."""
    text = (ROOT / "credentials.channels.yml").read_text()
    text, slack = re.subn(
        r"^bot\.channels\.slack\.SlackInput:\n",
        lambda m: m.group(0) + f"  slack_api_url: {slack_api}\n",
        text,
        flags=re.M,
    )
    text, telegram = re.subn(
        r"^bot\.channels\.telegram\.TelegramInput:\n",
        lambda m: m.group(0) + f"  api_url: {telegram_api}\n  webhook_retry_seconds: 0.5\n",
        text,
        flags=re.M,
    )
    assert slack == telegram == 1, "credentials.channels.yml lost a channel"
    return text


@pytest.fixture(scope="session")
def channels(bot, tmp_path_factory) -> Iterator[Channels]:
    workdir = tmp_path_factory.mktemp("channels")
    slack = FakeApi(free_port(), _slack_result).start()
    telegram_port = free_port()  # nothing listens here yet: Telegram is "down"
    credentials = workdir / "credentials.yml"
    credentials.write_text(channel_credentials(f"{slack.url}/api/", f"http://127.0.0.1:{telegram_port}"))
    slack_secret, telegram_secret = secrets.token_hex(16), secrets.token_urlsafe(24)
    env = server_env(
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=slack_secret,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_WEBHOOK_URL=TELEGRAM_WEBHOOK,
        TELEGRAM_SECRET_TOKEN=telegram_secret,
    )
    processes: List = []
    try:
        rasa, channel_bot = start_rasa_server(
            workdir, bot.actions_port, env, credentials=credentials, name="channels"
        )
        processes.append(rasa)
        yield Channels(channel_bot, slack, slack_secret, telegram_port, telegram_secret)
    finally:
        stop(processes)
        slack.stop()


@pytest.fixture(scope="session")
def telegram(channels: Channels) -> Iterator[FakeApi]:
    """The fake Telegram API, started after Rasa; records what Rasa did before and after."""
    log = channels.bot.log
    deadline = time.monotonic() + 20
    while "Telegram webhook not set" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    channels.observed["rest_while_down"] = channels.bot.texts("telegram-down", "what is a nerve block")
    channels.observed["health_while_down"] = requests.get(
        f"{channels.bot.url}/webhooks/telegram/", timeout=10
    ).json()
    api = FakeApi(channels.telegram_port, _telegram_result).start()
    try:
        api.wait_for("setWebhook", 1, timeout=20)
        yield api
    finally:
        api.stop()
