"""Retention and "forget me" (bot/analytics/retention.py) on tracker stores filled by
the real Rasa server: its own SQLite file, and a real PostgreSQL holding the same
conversations (copied through Rasa's SQL tracker store)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Dict, List

import pytest

from bot.analytics.retention import main
from tests.servers import ROOT

pytestmark = pytest.mark.e2e

DAY = 86400.0


def _backdate(db, sender: str, days: float) -> None:
    """Moves a conversation's events ``days`` into the past (column and event JSON alike)."""
    shift = days * DAY
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE events SET timestamp = timestamp - ?, "
            "data = json_set(data, '$.timestamp', json_extract(data, '$.timestamp') - ?) WHERE sender_id = ?",
            (shift, shift, sender),
        )


def _events(db, sender: str) -> List[Dict]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT type_name, action_name, timestamp FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    return [{"type": t, "action": a, "timestamp": ts} for t, a, ts in rows]


@pytest.fixture(scope="module")
def conversations(secure):
    """Five conversations on the ``secure`` server, some of them made old."""
    bot = secure.bot
    prefix = f"ret-{uuid.uuid4().hex[:6]}"
    names = {key: f"{prefix}-{key}" for key in ("old", "older", "mixed", "recent", "forget")}
    marker = f"qzforget{uuid.uuid4().hex}"
    for key in ("old", "older", "mixed"):
        bot.send(names[key], "what is a nerve block")
        bot.send(names[key], "how long is recovery?")
    _backdate(bot.db, names["old"], 40)
    _backdate(bot.db, names["older"], 400)
    _backdate(bot.db, names["mixed"], 45)
    # The patient comes back: Rasa starts a new session (the old one expired long ago).
    assert bot.texts(names["mixed"], "what are the risks of radiofrequency ablation")
    bot.send(names["recent"], "what is a nerve block")
    bot.send(names["forget"], f"what is a nerve block? {marker}")
    return names, marker


def _expected_old_events(db, names) -> int:
    mixed = _events(db, names["mixed"])
    cutoff_index = max(i for i, e in enumerate(mixed) if e["action"] == "action_session_start")
    return len(_events(db, names["old"])) + len(_events(db, names["older"])) + cutoff_index


def test_purge_deletes_old_sessions_from_sqlite(secure, conversations, capsys):
    bot = secure.bot
    names, _ = conversations
    recent_before = _events(bot.db, names["recent"])
    mixed_before = _events(bot.db, names["mixed"])
    expected = _expected_old_events(bot.db, names)

    assert main(["purge", "--db", str(bot.db), "--days", "30"]) == 0
    output = capsys.readouterr().out
    assert f"Deleted {expected} events" in output
    assert "removed entirely: 2; trimmed to their recent sessions: 1" in output
    assert all(name not in output for name in names.values()), "no conversation ids printed"

    assert _events(bot.db, names["old"]) == [] and _events(bot.db, names["older"]) == []
    mixed = _events(bot.db, names["mixed"])
    assert mixed == mixed_before[len(mixed_before) - len(mixed) :], "the recent session is kept whole"
    assert mixed[0]["action"] == "action_session_start"
    assert [e for e in mixed if e["type"] == "user"], "with the patient's message"
    assert _events(bot.db, names["recent"]) == recent_before

    # Rasa carries on: the kept session is its conversation, the purged ones start afresh.
    assert bot.slot(names["mixed"], "last_answer") == "radiofrequency_ablation/risks"
    assert bot.slot(names["old"], "last_answer") is None
    assert bot.texts(names["old"], "what is a nerve block")

    assert main(["purge", "--db", str(bot.db), "--days", "30"]) == 0
    assert "Deleted 0 events" in capsys.readouterr().out, "nothing left to purge"


def test_forget_deletes_one_conversation_from_sqlite(secure, conversations, capsys):
    bot = secure.bot
    names, marker = conversations
    assert marker.encode() in bot.db.read_bytes()
    others = {key: _events(bot.db, name) for key, name in names.items() if key != "forget"}
    count = len(_events(bot.db, names["forget"]))
    assert count > 0

    assert main(["forget", "--db", str(bot.db), names["forget"]]) == 0
    assert capsys.readouterr().out.strip() == f"Deleted {count} events of 1 conversation(s)."
    assert _events(bot.db, names["forget"]) == []
    for leftover in (
        bot.db,
        bot.db.with_name(bot.db.name + "-wal"),
        bot.db.with_name(bot.db.name + "-journal"),
    ):
        if leftover.exists():
            assert marker.encode() not in leftover.read_bytes(), f"left behind in {leftover.name}"
    assert {key: _events(bot.db, name) for key, name in names.items() if key != "forget"} == others
    assert main(["forget", "--db", str(bot.db), names["forget"]]) == 0
    assert "nothing to delete" in capsys.readouterr().out
    assert bot.slot(names["forget"], "last_answer") is None, "the server sees it gone"


def test_purge_and_forget_on_postgresql(secure, capsys, monkeypatch):
    """The same conversations in a real PostgreSQL (written by Rasa's own SQL
    tracker store), reached through the DB_* variables as in production."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from tests.postgres import postgres_server

    bot = secure.bot
    prefix = f"pgret-{uuid.uuid4().hex[:6]}"
    names = {key: f"{prefix}-{key}" for key in ("old", "mixed", "recent", "forget")}
    for name in names.values():
        bot.send(name, "what is a nerve block")
    _backdate(bot.db, names["old"], 100)
    _backdate(bot.db, names["mixed"], 100)
    bot.send(names["mixed"], "what are the risks of radiofrequency ablation")
    expected_purge = len(_events(bot.db, names["old"])) + max(
        i for i, e in enumerate(_events(bot.db, names["mixed"])) if e["action"] == "action_session_start"
    )
    domain = Domain.load(str(ROOT / "domain.yml"))
    source = SQLTrackerStore(domain, dialect="sqlite", db=str(bot.db))
    with postgres_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        target = SQLTrackerStore(
            domain, dialect="postgresql", host="127.0.0.1", port=port, db="rasa", username="rasa"
        )

        async def copy() -> None:
            for name in names.values():
                await target.save(await source.retrieve_full_tracker(name))

        asyncio.run(copy())
        target.engine.dispose()
        source.engine.dispose()
        for key in ("DB_PASSWORD", "DB_NAME"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("DB_HOST", "127.0.0.1")
        monkeypatch.setenv("DB_PORT", str(port))
        monkeypatch.setenv("DB_USER", "rasa")
        monkeypatch.setenv("DB_NAME", "rasa")

        import sqlalchemy as sa

        def pg_events(name: str) -> List[str]:
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT action_name FROM events WHERE sender_id = :s ORDER BY id"), {"s": name}
                ).all()
            engine.dispose()
            return [row[0] for row in rows]

        recent_before = pg_events(names["recent"])
        assert main(["purge", "--days", "30"]) == 0
        output = capsys.readouterr().out
        assert (
            f"Deleted {expected_purge} events" in output
            and "removed entirely: 1; trimmed to their recent sessions: 1" in output
        )
        assert pg_events(names["old"]) == []
        assert pg_events(names["mixed"])[0] == "action_session_start"
        assert pg_events(names["recent"]) == recent_before

        count = len(pg_events(names["forget"]))
        assert main(["forget", names["forget"]]) == 0
        assert capsys.readouterr().out.strip() == f"Deleted {count} events of 1 conversation(s)."
        assert pg_events(names["forget"]) == [] and pg_events(names["recent"]) == recent_before
