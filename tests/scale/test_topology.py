"""Conversations across two Rasa replicas sharing a PostgreSQL tracker store and a
Redis lock store, directly and through nginx: context (the ``procedure`` slot)
and order (the tracker's events) survive every turn landing on another replica,
concurrent patients, and two messages of one patient reaching both replicas at
the same moment. socket.io through nginx stays on one replica."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Sequence, Tuple

import pytest
import requests
import sqlalchemy as sa

from tests.servers import jwt_headers

pytestmark = [pytest.mark.e2e, pytest.mark.scale]

# (message, (procedure, topic) it must be answered with)
RFA = [
    ("what is radiofrequency ablation?", ("radiofrequency_ablation", "overview")),
    ("how long does recovery take?", ("radiofrequency_ablation", "recovery_time")),
    ("what are the risks?", ("radiofrequency_ablation", "risks")),
    ("how long does the relief last?", ("radiofrequency_ablation", "relief_duration")),
]
NERVE_BLOCK = [
    ("what is a nerve block?", ("nerve_block", "overview")),
    ("how long does recovery take?", ("nerve_block", "recovery_time")),
    ("what are the risks?", ("nerve_block", "risks")),
]
EPIDURAL = [
    ("tell me about epidural steroid injections", ("epidural_steroid_injection", "overview")),
    ("what are the risks?", ("epidural_steroid_injection", "risks")),
    ("how long does recovery take?", ("epidural_steroid_injection", "recovery_time")),
]
CONVERSATIONS = [RFA, NERVE_BLOCK, EPIDURAL]


def new_sender(prefix: str = "scale") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def turns(tracker: Dict) -> List[Tuple[str, List[str]]]:
    """Each patient message in tracker order, with the bot messages that followed it."""
    result: List[Tuple[str, List[str]]] = []
    for event in tracker["events"]:
        if event["event"] == "user":
            result.append((event["text"], []))
        elif event["event"] == "bot" and result:
            result[-1][1].append(event["text"])
    return result


def expected(conversation, knowledge, referral) -> List[Tuple[str, List[str]]]:
    return [(text, [knowledge.answer(*answer).text, referral]) for text, answer in conversation]


def post(url: str, sender: str, message: str) -> requests.Response:
    response = requests.post(
        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response


def stored_user_texts(database_url: str, sender: str) -> List[str]:
    """The patient's messages as PostgreSQL holds them, in insertion order."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"),
                {"s": sender},
            )
            return [json.loads(row[0])["text"] for row in rows]
    finally:
        engine.dispose()


def test_turns_alternating_between_replicas_keep_context_and_order(topology, knowledge, referral):
    first, second = topology.replicas
    sender = new_sender()
    for index, (message, answer) in enumerate(RFA):
        replica = (first, second)[index % 2]
        assert replica.texts(sender, message) == [knowledge.answer(*answer).text, referral]
        # Both replicas see the same conversation state after every turn.
        assert first.slot(sender, "procedure") == second.slot(sender, "procedure") == answer[0]
        assert first.slot(sender, "last_answer") == "/".join(answer)
    assert turns(first.tracker(sender)) == expected(RFA, knowledge, referral)
    assert turns(second.tracker(sender)) == expected(RFA, knowledge, referral)
    # Kept in PostgreSQL, once each, in order.
    assert stored_user_texts(topology.database_url, sender) == [message for message, _ in RFA]


def test_round_robin_through_nginx_alternates_replicas_and_keeps_context(topology, knowledge, referral):
    sender = new_sender()
    request_ids = []
    for message, answer in RFA + [("what about a nerve block?", ("nerve_block", "relief_duration"))]:
        response = post(topology.nginx.url, sender, message)
        assert [m.get("text") for m in response.json()] == [knowledge.answer(*answer).text, referral]
        request_ids.append(response.headers["X-Request-ID"])
    served = [topology.replica_named(upstream) for upstream in topology.nginx.upstreams(request_ids).values()]
    # Strict round robin: no two consecutive turns on the same replica.
    assert all(a != b for a, b in zip(served, served[1:])), served
    assert set(served) == {0, 1}
    conversation = RFA + [("what about a nerve block?", ("nerve_block", "relief_duration"))]
    assert turns(topology.replicas[0].tracker(sender)) == expected(conversation, knowledge, referral)


