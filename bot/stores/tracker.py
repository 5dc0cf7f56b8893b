"""The conversation store: Rasa's SQL tracker store, at the same cost per message however long the session.

Named in ``endpoints.yml`` as ``type: bot.stores.tracker.ClinicTrackerStore``, with the
settings of Rasa's ``type: SQL`` (``dialect``, ``url``, ``port``, ``db``, ``username``,
``password``, ``login_db``, ``query``) and one of its own, ``recent_turns``.

**Why.** For every message, Rasa 3.6's SQL tracker store reads every event of the
current session, turns each back into an object and replays it, and then counts
them again before it saves; the policies then compute a state for every turn of
the tracker they are given, although they look at the last few only. So the cost of
a message grows with the session (measured with ``python -m benchmarks.profile
--long``: 41 ms a message over turns 1-50, 415 ms over turns 351-400), and a Slack
or Telegram conversation that goes on all morning gets slower and slower.

**What this store does instead**, through the tracker store's own methods:

- :meth:`retrieve` reads the session's last ``recent_turns`` patient turns, and
  before them only the session's start and the value each slot had where they
  begin (the latest ``slot`` event of each slot before it). The policies and the
  actions see what they would see with the whole session: the longest rule and
  story of this bot span fewer turns (``tests/unit/bot/stores/test_tracker.py``
  checks it against ``data/`` and ``config.yml``), no slot influences the
  conversation, and the actions read slots and the latest message only. A
  session with fewer turns, or one that holds an event that changes what came
  before it (restart, slot reset, rewind, undo, a form, a pause; see
  :data:`HISTORY_EVENTS`), is read whole, exactly as Rasa reads it.
- :meth:`save` writes the events added since the tracker was read (Rasa counts the
  session's events in the database again on every save).
- Three indexes make those reads lookups instead of scans as the store grows.
- An SQLite file keeps its connections in a pool and uses write-ahead logging with
  ``synchronous=NORMAL`` (see :func:`set_sqlite_pragmas`).

**Nothing is dropped from the database**: every event is written as before, so the
report, retention and "forget me", ``rasa export`` and the HTTP API's
``/conversations/<id>/tracker`` (which reads every session) see whole
conversations. Only ``/conversations/<id>/story`` shows just the recent turns of a
long session, because Rasa builds it from the tracker the bot works with.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa
from rasa.core import tracker_store
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

DEFAULT_RECENT_TURNS = 10
MIN_RECENT_TURNS = 2
# Events that change the meaning of those before them: a session holding one before
# its recent turns is read whole (the slot values where the recent turns begin would
# otherwise be wrong, or a form or pause lost).
HISTORY_EVENTS = (
    "restart",
    "reset_slots",
    "rewind",
    "undo",
    "active_loop",
    "loop_interrupted",
    "action_execution_rejected",
    "pause",
    "resume",
    "reminder",
    "cancel_reminder",
    "export",
)
SESSION_STARTED = "session_started"
USER = "user"
SLOT = "slot"
ACTION = "action"
LISTEN = "action_listen"
# The number of the tracker's events that are in the database (set by retrieve and save).
_STORED = "_clinic_stored_events"
INDEXES = {
    "ix_events_sender_id_type_name_id": ("sender_id", "type_name", "id"),
    "ix_events_sender_id_type_name_action_name_id": ("sender_id", "type_name", "action_name", "id"),
    "ix_events_sender_id_id": ("sender_id", "id"),
}


class ClinicTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store that reads a long session's recent turns only (see the module)."""

    engine: Any  # set by Rasa's SQLTrackerStore.__init__ (and again here for SQLite files)
    sessionmaker: Any

    def __init__(self, domain: Any = None, recent_turns: int = DEFAULT_RECENT_TURNS, **kwargs: Any) -> None:
        """Rasa's SQL store with ``kwargs``; ``recent_turns`` patient turns of a long session are read.

        Raises:
            ValueError: ``recent_turns`` is not a whole number of at least :data:`MIN_RECENT_TURNS`.

        """
        whole = isinstance(recent_turns, int) and not isinstance(recent_turns, bool)
        if not whole or recent_turns < MIN_RECENT_TURNS:
            raise ValueError(
                f"tracker_store.recent_turns in the endpoints file must be a whole number of at least "
                f"{MIN_RECENT_TURNS}, not {recent_turns!r}"
            )
        self.recent_turns = recent_turns
        self._sql: Dict[Tuple[str, ...], Dict[str, Any]] = {}
        super().__init__(domain=domain, **kwargs)
        if is_sqlite_file(self.engine.url):
            self._pool_sqlite()
        self._create_indexes()

    # -- set-up -----------------------------------------------------------------

    def _pool_sqlite(self) -> None:
        """One pooled engine with write-ahead logging instead of a new connection per query.

        SQLAlchemy 1.4 gives SQLite files no pool, so every read and write opened a new
        connection, and SQLite's default journal (``synchronous=FULL``) made each commit
        wait for several fsyncs: together about 50 ms a message on this machine. The
        event loop's thread is the only one that uses a connection.
        """
        url = self.engine.url
        self.engine.dispose()
        options = dict(tracker_store.create_engine_kwargs(url))
        options.update(poolclass=sa.pool.QueuePool, hide_parameters=True)  # no message text in errors
        options.setdefault("connect_args", {})["check_same_thread"] = False
        self.engine = sa.create_engine(url, **options)
        sa.event.listen(self.engine, "connect", set_sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _create_indexes(self) -> None:
        """The indexes the reads need (another replica may be creating them at the same time)."""
        table = self.SQLEvent.__tablename__
        for name, columns in INDEXES.items():
            statement = f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"
            try:
                with self.engine.begin() as connection:
                    connection.exec_driver_sql(statement)
            except sa.exc.DBAPIError as error:  # e.g. two replicas at once; the other one made it
                logger.warning("Index %s not created here (%s).", name, type(error).__name__)

    # -- reading ----------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The current session: its recent turns, or all of it when short or unusual (see the module)."""
        with self.session_scope() as session:
            rows = self._recent_rows(session, sender_id)
            if rows is None:
                rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            events = [json.loads(row.data) for row in rows]
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, _STORED, len(tracker.events))
        return tracker

    def _statements(self, in_session: bool) -> Dict[str, Any]:
        """The reads of :meth:`_recent_rows` as SQL, built once per store.

        Building them with SQLAlchemy's ORM for every message cost more than running
        them. ``in_session`` adds Rasa's "latest session" filter.
        """
        names = sorted({slot.name for slot in self.domain.slots}) if self.domain else []
        key = ("in_session" if in_session else "whole", *names)  # a new model may bring other slots
        built = self._sql.get(key)
        if built is not None:
            return built
        table = self.SQLEvent.__tablename__
        where = "sender_id = :sender" + (" AND timestamp >= :start" if in_session else "")
        history = ", ".join(f"'{name}'" for name in HISTORY_EVENTS)  # constants of this module
        latest = " UNION ALL ".join(
            f"SELECT id FROM (SELECT id FROM {table} WHERE {where} AND type_name = '{SLOT}' "
            f"AND action_name = :slot{i} AND id < :cut ORDER BY id DESC LIMIT 1) AS slot{i}"
            for i in range(len(names))
        )
        built = {
            "first_turn": sa.text(
                f"SELECT id FROM {table} WHERE {where} AND type_name = '{USER}' "
                "ORDER BY id DESC LIMIT 1 OFFSET :skip"
            ),
            "cut": sa.text(
                f"SELECT id FROM {table} WHERE {where} AND type_name = '{ACTION}' "
                f"AND action_name = '{LISTEN}' AND id < :first ORDER BY id DESC LIMIT 1"
            ),
            "changed": sa.text(
                f"SELECT id FROM {table} WHERE {where} AND type_name IN ({history}) AND id < :cut LIMIT 1"
            ),
            "start": sa.text(
                f"SELECT data FROM {table} WHERE {where} AND type_name = '{SESSION_STARTED}' "
                "AND id < :cut ORDER BY id DESC LIMIT 1"
            ),
            "slots": (
                sa.text(f"SELECT data FROM {table} WHERE id IN ({latest}) ORDER BY id") if names else None
            ),
            "slot_names": {f"slot{i}": name for i, name in enumerate(names)},
            "recent": sa.text(f"SELECT data FROM {table} WHERE {where} AND id >= :cut ORDER BY id"),
        }
        self._sql[key] = built
        return built

    def _recent_rows(self, session: Any, sender_id: str) -> Optional[List[Any]]:
        """The rows that stand for a long session, or ``None`` to read it whole.

        The session's start event, the latest ``slot`` event of each slot before the
        recent turns (one index lookup per slot of the domain: a slot event's
        ``action_name`` column holds the slot's name), then every event from the
        ``action_listen`` before the first of them. The session is Rasa's: events from
        the latest ``session_started`` event's timestamp on (all, if there is none).
        """
        table = self.SQLEvent.__tablename__
        start = session.execute(
            sa.text(f"SELECT max(timestamp) FROM {table} WHERE sender_id = :sender AND type_name = :kind"),
            {"sender": sender_id, "kind": SESSION_STARTED},
        ).scalar()
        sql = self._statements(in_session=start is not None)
        values: Dict[str, Any] = {"sender": sender_id, "start": start}
        first_turn = session.execute(sql["first_turn"], {**values, "skip": self.recent_turns - 1}).scalar()
        if first_turn is None:
            return None  # a short session
        cut = session.execute(sql["cut"], {**values, "first": first_turn}).scalar()
        if cut is None:
            return None
        values["cut"] = cut
        if session.execute(sql["changed"], values).scalar() is not None:
            return None
        rows = list(session.execute(sql["start"], values))
        if sql["slots"] is not None:
            rows += list(session.execute(sql["slots"], {**values, **sql["slot_names"]}))
        rows += list(session.execute(sql["recent"], values))
        return rows

    # -- writing ----------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Writes the events added since ``tracker`` was read or last saved."""
        stored = stored_events(tracker)
        if stored is None:  # a tracker this store did not read (a new conversation): Rasa's own count
            await super().save(tracker)
        else:
            await self.stream_events(tracker)
            new = list(tracker.events)[stored:]
            with self.session_scope() as session:
                session.add_all([self._row(tracker.sender_id, event) for event in new])
                session.commit()
        setattr(tracker, _STORED, len(tracker.events))

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Publishes the new events to the event broker, if one is configured."""
        stored = stored_events(tracker)
        if stored is None or self.event_broker is None:
            await super().stream_events(tracker)
            return
        await self._stream_new_events(self.event_broker, list(tracker.events)[stored:], tracker.sender_id)

    def _row(self, sender_id: str, event: Event) -> Any:
        """The database row of ``event``, exactly as Rasa's SQL store writes it."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
            action_name=data.get("name"),
            data=json.dumps(data),
        )


def set_sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """SQLAlchemy ``connect`` listener: write-ahead log and ``synchronous=NORMAL`` for SQLite files.

    A commit no longer waits for the disk, a crash cannot corrupt the database, and
    readers (``make report``) do not block the server. The price: a power cut (not a
    crash of the server) may lose the last moments' conversations. Production uses
    PostgreSQL, which this does not touch.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        (mode,) = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        if str(mode).lower() == "wal":  # in-memory databases stay as they are
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def is_sqlite_file(url: Any) -> bool:
    """Whether ``url`` (string or SQLAlchemy URL) names an SQLite database in a file."""
    from sqlalchemy.engine.url import make_url

    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def stored_events(tracker: DialogueStateTracker) -> Optional[int]:
    """How many of ``tracker``'s events are in the database, if this store read or saved it."""
    return getattr(tracker, _STORED, None)


__all__ = ["ClinicTrackerStore", "is_sqlite_file", "set_sqlite_pragmas", "stored_events"]
