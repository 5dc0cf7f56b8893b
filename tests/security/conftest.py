"""A second real server pair for the security tests: its own clinic settings (one
allowed website), Rasa's log level set to INFO explicitly, and Rasa's own ``rest``
channel instead of the project's (whose input checks keep malformed messages away
from Rasa), so that Rasa's error path that logs the message text can be made to
run. The session's ``bot`` pair (default settings and log level) is used too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
import yaml

from tests.servers import ROOT, Bot, server_env, start_action_server, start_rasa_server, stop

CLINIC_ORIGIN = "https://www.clinic.example"


@dataclass
class SecureServers:
    bot: Bot
    actions_port: int
    actions_log: Path
    workdir: Path


@pytest.fixture(scope="session")
def secure(tmp_path_factory) -> Iterator[SecureServers]:
    workdir = tmp_path_factory.mktemp("security")
    clinic = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text())
    clinic["allowed_origins"] = [CLINIC_ORIGIN]
    settings = workdir / "clinic.yml"
    settings.write_text(yaml.safe_dump(clinic))
    credentials = workdir / "credentials.yml"
    credentials.write_text(
        "rest:\n"
        "bot.channels.socketio.SocketIOInput:\n"
        "  user_message_evt: user_uttered\n  bot_message_evt: bot_uttered\n  session_persistence: true\n"
    )
    env = server_env(CLINIC_SETTINGS=str(settings), LOG_LEVEL="INFO")
    processes: List = []
    try:
        actions, actions_port, actions_log = start_action_server(workdir, env)
        processes.append(actions)
        rasa, bot = start_rasa_server(workdir, actions_port, env, credentials=credentials, name="secure")
        processes.append(rasa)
        yield SecureServers(bot, actions_port, actions_log, workdir)
    finally:
        stop(processes)
