"""The project's tracker store (bot/stores/tracker.py) against Rasa's own SQL tracker store, on real
SQLite files: the same rows written, and a tracker that gives the policies and the actions what the
whole session would (slots, latest message, the recent states), however long the session."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
import yaml
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker import ClinicTrackerStore, is_sqlite_file, stored_events
from tests.servers import ROOT

SLOTS = ("procedure", "topic", "last_answer", "recent_procedure", "pending_topic")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "domain.yml")


def run(coroutine):
    return asyncio.run(coroutine)


def turn(number: int) -> List[Event]:
    """One patient turn as the processor logs it; some turns set slots, some set none."""
    events: List[Event] = [
        UserUttered(f"message {number}", {"name": "ask_risks", "confidence": 1.0}, timestamp=1000.0 + number),
        ActionExecuted("action_answer_question", timestamp=1000.0 + number),
        BotUttered(f"answer {number}", timestamp=1000.0 + number),
    ]
    if number % 3 == 0:
        events.append(SlotSet("procedure", ["nerve_block", "radiofrequency_ablation"][number % 2]))
    if number % 7 == 0:
        events.append(SlotSet("last_answer", f"item-{number}"))
    if number == 5:
        events.append(SlotSet("recent_procedure", "yes"))
    events.append(ActionExecuted("action_listen", timestamp=1000.0 + number))
    return events


def session_start(timestamp: float = 999.0) -> List[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=timestamp),
        SessionStarted(timestamp=timestamp),
        SlotSet("clinic_phone", "555 0100", timestamp=timestamp),
        ActionExecuted("action_listen", timestamp=timestamp),
    ]


def converse(store: Any, domain: Domain, sender: str, turns: int, start: int = 0) -> None:
    """Reads, adds one turn, saves: as the processor does for every message."""
    for number in range(start, start + turns):
        tracker = run(store.retrieve(sender))
        if tracker is None:
            tracker = run(store.create_tracker(sender, append_action_listen=False))
            tracker.update_with_events(session_start(), domain)
        tracker.update_with_events(turn(number), domain)
        run(store.save(tracker))


def rows(db: Path, sender: str) -> List[tuple]:
    with sqlite3.connect(db) as connection:
        found = connection.execute(
            "SELECT type_name, intent_name, action_name, data FROM events WHERE sender_id = ? ORDER BY id",
            (sender,),
        ).fetchall()
    return [(kind, intent, action, json.loads(data)) for kind, intent, action, data in found]


def what_the_bot_sees(tracker: DialogueStateTracker, domain: Domain, states: int = 8) -> Dict[str, Any]:
    return {
        "slots": tracker.current_slot_values(),
        "latest_message": tracker.latest_message.text if tracker.latest_message else None,
        "latest_action": tracker.latest_action_name,
        "recent_states": tracker.past_states(domain)[-states:],
        "paused": tracker.is_paused(),
        "active_loop": tracker.active_loop_name,
    }


def test_a_long_session_writes_the_same_rows_and_reads_what_the_whole_session_gives(tmp_path, domain):
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=4)
    rasas = SQLTrackerStore(domain, db=str(tmp_path / "rasa.db"))
    for number in range(0, 40, 4):
        converse(ours, domain, "p", 4, start=number)
        converse(rasas, domain, "p", 4, start=number)
        mine, whole = run(ours.retrieve("p")), run(rasas.retrieve("p"))
        assert what_the_bot_sees(mine, domain) == what_the_bot_sees(
            whole, domain
        ), f"after {number + 4} turns"
    strip = [
        (kind, intent, action, {**data, "timestamp": None})
        for kind, intent, action, data in rows(tmp_path / "ours.db", "p")
    ]
    assert strip == [(k, i, a, {**d, "timestamp": None}) for k, i, a, d in rows(tmp_path / "rasa.db", "p")]
    mine = run(ours.retrieve("p"))
    assert sum(isinstance(e, UserUttered) for e in mine.events) == 4, "only the recent turns are read"
    slot_events = len(range(0, 40, 3)) + len(range(0, 40, 7)) + 1
    assert len(rows(tmp_path / "ours.db", "p")) == 4 + 40 * 4 + slot_events, "every event is stored"


def test_a_short_session_is_read_exactly_as_rasa_reads_it(tmp_path, domain):
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=10)
    rasas = SQLTrackerStore(domain, db=str(tmp_path / "ours.db"))
    converse(ours, domain, "p", 9)
    assert [e.as_dict() for e in run(ours.retrieve("p")).events] == [
        e.as_dict() for e in run(rasas.retrieve("p")).events
    ]


def test_only_the_latest_session_is_read(tmp_path, domain):
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=3)
    converse(ours, domain, "p", 12)
    tracker = run(ours.retrieve("p"))
    tracker.update_with_events(session_start(timestamp=5000.0), domain)
    run(ours.save(tracker))
    again = run(ours.retrieve("p"))
    assert again.current_slot_values()["procedure"] is None, "a new session forgets the old one's slots"
    assert again.current_slot_values()["clinic_phone"] == "555 0100"
    assert not any(isinstance(e, UserUttered) for e in again.events)


@pytest.mark.parametrize(
    "event",
    [Restarted(timestamp=1003.5), UserUtteranceReverted(timestamp=1003.5)],
    ids=["restart", "rewind"],
)
def test_a_session_that_changed_its_past_is_read_whole(tmp_path, domain, event):
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=3)
    rasas = SQLTrackerStore(domain, db=str(tmp_path / "ours.db"))
    converse(ours, domain, "p", 4)
    tracker = run(ours.retrieve("p"))
    tracker.update_with_events([event, ActionExecuted("action_listen", timestamp=1003.6)], domain)
    run(ours.save(tracker))
    converse(ours, domain, "p", 8, start=4)
    mine, whole = run(ours.retrieve("p")), run(rasas.retrieve("p"))
    assert [e.as_dict() for e in mine.events] == [e.as_dict() for e in whole.events]
    assert what_the_bot_sees(mine, domain) == what_the_bot_sees(whole, domain)


def test_a_followup_before_the_recent_turns_does_not_make_it_read_whole(tmp_path, domain):
    """The never-silent reply ends with a FollowupAction; it must not cost a whole read ever after."""
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=3)
    converse(ours, domain, "p", 2)
    tracker = run(ours.retrieve("p"))
    tracker.update_with_events([FollowupAction("action_listen")], domain)
    run(ours.save(tracker))
    converse(ours, domain, "p", 10, start=2)
    assert sum(isinstance(e, UserUttered) for e in run(ours.retrieve("p")).events) == 3


def test_each_save_writes_only_what_is_new(tmp_path, domain):
    ours = ClinicTrackerStore(domain, db=str(tmp_path / "ours.db"), recent_turns=3)
    converse(ours, domain, "p", 6)
    tracker = run(ours.retrieve("p"))
    assert stored_events(tracker) == len(tracker.events)
    before = len(rows(tmp_path / "ours.db", "p"))
    tracker.update(UserUttered("again", {"name": "greet", "confidence": 1.0}), domain)
    run(ours.save(tracker))
    run(ours.save(tracker))  # saved twice in one message, as the processor may
    assert len(rows(tmp_path / "ours.db", "p")) == before + 1
    assert run(ours.retrieve("p")).latest_message.text == "again"


def test_sqlite_uses_a_pool_wal_and_hides_parameters_in_errors(tmp_path, domain):
    store = ClinicTrackerStore(domain, db=str(tmp_path / "t.db"))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        indexes = {row[1] for row in connection.exec_driver_sql("PRAGMA index_list(events)")}
    assert {
        "ix_events_sender_id_type_name_id",
        "ix_events_sender_id_type_name_action_name_id",
        "ix_events_sender_id_id",
    } <= indexes
    assert isinstance(store.engine.pool, sa.pool.QueuePool)
    assert store.engine.hide_parameters
    ClinicTrackerStore(domain, db=str(tmp_path / "t.db"))  # a second replica's start: indexes exist


def test_in_memory_sqlite_is_left_alone():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    assert not is_sqlite_file("sqlite://") and is_sqlite_file("sqlite:///x.db")
    assert not is_sqlite_file("postgresql://u@h/db")


@pytest.mark.parametrize("value", [0, 1, "10", 2.5, True, None])
def test_recent_turns_must_be_a_whole_number_of_at_least_two(tmp_path, domain, value):
    with pytest.raises(ValueError, match="recent_turns"):
        ClinicTrackerStore(domain, db=str(tmp_path / "t.db"), recent_turns=value)


def _user_turns(steps: List[Dict[str, Any]]) -> int:
    return sum(1 for step in steps if "intent" in step or "or" in step)


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.production.yml"])
def test_recent_turns_cover_the_longest_rule_story_and_policy_history(endpoints):
    store = yaml.safe_load((ROOT / endpoints).read_text())["tracker_store"]
    assert store["type"] == "bot.stores.tracker.ClinicTrackerStore"
    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text())["rules"]
    stories = yaml.safe_load((ROOT / "data" / "stories.yml").read_text())["stories"]
    longest = max(_user_turns(item["steps"]) for item in rules + stories)
    assert not any(item.get("conversation_start") for item in rules), "a rule that reads the session's start"
    policies = yaml.safe_load((ROOT / "config.yml").read_text())["policies"]
    histories = [p.get("max_history") for p in policies if p["name"] != "RulePolicy"]
    assert {p["name"] for p in policies} <= {"RulePolicy", "MemoizationPolicy"}, "a policy that reads more"
    assert all(isinstance(h, int) for h in histories)
    # A policy's history counts actions and user turns; each user turn has at least one action.
    assert store["recent_turns"] >= max(longest + 1, *(h // 2 + 1 for h in histories))
    slots = yaml.safe_load((ROOT / "domain.yml").read_text())["slots"]
    assert all(slot.get("influence_conversation") is False for slot in slots.values()), "slots in the states"
