"""What a message costs as things grow: one long conversation, and a store holding a year.

- :func:`long_conversation`: one patient, one session, ``turns`` scripted turns
  (:mod:`benchmarks.patients`: every answer is known, and every other turn relies on
  the procedure named before it) over the REST webhook or socket.io. Latency per
  block of turns, the last block's median over the first's, and wrong answers.
- :func:`fill_store`: a clinic's year of conversations in an SQLite store, made of
  copies of the real conversations a server just stored (new conversation ids and
  dates spread over 365 days), until it holds ``events`` events.
- :func:`new_patients`: the first answers of new patients (what a big store could slow).
- :func:`time_report`: ``make report`` over the whole year, timed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import requests

from benchmarks.patients import patients, run_rest, run_socketio

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0
COLUMNS = "sender_id, type_name, timestamp, intent_name, action_name, data"


def block_figures(latencies_ms: Sequence[float], block: int) -> List[Dict[str, Any]]:
    """p50 and p95 of each block of ``block`` turns (the last block may be shorter)."""
    blocks = []
    for start in range(0, len(latencies_ms), block):
        values = np.array(latencies_ms[start : start + block])
        blocks.append(
            {
                "turns": f"{start + 1}-{start + len(values)}",
                "p50_ms": float(np.percentile(values, 50)),
                "p95_ms": float(np.percentile(values, 95)),
            }
        )
    return blocks


def long_conversation(url: str, transport: str, turns: int, block: int = 50) -> Dict[str, Any]:
    """One patient's ``turns`` turns in one session over ``transport`` ("rest" or "socketio").

    Returns the latency of every turn (ms), the blocks' p50/p95, the last block's
    p50 over the first's, the turns that got a wrong or no answer, and the wall time.
    """
    from bot.knowledge import get_knowledge
    from bot.replies import responder

    knowledge = get_knowledge()
    (patient,) = patients(knowledge, f"long-{transport}-{uuid.uuid4().hex[:6]}", 1, turns)
    referral = responder().referral().text
    if transport == "rest":  # every turn is timed, right or wrong (another configuration's replies differ)
        wall = asyncio.run(run_rest(url, [patient], referral, keep_going=True))
    else:  # a turn ends with the referral: the first wrong one ends the conversation
        wall = asyncio.run(run_socketio(url, [patient], referral))
    latencies = [1000 * turn.seconds for turn in patient.turns if turn.replies]
    wrong = sum(1 for turn in patient.turns if not turn.answered or turn.replies[0] != turn.expected) + (
        turns - len(patient.turns)
    )
    blocks = block_figures(latencies, block)
    return {
        "transport": transport,
        "turns": turns,
        "block": block,
        "latencies_ms": [round(value, 3) for value in latencies],
        "blocks": blocks,
        "last_over_first": blocks[-1]["p50_ms"] / blocks[0]["p50_ms"] if len(blocks) > 1 else None,
        "wrong_or_missing": wrong,
        "errors": [turn.error for turn in patient.turns if turn.error][:5],
        "wall_s": wall,
    }


def fill_store(db: Path, events: int, now: Optional[float] = None) -> Dict[str, Any]:
    """Copies ``db``'s conversations under new ids over the past year until it holds ``events`` events.

    The copies keep every column and the event data (the ``timestamp`` in both moved
    to their new day), so the report and Rasa read them as real conversations.
    Returns how many events and conversations the store then holds and how long filling took.
    """
    started = time.monotonic()
    now = now or time.time()
    with sqlite3.connect(db) as connection:
        template = connection.execute(f"SELECT {COLUMNS} FROM events ORDER BY id").fetchall()
        if not template:
            raise RuntimeError(f"{db} holds no conversations to copy")
        by_sender: Dict[str, List[tuple]] = {}
        for row in template:
            by_sender.setdefault(row[0], []).append(row)
        conversations = list(by_sender.values())
        (count,) = connection.execute("SELECT count(*) FROM events").fetchone()
        copies = 0
        while count < events:
            rows = []
            for conversation in conversations:
                copies += 1
                sender = f"year-{copies:07d}"
                # Spread over the past year, a few minutes apart within a day.
                shift = (now - DAY * (1 + copies % 365) + 60 * (copies % 600)) - conversation[0][2]
                for _, kind, timestamp, intent, action, data in conversation:
                    event = json.loads(data)
                    event["timestamp"] = timestamp + shift
                    rows.append((sender, kind, timestamp + shift, intent, action, json.dumps(event)))
            connection.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
            count += len(rows)
        connection.commit()
        (senders,) = connection.execute("SELECT count(DISTINCT sender_id) FROM events").fetchone()
    return {"events": count, "conversations": senders, "fill_s": time.monotonic() - started}


def new_patients(
    webhook: str, count: int, message: str = "What is radiofrequency ablation?"
) -> Dict[str, Any]:
    """``count`` new patients' first messages, one after the other: p50, p95 (ms) and failures."""
    latencies, failures = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = requests.post(
            webhook, json={"sender": f"new-{uuid.uuid4().hex[:10]}", "message": message}, timeout=60
        )
        if response.status_code == 200 and response.json():
            latencies.append(1000 * (time.perf_counter() - started))
        else:
            failures += 1
    values = np.array(latencies or [np.nan])
    return {
        "patients": count,
        "failures": failures,
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
    }


