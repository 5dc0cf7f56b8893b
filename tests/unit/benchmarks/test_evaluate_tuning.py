"""`make evaluate`'s tuning record: candidate configurations scored with --systems/--config/--step,
kept as JSON and rendered as the report's "What each change bought" table. No training here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import evaluate, nlu_report
from tests.servers import ROOT


def _figures(accuracy: float) -> dict:
    keys = [key for key, _ in nlu_report.FIGURES]
    return {key: accuracy for key in keys}


def _report(tmp_path: Path) -> dict:
    return {
        "run": {
            "date": "2026-12-01 10:00 UTC",
            "git": {"commit": "0" * 40, "uncommitted_inputs": []},
            "folds": 5,
            "seed": 2024,
            "command": "python -m benchmarks.evaluate --systems project",
        },
        "systems": {
            "project": {"label": "This project (config.yml)"},
            "baseline": {"label": "TF-IDF + logistic regression"},
        },
        "holdout": {"project": _figures(0.95), "baseline": _figures(0.93)},
        "cross_validation": {
            "project": {"folds": [], "mean": _figures(0.84), "sd": _figures(0.01)},
            "baseline": {"folds": [], "mean": _figures(0.81), "sd": _figures(0.01)},
        },
        "red_flags": {"project": {"recall": 1.0, "false_alarm_rate": 0.0}},
        "training_seconds": {"project": {"holdout": 20.0, "fold_mean": 15.0}},
    }


def test_a_step_keeps_the_projects_figures_and_the_configuration_it_scored(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "TUNING_STEPS", tmp_path / "steps")
    candidate = tmp_path / "candidate.yml"
    candidate.write_text("pipeline: []\n")
    options = evaluate.Options(systems=("project",), project_config=candidate, step="05-x", note="tried x")
    path = evaluate.record_step(_report(tmp_path), options)
    record = json.loads(path.read_text())
    assert path.name == "05-x.json"
    assert record["note"] == "tried x" and record["config"] == "pipeline: []\n"
    assert record["holdout"]["intent_accuracy"] == 0.95
    assert record["cross_validation"]["mean"]["intent_accuracy"] == 0.84
    assert "baseline" not in json.dumps(record["holdout"])  # only the project's figures
    assert evaluate.load_steps() == [record]


def test_the_table_lists_steps_in_order_then_the_other_systems(tmp_path):
    report = _report(tmp_path)
    step = {
        "step": "01-a",
        "note": "first",
        "holdout": _figures(0.90),
        "cross_validation": {"mean": _figures(0.70)},
    }
    report["tuning"] = [step, {**step, "step": "02-b", "note": "second"}]
    lines = nlu_report.tuning_table(report).splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert rows[0][:3] == ["step", "change", "hold-out accuracy"]
    assert rows[2][:3] == ["`01-a`", "first", "0.900"] and "0.700" in rows[2]
    assert rows[3][:2] == ["`02-b`", "second"]
    assert rows[4][:3] == ["_TF-IDF + logistic regression_", "for comparison: this run", "0.930"]


def test_recorded_steps_are_well_formed_and_end_with_config_yml():
    steps = evaluate.load_steps()
    assert steps, "docs/evaluation/tuning/understanding/ holds the recorded tuning steps"
    for record in steps:
        assert record["note"] and record["config"]
        for key in ("intent_accuracy", "out_of_scope_rejection", "in_scope_false_rejection"):
            assert 0 <= record["holdout"][key] <= 1 and 0 <= record["cross_validation"]["mean"][key] <= 1
    import yaml

    now = yaml.safe_load((ROOT / "config.yml").read_text())
    assert yaml.safe_load(steps[-1]["config"]) == now, "the last tuning step scored what config.yml is now"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--systems", "baseline"], "--systems must include project"),
        (["--systems", "project,dietx"], "--systems must include project"),
        (["--config", "/nonexistent.yml"], "no such file"),
        (["--step", "../escape"], "--step"),
        (["--default-cv-epochs", "0"], "--default-cv-epochs"),
    ],
)
def test_bad_options_stop_before_any_training(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_the_cv_epochs_option_replaces_only_the_defaults_folds(tmp_path):
    options = evaluate.Options(default_cv_epochs=40)
    systems, fold_systems = evaluate.make_systems(tmp_path, options)
    assert [s.name for s in systems] == list(evaluate.SYSTEM_NAMES)
    default = next(s for s in systems if s.name == "rasa_default")
    assert set(fold_systems) == {"rasa_default"}
    assert fold_systems["rasa_default"].label == default.label
    assert "epochs: 40" in fold_systems["rasa_default"].config_text
    assert default.config_text == (ROOT / "benchmarks" / "rasa_init_config.yml").read_text()