def test_concurrent_patients_through_nginx_each_keep_their_own_context(topology, knowledge, referral):
    patients = [(new_sender("crowd"), CONVERSATIONS[index % 3]) for index in range(9)]
    request_ids: List[str] = []
    lock = threading.Lock()

    def talk(sender: str, conversation) -> List[List[str]]:
        answers = []
        for message, _ in conversation:
            response = post(topology.nginx.url, sender, message)
            with lock:
                request_ids.append(response.headers["X-Request-ID"])
            answers.append([m.get("text") for m in response.json()])
        return answers

    with ThreadPoolExecutor(len(patients)) as pool:
        results = list(pool.map(lambda patient: talk(*patient), patients))

    for (sender, conversation), answers in zip(patients, results):
        assert answers == [reply for _, reply in expected(conversation, knowledge, referral)], sender
        assert turns(topology.replicas[1].tracker(sender)) == expected(conversation, knowledge, referral)
        assert stored_user_texts(topology.database_url, sender) == [message for message, _ in conversation]
    served = [topology.replica_named(u) for u in topology.nginx.upstreams(request_ids).values()]
    assert served.count(0) >= 5 and served.count(1) >= 5, served


@pytest.mark.parametrize("round_", range(6))
def test_two_quick_messages_on_both_replicas_at_once_are_serialised(topology, knowledge, referral, round_):
    first, second = topology.replicas
    sender = new_sender("quick")
    assert first.texts(sender, RFA[0][0])[0] == knowledge.answer(*RFA[0][1]).text
    recovery, risks = RFA[1], RFA[2]
    barrier = threading.Barrier(2)

    def send(replica, message: str) -> List[str]:
        barrier.wait()
        return replica.texts(sender, message)

    with ThreadPoolExecutor(2) as pool:
        on_first = pool.submit(send, first, recovery[0])
        on_second = pool.submit(send, second, risks[0])
        replies = on_first.result(), on_second.result()
    assert replies == (
        [knowledge.answer(*recovery[1]).text, referral],
        [knowledge.answer(*risks[1]).text, referral],
    )
    # One turn after the other, each answer right after its own message (either order).
    stored = turns(first.tracker(sender))
    assert stored[0] == expected(RFA[:1], knowledge, referral)[0]
    assert sorted(stored[1:]) == sorted(expected([recovery, risks], knowledge, referral)), stored
    assert sorted(stored_user_texts(topology.database_url, sender)[1:]) == sorted([recovery[0], risks[0]])
    # No lock is left behind in Redis once both are answered.
    assert topology.redis.client(db=1).keys(f"painclinic:lock:{sender}*") == []


async def _socketio_chat(
    url: str, session_id: str, messages: Sequence[str], transports: List[str]
) -> List[List[str]]:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    replies: asyncio.Queue = asyncio.Queue()
    confirmed = asyncio.Event()

    @client.on("bot_uttered")
    async def bot_uttered(data):
        await replies.put(data.get("text"))

    @client.on("session_confirm")
    async def session_confirm(_data):
        confirmed.set()

    await client.connect(url, socketio_path="/socket.io", transports=transports, wait_timeout=20)
    try:
        await client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(confirmed.wait(), 20)
        answers = []
        for message in messages:
            await client.emit("user_uttered", {"message": message, "session_id": session_id})
            answers.append([await asyncio.wait_for(replies.get(), 60) for _ in range(2)])
        return answers
    finally:
        await client.disconnect()