def time_report(db: Path, out: Path, days: int = 366) -> Dict[str, Any]:
    """Runs the conversation report (``make report``) over the last ``days`` days of ``db``; times it."""
    import datetime as dt

    since = (dt.date.today() - dt.timedelta(days=days)).isoformat()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot.analytics.report", "--db", str(db), "--since", since, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"the report failed ({result.returncode}): {result.stderr[-2000:]}")
    return {"seconds": seconds, "since": since, "printed": result.stdout.strip().splitlines()[-3:]}


# --------------------------------------------------------------------------- the bench's growth scenarios


def _postgres_store(url: str, recent_turns: int) -> Dict[str, Any]:
    """The project's tracker store's endpoint settings for the PostgreSQL at ``url``."""
    from sqlalchemy.engine.url import make_url

    parsed = make_url(url)
    store: Dict[str, Any] = {
        "type": "bot.stores.tracker.ClinicTrackerStore",
        "dialect": "postgresql",
        "url": parsed.host,
        "port": parsed.port,
        "db": parsed.database,
        "username": parsed.username,
        "recent_turns": recent_turns,
    }
    if parsed.password:
        store["password"] = parsed.password
    return store


def _long_runs(servers: Any, turns: int, block: int, transports: Sequence[str], label: str) -> Dict[str, Any]:
    from benchmarks.servers import first_answer

    first_answer(servers)
    out = {}
    for transport in transports:
        servers.check_alive()
        result = long_conversation(servers.url, transport, turns, block)
        out[transport] = result
        blocks = ", ".join(f"{b['p50_ms']:.0f}" for b in result["blocks"])
        print(
            f"  {label}, {transport}: p50 by block of {block} turns {blocks} ms; "
            f"last/first {result['last_over_first'] or float('nan'):.2f}; "
            f"{result['wrong_or_missing']} wrong or missing",
            flush=True,
        )
    return out


