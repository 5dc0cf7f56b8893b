"""Where does a message's time go? ``python -m benchmarks.profile [MODEL] [--cprofile] [--long N]``.

Starts the real action server, loads the model in this process (with the project's
server hooks installed, as the project's channels install them under ``rasa run``), sends the bench's
scripted mix through Rasa's message processor and prints the mean time per message
spent in each stage: NLU, policies, custom actions (the HTTP round trip to the
action server), tracker store reads and writes. ``--cprofile`` also prints the
functions with the most cumulative time. ``--long N`` sends one conversation of N
turns in one session instead and prints the median time per message by blocks of
50 turns, and the stages over the last block (how cost grows with the session;
``--rasa-store`` runs it with Rasa's own SQL tracker store to compare). A tool for
tuning, not a benchmark: ``make bench`` measures the real servers over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import inspect
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import requests

from benchmarks.load import CONVERSATIONS
from benchmarks.servers import free_port, server_env, stop

ROOT = Path(__file__).resolve().parents[1]

#: Stage name -> (module, class, method) timed by wrapping.
STAGES = (
    ("NLU (parse_message)", "rasa.core.processor", "MessageProcessor", "parse_message"),
    (
        "policies (predict next action)",
        "rasa.core.processor",
        "MessageProcessor",
        "_predict_next_with_tracker",
    ),
    ("action_extract_slots", "rasa.core.processor", "MessageProcessor", "run_action_extract_slots"),
    ("custom actions (HTTP to action server)", "rasa.core.actions.action", "RemoteAction", "run"),
    ("tracker store: read", "bot.stores.tracker", "ClinicTrackerStore", "retrieve"),
    ("tracker store: save", "bot.stores.tracker", "ClinicTrackerStore", "save"),
    ("tracker store: read (Rasa's)", "rasa.core.tracker_store", "SQLTrackerStore", "retrieve"),
    ("tracker store: save (Rasa's)", "rasa.core.tracker_store", "SQLTrackerStore", "save"),
    ("lock store", "rasa.core.lock_store", "InMemoryLockStore", "lock"),
)


def _timed(totals: Dict[str, List[float]], name: str, method: Callable) -> Callable:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                totals[name].append(time.perf_counter() - started)

        return async_wrapper
    if inspect.isasyncgenfunction(method) or name == "lock store":
        return method

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name].append(time.perf_counter() - started)

    return wrapper


async def _profile(
    model: Path,
    passes: int,
    profiler: Optional[cProfile.Profile],
    long_turns: int = 0,
    store: str = "bot.stores.tracker.ClinicTrackerStore",
) -> Dict[str, List[float]]:
    import importlib

    from rasa.core.agent import load_agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from bot.server import install_hooks

    configure_logging_and_warnings(logging.INFO)  # as `rasa run` does by default
    configure_structlog(logging.INFO)
    install_hooks()
    totals: Dict[str, List[float]] = defaultdict(list)
    for name, module, cls, method in STAGES:
        owner = getattr(importlib.import_module(module), cls)
        setattr(owner, method, _timed(totals, name, getattr(owner, method)))

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as temp:
        port = free_port()
        import subprocess

        env = server_env()
        os.environ["CLINIC_SETTINGS"] = env["CLINIC_SETTINGS"]
        actions = subprocess.Popen(
            [sys.executable, "-m", "actions", "--port", str(port), "--log-level", "WARNING"],
            cwd=ROOT,
            env=env,
        )
        try:
            endpoints_file = Path(temp) / "endpoints.yml"
            endpoints_file.write_text(
                f'action_endpoint:\n  url: "http://127.0.0.1:{port}/webhook"\n'
                f'  headers:\n    X-Action-Server-Token: "{env["ACTION_SERVER_TOKEN"]}"\n'
                f'tracker_store:\n  type: {store}\n  dialect: "sqlite"\n  db: "{Path(temp) / "c.db"}"\n'
            )
            agent = await load_agent(
                model_path=str(model), endpoints=AvailableEndpoints.read_endpoints(endpoints_file)
            )
            while True:  # the action server started meanwhile
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    await asyncio.sleep(0.2)

            async def send_mix(prefix: str) -> None:
                for number, conversation in enumerate(CONVERSATIONS):
                    sender = f"{prefix}-{number}"
                    for text in conversation:
                        started = time.perf_counter()
                        await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
                        totals["total per message"].append(time.perf_counter() - started)

            await send_mix("warm")
            totals.clear()
            if long_turns:
                await _long(agent, long_turns, totals, profiler)
                return totals
            if profiler:
                profiler.enable()
            for repetition in range(passes):
                await send_mix(f"p{repetition}-{uuid.uuid4().hex[:6]}")
            if profiler:
                profiler.disable()
        finally:
            stop([actions])
    return totals


async def _long(
    agent: Any, turns: int, totals: Dict[str, List[float]], profiler: Optional[cProfile.Profile]
) -> None:
    """One session of ``turns`` turns; prints the median per block of 50; keeps the last block's stages."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    texts = [text for conversation in CONVERSATIONS for text in conversation]
    sender = f"long-{uuid.uuid4().hex[:6]}"
    per_turn: List[float] = []
    last_block = max(0, turns - 50)
    for turn in range(turns):
        if turn == last_block:
            totals.clear()
            if profiler:
                profiler.enable()
        started = time.perf_counter()
        await agent.handle_message(UserMessage(texts[turn % len(texts)], CollectingOutputChannel(), sender))
        per_turn.append(time.perf_counter() - started)
        totals["total per message"].append(per_turn[-1])
    if profiler:
        profiler.disable()
    print(f"\nOne session of {turns} turns; median milliseconds per message by block of 50 turns:")
    for start in range(0, turns, 50):
        block = sorted(per_turn[start : start + 50])
        print(f"  turns {start + 1}-{start + len(block)}: {1000 * block[len(block) // 2]:.1f}")
    print(f"Stages over turns {last_block + 1}-{turns}:")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Prints the mean time per message in each stage."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "pain-clinic.tar.gz")
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--long", type=int, default=0, metavar="N", help="one session of N turns instead")
    parser.add_argument(
        "--rasa-store", action="store_true", help="Rasa's own SQL tracker store instead of the project's"
    )
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.cprofile else None
    store = "SQL" if args.rasa_store else "bot.stores.tracker.ClinicTrackerStore"
    totals = asyncio.run(_profile(args.model, args.passes, profiler, args.long, store))
    messages = len(totals["total per message"])
    print(f"\n{messages} messages; mean milliseconds per message spent in each stage:")
    for name, values in sorted(totals.items(), key=lambda item: -sum(item[1])):
        print(f"  {name:42} {1000 * sum(values) / messages:8.2f}  ({len(values)} calls)")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    return 0


if __name__ == "__main__":
    sys.exit(main())