def test_socketio_long_polling_through_nginx_sticks_to_one_replica(topology, knowledge, referral):
    # The widget starts every connection with HTTP long-polling: many requests that
    # must all reach the replica holding the socket.io session.
    before = len(topology.nginx.log_lines())
    session_id = uuid.uuid4().hex
    conversation = RFA[:3]
    answers = asyncio.run(
        _socketio_chat(topology.nginx.url, session_id, [m for m, _ in conversation], ["polling"])
    )
    assert answers == [reply for _, reply in expected(conversation, knowledge, referral)]
    socket_lines = [line for line in topology.nginx.log_lines()[before:] if "/socket.io/" in line]
    upstreams = {re.search(r"upstream=(.*?) rt=", line).group(1) for line in socket_lines}
    # The handshake, every poll and every post of the session on one replica.
    assert len(socket_lines) >= 6 and len(upstreams) == 1, socket_lines
    # The conversation is in the shared tracker store, visible from both replicas.
    for replica in topology.replicas:
        assert turns(replica.tracker(session_id)) == expected(conversation, knowledge, referral)


async def _websocket_chat(url: str, session_id: str, messages: Sequence[str]) -> List[List[str]]:
    """socket.io over a WebSocket from the first request (engine.io v4 packets by hand:
    the pinned python-engineio client's WebSocket transport needs a newer aiohttp)."""
    import websockets

    address = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(address, open_timeout=20) as socket:

        async def next_packet(prefix: str) -> str:
            while True:
                packet = await asyncio.wait_for(socket.recv(), 60)
                if packet == "2":  # engine.io ping
                    await socket.send("3")
                elif packet.startswith(prefix):
                    return packet[len(prefix) :]

        async def emit(event: str, data: Dict) -> None:
            await socket.send("42" + json.dumps([event, data]))

        await next_packet("0")  # engine.io open
        await socket.send("40")  # socket.io connect
        await next_packet("40")
        await emit("session_request", {"session_id": session_id})
        assert json.loads(await next_packet("42"))[0] == "session_confirm"
        answers = []
        for message in messages:
            await emit("user_uttered", {"message": message, "session_id": session_id})
            replies = []
            while len(replies) < 2:
                event, data = json.loads(await next_packet("42"))[:2]
                if event == "bot_uttered":
                    replies.append(data.get("text"))
            answers.append(replies)
        return answers


def test_socketio_websocket_through_nginx(topology, knowledge, referral):
    before = len(topology.nginx.log_lines())
    session_id = uuid.uuid4().hex
    conversation = NERVE_BLOCK[:2]
    answers = asyncio.run(_websocket_chat(topology.nginx.url, session_id, [m for m, _ in conversation]))
    assert answers == [reply for _, reply in expected(conversation, knowledge, referral)]
    # nginx passed the upgrade on (status 101) and kept the socket open for the whole chat.
    (line,) = [line for line in topology.nginx.log_lines()[before:] if "/socket.io/" in line]
    assert " 101 " in line, line
    assert turns(topology.replicas[0].tracker(session_id)) == expected(conversation, knowledge, referral)


def test_only_the_channels_are_reachable_through_nginx(topology):
    assert requests.get(f"{topology.nginx.url}/", timeout=10).status_code == 200
    assert requests.get(f"{topology.nginx.url}/webhooks/rest/", timeout=10).status_code == 200
    # Even with a valid JWT for the replicas' HTTP API, none of it is reachable here.
    headers = jwt_headers(topology.replicas[0].token)
    direct = requests.get(f"{topology.replicas[0].url}/status", headers=headers, timeout=10)
    assert direct.status_code == 200
    for path in ("/status", "/version", "/conversations/x/tracker", "/model", "/domain"):
        response = requests.get(f"{topology.nginx.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 404, path
    assert requests.put(f"{topology.nginx.url}/model", headers=headers, timeout=10).status_code == 404
