"""The Rasa-server speed-ups (bot/server/performance.py) change cost, never behaviour."""

from __future__ import annotations

import asyncio

import jsonschema
import pytest
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import EndpointConfig

from bot.server import performance

VALID = {
    "events": [{"event": "slot", "name": "procedure", "value": "nerve_block"}],
    "responses": [{"text": "hi", "buttons": []}],
}
INVALID = [
    {"events": "not a list"},
    {"events": [{"event": "slot", "name": 3}]},
    {"responses": ["not an object"]},
]


@pytest.fixture(scope="module", autouse=True)
def installed():
    performance.install()


def test_valid_action_response_passes():
    assert RemoteAction("action_x", None)._validate_action_result(VALID) is True


@pytest.mark.parametrize("response", INVALID)
def test_invalid_action_response_fails_as_jsonschema_validate_does(response):
    with pytest.raises(jsonschema.ValidationError) as expected:
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as raised:
        RemoteAction("action_x", None)._validate_action_result(response)
    assert raised.value.message.startswith(expected.value.message)
    assert "Failed to validate Action server response" in raised.value.message


def test_every_event_type_resolves_to_the_same_class_as_rasa():
    first = {}
    for cls in all_subclasses(Event):
        first.setdefault(cls.type_name, cls)
    for name, cls in first.items():
        assert Event.resolve_by_type(name) is cls
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nope", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        Event.resolve_by_type("nope")


def test_sqlite_tracker_store_uses_wal_and_keeps_every_event(tmp_path):
    domain = Domain.load("domain.yml")
    store = SQLTrackerStore(domain, db=str(tmp_path / "t.db"))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL

    async def roundtrip() -> DialogueStateTracker:
        tracker = DialogueStateTracker("patient", domain.slots)
        for number in range(3):
            tracker.update(UserUttered(f"message {number}", {"name": "greet", "confidence": 1.0}))
            tracker.update(ActionExecuted("utter_greet"))
            tracker.update(ActionExecuted("action_listen"))
            await store.save(tracker)
        loaded = await store.retrieve("patient")
        assert loaded is not None
        return loaded

    loaded = asyncio.run(roundtrip())
    assert [e.as_dict()["event"] for e in loaded.events] == ["user", "action", "action"] * 3
    assert loaded.latest_message.text == "message 2"


def test_in_memory_sqlite_is_left_alone():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"


def test_one_http_session_per_endpoint_and_loop():
    endpoint = EndpointConfig("http://127.0.0.1:1/webhook", headers={"X-Token": "a"})
    other = EndpointConfig("http://127.0.0.1:1/webhook", headers={"X-Token": "b"})

    async def sessions():
        first, second, third = endpoint.session(), endpoint.session(), other.session()
        async with first as a, second as b, third as c:
            same, different = a is b, a is not c
        assert not a.closed  # leaving `async with` does not close the shared session
        await performance.close_shared_sessions()
        return same, different, a.closed

    assert asyncio.run(sessions()) == (True, True, True)
