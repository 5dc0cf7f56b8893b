"""The Rasa-server speed-ups (bot/server/performance.py) change cost, never behaviour."""

from __future__ import annotations

import asyncio

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event, SlotSet
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
