"""Per-sender and per-address rate limits on the REAL Rasa server (REST and socket.io).

The test server's limits (tests/fuzz/conftest.py LIMITS): a sender may send 5
messages at once, then one every 2 seconds; one address 15 at once, then one a
second. Each test is a client at its own address (X-Forwarded-For, trusted as
behind nginx).
"""

from __future__ import annotations

import math
import threading
import time
from typing import List

import pytest

from tests.fuzz.conftest import LIMITS, NORMAL_QUESTION, new_address, new_sender

pytestmark = pytest.mark.e2e

SENDER_RATE = LIMITS["sender_per_minute"] / 60  # tokens a second
CLIENT_RATE = LIMITS["client_per_minute"] / 60


def most_accepted(burst: int, rate: float, seconds: float) -> int:
    """The most messages a token bucket may accept in ``seconds``."""
    return burst + math.floor(seconds * rate) + 1


def test_a_flooding_sender_is_limited_while_another_is_answered_normally(fuzz_server, polite, normal_reply):
    flooder, flood_address = new_sender("flood"), new_address()
    statuses: List[int] = []
    lock = threading.Lock()

    def flood() -> None:
        while True:
            with lock:
                if len(statuses) >= 60:
                    return
                statuses.append(0)
                index = len(statuses) - 1
            response = fuzz_server.post({"sender": flooder, "message": "hello"}, address=flood_address)
            statuses[index] = response.status_code
            if response.status_code == 429:
                assert response.json() == [{"recipient_id": flooder, "text": polite["rate_limited"]}]
                assert 1 <= int(response.headers["Retry-After"]) <= math.ceil(1 / SENDER_RATE)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    # Meanwhile a patient asks three questions; each gets the real answer.
    patient, latencies = new_sender("patient"), []
    try:
        for _ in range(3):
            before = time.monotonic()
            response = fuzz_server.post({"sender": patient, "message": NORMAL_QUESTION})
            latencies.append(time.monotonic() - before)
            assert response.status_code == 200
            assert [m["text"] for m in response.json()] == normal_reply
    finally:
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    accepted = statuses.count(200)
    print(
        f"\nflood: {len(statuses)} messages in {elapsed:.1f} s, {accepted} answered, "
        f"{statuses.count(429)} refused (429); the other patient's answers took "
        + ", ".join(f"{latency:.2f} s" for latency in latencies)
    )
    assert set(statuses) <= {200, 429}
    assert LIMITS["sender_burst"] <= accepted <= most_accepted(LIMITS["sender_burst"], SENDER_RATE, elapsed)
    assert statuses.count(429) == len(statuses) - accepted > 0


def test_the_limit_lifts_after_retry_after(fuzz_server, normal_reply):
    sender, address = new_sender("retry"), new_address()
    for _ in range(LIMITS["sender_burst"]):
        assert fuzz_server.post({"sender": sender, "message": "hello"}, address=address).status_code == 200
    refused = fuzz_server.post({"sender": sender, "message": NORMAL_QUESTION}, address=address)
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    response = fuzz_server.post({"sender": sender, "message": NORMAL_QUESTION}, address=address)
    assert response.status_code == 200
    assert [m["text"] for m in response.json()] == normal_reply


def test_new_sender_ids_from_one_address_are_limited_too(fuzz_server, normal_reply):
    address = new_address()
    statuses = []
    started = time.monotonic()
    for _ in range(LIMITS["client_burst"] + 15):
        statuses.append(
            fuzz_server.post({"sender": new_sender("rotating"), "message": "hi"}, address=address).status_code
        )
    elapsed = time.monotonic() - started
    accepted = statuses.count(200)
    print(f"\nrotating ids: {accepted} of {len(statuses)} answered in {elapsed:.1f} s")
    assert statuses.count(429) > 0
    assert LIMITS["client_burst"] <= accepted <= most_accepted(LIMITS["client_burst"], CLIENT_RATE, elapsed)
    # Another address is not affected.
    response = fuzz_server.post({"sender": new_sender(), "message": NORMAL_QUESTION}, address=new_address())
    assert [m["text"] for m in response.json()] == normal_reply


def test_socket_flood_gets_one_polite_message_and_others_are_answered(socket_client, polite, normal_reply):
    flooder = socket_client()
    for _ in range(25):
        flooder.say("hello")
    flooder.wait_for_text(polite["rate_limited"])
    patient = socket_client()
    patient.say(NORMAL_QUESTION)
    patient.wait_for_turn(normal_reply)
    assert patient.texts() == normal_reply
    # The flooder's session stays open; it was told once, and the rest was dropped.
    flooder.wait_for(lambda: len(flooder.texts()) >= LIMITS["sender_burst"] + 1, "the answered burst")
    time.sleep(1)  # let any late reply arrive before counting
    texts = flooder.texts()
    assert texts.count(polite["rate_limited"]) == 1
    assert len(texts) - 1 <= most_accepted(LIMITS["sender_burst"], SENDER_RATE, 10)
    assert flooder.connected
