"""The pictures and Markdown of ``make evaluate`` (report.md and docs/evaluation/quality.md).

Everything here renders the figures of ``report.json``; nothing is measured here.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchmarks.markdown import fmt, table

ROOT = Path(__file__).resolve().parents[1]
# Inputs whose uncommitted changes the report mentions next to the commit.
TRACKED_INPUTS = (
    "config.yml",
    "data",
    "tests/data",
    "bot/nlp",
    "bot/safety",
    "bot/knowledge",
    "benchmarks/evaluate.py",
    "benchmarks/nlu_data.py",
    "benchmarks/nlu_systems.py",
    "benchmarks/nlu_report.py",
    "benchmarks/rasa_init_config.yml",
)
# (key in the figures, label) in table order.
FIGURES = (
    ("intent_accuracy", "Intent accuracy"),
    ("intent_macro_f1", "Intent macro-F1"),
    ("entity_span_precision", "`procedure` found: precision"),
    ("entity_span_recall", "`procedure` found: recall"),
    ("entity_span_f1", "`procedure` found: F1"),
    ("entity_value_precision", "`procedure` resolved: precision"),
    ("entity_value_recall", "`procedure` resolved: recall"),
    ("entity_value_f1", "`procedure` resolved: F1"),
    ("out_of_scope_rejection", "Out-of-scope rejection (higher is better)"),
    ("in_scope_false_rejection", "In-scope false rejection (lower is better)"),
)
CV_FIGURES = (
    ("intent_accuracy", "Intent accuracy"),
    ("intent_macro_f1", "Intent macro-F1"),
    ("entity_span_f1", "`procedure` found: F1"),
    ("out_of_scope_rejection", "Out-of-scope rejection"),
    ("in_scope_false_rejection", "In-scope false rejection (lower is better)"),
)


# --------------------------------------------------------------------------- machine and provenance


def machine() -> Dict[str, Any]:
    """CPU model, cores, RAM, OS and Python of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib: Optional[float] = None
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except (OSError, AttributeError):
        os_name = platform.platform()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": os_name,
        "python": platform.python_version(),
    }


def load_average() -> Optional[float]:
    """The 1-minute load average (the machine is shared, so it qualifies training times)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def git_state() -> Dict[str, Any]:
    """The commit measured and any uncommitted changes to the evaluation's inputs."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.rstrip("\n") if result.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", *TRACKED_INPUTS)
    return {
        "commit": git("rev-parse", "HEAD").strip() or "unknown",
        "uncommitted_inputs": sorted({line[3:] for line in changed.splitlines() if line.strip()}),
    }


