"""The production topology, as local processes on 127.0.0.1: PostgreSQL (tracker
store, password required), Redis (lock store and the Slack/Telegram channels'
shared state, password required), two action servers, two Rasa server replicas
started exactly as in production (``rasa run`` with
``deploy/endpoints.production.yml`` and every setting from environment
variables), each replica talking to its own action server, and nginx with
``deploy/nginx.conf`` in front of both replicas.

The replicas also run the Slack and Telegram channels of
``credentials.channels.yml``, pointed at fake Slack and Telegram APIs.
"""

from __future__ import annotations

import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List
from urllib.parse import urlsplit

import pytest
import yaml

from tests.channels.conftest import TELEGRAM_TOKEN, TELEGRAM_WEBHOOK, channel_credentials
from tests.channels.fakes import FakeApi
from tests.postgres import postgres_server
from tests.scale.services import Nginx, Redis, nginx_server, redis_server
from tests.servers import (
    MODEL,
    ROOT,
    Bot,
    free_port,
    server_env,
    start_action_server,
    start_rasa_server,
    stop,
)

PRODUCTION_ENDPOINTS = ROOT / "deploy" / "endpoints.production.yml"
SCALE_ACTION_TIMEOUT_SECONDS = 30.0


@dataclass
class Topology:
    """The running topology."""

    replicas: List[Bot]  # each replica's REST channel and tracker API, directly
    nginx: Nginx
    redis: Redis
    database_url: str
    env: Dict[str, str]  # the replicas' environment
    slack: FakeApi
    slack_secret: str
    telegram: FakeApi
    telegram_secret: str

    def replica_named(self, upstream: str) -> int:
        """The index of the replica at ``host:port`` (as nginx logs it)."""
        return next(i for i, bot in enumerate(self.replicas) if upstream.endswith(f":{bot.port}"))


def _slack_result(call) -> Dict[str, object]:
    return {"channel": call.params.get("channel"), "ts": f"{secrets.randbelow(10**9)}.000100"}


def _telegram_result(call) -> Dict[str, object]:
    if call.method == "sendMessage":
        return {"result": {"message_id": secrets.randbelow(10**6), "chat": {"id": 1}}}
    return {"result": True}


@pytest.fixture(scope="session")
def topology(tmp_path_factory) -> Iterator[Topology]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    for binary in ("redis-server", "nginx"):
        if not shutil.which(binary) and not (Path("/usr/sbin") / binary).exists():
            pytest.fail(f"{binary} is not installed: `make system-packages` installs it.")
    workdir = tmp_path_factory.mktemp("scale")
    db_password, redis_password = secrets.token_hex(16), secrets.token_hex(16)
    slack_secret, telegram_secret = secrets.token_hex(16), secrets.token_urlsafe(24)
    processes: List = []
    slack = FakeApi(free_port(), _slack_result).start()
    telegram = FakeApi(free_port(), _telegram_result).start()
    credentials = workdir / "credentials.yml"
    credentials.write_text(channel_credentials(f"{slack.url}/api/", telegram.url))
    # These tests are about context and order, not speed: on a shared 2-core test
    # machine, nine concurrent patients can outlast the clinic's short action-server
    # budget and get the (correct) "try again" reply instead of the answer. Give the
    # replicas a generous budget; everything else is the clinic's own settings.
    settings = yaml.safe_load((ROOT / "bot" / "clinic.yml").read_text())
    if "action_timeout_seconds" in settings:
        settings["action_timeout_seconds"] = SCALE_ACTION_TIMEOUT_SECONDS
    clinic_settings = workdir / "clinic.yml"
    clinic_settings.write_text(yaml.safe_dump(settings, sort_keys=False))
    try:
        with postgres_server("conversations", password=db_password) as database_url, redis_server(
            redis_password
        ) as redis:
            db = urlsplit(database_url)
            common = server_env(
                DB_HOST="127.0.0.1",
                DB_PORT=str(db.port),
                DB_NAME=db.path.lstrip("/"),
                DB_USER=db.username or "",
                DB_PASSWORD=db_password,
                REDIS_HOST=redis.host,
                REDIS_PORT=str(redis.port),
                REDIS_PASSWORD=redis_password,
                ACTION_SERVER_TOKEN=secrets.token_hex(16),
                SLACK_BOT_TOKEN="xoxb-test-token",
                SLACK_SIGNING_SECRET=slack_secret,
                TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
                TELEGRAM_WEBHOOK_URL=TELEGRAM_WEBHOOK,
                TELEGRAM_SECRET_TOKEN=telegram_secret,
                CLINIC_SETTINGS=str(clinic_settings),
                # As in deploy/docker-compose.yml: nginx is the one proxy in front of the replicas.
                SANIC_PROXIES_COUNT="1",
            )
            action_ports = []
            for index in (1, 2):
                folder = workdir / f"actions-{index}"
                folder.mkdir()
                process, port, _ = start_action_server(folder, common)
                processes.append(process)
                action_ports.append(port)

            def start_replica(index: int):
                env = {**common, "ACTION_SERVER_URL": f"http://127.0.0.1:{action_ports[index - 1]}/webhook"}
                return start_rasa_server(
                    workdir,
                    0,
                    env,
                    credentials=credentials,
                    name=f"replica-{index}",
                    endpoints=PRODUCTION_ENDPOINTS,
                )

            # Both replicas start at once against an empty database, as in a deployment.
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(start_replica, index) for index in (1, 2)]
            errors = [future.exception() for future in futures if future.exception()]
            processes.extend(future.result()[0] for future in futures if not future.exception())
            if errors:
                raise errors[0]
            replicas = [future.result()[1] for future in futures]
            with nginx_server([f"127.0.0.1:{bot.port}" for bot in replicas]) as nginx:
                yield Topology(
                    replicas,
                    nginx,
                    redis,
                    database_url,
                    common,
                    slack,
                    slack_secret,
                    telegram,
                    telegram_secret,
                )
    finally:
        stop(processes)
        slack.stop()
        telegram.stop()