def run_growth(
    model: Path, default_model: Optional[Path], work: Path, credentials: Path, smoke: bool
) -> Dict[str, Any]:
    """The bench's growth figures: long conversations, and a year's store.

    Long conversations with the project's store on SQLite and PostgreSQL, over REST and
    socket.io; with Rasa's own SQL store and with the default configuration for comparison.
    """
    import yaml

    from benchmarks.load import CONVERSATIONS, run_patients
    from benchmarks.servers import first_answer, start_servers
    from tests.postgres import postgres_server

    turns, block = (60, 20) if smoke else (400, 50)
    events = 20_000 if smoke else 1_000_000
    recent_turns = yaml.safe_load((ROOT / "endpoints.yml").read_text())["tracker_store"]["recent_turns"]
    both = ("rest", "socketio")
    rest_only = work / "credentials.rest.yml"
    rest_only.write_text("rest:\n")
    long: Dict[str, Any] = {}

    print(f"\n== long conversations: {turns} turns in one session", flush=True)
    servers = start_servers(model, work, "long-sqlite", credentials, True)
    try:
        long["ours, SQLite"] = _long_runs(servers, turns, block, both, "ours, SQLite")
        servers.check_alive()
        run_patients(servers.webhook, 1, CONVERSATIONS, 1)  # the mix's conversations, for the year's store
        empty_store = new_patients(servers.webhook, 10 if smoke else 30)
    finally:
        servers.stop()
    template = servers.db

    with postgres_server() as url:
        pg = start_servers(
            model, work, "long-pg", credentials, True, tracker_store=_postgres_store(url, recent_turns)
        )
        try:
            long["ours, PostgreSQL"] = _long_runs(pg, turns, block, both, "ours, PostgreSQL")
        finally:
            pg.stop()

    rasa_store = {"type": "SQL", "dialect": "sqlite", "db": str(work / "conversations.long-rasa-store.db")}
    if (work / "conversations.long-rasa-store.db").exists():
        (work / "conversations.long-rasa-store.db").unlink()
    stock = start_servers(model, work, "long-rasa-store", credentials, True, tracker_store=rasa_store)
    try:
        long["ours with Rasa's SQL store, SQLite"] = _long_runs(
            stock, turns, block, ("rest",), "ours with Rasa's SQL store, SQLite"
        )
    finally:
        stock.stop()
    if default_model is not None:
        default = start_servers(default_model, work, "long-default", rest_only, False)
        try:
            long["default, SQLite"] = _long_runs(default, turns, block, ("rest",), "default, SQLite")
        finally:
            default.stop()

    print(f"\n== a year's store: {events:,} events", flush=True)
    assert template is not None
    year = work / "conversations.year.db"
    for stale in (year, year.with_name(year.name + "-wal"), year.with_name(year.name + "-shm")):
        if stale.exists():
            stale.unlink()
    year.write_bytes(template.read_bytes())
    filled = fill_store(year, events)
    print(
        f"  filled: {filled['events']:,} events, {filled['conversations']:,} conversations "
        f"in {filled['fill_s']:.0f} s",
        flush=True,
    )
    big = start_servers(model, work, "year", credentials, True, db=year)
    try:
        startup = first_answer(big)
        big_store = new_patients(big.webhook, 10 if smoke else 30)
    finally:
        big.stop()
    report = time_report(year, work / "report-year")
    ratio_new = big_store["p50_ms"] / empty_store["p50_ms"] if empty_store["p50_ms"] else None
    print(
        f"  new patient's first answer p50: {empty_store['p50_ms']:.0f} ms on the emptier store, "
        f"{big_store['p50_ms']:.0f} ms on the year's (x{ratio_new or float('nan'):.2f}); "
        f"first answer {startup:.1f} s after start; make report {report['seconds']:.1f} s",
        flush=True,
    )
    return {
        "turns": turns,
        "block": block,
        "recent_turns": recent_turns,
        "long": long,
        "year": {
            **filled,
            "first_answer_s": startup,
            "new_patients_small_store": empty_store,
            "new_patients_year_store": big_store,
            "new_patient_p50_ratio": ratio_new,
            "report_s": report["seconds"],
        },
    }


def worst_last_over_first(growth: Dict[str, Any]) -> Optional[float]:
    """The largest last-block/first-block p50 ratio of the project's long conversations."""
    values = [
        run["last_over_first"]
        for label, runs in growth.get("long", {}).items()
        if label.startswith("ours, ")
        for run in runs.values()
        if run.get("last_over_first") is not None
    ]
    return max(values) if values else None