# --------------------------------------------------------------------------- pictures


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_png(confusion: Dict[str, Any], title: str, target: Path) -> Path:
    """Draws the intent confusion matrix.

    Rows: expected intent; columns: predicted; numbers: counts; colour: share of the row,
    blue where the prediction is right (declining an out-of-scope message is), red where wrong.
    """
    import numpy as np

    plt = _pyplot()
    rows, columns = confusion["rows"], confusion["columns"]
    counts = np.array(confusion["counts"], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    # Right: the expected intent, or declining an out-of-scope message.
    right = np.array(
        [
            [r == c or (r == "out_of_scope" and c in ("out_of_scope", "nlu_fallback")) for c in columns]
            for r in rows
        ]
    )
    fig, ax = plt.subplots(figsize=(0.42 * len(columns) + 3.5, 0.38 * len(rows) + 2.8))
    ax.imshow(np.ma.masked_where(~right, shares), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.imshow(np.ma.masked_where(right | (counts == 0), shares), cmap="Reds", vmin=0, vmax=0.6, aspect="auto")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("expected intent")
    ax.set_title(title, fontsize=10)
    for i in range(len(rows)):
        for j in range(len(columns)):
            if counts[i, j]:
                dark = shares[i, j] > (0.6 if right[i, j] else 0.35)
                ax.text(
                    j,
                    i,
                    int(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def confidence_histogram_png(groups: Dict[str, Dict[str, Any]], target: Path) -> Path:
    """Draws, per system, the classifier's confidence for correct, wrong and out-of-scope hold-out messages.

    Args:
        groups: system label -> {"correct": [...], "wrong": [...], "out_of_scope": [...],
            "threshold": float or None}.
        target: PNG path.

    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.6), sharey=True, squeeze=False)
    bins = [i / 20 for i in range(21)]
    styles = (
        ("correct", "in scope, right intent", "#2e7d32"),
        ("wrong", "in scope, wrong intent", "#c62828"),
        ("out_of_scope", "out of scope", "#1565c0"),
    )
    for ax, (label, group) in zip(axes[0], groups.items()):
        for key, name, colour in styles:
            values = group[key]
            if values:
                weights = [1 / len(values)] * len(values)
                ax.hist(
                    values,
                    bins=bins,
                    weights=weights,
                    histtype="step",
                    linewidth=1.8,
                    color=colour,
                    label=f"{name} ({len(values)})",
                )
        if group.get("threshold") is not None:
            ax.axvline(
                group["threshold"],
                color="black",
                linestyle="--",
                linewidth=1,
                label=f"decline below {group['threshold']:.2f}",
            )
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("intent classifier confidence")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, loc="upper center")
    axes[0][0].set_ylabel("share of the group")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


# --------------------------------------------------------------------------- Markdown


def _minutes(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


TUNING_FIGURES = (
    ("holdout", "intent_accuracy", "hold-out accuracy"),
    ("holdout", "intent_macro_f1", "hold-out macro-F1"),
    ("holdout", "out_of_scope_rejection", "out-of-scope rejection"),
    ("holdout", "in_scope_false_rejection", "in-scope false rejection"),
    ("cv", "intent_accuracy", "CV accuracy"),
    ("cv", "intent_macro_f1", "CV macro-F1"),
    ("cv", "out_of_scope_rejection", "CV out-of-scope rejection"),
    ("cv", "in_scope_false_rejection", "CV in-scope false rejection"),
)


def tuning_table(report: Dict[str, Any]) -> str:
    """What each recorded tuning step bought, with the other systems of this run for comparison."""

    def row(name: str, change: str, holdout: Dict[str, Any], cv_mean: Dict[str, Any]) -> List[str]:
        cells = [name, change]
        for kind, key, _ in TUNING_FIGURES:
            cells.append(fmt((holdout if kind == "holdout" else cv_mean).get(key)))
        return cells

    rows = [
        row(f"`{s['step']}`", s["note"], s["holdout"], s["cross_validation"]["mean"])
        for s in report["tuning"]
    ]
    for name, system in report["systems"].items():
        if name != "project":
            rows.append(
                row(
                    f"_{system['label']}_",
                    "for comparison: this run",
                    report["holdout"][name],
                    report["cross_validation"][name]["mean"],
                )
            )
    return table(["step", "change", *(label for _, _, label in TUNING_FIGURES)], rows, right_from=2)


SWEEP_KEYS = ("intent_accuracy", "out_of_scope_rejection", "in_scope_false_rejection")


def sweep_table(sweep: Dict[str, Any]) -> str:
    """The project's figures at each decline threshold (cross-validation first: it chooses)."""
    rows = []
    for row in sweep["rows"]:
        marks = []
        if sweep["configured"] is not None and abs(row["threshold"] - sweep["configured"]) < 1e-9:
            marks.append("config.yml")
        if sweep["suggested"] is not None and abs(row["threshold"] - sweep["suggested"]) < 1e-9:
            marks.append("suggested by CV")
        rows.append(
            [
                f"{row['threshold']:.2f}" + (f" ({', '.join(marks)})" if marks else ""),
                *(fmt(row["cv"][k]) for k in SWEEP_KEYS),
                *(fmt(row["holdout"][k]) for k in SWEEP_KEYS),
            ]
        )
    header = [
        "decline below",
        "CV accuracy",
        "CV out-of-scope rejection",
        "CV in-scope false rejection",
        "hold-out accuracy",
        "hold-out out-of-scope rejection",
        "hold-out in-scope false rejection",
    ]
    return table(header, rows)


def _cached(run: Dict[str, Any]) -> str:
    """Says how many of the run's models came from the cache (trained earlier on the same inputs)."""
    models, trained = run.get("models"), run.get("models_trained")
    if not models or trained is None or trained == models:
        return ""
    return (
        f"; it trained {trained} of its {models} models and took the others from the cache, where earlier "
        "runs had trained them from the same inputs (their training times are under Training time)"
    )


def markdown(report: Dict[str, Any], images: Dict[str, str], doc_section: bool) -> str:
    """The report as Markdown.

    Args:
        report: The content of ``report.json``.
        images: "confusion_matrix" / "confidence_histogram" -> link to the PNG.
        doc_section: Whether this is the ``docs/evaluation/quality.md`` section (heading level 2).

    """
    h1, h2 = ("##", "###") if doc_section else ("#", "##")
    systems: Dict[str, Dict[str, Any]] = report["systems"]
    names = list(systems)
    labels = [systems[n]["label"] for n in names]
    data, run, machine_info = report["data"], report["run"], report["machine"]
    versions = report["versions"]
    commit = run["git"]["commit"][:10]
    changed = run["git"]["uncommitted_inputs"]
    provenance = f"commit `{commit}`" + (
        f" with uncommitted changes to {', '.join(f'`{c}`' for c in changed)}" if changed else ""
    )
    parts: List[str] = []
    if doc_section:
        parts.append("<!-- Generated by `make evaluate` (benchmarks/evaluate.py). Do not edit by hand. -->")
    parts += [f"{h1} Understanding (`make evaluate`)", ""]
    if run["smoke"]:
        parts += [
            f"**Smoke run**: a stratified slice of the data, {run['folds']} folds for this project and the "
            f"baseline, and Rasa's default pipeline cut to {run['default_epochs']} epoch(s) and trained once "
            "(no cross-validation), only to show that the command works. These figures say nothing about "
            "quality.",
            "",
        ]
    parts += [
        f"Measured {run['date']} at {provenance}, on {machine_info['cpu']}, {machine_info['cores']} cores, "
        f"{machine_info['ram_gib']} GiB RAM, {machine_info['os']}, Python {machine_info['python']}, "
        f"Rasa {versions['rasa']}, scikit-learn {versions['scikit-learn']}, "
        f"TensorFlow {versions['tensorflow']}. "
        f"The run took {_minutes(run['seconds'])} (1-minute load average {run['load_average_start']} at "
        f"the start, {run['load_average_end']} at the end; the machine is shared){_cached(run)}.",
        "",
        "Three systems, trained on the same data and scored on the same messages and splits:",
        "",
    ]
    for name in names:
        parts.append(f"- **{systems[name]['label']}**: {systems[name]['description']}")
    parts += [
        "",
        "Data:",
        "",
        f"- training: `data/nlu.yml`, {data['training_examples']} examples of {data['intents']} intents, "
        f"{data['training_procedure_mentions']} `procedure` mentions annotated;",
        f"- hold-out: {data['holdout_in_scope']} in-scope messages (`tests/data/nlu_holdout.yml`, written "
        f"separately, never trained on; {data['holdout_procedure_mentions']} `procedure` mentions) and "
        f"{data['holdout_out_of_scope']} out-of-scope messages (its `out_of_scope` intent plus "
        "`tests/data/out_of_scope.yml`: everyday requests and other medical fields);",
        f"- red flags: `tests/data/red_flags.yml`, {data['red_flag_positive']} messages that must raise "
        f"emergency instructions and {data['red_flag_negative']} look-alike questions that must not;",
        f"- cross-validation: {run['folds']}-fold stratified (by intent) on the training data, seed "
        f"{run['seed']}, the same folds for every system.",
        "",
        f"{h2} Hold-out set",
        "",
        table(
            ["figure", *labels],
            [[label, *(fmt(report["holdout"][n][key]) for n in names)] for key, label in FIGURES],
        ),
        "",
        f"{h2} Cross-validation ({run['folds']} folds, mean ± sd)",
        "",
        table(
            ["figure", *labels],
            [
                [
                    label,
                    *(
                        "n/a"
                        if report["cross_validation"][n]["mean"][key] is None
                        else f"{report['cross_validation'][n]['mean'][key]:.3f} ± "
                        f"{report['cross_validation'][n]['sd'][key]:.3f}"
                        for n in names
                    ),
                ]
                for key, label in CV_FIGURES
            ],
        ),
        "",
    ]
    if report.get("tuning"):
        parts += [
            f"{h2} What each change bought",
            "",
            "Each row is a run of this project's candidate configuration on the same hold-out set and "
            "folds, recorded while tuning (`--systems project --config FILE --step NAME --note TEXT`, "
            "kept in `docs/evaluation/tuning/understanding/`, with the configuration it scored); each "
            "change is applied on top of the rows above it. Changes are chosen by the cross-validation "
            "figures (on the training data); the hold-out set is what the project reports, not what it "
            "tunes on. The last rows are the other systems, from this run.",
            "",
            tuning_table(report),
            "",
        ]
    sweep = report.get("threshold_sweep")
    if sweep:
        parts += [
            f"{h2} Decline threshold",
            "",
            "This project's `FallbackClassifier` declines a message (\"I did not understand\", with the "
            "topic buttons and the referral) when the classifier's confidence is below its threshold. "
            "Each row scores one threshold, on a model of this project's pipeline trained without one "
            "(same data, folds and seed; declining afterwards below the threshold is exactly what the "
            "pipeline with that threshold does, as it has no ambiguity rule). The suggested threshold is "
            f"the highest whose cross-validation accuracy is within {sweep['tolerance']:.3f} of the best: "
            "when accuracy is level, declining is safer for a patient than a wrong answer. The hold-out "
            "columns are shown, not used to choose.",
            "",
            sweep_table(sweep),
            "",
        ]
    parts += [
        f"{h2} Red flags",
        "",
        "Whether each system's prediction is `emergency` on the red-flag guard's own test phrases. "
        "In this project the deterministic guard (`bot/safety/red_flags.py`) is the last component of "
        "the pipeline, so the project's row is the guard as patients meet it; the other two systems "
        "have no guard, only whatever their intent classifier learnt from the `emergency` examples.",
        "",
        table(
            ["system", "recall (flagged / must flag)", "false alarms (flagged / must not)"],
            [
                [
                    flags["label"],
                    f"{fmt(flags['recall'])} ({flags['positives'] - flags['missed']}/{flags['positives']})",
                    f"{fmt(flags['false_alarm_rate'])} ({flags['false_alarms']}/{flags['negatives']})",
                ]
                for flags in report["red_flags"].values()
            ],
        ),
        "",
        f"{h2} Pictures",
        "",
        "Intent confusion matrix of this project's pipeline on the hold-out set (rows: the intent "
        "expected; numbers: messages; blue: right, red: wrong, darker: a larger share of the row; "
        "declining an out-of-scope message is right):",
        "",
        f"![Intent confusion matrix, project pipeline, hold-out set]({images['confusion_matrix']})",
        "",
        "The intent classifier's confidence (before any fallback) on the hold-out set: right and wrong "
        "in-scope answers and out-of-scope messages, with each system's decline threshold. A good "
        "system keeps the red and blue curves left of the line and the green one right of it.",
        "",
        f"![Intent confidence by outcome, per system]({images['confidence_histogram']})",
        "",
        f"{h2} Per intent (hold-out F1)",
        "",
        table(
            ["intent", "support", *labels],
            [
                [
                    intent,
                    str(report["per_intent"][names[0]][intent]["support"]),
                    *(fmt(report["per_intent"][n][intent]["f1"]) for n in names),
                ]
                for intent in report["per_intent"][names[0]]
            ],
        ),
        "",
        f"{h2} Training time",
        "",
        table(
            ["system", "whole training set", f"per fold (mean of {run['folds']})"],
            [
                [
                    systems[n]["label"],
                    _minutes(report["training_seconds"][n]["holdout"]),
                    _minutes(report["training_seconds"][n]["fold_mean"]),
                ]
                for n in names
            ],
        ),
        "",
        "Measured when the model was trained (trained models are cached by a hash of their inputs, "
        "so a figure may come from an earlier run on the same inputs), on a shared machine: indicative "
        "only; `make bench` measures speed properly.",
        "",
        f"{h2} How the figures are defined",
        "",
        "- **Intent accuracy**: share of messages whose predicted intent is the expected one; for an "
        "out-of-scope message, declining it (`out_of_scope` or `nlu_fallback`) is correct. **Macro-F1**: "
        "the mean of the per-intent F1 scores, counted the same way (`bot/nlp/evaluate.py`, the scorer the "
        "hold-out test uses).",
        "- **`procedure` found**: entity spans; a predicted mention counts when its start and end match an "
        "annotated mention exactly. Every system is scored on this.",
        '- **`procedure` resolved**: the canonical procedure id (`radiofrequency_ablation` for "rfa"), '
        "which the bot needs to pick the answer. Only the hold-out set is annotated with ids, and only this "
        "project resolves names to ids (from the knowledge file); the other systems learn spans from the "
        "training data, which carries no ids, so this is n/a for them and in cross-validation.",
        "- **Out-of-scope rejection**: share of out-of-scope messages the system declines, i.e. predicts "
        "`out_of_scope` or falls back (`nlu_fallback`, below its confidence threshold). **In-scope false "
        'rejection**: share of in-scope messages it declines (the patient gets "I did not understand" '
        "instead of an answer).",
        "- **Red flags**: recall = share of must-flag phrases predicted `emergency`; false-alarm rate = "
        "share of look-alike questions predicted `emergency`.",
        "",
        f"{h2} How to reproduce",
        "",
        "```bash",
        "make evaluate     # = .venv/bin/python -m benchmarks.evaluate (options: --help)",
        "```",
        "",
        "It trains NLU-only models with Rasa's Python API into `build/evaluate/cache/` (Rasa's default "
        "pipeline takes 15-20 minutes per model on 2 cores, so the first run takes about two hours; each "
        "model is cached by a hash of its configuration, training data, fold and code, so a re-run only "
        "trains what changed), prints each step with an estimate of the time left, and writes "
        "`build/evaluate/report.md`, `report.json` (every figure, every fold), `confusion_matrix.png` and "
        "`confidence_histogram.png`, then this section. `make test` runs `--smoke` (a stratified slice, "
        "2 folds, Rasa's default pipeline cut to 1 epoch and trained once) into a temporary directory, "
        "checking only that the report is complete and well-formed.",
        "",
        "Rasa's default configuration leaves DIET unseeded, so its figures vary slightly from training to "
        "training; this project's pipeline and the baseline are seeded.",
        "",
    ]
    return "\n".join(parts)
