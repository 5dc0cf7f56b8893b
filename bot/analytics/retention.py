"""Retention: delete old conversations, or one conversation on request ("forget me").

``python -m bot.analytics.retention purge [--days N]`` (``make purge-conversations``)
deletes every conversation session that ended more than N days ago (default:
``retention_days`` in the clinic settings) from Rasa's SQL tracker store.

- A *session* is what Rasa starts with ``action_session_start``: a patient's visit.
  A session is deleted whole when its last event is older than the cutoff, so no
  conversation is cut in half and nothing older than N days is kept, except inside
  a session still going on at the cutoff (sessions expire after 60 minutes of
  silence, ``session_config`` in ``domain.yml``).
- A conversation id whose sessions are all old disappears entirely.

``python -m bot.analytics.retention forget ID [ID ...]`` (``make
forget-conversation SENDER=ID``) deletes every event of those conversations.

Both print what they deleted as counts (never message text or conversation ids),
work on SQLite and PostgreSQL, and compact SQLite afterwards (``VACUUM``) so the
deleted text does not linger in free pages of the file. The database is found
as for the report (:mod:`bot.analytics.database`): ``--db``, else the ``DB_*``
variables, else ``conversations.db``.
A running Rasa server may stay up: it reads trackers from the store for every
message, so a forgotten conversation simply starts afresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from bot.analytics.database import DB_HELP, database_url

SESSION_START = "action_session_start"


@dataclass
class PurgeResult:
    """What a purge deleted (counts only)."""

    cutoff: dt.datetime
    events: int = 0
    conversations_removed: int = 0
    conversations_trimmed: int = 0

    def summary(self) -> str:
        """One line for the operator."""
        return (
            f"Deleted {self.events} events of sessions that ended before {self.cutoff:%Y-%m-%d %H:%M} UTC "
            f"(conversations removed entirely: {self.conversations_removed}; "
            f"trimmed to their recent sessions: {self.conversations_trimmed})."
        )


def _events_table(engine: Any) -> Any:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    return sa.Table("events", metadata, autoload_with=engine)


def _vacuum(engine: Any) -> None:
    """Rewrites an SQLite file so deleted rows leave no trace in it (nor in its write-ahead log)."""
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def purge(db: Any, days: int, now: Optional[dt.datetime] = None) -> PurgeResult:
    """Deletes every session that ended more than ``days`` days before ``now``."""
    import sqlalchemy as sa

    if days < 1:
        raise ValueError("days must be at least 1")
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff_time = now - dt.timedelta(days=days)
    cutoff = cutoff_time.timestamp()
    result = PurgeResult(cutoff=cutoff_time.astimezone(dt.timezone.utc))
    engine = sa.create_engine(db, hide_parameters=True)
    try:
        if not sa.inspect(engine).has_table("events"):
            return result
        events = _events_table(engine)
        with engine.begin() as connection:
            spans = connection.execute(
                sa.select(
                    events.c.sender_id, sa.func.min(events.c.timestamp), sa.func.max(events.c.timestamp)
                )
                .group_by(events.c.sender_id)
                .having(sa.func.min(events.c.timestamp) < cutoff)
            ).all()
            for sender, _, last in spans:
                if last < cutoff:
                    deleted = connection.execute(sa.delete(events).where(events.c.sender_id == sender))
                    result.events += deleted.rowcount
                    result.conversations_removed += 1
                    continue
                # The session holding the first recent event starts at the last
                # session start at or before it; everything before goes.
                first_recent = connection.execute(
                    sa.select(sa.func.min(events.c.id)).where(
                        events.c.sender_id == sender, events.c.timestamp >= cutoff
                    )
                ).scalar_one()
                boundary = connection.execute(
                    sa.select(sa.func.max(events.c.id)).where(
                        events.c.sender_id == sender,
                        events.c.action_name == SESSION_START,
                        events.c.id <= first_recent,
                    )
                ).scalar_one()
                if boundary is None:
                    continue  # one session since the first event: still going on
                deleted = connection.execute(
                    sa.delete(events).where(events.c.sender_id == sender, events.c.id < boundary)
                )
                if deleted.rowcount:
                    result.events += deleted.rowcount
                    result.conversations_trimmed += 1
        if result.events:
            _vacuum(engine)
    finally:
        engine.dispose()
    return result


def forget(db: Any, senders: Sequence[str]) -> Tuple[int, int]:
    """Deletes every event of the conversations ``senders``.

    Returns:
        How many events and how many conversations were deleted.

    """
    import sqlalchemy as sa

    engine = sa.create_engine(db, hide_parameters=True)
    try:
        if not sa.inspect(engine).has_table("events"):
            return 0, 0
        events = _events_table(engine)
        chosen = events.c.sender_id.in_(list(senders))
        with engine.begin() as connection:
            conversations = connection.execute(
                sa.select(sa.func.count(sa.distinct(events.c.sender_id))).where(chosen)
            ).scalar_one()
            count = connection.execute(sa.delete(events).where(chosen)).rowcount
        if count:
            _vacuum(engine)
        return count, conversations
    finally:
        engine.dispose()


def _store_exists(url: Any) -> bool:
    return url.get_backend_name() != "sqlite" or bool(url.database and Path(url.database).exists())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.analytics.retention", description=__doc__.splitlines()[0]
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=DB_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    purge_parser = commands.add_parser(
        "purge", parents=[common], help="delete sessions that ended more than --days days ago"
    )
    purge_parser.add_argument("--days", type=int, help="default: retention_days in the clinic settings")
    forget_parser = commands.add_parser(
        "forget", parents=[common], help="delete whole conversations by conversation (sender) id"
    )
    forget_parser.add_argument("senders", nargs="+", metavar="ID")
    args = parser.parse_args(argv)

    url = database_url(args.db)
    if not _store_exists(url):
        print(f"No tracker store at {url.database}: nothing to delete.")
        return 0
    if args.command == "purge":
        days = args.days
        if days is None:
            from bot.settings import get_settings

            days = get_settings().retention_days
        if days < 1:
            parser.error("--days must be at least 1")
        print(purge(url, days).summary())
        return 0
    senders: List[str] = [sender for sender in args.senders if sender.strip()]
    if not senders:
        parser.error("give at least one conversation id")
    count, conversations = forget(url, senders)
    if count:
        print(f"Deleted {count} events of {conversations} conversation(s).")
    else:
        print("No events stored under the given conversation id(s): nothing to delete.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
