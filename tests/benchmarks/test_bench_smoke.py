"""``make bench`` cannot silently break: its quick version runs inside ``make test``.

The smoke run starts the real servers (our model, and Rasa's default configuration
trained on a tiny data set with one epoch, cached in build/bench/), sends a few
messages with one and two patients, and writes its JSON and chart. Only the shape
of the results and the absence of errors with our model are checked: these are
benchmarks, so no timing is asserted.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.load import SMOKE_CONVERSATIONS

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "pain-clinic.tar.gz"

pytestmark = [pytest.mark.e2e, pytest.mark.bench]

SCENARIO_KEYS = {"messages", "errors", "apologies", "p50_ms", "p95_ms", "p99_ms", "messages_per_s"} | {
    "latencies_ms"
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    data["_stdout"] = result.stdout
    data["_chart"] = out.parent / "smoke-latency.png"
    return data


def check_scenario(summary: dict, messages: int) -> None:
    assert SCENARIO_KEYS <= set(summary)
    assert summary["messages"] == messages
    answered = messages - summary["errors"]
    assert len(summary["latencies_ms"]) == answered
    if answered:
        assert all(math.isfinite(v) and v > 0 for v in summary["latencies_ms"])
        assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]


def test_both_configurations_measured_with_every_scenario(smoke):
    per_pass = sum(len(c) for c in SMOKE_CONVERSATIONS)
    assert smoke["meta"]["mode"] == "smoke"
    assert smoke["meta"]["mix"]["messages_per_pass"] == per_pass
    assert set(smoke["configs"]) == {"ours", "default"}
    for figures in smoke["configs"].values():
        assert figures["first_answer_s"] > 0
        check_scenario(figures["single"], per_pass)
        check_scenario(figures["concurrent_2"], 2 * per_pass)
        assert figures["rss_mib"]["rasa"] > 0 and figures["rss_mib"]["actions"] > 0


def test_our_model_answers_every_message(smoke):
    ours = smoke["configs"]["ours"]
    assert ours["warmup_errors"] == 0
    assert ours["single"]["errors"] == 0, ours["single"]["error_examples"]
    assert ours["concurrent_2"]["errors"] == 0, ours["concurrent_2"]["error_examples"]


def test_ratios_targets_machine_and_chart(smoke):
    assert smoke["ratios"]["single_p50_ms"] > 0
    keys = {row["key"] for row in smoke["targets"]}
    assert {"single_p50_ms", "single_p95_ms", "p50_vs_default", "rasa_rss_mib"} <= keys
    machine = smoke["meta"]["machine"]
    assert machine["cores"] >= 1 and machine["rasa"].startswith("3.6")
    assert isinstance(smoke["meta"]["loadavg_1m_start"], float)
    assert "Targets:" in smoke["_stdout"]
    assert smoke["_chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_long_conversations_and_the_years_store_are_measured(smoke):
    growth = smoke["growth"]
    runs = {(label, transport): run for label, by in growth["long"].items() for transport, run in by.items()}
    assert set(runs) == {
        ("ours, SQLite", "rest"),
        ("ours, SQLite", "socketio"),
        ("ours, PostgreSQL", "rest"),
        ("ours, PostgreSQL", "socketio"),
        ("ours with Rasa's SQL store, SQLite", "rest"),
        ("default, SQLite", "rest"),
    }
    for (label, transport), run in runs.items():
        assert 0 < len(run["latencies_ms"]) <= growth["turns"]
        assert [block["turns"] for block in run["blocks"]][0] == f"1-{growth['block']}"
        if label.startswith("ours"):
            # Every answer of the project's model is right, in turn 60 as in turn 1: nothing of the
            # context was lost by reading only the recent turns.
            assert run["wrong_or_missing"] == 0, (label, transport, run["errors"])
            assert len(run["latencies_ms"]) == growth["turns"]
    year = growth["year"]
    assert year["events"] >= 20_000 and year["conversations"] > 1
    assert year["new_patients_year_store"]["failures"] == 0 and year["report_s"] > 0
    keys = {row["key"] for row in smoke["targets"]}
    assert {"long_last_over_first", "year_new_patient_ratio", "year_report_s"} <= keys
    assert "Long conversations" in smoke["_stdout"]
    assert (smoke["_chart"].parent / "smoke-growth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
