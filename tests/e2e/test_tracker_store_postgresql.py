"""The project's tracker store on a real PostgreSQL (the production database): the same rows as Rasa's
own SQL store, and a long session read back with what the whole session gives the bot."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot.stores.tracker import ClinicTrackerStore
from tests.postgres import postgres_server
from tests.servers import ROOT
from tests.unit.bot.stores.test_tracker import converse, what_the_bot_sees

pytestmark = pytest.mark.e2e


def _settings(url: str) -> dict:
    parsed = sa.engine.make_url(url)
    return {
        "dialect": "postgresql",
        "host": parsed.host,
        "port": parsed.port,
        "db": parsed.database,
        "username": parsed.username,
    }


def test_a_long_session_on_postgresql_reads_what_the_whole_session_gives():
    domain = Domain.load(ROOT / "domain.yml")
    with postgres_server() as url:
        ours = ClinicTrackerStore(domain, recent_turns=4, **_settings(url))
        rasas = SQLTrackerStore(domain, **_settings(url))
        for start in range(0, 30, 6):
            converse(ours, domain, "pg-ours", 6, start=start)
            converse(rasas, domain, "pg-rasa", 6, start=start)
            mine = asyncio.run(ours.retrieve("pg-ours"))
            whole = asyncio.run(rasas.retrieve("pg-rasa"))
            assert what_the_bot_sees(mine, domain) == what_the_bot_sees(whole, domain), f"after {start + 6}"
        assert sum(isinstance(e, UserUttered) for e in mine.events) == 4
        with ours.engine.connect() as connection:
            counts = dict(
                connection.exec_driver_sql("SELECT sender_id, count(*) FROM events GROUP BY sender_id").all()
            )
            indexes = {row[0] for row in connection.exec_driver_sql("SELECT indexname FROM pg_indexes")}
        assert counts["pg-ours"] == counts["pg-rasa"], "every event is stored"
        assert "ix_events_sender_id_type_name_action_name_id" in indexes
        ours.engine.dispose()
        rasas.engine.dispose()
