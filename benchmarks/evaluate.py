"""``make evaluate``: does the assistant understand patients? Measured, and compared.

Trains three NLU systems on the same training data (``data/nlu.yml``) and scores them
on the same messages and splits:

- this project's pipeline (``config.yml``),
- Rasa's default pipeline as ``rasa init`` writes it (``benchmarks/rasa_init_config.yml``),
- a TF-IDF + logistic-regression baseline in scikit-learn.

It scores the hold-out set (``tests/data/nlu_holdout.yml``, never trained on, plus
``tests/data/out_of_scope.yml``), the red-flag test phrases (``tests/data/red_flags.yml``)
and 5-fold stratified cross-validation on the training data, then writes
``report.md``, ``report.json``, ``confusion_matrix.png`` and ``confidence_histogram.png``
into ``--out`` (``build/evaluate``) and the ``docs/evaluation/quality.md`` section of
``docs/evaluation.md``.

Trained models are cached by a hash of their inputs, so a re-run only trains what
changed. ``--smoke`` is the quick version ``make test`` runs: a stratified slice of the
data, 2 folds, Rasa's default pipeline cut to 1 epoch, output to a temporary
directory and never to ``docs/``.

Tuning: ``--systems project --config CANDIDATE.yml --step NAME --note TEXT`` scores a
candidate configuration of this project on the same hold-out set and folds and keeps
its figures in ``docs/evaluation/tuning/understanding/NAME.json``; the report's "What each change
bought" table lists every recorded step. Choose changes by the cross-validation
figures: the hold-out set is for reporting, not for tuning.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from benchmarks import nlu_report
from benchmarks.markdown import fmt, table
from benchmarks.nlu_data import (
    FALLBACK,
    HOLDOUT_DATA,
    OUT_OF_SCOPE,
    OUT_OF_SCOPE_DATA,
    TRAINING_DATA,
    LabelledMessage,
    Prediction,
    RedFlagSet,
    confusion,
    per_intent,
    read_nlu_file,
    read_red_flags,
    red_flag_scores,
    score_predictions,
    stratified_folds,
    stratified_slice,
)
from benchmarks.nlu_systems import (
    PROJECT_CONFIG,
    RasaSystem,
    TfidfBaseline,
    TrainedModel,
    predictions_file,
    project_sweep_system,
    project_system,
    rasa_default_config,
    rasa_default_system,
    versions,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "evaluate"
DOCS = ROOT / "docs"
# Recorded tuning steps (--step): committed, so the table survives a fresh clone.
TUNING_STEPS = DOCS / "evaluation" / "tuning" / "understanding"
SYSTEM_NAMES = ("project", "rasa_default", "baseline")
SEED = 2024
FOLDS = 5
SMOKE_FOLDS = 2
SMOKE_EPOCHS = 1
SMOKE_TRAINING_FRACTION = 0.1
SMOKE_HOLDOUT_FRACTION = 0.1
SMOKE_RED_FLAGS = 12
System = Union[RasaSystem, TfidfBaseline]
# Rough seconds to train (on the 2,100 examples) and to load + predict, per system, on a 2-core
# machine: only for the first estimate; measured times replace them as the run goes.
PRIOR_TRAIN = {"project": 60.0, "project_sweep": 60.0, "rasa_default": 480.0, "baseline": 40.0}
PRIOR_PREDICT = {"project": 25.0, "project_sweep": 25.0, "rasa_default": 60.0, "baseline": 2.0}
# Decline thresholds the report scores for this project (from the model trained without one).
SWEEP_THRESHOLDS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
# The threshold the sweep suggests: the highest whose cross-validation accuracy is this close to
# the best one (declining costs a patient less than a wrong answer, so ties go to declining).
SWEEP_TOLERANCE = 0.002
FIGURE_KEYS = [key for key, _ in nlu_report.FIGURES]


@dataclass
class Data:
    """Everything the run trains and scores on."""

    training: List[LabelledMessage]
    holdout: List[LabelledMessage]
    red_flags: RedFlagSet
    folds: List[List[int]] = field(default_factory=list)  # test indices per fold


@dataclass
class Step:
    """Train one system on one training set and predict its messages."""

    system: System
    split: str  # "holdout" or "fold-N"
    train: List[LabelledMessage]
    texts: List[str]
    estimate: float = 0.0
    seconds: Optional[float] = None
    trained_now: bool = False
    threshold: Optional[float] = None
    train_seconds: Optional[float] = None


def load_data(smoke: bool, folds: int, seed: int) -> Data:
    """Reads the data sets (a stratified slice of each in a smoke run) and makes the folds."""
    training = read_nlu_file(TRAINING_DATA)
    holdout = read_nlu_file(HOLDOUT_DATA) + read_nlu_file(OUT_OF_SCOPE_DATA)
    red_flags = read_red_flags()
    if smoke:
        training = stratified_slice(training, SMOKE_TRAINING_FRACTION, minimum=2 * folds + 2, seed=seed)
        holdout = stratified_slice(holdout, SMOKE_HOLDOUT_FRACTION, minimum=2, seed=seed)
        red_flags = RedFlagSet(
            red_flags.positive[:: max(1, len(red_flags.positive) // SMOKE_RED_FLAGS)],
            red_flags.negative[:: max(1, len(red_flags.negative) // SMOKE_RED_FLAGS)],
        )
    return Data(training, holdout, red_flags, [test for _, test in stratified_folds(training, folds, seed)])


def clock(seconds: float) -> str:
    """``h:mm:ss`` / ``m:ss``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Prints each step (n/N, elapsed) and re-estimates the time left from measured steps."""

    def __init__(self, steps: List[Step], full_size: int, default_epochs: int, cv_epochs: int) -> None:
        """Estimates every step from the priors, scaled by training-set size (and DIET's epochs)."""
        self.steps = steps
        self.default_epochs = default_epochs
        self.cv_epochs = cv_epochs
        self.started = time.perf_counter()
        self.full_size = full_size
        self.ratios: Dict[str, List[float]] = {}
        for step in steps:
            step.estimate = self._prior(step)

    def _prior(self, step: Step) -> float:
        name = step.system.name
        predict = 1.0 if _predictions_cached(step) else PRIOR_PREDICT[name] * (0.3 + len(step.texts) / 800)
        if step.system.is_cached(step.train, step.split):
            return predict
        train = PRIOR_TRAIN[name] * len(step.train) / self.full_size
        if name == "rasa_default":
            epochs = self.default_epochs if step.split == "holdout" else self.cv_epochs
            train = train * epochs / 100 + 20
        return train + predict

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.started

    def left(self, after: int) -> float:
        """Estimated seconds for the steps after index ``after``, corrected by measured ratios."""
        every = [r for ratios in self.ratios.values() for r in ratios]
        overall = statistics.mean(every) if every else 1.0
        total = 0.0
        for step in self.steps[after + 1 :]:
            ratios = self.ratios.get(step.system.name)
            total += step.estimate * (statistics.mean(ratios) if ratios else overall)
        return total

    def plan(self) -> None:
        """Prints the plan and the first estimate."""
        trainings = sum(1 for s in self.steps if not s.system.is_cached(s.train, s.split))
        diet = ""
        if any(s.system.name == "rasa_default" for s in self.steps):
            epochs = f"{self.default_epochs} epoch(s) per model"
            if self.cv_epochs != self.default_epochs:
                epochs = f"{self.default_epochs} epoch(s) for the hold-out model, {self.cv_epochs} per fold"
            diet = f" (Rasa's default pipeline trains DIET for {epochs}; its progress bar shows them)"
        print(
            f"Plan: {len(self.steps)} steps (train + predict), {trainings} models to train "
            f"({len(self.steps) - trainings} cached). Estimated time: about {clock(self.left(-1))}{diet}.",
            flush=True,
        )

    def start(self, index: int) -> None:
        """Announces step ``index``."""
        step = self.steps[index]
        cached = step.system.is_cached(step.train, step.split)
        action = "cached model" if cached else f"training on {len(step.train)} examples"
        print(
            f"[{index + 1}/{len(self.steps)} | {clock(self.elapsed())} elapsed] {step.system.label}, "
            f"{step.split}: {action}, then predicting {len(step.texts)} messages ...",
            flush=True,
        )

    def done(self, index: int, summary: str) -> None:
        """Records step ``index``'s time and prints the new estimate."""
        step = self.steps[index]
        if step.trained_now and step.seconds is not None and step.estimate > 0:
            self.ratios.setdefault(step.system.name, []).append(step.seconds / step.estimate)
        left = self.left(index)
        finish = datetime.now().astimezone().timestamp() + left
        print(
            f"[{index + 1}/{len(self.steps)} | {clock(self.elapsed())} elapsed] done in "
            f"{clock(step.seconds or 0)}: {summary}. About {clock(left)} left "
            f"(finish ~{datetime.fromtimestamp(finish).strftime('%H:%M')}).",
            flush=True,
        )


def _predictions_cached(step: Step) -> bool:
    return predictions_file(step.system.directory(step.train, step.split), step.texts).exists()


def make_steps(
    systems: Sequence[System], data: Data, smoke: bool, fold_systems: Optional[Dict[str, System]] = None
) -> List[Step]:
    """One hold-out step and one step per fold for each system, slowest system last.

    ``fold_systems`` replaces a system for its folds (Rasa's default pipeline trained with
    fewer epochs in cross-validation, ``--default-cv-epochs``).

    A smoke run trains Rasa's default pipeline only once (for the hold-out set): each
    DIET model costs about a minute of TensorFlow graph building to train and again to
    load, however few its epochs, and the folds run the same code with the project's
    configuration anyway.
    """
    holdout_texts = [m.text for m in data.holdout] + data.red_flags.positive + data.red_flags.negative
    steps = []
    order = sorted(systems, key=lambda s: PRIOR_TRAIN[s.name])
    for system in order:
        steps.append(Step(system, "holdout", data.training, holdout_texts))
        if smoke and system.name == "rasa_default":
            continue
        fold_system = (fold_systems or {}).get(system.name, system)
        for number, test in enumerate(data.folds, start=1):
            test_set = set(test)
            train = [m for i, m in enumerate(data.training) if i not in test_set]
            steps.append(Step(fold_system, f"fold-{number}", train, [data.training[i].text for i in test]))
    return steps


def run_step(step: Step) -> List[Prediction]:
    """Trains (or loads) and predicts; records the step's seconds."""
    started = time.perf_counter()
    model: TrainedModel = step.system.train(step.train, step.split)
    step.trained_now = not model.cached
    predictions = model.predict(step.texts)
    step.seconds = time.perf_counter() - started
    step.threshold = model.decline_threshold
    step.train_seconds = model.seconds
    return predictions


def _mean_sd(folds: List[Dict[str, Any]]) -> Dict[str, Dict[str, Optional[float]]]:
    mean: Dict[str, Optional[float]] = {}
    sd: Dict[str, Optional[float]] = {}
    for key in FIGURE_KEYS:
        values = [f[key] for f in folds if f[key] is not None]
        mean[key] = statistics.mean(values) if values else None
        sd[key] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
    return {"mean": mean, "sd": sd}


def describe(system: System, data: Data, smoke: bool, cv_epochs: Optional[int] = None) -> str:
    """What the system is, from its configuration (so the report cannot drift from it)."""
    from rasa.shared.utils.io import read_yaml

    if isinstance(system, TfidfBaseline):
        return (
            "scikit-learn: TF-IDF of word 1-2-grams and character (`char_wb`) 2-5-grams (those in at "
            f"least two training messages), logistic regression (C={system.C:g}); it declines a message "
            "when its top probability is below a "
            f"threshold chosen by {system.inner_folds}-fold cross-validation on its own training data "
            "(never on the hold-out set), and finds `procedure` with a gazetteer of the names annotated "
            "in its training data (whole words, longest first). It has no red-flag guard and does not "
            "resolve names to procedure ids."
        )

    def components(config: Dict[str, Any]) -> str:
        names = []
        for component in config.get("pipeline") or []:
            name = component["name"].rsplit(".", 1)[-1]
            details = [
                f"{k} {v}"
                for k, v in component.items()
                if k in ("epochs", "threshold", "ambiguity_threshold", "model")
            ]
            names.append(f"{name} ({', '.join(details)})" if details else name)
        return ", ".join(names)

    if system.name == "project":
        return (
            f"`config.yml`: {components(read_yaml(system.config_text))} (the question matcher left "
            "out: it changes no intent or entity; the questions benchmark measures it)."
        )
    if smoke:
        return (
            f"Rasa's default pipeline with DIET and ResponseSelector cut to {SMOKE_EPOCHS} epoch(s) "
            f"(smoke run): {components(read_yaml(system.config_text))}."
        )
    text = (
        "`rasa init`'s `config.yml` verbatim (`benchmarks/rasa_init_config.yml`), which trains Rasa's "
        f"default pipeline: {components(read_yaml(rasa_default_config(100)))}. (Its dialogue policies play "
        "no part in understanding.)"
    )
    if cv_epochs is not None:
        text += (
            f" In cross-validation only, DIET and ResponseSelector were trained for {cv_epochs} epochs "
            f"instead of 100 (`--default-cv-epochs {cv_epochs}`), to fit the run into the time there was; "
            "the hold-out figures are the verbatim configuration's."
        )
    return text


@dataclass
class Options:
    """What to run: the command line's choices."""

    smoke: bool = False
    folds: int = FOLDS
    seed: int = SEED
    write_docs: bool = True
    systems: Sequence[str] = SYSTEM_NAMES
    project_config: Path = PROJECT_CONFIG
    default_cv_epochs: Optional[int] = None
    step: Optional[str] = None
    note: str = ""


def make_systems(cache: Path, options: Options) -> Tuple[List[System], Dict[str, System]]:
    """The systems to run (in ``options.systems``), and any replacing one for its folds."""
    every: Dict[str, System] = {
        "project": project_system(cache, options.project_config),
        "rasa_default": rasa_default_system(cache, SMOKE_EPOCHS if options.smoke else None),
        "baseline": TfidfBaseline(options.seed, cache),
    }
    fold_systems: Dict[str, System] = {}
    if options.default_cv_epochs is not None and not options.smoke:
        cv_default = rasa_default_system(cache, options.default_cv_epochs)
        cv_default.label = every["rasa_default"].label  # one column in the report
        fold_systems["rasa_default"] = cv_default
    return [every[name] for name in SYSTEM_NAMES if name in options.systems], fold_systems


def evaluate(out: Path, options: Options) -> Dict[str, Any]:
    """Runs the evaluation; returns the report (also written to ``out``)."""
    smoke, folds, seed = options.smoke, options.folds, options.seed
    started_at = datetime.now(timezone.utc)
    load_start = nlu_report.load_average()
    cache = out / "cache"
    data = load_data(smoke, folds, seed)
    systems, fold_systems = make_systems(cache, options)
    print(
        f"Data: {len(data.training)} training examples, {len(data.holdout)} hold-out messages, "
        f"{len(data.red_flags.positive)} + {len(data.red_flags.negative)} red-flag phrases, {folds} folds"
        + (" (smoke: a stratified slice)" if smoke else "")
        + f". Output: {out}",
        flush=True,
    )
    sweep = project_sweep_system(cache, options.project_config)
    steps = make_steps([*systems, sweep], data, smoke, fold_systems)
    full_size = len(read_nlu_file(TRAINING_DATA)) if smoke else len(data.training)
    default_epochs = SMOKE_EPOCHS if smoke else 100
    progress = Progress(steps, full_size, default_epochs, options.default_cv_epochs or default_epochs)
    progress.plan()

    n_holdout, n_positive = len(data.holdout), len(data.red_flags.positive)
    results: Dict[str, Dict[str, Any]] = {
        s.name: {"folds": [], "fold_train_seconds": [], "fold_predictions": []} for s in [*systems, sweep]
    }
    for index, step in enumerate(steps):
        progress.start(index)
        predictions = run_step(step)
        result = results[step.system.name]
        resolves = step.system.resolves_values
        if step.split == "holdout":
            holdout_predictions = predictions[:n_holdout]
            positive = [p.intent for p in predictions[n_holdout : n_holdout + n_positive]]
            negative = [p.intent for p in predictions[n_holdout + n_positive :]]
            result["holdout"] = score_predictions(data.holdout, holdout_predictions, resolves)
            result["predictions"] = holdout_predictions
            result["red_flags"] = red_flag_scores(data.red_flags, positive, negative)
            result["threshold"] = step.threshold
            result["holdout_train_seconds"] = step.train_seconds
            figures = result["holdout"]
            summary = f"hold-out intent accuracy {figures['intent_accuracy']:.3f}"
        else:
            test = data.folds[int(step.split.split("-")[1]) - 1]
            figures = score_predictions([data.training[i] for i in test], predictions, resolves_values=False)
            result["folds"].append(figures)
            result["fold_train_seconds"].append(step.train_seconds)
            result["fold_predictions"].append(predictions)
            summary = f"{step.split} intent accuracy {figures['intent_accuracy']:.3f}"
        progress.done(index, summary + (" (cached model)" if not step.trained_now else ""))

    report = build_report(systems, data, results, options, started_at, load_start, progress.elapsed())
    report["run"]["models"] = len(steps)
    report["run"]["models_trained"] = sum(1 for step in steps if step.trained_now)
    report["threshold_sweep"] = threshold_sweep(data, results[sweep.name], results["project"]["threshold"])
    write_outputs(report, results, systems, data, out, options.write_docs)
    if options.step:
        record_step(report, options)
    return report


def with_threshold(predictions: Sequence[Prediction], threshold: float) -> List[Prediction]:
    """What ``FallbackClassifier`` (no ambiguity rule) makes of predictions at ``threshold``."""
    return [
        Prediction(FALLBACK, p.confidence, p.spans, p.values)
        if p.intent != FALLBACK and p.confidence < threshold
        else p
        for p in predictions
    ]


def threshold_sweep(data: Data, sweep: Dict[str, Any], configured: Optional[float]) -> Dict[str, Any]:
    """The project's figures at each decline threshold, and the one cross-validation suggests."""
    keys = nlu_report.SWEEP_KEYS
    rows = []
    for threshold in SWEEP_THRESHOLDS:
        holdout = score_predictions(data.holdout, with_threshold(sweep["predictions"], threshold), True)
        folds = [
            score_predictions([data.training[i] for i in test], with_threshold(predictions, threshold), False)
            for test, predictions in zip(data.folds, sweep["fold_predictions"])
        ]
        cv = {
            k: statistics.mean(f[k] for f in folds) if folds and folds[0][k] is not None else None
            for k in keys
        }
        rows.append({"threshold": threshold, "holdout": {k: holdout[k] for k in keys}, "cv": cv})
    scored = [r for r in rows if r["cv"]["intent_accuracy"] is not None]
    suggested = None
    if scored:
        best = max(r["cv"]["intent_accuracy"] for r in scored)
        suggested = max(
            r["threshold"] for r in scored if r["cv"]["intent_accuracy"] >= best - SWEEP_TOLERANCE
        )
    return {"rows": rows, "configured": configured, "suggested": suggested, "tolerance": SWEEP_TOLERANCE}


def record_step(report: Dict[str, Any], options: Options) -> Path:
    """Keeps the project's figures of this run as tuning step ``options.step``."""
    TUNING_STEPS.mkdir(parents=True, exist_ok=True)
    target = TUNING_STEPS / f"{options.step}.json"
    record = {
        "step": options.step,
        "note": options.note,
        "run": {k: report["run"][k] for k in ("date", "git", "folds", "seed", "command")},
        "config": options.project_config.read_text(encoding="utf-8"),
        "holdout": report["holdout"]["project"],
        "cross_validation": {
            k: v for k, v in report["cross_validation"]["project"].items() if k in ("mean", "sd")
        },
        "red_flags": report["red_flags"]["project"],
        "training_seconds": report["training_seconds"]["project"],
    }
    target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {_shown(target)}")
    return target


def load_steps() -> List[Dict[str, Any]]:
    """The recorded tuning steps, in the order of their file names."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(TUNING_STEPS.glob("*.json"))]


def build_report(
    systems: Sequence[System],
    data: Data,
    results: Dict[str, Dict[str, Any]],
    options: Options,
    started_at: datetime,
    load_start: Optional[float],
    seconds: float,
) -> Dict[str, Any]:
    """Assembles ``report.json``."""
    from bot.safety.red_flags import detect_red_flag

    smoke, folds, seed = options.smoke, options.folds, options.seed
    cv_epochs = None if smoke else options.default_cv_epochs

    flags = data.red_flags
    guard = red_flag_scores(
        flags,
        ["emergency" if detect_red_flag(t) else "" for t in flags.positive],
        ["emergency" if detect_red_flag(t) else "" for t in flags.negative],
    )
    red_flags = {
        name: {"label": s.label, **results[s.name]["red_flags"]} for name, s in ((s.name, s) for s in systems)
    }
    red_flags = {
        **{k: v for k, v in red_flags.items() if k == "project"},
        "guard_alone": {"label": "Red-flag guard alone (bot/safety/red_flags.py)", **guard},
        **{k: v for k, v in red_flags.items() if k != "project"},
    }
    command = "python -m benchmarks.evaluate" + (" --smoke" if smoke else "")
    if tuple(options.systems) != SYSTEM_NAMES:
        command += " --systems " + ",".join(s.name for s in systems)
    if options.project_config.resolve() != PROJECT_CONFIG.resolve():
        command += f" --config {_shown(options.project_config)}"
    if cv_epochs is not None:
        command += f" --default-cv-epochs {cv_epochs}"
    in_scope = [m for m in data.holdout if m.intent != OUT_OF_SCOPE]
    return {
        "run": {
            "date": started_at.strftime("%Y-%m-%d %H:%M UTC"),
            "smoke": smoke,
            "folds": folds,
            "seed": seed,
            "default_epochs": SMOKE_EPOCHS if smoke else 100,
            "default_cv_epochs": cv_epochs,
            "seconds": round(seconds, 1),
            "load_average_start": load_start,
            "load_average_end": nlu_report.load_average(),
            "git": nlu_report.git_state(),
            "command": command,
        },
        "machine": nlu_report.machine(),
        "versions": versions(),
        "data": {
            "training_examples": len(data.training),
            "intents": len({m.intent for m in data.training}),
            "training_procedure_mentions": sum(len(m.spans) for m in data.training),
            "holdout_in_scope": len(in_scope),
            "holdout_out_of_scope": len(data.holdout) - len(in_scope),
            "holdout_procedure_mentions": sum(len(m.spans) for m in data.holdout),
            "red_flag_positive": len(flags.positive),
            "red_flag_negative": len(flags.negative),
        },
        "systems": {
            s.name: {
                "label": s.label,
                "description": describe(s, data, smoke, cv_epochs),
                "decline_threshold": results[s.name]["threshold"],
                "resolves_procedure_ids": s.resolves_values,
            }
            for s in systems
        },
        "holdout": {s.name: results[s.name]["holdout"] for s in systems},
        "cross_validation": {
            s.name: {"folds": results[s.name]["folds"], **_mean_sd(results[s.name]["folds"])} for s in systems
        },
        "red_flags": red_flags,
        "per_intent": {s.name: per_intent(data.holdout, results[s.name]["predictions"]) for s in systems},
        "confusion_matrix": dict(
            zip(
                ("rows", "columns", "counts"),
                confusion(data.holdout, results[systems[0].name]["predictions"]),
            )
        ),
        "tuning": [] if smoke else load_steps(),
        "training_seconds": {
            s.name: {
                "holdout": results[s.name]["holdout_train_seconds"],
                "fold_mean": (
                    statistics.mean(results[s.name]["fold_train_seconds"])
                    if results[s.name]["fold_train_seconds"]
                    else None
                ),
            }
            for s in systems
        },
        "holdout_errors": {
            s.name: [
                {
                    "text": m.text,
                    "expected": m.intent,
                    "predicted": p.intent,
                    "confidence": round(p.confidence, 3),
                }
                for m, p in zip(data.holdout, results[s.name]["predictions"])
                if p.intent != m.intent
                and not (m.intent == OUT_OF_SCOPE and p.intent in ("nlu_fallback", OUT_OF_SCOPE))
            ]
            for s in systems
        },
    }


def _confidence_groups(
    systems: Sequence[System], data: Data, results: Dict[str, Dict[str, Any]]
) -> Dict[str, Dict[str, Any]]:
    groups = {}
    for system in systems:
        group: Dict[str, Any] = {
            "correct": [],
            "wrong": [],
            "out_of_scope": [],
            "threshold": results[system.name]["threshold"],
        }
        for message, prediction in zip(data.holdout, results[system.name]["predictions"]):
            if message.intent == OUT_OF_SCOPE:
                group["out_of_scope"].append(prediction.confidence)
            elif prediction.intent == message.intent:
                group["correct"].append(prediction.confidence)
            else:
                group["wrong"].append(prediction.confidence)
        groups[system.label] = group
    return groups


def write_outputs(
    report: Dict[str, Any],
    results: Dict[str, Dict[str, Any]],
    systems: Sequence[System],
    data: Data,
    out: Path,
    write_docs: bool,
) -> List[Path]:
    """Writes report.json, the pictures and report.md to ``out`` (and the docs section if asked)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    title = f"{report['systems']['project']['label']}: hold-out intents ({len(data.holdout)} messages)"
    matrix = nlu_report.confusion_matrix_png(report["confusion_matrix"], title, out / "confusion_matrix.png")
    histogram = nlu_report.confidence_histogram_png(
        _confidence_groups(systems, data, results), out / "confidence_histogram.png"
    )
    images = {"confusion_matrix": matrix.name, "confidence_histogram": histogram.name}
    (out / "report.md").write_text(nlu_report.markdown(report, images, doc_section=False), encoding="utf-8")
    written = [out / "report.json", out / "report.md", matrix, histogram]
    if write_docs:
        from benchmarks.docs import write_evaluation_doc

        section_dir = DOCS / "evaluation"
        section_dir.mkdir(parents=True, exist_ok=True)
        links = {}
        for key, image in (("confusion_matrix", matrix), ("confidence_histogram", histogram)):
            shutil.copyfile(image, section_dir / image.name)
            # quality.md is a section of docs/evaluation.md, so links are relative to docs/.
            links[key] = (section_dir / image.name).relative_to(DOCS).as_posix()
        section = section_dir / "quality.md"
        section.write_text(nlu_report.markdown(report, links, doc_section=True), encoding="utf-8")
        written += [
            section,
            section_dir / matrix.name,
            section_dir / histogram.name,
            write_evaluation_doc(DOCS),
        ]
    for path in written:
        print(f"wrote {_shown(path)}")
    return written


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def print_summary(report: Dict[str, Any]) -> None:
    """Prints the hold-out and cross-validation headline figures."""
    names = list(report["systems"])
    holdout = [[label, *(fmt(report["holdout"][n][key]) for n in names)] for key, label in nlu_report.FIGURES]
    print("\n" + table(["hold-out", *names], holdout))
    cv = [
        [label, *(fmt(report["cross_validation"][n]["mean"][key]) for n in names)]
        for key, label in nlu_report.CV_FIGURES
    ]
    print("\n" + table([f"cross-validation (mean of {report['run']['folds']} folds)", *names], cv))
    sweep = report.get("threshold_sweep")
    if sweep:
        print(
            f"\nDecline threshold: config.yml {sweep['configured']}, suggested by cross-validation "
            f"{sweep['suggested']}"
        )
    flags = [[v["label"], fmt(v["recall"]), fmt(v["false_alarm_rate"])] for v in report["red_flags"].values()]
    print("\n" + table(["red flags", "recall", "false-alarm rate"], flags))


def _quiet_libraries() -> None:
    """Keeps Rasa's and TensorFlow's chatter out of the progress output (DIET's epoch bar stays)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # Models are cached here by content hash; Rasa's own training cache would only duplicate them.
    os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")

    def ignore_deprecations() -> None:
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category)

    ignore_deprecations()
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.INFO)
    configure_structlog(logging.WARNING)
    logging.getLogger("rasa").setLevel(logging.WARNING)
    ignore_deprecations()  # Rasa's own filters went in front of ours


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.evaluate", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument("--smoke", action="store_true", help="quick check: data slice, 2 folds, 1 DIET epoch")
    parser.add_argument(
        "--out", type=Path, help="output directory (default build/evaluate; smoke: a temp dir)"
    )
    parser.add_argument(
        "--folds", type=int, help=f"cross-validation folds (default {FOLDS}, smoke {SMOKE_FOLDS})"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed for folds and slices (default {SEED})")
    parser.add_argument(
        "--no-docs", action="store_true", help="do not write docs/evaluation/ (full runs only)"
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEM_NAMES),
        help="comma-separated subset of project,rasa_default,baseline (default: all three; "
        "docs/evaluation/ is written only when all three run)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=PROJECT_CONFIG,
        help="the project configuration to score (default config.yml)",
    )
    parser.add_argument(
        "--default-cv-epochs",
        type=int,
        metavar="N",
        help="train Rasa's default pipeline for N epochs instead of 100 in cross-validation only "
        "(the hold-out model stays verbatim; the report says so)",
    )
    parser.add_argument(
        "--step", help=f"keep the project's figures as tuning step STEP ({_shown(TUNING_STEPS)}/STEP.json)"
    )
    parser.add_argument("--note", default="", help="what changed in this tuning step")
    args = parser.parse_args(argv)
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = sorted(set(systems) - set(SYSTEM_NAMES))
    if unknown or "project" not in systems:
        parser.error(
            f"--systems must include project and name only {', '.join(SYSTEM_NAMES)} (got {args.systems})"
        )
    if not args.config.is_file():
        parser.error(f"--config {args.config}: no such file")
    if args.step and not all(ch.isalnum() or ch in "-_." for ch in args.step):
        parser.error("--step: use letters, digits, '-', '_' and '.' only (it names a file)")
    if args.default_cv_epochs is not None and args.default_cv_epochs < 1:
        parser.error("--default-cv-epochs must be at least 1")
    out = args.out or (Path(tempfile.mkdtemp(prefix="evaluate-smoke-")) if args.smoke else DEFAULT_OUT)
    complete = set(systems) == set(SYSTEM_NAMES) and args.config.resolve() == PROJECT_CONFIG.resolve()
    options = Options(
        smoke=args.smoke,
        folds=args.folds or (SMOKE_FOLDS if args.smoke else FOLDS),
        seed=args.seed,
        write_docs=complete and not (args.smoke or args.no_docs),
        systems=tuple(name for name in SYSTEM_NAMES if name in systems),
        project_config=args.config.resolve(),
        default_cv_epochs=args.default_cv_epochs,
        step=args.step,
        note=args.note,
    )
    os.chdir(ROOT)  # the project's config names its spaCy pipeline relative to the repository
    _quiet_libraries()
    report = evaluate(out.resolve(), options)
    print_summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
