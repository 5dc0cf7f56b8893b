"""Bad input against the REAL socket.io channel (bot.channels.socketio.SocketIOInput).

A real python-socketio client over websocket sends malformed events and strange
text; the session must survive each one (the connection stays open, or for a
frame above the websocket limit, a new connection works), and the next normal
message on it must get the normal answer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import NORMAL_QUESTION, new_sender
from tests.strategies import examples, json_values, patient_text

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _normal_afterwards(answered_normally):
    yield
    answered_normally()


def malformed_payloads(session_id: str) -> st.SearchStrategy:
    """``user_uttered`` payloads the channel cannot use: wrong types, missing or bad fields."""
    not_text = json_values.filter(lambda value: not isinstance(value, str))
    return st.one_of(
        json_values.filter(lambda value: not isinstance(value, dict)),  # not an object
        st.dictionaries(st.text(max_size=10), json_values, max_size=4).filter(
            lambda value: "session_id" not in value
        ),  # no session id
        st.fixed_dictionaries({"message": st.text(max_size=20), "session_id": not_text}),
        st.fixed_dictionaries({"message": st.text(max_size=20), "session_id": st.just("")}),
        st.fixed_dictionaries({"message": st.text(max_size=20), "session_id": st.just("a\x00b")}),
        st.fixed_dictionaries({"message": not_text, "session_id": st.just(session_id)}),
        st.fixed_dictionaries(
            {
                "message": st.text(max_size=20),
                "session_id": st.just(session_id),
                "metadata": st.one_of(
                    not_text.filter(lambda v: v is not None and not isinstance(v, dict)),
                    st.sampled_from(["{not json", "[1, 2]", '"text"', "[" * 5000]),
                ),
            }
        ),
    )


@settings(max_examples=examples(15))
@given(st.data())
def test_malformed_events_are_ignored_and_the_session_carries_on(socket_client, normal_reply, data):
    client = socket_client()
    payload = data.draw(malformed_payloads(client.session_id), label="payload")
    client.emit("user_uttered", payload)
    client.emit("user_uttered", None)  # and one with no data at all
    client.say(NORMAL_QUESTION)
    client.wait_for_turn(normal_reply)
    assert client.connected
    assert client.texts() == normal_reply, "a malformed event was answered, or the answer is wrong"


@settings(max_examples=examples(12))
@given(patient_text)
def test_any_text_gets_a_polite_reply_and_the_session_carries_on(socket_client, polite, normal_reply, text):
    client = socket_client()
    client.say(text)
    client.say(NORMAL_QUESTION)
    texts = client.wait_for_turn(normal_reply)
    before = texts[: texts.index(normal_reply[0])]
    assert before, "no reply to the strange message"
    assert all(t.strip() for t in before) and polite["service_unavailable"] not in before
    assert client.connected


def test_other_events_and_extra_arguments_are_harmless(socket_client, normal_reply):
    client = socket_client()
    client.emit("no_such_event", {"message": "hi"})
    client.emit("user_uttered", ({"message": "x", "session_id": client.session_id}, 1, 2))  # 3 arguments
    client.emit("session_request", ["not", "an", "object"])
    client.emit("session_request", {"session_id": {"nested": 1}})
    client.say(NORMAL_QUESTION)
    client.wait_for_turn(normal_reply)
    assert client.connected


def test_long_and_huge_messages(socket_client, fuzz_server, polite, normal_reply):
    client = socket_client()
    client.say("a" * 2001)
    client.wait_for_text(polite["message_too_long"])
    client.say("b" * 500_000)  # under the 1 MB websocket frame limit: politely refused
    client.wait_for(lambda: client.texts().count(polite["message_too_long"]) == 2, "second refusal")
    client.say(NORMAL_QUESTION)
    client.wait_for_turn(normal_reply)
    assert client.connected

    # A frame above 1 MB is refused by the websocket layer, which closes the connection;
    # the server lives on and the same conversation continues on a new connection.
    session = client.session_id
    client.say("c" * (1024 * 1024 + 1))
    client.wait_for(lambda: not client.connected, "disconnection", timeout=30)
    fuzz_server.assert_alive()
    again = socket_client(session_id=session)
    again.say(NORMAL_QUESTION)
    again.wait_for_turn(normal_reply)


def test_without_session_request_nothing_breaks(fuzz_server, socket_client, normal_reply):
    client = socket_client()
    client.emit("user_uttered", {"message": NORMAL_QUESTION, "session_id": new_sender("unjoined")})
    client.say(NORMAL_QUESTION)
    client.wait_for_turn(normal_reply)
    assert client.texts() == normal_reply  # the reply for the unjoined room went nowhere, as in Rasa
