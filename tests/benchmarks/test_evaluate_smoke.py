"""`make evaluate` cannot silently break: its smoke run, and the scoring it adds to bot/nlp/evaluate.py.

The smoke run (`python -m benchmarks.evaluate --smoke`) trains all three systems for real on a
stratified slice of the data and writes its report to a temporary directory. It asserts that the
report is complete and well-formed, never how accurate or fast anything is: those are benchmark
figures (`make evaluate`), not test thresholds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from benchmarks.nlu_data import LabelledMessage, Prediction, per_intent, score_predictions
from benchmarks.nlu_report import FIGURES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SYSTEMS = ("project", "rasa_default", "baseline")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Each Rasa model costs TensorFlow graph building however small; on a busy 2-core machine the
# smoke run can take several minutes.
pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]


def _docs_state() -> Dict[str, Optional[str]]:
    paths = [DOCS / "evaluation.md", *sorted((DOCS / "evaluation").glob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in paths}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp("evaluate-smoke")
    docs_before = _docs_state()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.evaluate", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return {"out": out, "stdout": result.stdout, "docs_before": docs_before}


def _unit_interval(value: Any) -> bool:
    return isinstance(value, (int, float)) and 0.0 <= value <= 1.0


def test_smoke_run_writes_every_output(smoke):
    out = smoke["out"]
    for name in ("report.json", "report.md", "confusion_matrix.png", "confidence_histogram.png"):
        assert (out / name).is_file(), f"{name} missing; output was:\n{smoke['stdout'][-3000:]}"
    for name in ("confusion_matrix.png", "confidence_histogram.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, name


def test_smoke_report_json_is_complete_and_well_formed(smoke):
    report = json.loads((smoke["out"] / "report.json").read_text())
    assert report["run"]["smoke"] is True
    assert report["run"]["folds"] == 2
    assert report["run"]["default_epochs"] == 1
    assert len(report["run"]["git"]["commit"]) == 40
    for key in ("cpu", "cores", "ram_gib", "os", "python"):
        assert report["machine"][key], key
    assert report["versions"]["rasa"].startswith("3.6")
    assert set(report["systems"]) == set(SYSTEMS)
    data = report["data"]
    assert data["training_examples"] > 0 and data["holdout_in_scope"] > 0 and data["holdout_out_of_scope"] > 0
    assert data["red_flag_positive"] > 0 and data["red_flag_negative"] > 0

    for system in SYSTEMS:
        figures = report["holdout"][system]
        for key, _ in FIGURES:
            assert key in figures, (system, key)
            if key.startswith("entity_value") and system != "project":
                assert figures[key] is None, (system, key)  # only the project resolves procedure ids
            else:
                assert _unit_interval(figures[key]), (system, key, figures[key])
        flags = report["red_flags"][system]
        assert _unit_interval(flags["recall"]) and _unit_interval(flags["false_alarm_rate"]), system
        assert report["per_intent"][system], system
    assert _unit_interval(report["red_flags"]["guard_alone"]["recall"])

    for system in ("project", "baseline"):
        cv = report["cross_validation"][system]
        assert len(cv["folds"]) == 2, system
        for key in ("intent_accuracy", "intent_macro_f1", "entity_span_f1", "in_scope_false_rejection"):
            assert _unit_interval(cv["mean"][key]), (system, key)
            assert cv["sd"][key] is not None and cv["sd"][key] >= 0, (system, key)
    assert report["cross_validation"]["rasa_default"]["folds"] == []  # trained once in a smoke run

    threshold = report["systems"]["baseline"]["decline_threshold"]
    assert _unit_interval(threshold)  # chosen by cross-validation on its training data

    sweep = report["threshold_sweep"]
    configured = report["systems"]["project"]["decline_threshold"]
    assert sweep["configured"] == configured
    assert sweep["suggested"] in [row["threshold"] for row in sweep["rows"]]
    (at_configured,) = [row for row in sweep["rows"] if row["threshold"] == configured]
    for key, value in at_configured["holdout"].items():
        # scoring the swept model at config.yml's threshold is the project's own pipeline, exactly
        assert value == report["holdout"]["project"][key], key
    for key, value in at_configured["cv"].items():
        assert value == pytest.approx(report["cross_validation"]["project"]["mean"][key]), key

    matrix = report["confusion_matrix"]
    assert len(matrix["counts"]) == len(matrix["rows"])
    assert all(len(row) == len(matrix["columns"]) for row in matrix["counts"])
    total = data["holdout_in_scope"] + data["holdout_out_of_scope"]
    assert sum(map(sum, matrix["counts"])) == total


def test_smoke_report_markdown_says_what_it_is(smoke):
    text = (smoke["out"] / "report.md").read_text()
    assert "Smoke run" in text
    assert "](confusion_matrix.png)" in text and "](confidence_histogram.png)" in text
    for heading in ("Hold-out set", "Cross-validation", "Decline threshold", "Red flags", "How to reproduce"):
        assert heading in text, heading


def test_smoke_run_never_writes_docs(smoke):
    assert _docs_state() == smoke["docs_before"]


# ----------------------------------------------------------------------------- scoring (no training)


def _message(text: str, intent: str, spans=()) -> LabelledMessage:
    return LabelledMessage(text, intent, tuple(spans), tuple("x" for _ in spans))


def test_entity_spans_count_only_exact_matches():
    messages = [
        _message("what is rfa", "ask_procedure", [(8, 11)]),
        _message("epidural or nerve block", "ask_procedure", [(0, 8), (12, 23)]),
        _message("hi", "greet"),
    ]
    predictions = [
        Prediction("ask_procedure", 0.9, ((8, 11),)),
        Prediction("ask_procedure", 0.9, ((0, 8), (12, 18))),  # second span cut short: a miss and a false one
        Prediction("greet", 0.9, ((0, 2),)),  # a mention where there is none
    ]
    figures = score_predictions(messages, predictions, resolves_values=False)
    assert figures["entity_span_precision"] == pytest.approx(2 / 4)
    assert figures["entity_span_recall"] == pytest.approx(2 / 3)
    assert figures["entity_value_f1"] is None


def test_declining_is_right_only_for_out_of_scope_messages():
    messages = [
        _message("is it raining", "out_of_scope"),
        _message("tell me a joke", "out_of_scope"),
        _message("what is rfa", "ask_procedure"),
        _message("does it hurt", "ask_procedure"),
    ]
    predictions = [
        Prediction("nlu_fallback", 0.2),
        Prediction("greet", 0.6),
        Prediction("nlu_fallback", 0.3),
        Prediction("ask_procedure", 0.8),
    ]
    figures = score_predictions(messages, predictions, resolves_values=True)
    assert figures["out_of_scope_rejection"] == pytest.approx(0.5)
    assert figures["in_scope_false_rejection"] == pytest.approx(0.5)
    assert figures["intent_accuracy"] == pytest.approx(0.5)
    table = per_intent(messages, predictions)
    mean_f1 = sum(row["f1"] for row in table.values()) / len(table)
    assert figures["intent_macro_f1"] == pytest.approx(mean_f1)
