"""The scripted patient conversations ``make bench`` sends, and the load generator.

Every message goes end to end: the REST webhook, NLU, dialogue policies, the
tracker store and, for most turns, the action server. Latency is measured by the
client from sending the request to having read the whole reply.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import aiohttp
import numpy as np

from bot.replies import intent_payload

#: One patient's visit: several conversations (each its own session), mixing typed
#: questions about many procedures and topics, follow-ups that rely on context,
#: button payloads, greetings, small talk, out-of-scope requests and a red flag.
CONVERSATIONS: Sequence[Sequence[str]] = (
    (
        "hello",
        "What is radiofrequency ablation?",
        "how long is recovery?",
        "what about epidurals?",
        intent_payload("feedback_helpful"),
        "thanks",
    ),
    (
        "how long does the relief last?",
        intent_payload("ask_relief_duration", procedure="spinal_cord_stimulation"),
        "what are the risks?",
        "where does this information come from?",
        "bye",
    ),
    (
        "what treatments do you offer?",
        intent_payload("ask_procedure", procedure="nerve_block"),
        "how should I prepare?",
        "is it covered by insurance",
        "can I make an appointment with a doctor?",
    ),
    (
        "can you help me with my taxes",
        "what is a trigger point injection",
        "I suddenly can't feel my legs since the injection",
        "are you a robot?",
    ),
    (
        "hi there",
        "will the stimulator let me cut down on my oxycodone",
        "who is a good candidate for a pain pump",
        "how much do ketamine infusions cost",
        "goodbye",
    ),
)

#: The smoke run's mix: a few messages of the same kinds.
SMOKE_CONVERSATIONS: Sequence[Sequence[str]] = (
    (
        "hello",
        "What is radiofrequency ablation?",
        "how long is recovery?",
        intent_payload("ask_risks", procedure="nerve_block"),
        "I suddenly can't feel my legs since the injection",
    ),
)


@dataclass
class Result:
    """Latencies (ms) of the messages answered, and the failures.

    An error is a message without an answer: an HTTP error or timeout, an empty
    reply, or the "something went wrong" apology the Rasa server sends when the
    action server did not answer in time (``apologies`` counts those separately).
    """

    latencies_ms: List[float] = field(default_factory=list)
    errors: int = 0
    apologies: int = 0
    error_examples: List[str] = field(default_factory=list)
    wall_s: float = 0.0

    def add_error(self, what: str) -> None:
        """Counts an error and keeps the first few descriptions."""
        self.errors += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(what)

    def summary(self) -> Dict[str, object]:
        """Percentiles, throughput and errors, plus the raw latencies (for the chart)."""
        values = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {
            "messages": len(self.latencies_ms) + self.errors,
            "errors": self.errors,
            "apologies": self.apologies,
            "error_examples": self.error_examples,
            "p50_ms": float(np.percentile(values, 50)),
            "p95_ms": float(np.percentile(values, 95)),
            "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(np.mean(values)),
            "max_ms": float(np.max(values)),
            "wall_s": self.wall_s,
            "messages_per_s": len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0,
            "latencies_ms": [round(v, 3) for v in self.latencies_ms],
        }


async def _patient(
    session: aiohttp.ClientSession,
    webhook: str,
    patient: str,
    conversations: Sequence[Sequence[str]],
    repetitions: int,
    result: Result,
    apology: str,
) -> None:
    """One patient: every conversation of the mix in order, ``repetitions`` times."""
    for repetition in range(repetitions):
        for number, conversation in enumerate(conversations):
            sender = f"{patient}-{repetition}-{number}"
            for message in conversation:
                started = time.perf_counter()
                try:
                    async with session.post(webhook, json={"sender": sender, "message": message}) as response:
                        body = await response.json(content_type=None)
                        elapsed = (time.perf_counter() - started) * 1000
                        if response.status != 200:
                            result.add_error(f"HTTP {response.status}")
                        elif not body:
                            result.add_error("empty reply")
                        elif any(reply.get("text") == apology for reply in body):
                            result.apologies += 1
                            result.add_error("apology: the action server did not answer in time")
                        else:
                            result.latencies_ms.append(elapsed)
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                    result.add_error(type(error).__name__)


def apology_text() -> str:
    """The reply sent instead of an answer when the action server fails (``service_unavailable``)."""
    from bot.replies import responder

    return responder().message("service_unavailable")


async def _run(
    webhook: str, patients: int, conversations: Sequence[Sequence[str]], repetitions: int, timeout: float
) -> Result:
    result = Result()
    apology = apology_text()
    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    run_id = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _patient(session, webhook, f"bench-{run_id}-{n}", conversations, repetitions, result, apology)
                for n in range(patients)
            )
        )
        result.wall_s = time.perf_counter() - started
    return result


def run_patients(
    webhook: str,
    patients: int,
    conversations: Sequence[Sequence[str]],
    repetitions: int = 1,
    timeout: float = 120,
) -> Result:
    """``patients`` distinct patients, all at once, each running the mix ``repetitions`` times."""
    return asyncio.run(_run(webhook, patients, conversations, repetitions, timeout))
