"""Fast checks of the channel configuration and helpers (no servers)."""

from __future__ import annotations

import pytest
import yaml
from rasa.shared.exceptions import InvalidConfigException

from bot.channels.slack import SeenEvents, SlackInput, escape
from bot.channels.telegram import MAX_CALLBACK_DATA, CallbackData, TelegramInput
from tests.servers import ROOT

TELEGRAM = {"access_token": "1:x", "webhook_url": "https://x.example/webhooks/telegram/webhook"}


def test_default_credentials_need_no_variables_and_channels_file_extends_them():
    assert "${" not in (ROOT / "credentials.yml").read_text().split("#")[0]
    default = yaml.safe_load((ROOT / "credentials.yml").read_text())
    channels = yaml.safe_load((ROOT / "credentials.channels.yml").read_text())
    assert {k: channels[k] for k in default} == default
    assert channels["bot.channels.slack.SlackInput"]["slack_signing_secret"] == "${SLACK_SIGNING_SECRET}"
    assert channels["bot.channels.telegram.TelegramInput"]["secret_token"] == "${TELEGRAM_SECRET_TOKEN}"


def test_slack_needs_a_token_and_a_signing_secret():
    with pytest.raises(InvalidConfigException):
        SlackInput.from_credentials({"slack_token": "xoxb-1", "slack_signing_secret": ""})
    with pytest.raises(InvalidConfigException):
        SlackInput.from_credentials({"slack_token": "", "slack_signing_secret": "s"})
    channel = SlackInput.from_credentials(
        {"slack_token": "xoxb-1", "slack_signing_secret": "s", "slack_api_url": "http://127.0.0.1:1/api"}
    )
    assert channel.api_url == "http://127.0.0.1:1/api/"


@pytest.mark.parametrize("secret", ["", "has space", "x" * 257, "semi;colon"])
def test_telegram_refuses_a_missing_or_invalid_secret(secret):
    with pytest.raises(InvalidConfigException):
        TelegramInput.from_credentials({**TELEGRAM, "secret_token": secret})


def test_telegram_callback_data_fits_64_bytes():
    data = CallbackData()
    short = '/inform{"procedure":"nerve_block"}'
    long = '/ask_relief_duration{"procedure":"intrathecal_pain_pump_and_more_words"}'
    assert data.encode(short) == short
    key = data.encode(long)
    assert len(key.encode()) <= MAX_CALLBACK_DATA and data.decode(key) == long
    assert CallbackData().decode(key) is None  # unknown after a restart


def test_slack_helpers():
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    seen = SeenEvents()
    assert seen.add("Ev1", "C1:1.0") and not seen.add("Ev2", "C1:1.0") and not seen.add("Ev1", None)
