"""Bad input against the REAL REST webhook (bot.channels.rest.RestInput on a real Rasa server).

Every request gets either a 4xx with a short JSON error or a polite reply; never a
500; the server stays up; and after each test a normal question is answered
normally.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from typing import Any, Dict, Optional

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import new_address, new_sender
from tests.strategies import (
    HTML_AND_SCRIPT,
    any_text,
    control_text,
    every_plane_text,
    examples,
    html_or_script,
    json_values,
    patient_text,
)

pytestmark = pytest.mark.e2e

MAX_CHARS = 2000  # bot/clinic.yml input_limits (the test server keeps them)
MAX_BODY = 65536
_BAD_SENDER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.fixture(autouse=True)
def _normal_afterwards(answered_normally):
    """After every test (each a batch of examples): alive, and a normal question gets its answer."""
    yield
    answered_normally()


def assert_error(response, status: int = 400, code: Optional[str] = None) -> Dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body.get("detail")
    if code:
        assert body["error"] == code, body
    return body


def assert_polite(response, sender: str, polite: Dict[str, str], sent: str = "") -> list:
    """200 with at least one bot message (or 429 with the polite wait message), nothing broken."""
    assert response.status_code in (200, 429), (response.status_code, response.text[:300])
    messages = response.json()
    assert isinstance(messages, list) and messages, response.text[:300]
    for message in messages:
        assert message.get("recipient_id") == sender
        assert (isinstance(message.get("text"), str) and message["text"].strip()) or message.get("buttons")
        assert message.get("text") != polite["service_unavailable"], "handling the message failed"
        for payload in HTML_AND_SCRIPT:
            if payload in sent and len(payload) > 6:
                assert payload not in json.dumps(message, ensure_ascii=False), "input reflected in a reply"
    if response.status_code == 429:
        assert messages == [{"recipient_id": sender, "text": polite["rate_limited"]}]
        assert int(response.headers["Retry-After"]) >= 1
    return messages


# -- malformed bodies --------------------------------------------------------------------------
@settings(max_examples=examples(40))
@given(st.binary(max_size=3000))
def test_any_bytes_get_a_4xx_or_a_reply(fuzz_server, polite, body):
    response = fuzz_server.post(raw=body)
    assert response.status_code < 500, response.text[:300]
    if response.status_code != 200:
        assert_error(response)


@settings(max_examples=examples(40))
@given(json_values)
def test_any_json_value_that_is_not_a_message_gets_400(fuzz_server, value):
    assume(not (isinstance(value, dict) and {"sender", "message"} <= set(value)))
    response = fuzz_server.post(value)
    assert_error(response, 400, None if isinstance(value, dict) else "not_an_object")


def expected_error(body: Dict[str, Any]) -> Optional[str]:
    """The error the webhook must give for ``body`` (an independent statement of the rules)."""
    sender = body.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 128 or _BAD_SENDER.search(sender):
        return "invalid_sender"
    if not isinstance(body.get("message"), str):
        return "invalid_message"
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        return "invalid_metadata"
    channel = body.get("input_channel") or "rest"
    if (
        not isinstance(channel, str)
        or len(channel) > 64
        or not channel.strip()
        or _BAD_SENDER.search(channel)
    ):
        return "invalid_input_channel"
    return None


ABSENT = object()


@settings(max_examples=examples(60))
@given(
    sender=st.one_of(
        st.text(min_size=1, max_size=40).map(lambda s: f"{s}-{new_sender()}"), json_values, any_text
    ),
    message=st.one_of(st.text(max_size=60), json_values, st.just(ABSENT)),
    metadata=st.one_of(
        st.just(ABSENT), st.none(), st.dictionaries(st.text(max_size=8), json_values, max_size=3), json_values
    ),
    input_channel=st.one_of(st.just(ABSENT), st.sampled_from(["rest", "web", ""]), json_values),
)
def test_wrong_types_and_missing_fields_get_400_naming_the_field(
    fuzz_server, polite, sender, message, metadata, input_channel
):
    body = {"sender": sender, "message": message, "metadata": metadata, "input_channel": input_channel}
    body = {key: value for key, value in body.items() if value is not ABSENT}
    response = fuzz_server.post(body)
    error = expected_error(body)
    if error:
        assert_error(response, 400, error)
    else:
        assert_polite(response, str(sender), polite, message)


MALFORMED = [
    b"",
    b"{",
    b'{"sender": "a", "message": "hi"',
    b"null",
    b'"just a text"',
    b"[]",
    b'[{"sender": "a", "message": "hi"}]',
    b"12345",
    b"NaN",
    b'{"sender": "a", "message": "hi"} trailing',
    b"\xef\xbb\xbf\xef\xbb\xbf{}",
    b"[" * 100000,
    b'{"a":' * 20000,
    b"[" * 60000,  # under the size limit, deeper than Python's recursion limit
    b"sender=a&message=hi",
    b'{"sender": "\\ud800", "message": "hi"}',
    b'{"sender": "a\\u0000b", "message": "hi"}',
    b'{"sender": "' + b"s" * 129 + b'", "message": "hi"}',
    b'{"sender": true, "message": "hi"}',
    b'{"sender": null, "message": "hi"}',
    b'{"sender": "a", "message": null}',
    b'{"sender": "a", "message": ["hi"]}',
    b'{"sender": "a", "message": "hi", "metadata": "{}"}',
    b'{"sender": "a", "message": "hi", "input_channel": 5}',
    b'{"sender": "a", "message": "' + b"9" * 5000 + b'"}',  # fine: a long text...
]


def test_malformed_requests_get_400(fuzz_server, polite):
    for body in MALFORMED:
        response = fuzz_server.post(raw=body)
        if body.startswith(b'{"sender": "a", "message": "999'):
            assert response.json() == [{"recipient_id": "a", "text": polite["message_too_long"]}], body[:40]
            continue
        assert response.status_code == (413 if len(body) > MAX_BODY else 400), body[:60]
        assert_error(response, response.status_code)


@settings(max_examples=examples(25))
@given(st.binary(min_size=1, max_size=40))
def test_invalid_utf8_gets_400(fuzz_server, raw):
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        assume(False)
    body = b'{"sender": "' + new_sender().encode() + b'", "message": "hello ' + raw + b'"}'
    assert_error(fuzz_server.post(raw=body), 400, "invalid_utf8")


# -- sizes ----------------------------------------------------------------------------------------
def test_one_megabyte_bodies_get_413_without_harm(fuzz_server):
    sender = new_sender()
    message = "my back hurts " * (1024 * 1024 // 14)
    body = json.dumps({"sender": sender, "message": message}).encode()
    assert len(body) >= 1024 * 1024
    assert_error(fuzz_server.post(raw=body), 413, "body_too_large")
    # The same without Content-Length (chunked): refused once the limit is passed.
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    assert_error(fuzz_server.post(raw=chunks), 413, "body_too_large")
    # A declared gigabyte is refused before any of it is read.
    host, port = fuzz_server.url.rsplit("/", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.putrequest("POST", "/webhooks/rest/webhook")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10**9))
        connection.endheaders(b'{"sender": "a", ')
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"] == "body_too_large"
    finally:
        connection.close()


def test_long_messages_get_a_polite_request_for_a_shorter_one(fuzz_server, polite, normal_reply):
    sender = new_sender()
    response = fuzz_server.post({"sender": sender, "message": "a" * (MAX_CHARS + 1)})
    assert response.status_code == 200
    assert response.json() == [{"recipient_id": sender, "text": polite["message_too_long"]}]
    # Just under the body limit (emoji: 4 bytes each in UTF-8, 12 escaped as JSON): still polite.
    response = fuzz_server.post(raw=json.dumps({"sender": sender, "message": "😀" * 5000}).encode())
    assert response.status_code == 200 and response.json()[0]["text"] == polite["message_too_long"]
    # A message of exactly the limit is read in full: the question at its end is answered.
    question = "What is radiofrequency ablation?"
    message = " " * (MAX_CHARS - len(question)) + question
    response = fuzz_server.post({"sender": sender, "message": message})
    assert [m["text"] for m in response.json()] == normal_reply


# -- strange text in a valid request ---------------------------------------------------------------
@settings(max_examples=examples(40))
@given(patient_text)
def test_any_text_gets_a_polite_reply(fuzz_server, polite, text):
    sender = new_sender()
    assert_polite(fuzz_server.post({"sender": sender, "message": text}), sender, polite, text)


@settings(max_examples=examples(15))
@given(html_or_script)
def test_html_and_script_are_answered_never_reflected(fuzz_server, polite, text):
    sender = new_sender()
    assert_polite(fuzz_server.post({"sender": sender, "message": text}), sender, polite, text)


def test_every_unicode_plane(fuzz_server, polite):
    for plane in range(17):
        sender = new_sender()
        first = plane * 0x10000
        text = "".join(chr(first + offset) for offset in (0x41, 0x100, 0x3042, 0xFFFD))
        assert_polite(fuzz_server.post({"sender": sender, "message": text}), sender, polite, text)


def test_control_characters_are_replaced_not_fatal(fuzz_server, normal_reply):
    sender = new_sender()
    response = fuzz_server.post(
        {"sender": sender, "message": "\x00What is\x07 radiofrequency\x1b ablation?\x7f"}
    )
    assert [m["text"] for m in response.json()] == normal_reply


@settings(max_examples=examples(6))
@given(control_text, every_plane_text)
def test_strange_text_then_a_normal_question_in_the_same_conversation(
    fuzz_server, polite, normal_reply, strange, plane
):
    sender = new_sender()
    address = new_address()
    for text in (strange, plane):
        assert_polite(fuzz_server.post({"sender": sender, "message": text}, address=address), sender, polite)
    response = fuzz_server.post(
        {"sender": sender, "message": "What is radiofrequency ablation?"}, address=address
    )
    assert [m["text"] for m in response.json()] == normal_reply


def test_stream_mode_still_works(fuzz_server, normal_reply):
    sender = new_sender()
    response = fuzz_server.post(
        {"sender": sender, "message": "What is radiofrequency ablation?"}, params={"stream": "true"}
    )
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert [m["text"] for m in lines] == normal_reply


def test_broken_chunked_encoding_gets_400(fuzz_server):
    host, port = fuzz_server.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(
            b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = connection.recv(65536)
            if not data:
                break
            reply += data
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:300]
