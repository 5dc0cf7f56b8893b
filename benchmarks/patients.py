"""Simulated patients whose every answer is known, over the REST webhook or socket.io.

The reliability tests' load and crash runs and the bench's long conversations use
them: many concurrent conversations, each turn recorded on the client side.

Every patient holds a scripted conversation about two procedures: a question that
names the procedure, then one that relies on the remembered ``procedure`` slot,
and so on through the topics. Every turn's reply is a knowledge answer followed by
the referral, so the client knows the expected answer of each turn and when the
turn is complete (socket.io has no "end of turn" signal), and a reply sent to the
wrong conversation or without context shows up as a wrong answer.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import aiohttp
import socketio

from bot.knowledge import PROCEDURES, TOPICS, KnowledgeBase

# Questions naming the procedure, and follow-ups that rely on the conversation's
# context; each is classified as its topic by the trained model for every procedure.
NAMED: Dict[str, str] = {
    "overview": "what is {name}?",
    "recovery_time": "how long is the recovery after {name}?",
    "medication_reliance": "will I still need pain pills after {name}?",
    "risks": "what are the risks of {name}?",
    "relief_duration": "how long does the relief from {name} last?",
    "preparation": "how do I prepare for {name}?",
    "candidacy": "who is a good candidate for {name}?",
    "cost": "how much does {name} cost?",
}
FOLLOW_UP: Dict[str, str] = {
    "overview": "can you explain what it is?",
    "recovery_time": "how long is the recovery?",
    "medication_reliance": "will I still need pain pills after it?",
    "risks": "what are the risks?",
    "relief_duration": "how long does the relief last?",
    "preparation": "how do I prepare for it?",
    "candidacy": "who is a good candidate for it?",
    "cost": "how much does it cost?",
}
TURN_TIMEOUT_SECONDS = 30.0


@dataclass
class Turn:
    """One message and what the client saw."""

    message: str
    expected: str  # the knowledge answer this turn must get first
    replies: List[str] = field(default_factory=list)
    seconds: float = 0.0
    error: Optional[str] = None

    @property
    def answered(self) -> bool:
        """A complete reply arrived (whatever it said)."""
        return self.error is None and bool(self.replies)


@dataclass(frozen=True)
class Step:
    """One scripted message, the procedure and topic it is about, and its answer."""

    message: str
    procedure: str
    topic: str
    expected: str


@dataclass
class Patient:
    """One simulated patient: their conversation id, script and the turns sent so far."""

    sender: str
    script: List[Step]
    turns: List[Turn] = field(default_factory=list)


def script(knowledge: KnowledgeBase, index: int, turns: int) -> List[Step]:
    """Patient ``index``'s messages with the answer each must get.

    Two procedures (the second from half way), topics in turn; even turns name the
    procedure, odd turns rely on the context.
    """
    steps = []
    for turn in range(turns):
        procedure = PROCEDURES[(index + (3 if turn >= turns // 2 else 0)) % len(PROCEDURES)]
        topic = TOPICS[turn % len(TOPICS)]
        named = turn % 2 == 0 or turn == turns // 2
        name = knowledge.entries[procedure].name.lower()
        message = NAMED[topic].format(name=name) if named else FOLLOW_UP[topic]
        steps.append(Step(message, procedure, topic, knowledge.answer(procedure, topic).text))
    return steps


def patients(knowledge: KnowledgeBase, prefix: str, count: int, turns: int) -> List[Patient]:
    """``count`` patients with distinct conversation ids."""
    return [Patient(f"{prefix}-{i:03d}", script(knowledge, i, turns)) for i in range(count)]


async def rest_patient(
    session: aiohttp.ClientSession, url: str, patient: Patient, referral: str, keep_going: bool = False
) -> None:
    """Runs the patient's script over the REST webhook; stops at the first failed turn unless ``keep_going``.

    ``keep_going`` is for timing another configuration whose replies differ (they are
    still recorded, and counted as wrong by the caller).
    """
    for step in patient.script[len(patient.turns) :]:
        turn = Turn(step.message, step.expected)
        patient.turns.append(turn)
        started = time.monotonic()
        try:
            async with session.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": patient.sender, "message": step.message},
                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_SECONDS),
            ) as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    turn.error = f"HTTP {response.status}"
                else:
                    turn.replies = [m.get("text", "") for m in body]
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            turn.error = type(error).__name__
        turn.seconds = time.monotonic() - started
        if turn.error is None and (not turn.replies or turn.replies[-1] != referral):
            turn.error = "incomplete reply"
        if turn.error and not keep_going:
            return


async def socketio_patient(url: str, patient: Patient, referral: str) -> None:
    """Runs the patient's script over socket.io (the chat widget's protocol)."""
    client = socketio.AsyncClient(reconnection=False)
    received: asyncio.Queue = asyncio.Queue()
    confirmed = asyncio.Event()
    client.on("bot_uttered", lambda data: received.put_nowait(data))
    client.on("session_confirm", lambda data: confirmed.set())
    try:
        await client.connect(url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=30)
        await client.emit("session_request", {"session_id": patient.sender})
        await asyncio.wait_for(confirmed.wait(), TURN_TIMEOUT_SECONDS)
    except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, OSError) as error:
        first = patient.script[0]
        patient.turns.append(Turn(first.message, first.expected, error=f"connect: {type(error).__name__}"))
        await client.disconnect()
        return
    try:
        for step in patient.script:
            turn = Turn(step.message, step.expected)
            patient.turns.append(turn)
            started = time.monotonic()
            await client.emit("user_uttered", {"message": step.message, "session_id": patient.sender})
            try:
                while not turn.replies or turn.replies[-1] != referral:
                    remaining = TURN_TIMEOUT_SECONDS - (time.monotonic() - started)
                    data = await asyncio.wait_for(received.get(), max(remaining, 0.001))
                    turn.replies.append(data.get("text", ""))
            except asyncio.TimeoutError:
                turn.error = "no complete reply"
            turn.seconds = time.monotonic() - started
            if turn.error:
                return
        # Nothing else may arrive for this conversation (e.g. a reply sent twice).
        await asyncio.sleep(0.2)
        if not received.empty():
            patient.turns[-1].error = "unexpected extra reply"
    finally:
        await client.disconnect()


async def run_rest(url: str, crowd: List[Patient], referral: str, keep_going: bool = False) -> float:
    """All patients at once over REST; returns the wall-clock seconds."""
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=len(crowd))
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(rest_patient(session, url, p, referral, keep_going) for p in crowd))
    return time.monotonic() - started


def _websocket_client_compatibility() -> None:
    """Lets python-engineio's client open WebSockets with the aiohttp Rasa pins.

    python-engineio 4.15 passes ``aiohttp.ClientWSTimeout(ws_close=...)`` (aiohttp
    3.10+) to ``ws_connect``; aiohttp 3.9 takes the same close timeout as a number.
    """
    if not hasattr(aiohttp, "ClientWSTimeout"):
        aiohttp.ClientWSTimeout = lambda ws_close=10.0, **_: ws_close


async def run_socketio(url: str, crowd: List[Patient], referral: str) -> float:
    """All patients at once over socket.io (WebSocket transport); returns the wall-clock seconds."""
    _websocket_client_compatibility()
    started = time.monotonic()
    await asyncio.gather(*(socketio_patient(url, p, referral) for p in crowd))
    return time.monotonic() - started


def percentile(values: List[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(label: str, crowd: List[Patient], seconds: float) -> str:
    """One line of figures: turns, errors, throughput, median, p95 and max latency."""
    latencies = [t.seconds for p in crowd for t in p.turns if t.answered]
    errors = sum(1 for p in crowd for t in p.turns if t.error)
    return (
        f"{label}: {len(crowd)} patients, {len(latencies)} turns answered, {errors} errors, "
        f"{seconds:.1f} s, {len(latencies) / seconds:.1f} turns/s; latency p50 "
        f"{percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
        f"max {max(latencies):.2f} s"
    )
