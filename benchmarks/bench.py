"""``make bench``: is the assistant fast and small? Measured against Rasa's default configuration.

``python -m benchmarks.bench`` starts the real action server and Rasa server from cold,
first with the project's model, then with Rasa's default configuration (what
``rasa init`` writes) trained on the same data and domain, talking to the same
action server code, and measures for each:

- the time from starting both servers to the first answer;
- per-message latency over the REST webhook (action server included) for one patient
  running a scripted multi-turn mix (:mod:`benchmarks.load`), after warm-up messages;
- the same mix under 10 and 50 concurrent patients: latency, messages per second, errors;
- the resident memory of both servers after the load;
- how cost grows (:mod:`benchmarks.growth`): one 400-turn session over REST and socket.io
  on SQLite and PostgreSQL, and a year's store of a million events (``--no-growth`` skips it);

plus the cold training time of the project's model and the time ``make run`` takes to
be ready when nothing changed (and that it did not retrain). Every figure is printed
with its ratio to the default configuration, because this machine is shared and
noisy. Writes ``build/bench/bench.json`` and ``build/bench/latency.png``; a full run
also writes ``docs/evaluation/speed.md`` (with the chart) and ``docs/evaluation.md``.

``--smoke`` is the quick version ``make test`` runs: a few messages, one repetition,
2 concurrent patients, the default configuration trained on a tiny data set with one
epoch; it checks that the bench works, not how fast anything is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from benchmarks import growth, models, nlu_report
from benchmarks.load import CONVERSATIONS, SMOKE_CONVERSATIONS, run_patients
from benchmarks.markdown import table
from benchmarks.servers import first_answer, measure_make_run, start_servers

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
# Recorded tuning steps (--step): committed, so the table survives a fresh clone.
STEPS = ROOT / "docs" / "evaluation" / "tuning" / "speed"
DOCS = ROOT / "docs" / "evaluation"

#: The issue's targets: (figure key, description, limit, comparison).
TARGETS = (
    ("single_p50_ms", "single patient p50", 25.0, "<="),
    ("single_p95_ms", "single patient p95", 50.0, "<="),
    ("p50_vs_default", "single patient p50 / default's p50", 0.5, "<="),
    ("concurrent_50_errors", "errors with 50 concurrent patients", 0, "=="),
    ("first_answer_s", "start to first answer (s)", 25.0, "<="),
    ("rasa_rss_mib", "Rasa server resident memory (MiB)", 1024.0, "<="),
    ("make_run_retrained", "`make run` retrains when nothing changed", False, "=="),
    ("concurrent_50_messages_per_s", "messages/s with 50 concurrent patients", 150.0, ">="),
    ("concurrent_50_p95_ms", "p95 with 50 concurrent patients (ms)", 500.0, "<="),
    (
        "long_last_over_first",
        "long conversation: p50 of its last block / its first (worst of SQLite, PostgreSQL, REST, socket.io)",
        1.5,
        "<=",
    ),
    ("year_new_patient_ratio", "new patient's first answer p50, year's store / emptier store", 1.5, "<="),
    ("year_report_s", "`make report` over a year's store (s)", 60.0, "<="),
)


# --------------------------------------------------------------------------- machine


def loadavg() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def machine() -> Dict[str, Any]:
    """CPU, cores, memory, OS (with the kernel), Python and the Rasa versions of this machine."""
    info = nlu_report.machine()
    return {
        **info,
        "os": f"{info['os']} (Linux {platform.release()})",
        "rasa": metadata.version("rasa"),
        "rasa_sdk": metadata.version("rasa-sdk"),
    }


def git(*args: str) -> str:
    """Output of a git command in the repository ('' if git is unavailable)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# --------------------------------------------------------------------------- measuring


def bench_model(
    name: str,
    model: Path,
    workdir: Path,
    credentials: Path,
    project_server: bool,
    conversations: Sequence[Sequence[str]],
    repetitions: int,
    concurrency: Sequence[int],
) -> Dict[str, Any]:
    """Cold start, warm-up, one patient, concurrent patients and memory for one model."""
    print(f"\n== {name}: {model.relative_to(ROOT)}", flush=True)
    servers = start_servers(model, workdir, name, credentials, project_server)
    try:
        startup = first_answer(servers)
        print(f"  first answer {startup:.1f} s after start", flush=True)
        warm = run_patients(servers.webhook, 1, conversations, 1)
        print(f"  warm-up: {len(warm.latencies_ms)} messages, {warm.errors} errors", flush=True)
        figures: Dict[str, Any] = {
            "model": str(model.relative_to(ROOT)),
            "server": "rasa run, the project's endpoints" if project_server else "rasa run, Rasa's defaults",
            "first_answer_s": startup,
            "warmup_errors": warm.errors,
        }
        single = run_patients(servers.webhook, 1, conversations, repetitions)
        figures["single"] = single.summary()
        print(describe("1 patient", figures["single"]), flush=True)
        for patients in concurrency:
            servers.check_alive()
            result = run_patients(servers.webhook, patients, conversations, 1)
            figures[f"concurrent_{patients}"] = result.summary()
            print(describe(f"{patients} patients", figures[f"concurrent_{patients}"]), flush=True)
        servers.check_alive()
        figures["rss_mib"] = servers.rss()
        print(
            f"  memory: Rasa {figures['rss_mib']['rasa']:.0f} MiB, "
            f"actions {figures['rss_mib']['actions']:.0f} MiB",
            flush=True,
        )
        return figures
    finally:
        servers.stop()


def describe(label: str, summary: Dict[str, Any]) -> str:
    """One line of a scenario's figures."""
    return (
        f"  {label}: {summary['messages']} messages, p50 {summary['p50_ms']:.1f} ms, "
        f"p95 {summary['p95_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, "
        f"{summary['messages_per_s']:.1f} msg/s, {summary['errors']} errors"
    )


def cold_training() -> Dict[str, float]:
    """``make train FORCE=1`` without touching models/: spaCy pipeline build plus ``rasa train``.

    Both go to a temporary directory, with an empty Rasa training cache, so nothing is reused.
    """
    with tempfile.TemporaryDirectory(prefix="bench-train-") as temp:
        temp_dir = Path(temp)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "bot.nlp.spacy_pipeline", str(temp_dir / "spacy_pipeline")],
            cwd=ROOT,
            env=models.rasa_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        spacy_s = time.monotonic() - started
        os.environ["RASA_CACHE_DIRECTORY"] = str(temp_dir / "cache")
        try:
            train_s = models.train(
                ROOT / "config.yml",
                temp_dir / "out",
                "cold",
                models.training_data(ROOT / "data"),
                log=BUILD / "cold-train.log",
            )
        finally:
            del os.environ["RASA_CACHE_DIRECTORY"]
    return {"spacy_pipeline_s": spacy_s, "rasa_train_s": train_s, "total_s": spacy_s + train_s}


def smoke_data(target: Path) -> Path:
    """A tiny training set for the smoke run: three examples per intent, the same rules and stories."""
    target.mkdir(parents=True, exist_ok=True)
    nlu = yaml.safe_load((ROOT / "data" / "nlu.yml").read_text(encoding="utf-8"))
    small = []
    for item in nlu["nlu"]:
        if "intent" in item:
            lines = [line for line in item["examples"].splitlines() if line.strip()][:3]
            small.append({"intent": item["intent"], "examples": "\n".join(lines) + "\n"})
    text = yaml.safe_dump({"version": "3.1", "nlu": small}, sort_keys=False, allow_unicode=True)
    if not (target / "nlu.yml").exists() or (target / "nlu.yml").read_text(encoding="utf-8") != text:
        (target / "nlu.yml").write_text(text, encoding="utf-8")
    for name in ("rules.yml", "stories.yml"):
        source = ROOT / "data" / name
        if not (target / name).exists() or (target / name).read_bytes() != source.read_bytes():
            shutil.copyfile(source, target / name)
    return target


# --------------------------------------------------------------------------- results


def ratio(ours: Optional[float], default: Optional[float]) -> Optional[float]:
    """``ours / default``, or None when either is missing or the default is zero."""
    if ours is None or default is None or default == 0:
        return None
    return ours / default


def flat(figures: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """The comparable figures of one model as a flat dictionary."""
    out: Dict[str, Optional[float]] = {"first_answer_s": figures.get("first_answer_s")}
    for scenario in ("single", "concurrent_10", "concurrent_50", "concurrent_2"):
        summary = figures.get(scenario)
        if not summary:
            continue
        for key in ("p50_ms", "p95_ms", "p99_ms", "messages_per_s", "errors"):
            out[f"{scenario}_{key}"] = summary[key]
    for server, value in (figures.get("rss_mib") or {}).items():
        out[f"{server}_rss_mib"] = value
    return out


def targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each target of the issue, the measured value and whether it is met (None: not measured)."""
    ours = flat(results["configs"]["ours"])
    default = flat(results["configs"]["default"]) if "default" in results["configs"] else {}
    values: Dict[str, Any] = {
        "single_p50_ms": ours.get("single_p50_ms"),
        "single_p95_ms": ours.get("single_p95_ms"),
        "p50_vs_default": ratio(ours.get("single_p50_ms"), default.get("single_p50_ms")),
        "concurrent_50_errors": ours.get("concurrent_50_errors"),
        "first_answer_s": ours.get("first_answer_s"),
        "rasa_rss_mib": ours.get("rasa_rss_mib"),
        "make_run_retrained": (results.get("make_run") or {}).get("retrained"),
        "concurrent_50_messages_per_s": ours.get("concurrent_50_messages_per_s"),
        "concurrent_50_p95_ms": ours.get("concurrent_50_p95_ms"),
        "long_last_over_first": growth.worst_last_over_first(results.get("growth") or {}),
        "year_new_patient_ratio": ((results.get("growth") or {}).get("year") or {}).get(
            "new_patient_p50_ratio"
        ),
        "year_report_s": ((results.get("growth") or {}).get("year") or {}).get("report_s"),
    }
    rows = []
    for key, label, limit, comparison in TARGETS:
        value = values[key]
        if value is None:
            met = None
        elif comparison == "<=":
            met = value <= limit
        elif comparison == ">=":
            met = value >= limit
        else:
            met = value == limit
        row = {"key": key, "target": label, "limit": limit, "comparison": comparison}
        rows.append({**row, "value": value, "met": met})
    return rows


def ratios(results: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Every comparable figure of ours divided by the default configuration's."""
    if "default" not in results["configs"]:
        return {}
    ours, default = flat(results["configs"]["ours"]), flat(results["configs"]["default"])
    out = {key: ratio(value, default.get(key)) for key, value in ours.items() if key in default}
    training = results.get("training") or {}
    if results["meta"]["default_epochs"] is None:  # a default trained with fewer epochs is no yardstick
        out["training_s"] = ratio((training.get("ours") or {}).get("total_s"), training.get("default_s"))
    return out


def print_table(results: Dict[str, Any]) -> None:
    """Prints every figure, the default's and the ratio, then the targets."""
    ours = flat(results["configs"]["ours"])
    default = flat(results["configs"]["default"]) if "default" in results["configs"] else {}
    ratios = results["ratios"]
    rows = [
        [key, fmt(value), fmt(default.get(key)), fmt_ratio(ratios.get(key))] for key, value in ours.items()
    ]
    training = results.get("training") or {}
    if training.get("ours"):
        rows.append(
            [
                "cold training (s)",
                fmt(training["ours"]["total_s"]),
                fmt(training.get("default_s")),
                fmt_ratio(ratios.get("training_s")),
            ]
        )
    make_run = results.get("make_run")
    if make_run:
        rows.append(["make run ready, nothing changed (s)", fmt(make_run["ready_s"]), "", ""])
        rows.append(["make run retrained", str(make_run["retrained"]), "", ""])
    print("\n" + table(["figure", "ours", "default", "ratio"], rows))
    states = {True: "met", False: "NOT MET", None: "not measured"}
    targets = [
        [row["target"], fmt(row["value"]), f"{row['comparison']} {row['limit']}", states[row["met"]]]
        for row in results["targets"]
    ]
    if results.get("growth"):
        print("\nLong conversations (p50 ms of the first and the last block of turns):")
        print(
            table(["run", "first", "last", "last/first", "wrong or missing"], growth_rows(results["growth"]))
        )
    print("\nTargets:\n" + table(["target", "measured", "limit", "result"], targets))


def growth_rows(figures: Dict[str, Any]) -> List[List[str]]:
    """One row per long conversation: first and last block p50, their ratio, wrong answers."""
    rows = []
    for label, runs in figures["long"].items():
        for transport, run in runs.items():
            first, last = run["blocks"][0], run["blocks"][-1]
            rows.append(
                [
                    f"{label}, {transport}",
                    f"{fmt(first['p50_ms'])} ({first['turns']})",
                    f"{fmt(last['p50_ms'])} ({last['turns']})",
                    fmt_ratio(run["last_over_first"]),
                    str(run["wrong_or_missing"]),
                ]
            )
    return rows


def fmt_ratio(value: Optional[float]) -> str:
    """A ratio for the printed table."""
    return "-" if value is None else f"{value:.2f}"


def fmt(value: Any) -> str:
    """A figure for a table."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


# --------------------------------------------------------------------------- main


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="quick check that the bench works")
    parser.add_argument("--repetitions", type=int, default=None, help="single-patient passes over the mix")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default build/bench/bench.json)")
    parser.add_argument("--no-default", action="store_true", help="skip Rasa's default configuration")
    parser.add_argument(
        "--default-epochs",
        type=int,
        default=None,
        help="train the default with N epochs instead of 100 (same work per message; for busy machines)",
    )
    parser.add_argument("--no-training", action="store_true", help="skip the cold training measurement")
    parser.add_argument("--no-make-run", action="store_true", help="skip the `make run` measurement")
    parser.add_argument(
        "--no-growth", action="store_true", help="skip the long conversations and the year's store"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/evaluation/speed.md")
    parser.add_argument(
        "--step", help="also keep the JSON as docs/evaluation/tuning/speed/STEP.json (tuning record)"
    )
    parser.add_argument("--note", default="", help="what changed in this tuning step")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the bench; returns the exit code."""
    args = parse_args(argv)
    smoke = args.smoke
    out = args.out or (BUILD / ("smoke.json" if smoke else "bench.json"))
    work = BUILD / ("smoke" if smoke else "run")
    work.mkdir(parents=True, exist_ok=True)
    conversations = SMOKE_CONVERSATIONS if smoke else CONVERSATIONS
    repetitions = args.repetitions or (1 if smoke else 5)
    concurrency = (2,) if smoke else (10, 50)

    if not models.PROJECT_MODEL.exists():
        print(f"No trained model at {models.PROJECT_MODEL}: run `make train`.", file=sys.stderr)
        return 2
    results: Dict[str, Any] = {
        "meta": {
            "mode": "smoke" if smoke else "full",
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "machine": machine(),
            "loadavg_1m_start": loadavg(),
            "mix": {
                "conversations": len(conversations),
                "messages_per_pass": sum(len(c) for c in conversations),
                "single_repetitions": repetitions,
                "concurrency": list(concurrency),
            },
            "default_epochs": 1 if smoke else args.default_epochs,
            "step": args.step,
            "note": args.note,
        },
        "configs": {},
    }
    print(
        f"Bench ({results['meta']['mode']}), load average {results['meta']['loadavg_1m_start']:.2f} "
        f"on {results['meta']['machine']['cores']} cores",
        flush=True,
    )

    default_model: Optional[Path] = None
    default_train_s: Optional[float] = None
    if not args.no_default:
        if smoke:
            default_model = models.default_model(smoke_data(BUILD / "smoke-data"), epochs=1)
        else:
            default_model = models.default_model(epochs=args.default_epochs)
        seconds = default_model.with_suffix("").with_suffix(".seconds")
        default_train_s = float(seconds.read_text()) if seconds.exists() else None

    common = {"conversations": conversations, "repetitions": repetitions, "concurrency": concurrency}
    results["configs"]["ours"] = bench_model(
        "ours", models.PROJECT_MODEL, work, ROOT / "credentials.yml", True, **common
    )
    if default_model is not None:
        rest_only = work / "credentials.rest.yml"
        rest_only.write_text("rest:\n")
        results["configs"]["default"] = bench_model(
            "default", default_model, work, rest_only, False, **common
        )

    if not args.no_growth:
        results["growth"] = growth.run_growth(
            models.PROJECT_MODEL, default_model, work, ROOT / "credentials.yml", smoke
        )

    training: Dict[str, Any] = {"default_s": default_train_s}
    if not (args.no_training or smoke):
        print("\n== cold training of the project's model (temporary output, empty cache)", flush=True)
        training["ours"] = cold_training()
        print(f"  {training['ours']['total_s']:.0f} s", flush=True)
    results["training"] = training
    if not (args.no_make_run or smoke):
        print("\n== make run, nothing changed", flush=True)
        results["make_run"] = measure_make_run(work)
        print(f"  ready after {results['make_run']['ready_s']:.1f} s", flush=True)

    results["meta"]["loadavg_1m_end"] = loadavg()
    results["ratios"] = ratios(results)
    results["targets"] = targets(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print_table(results)
    print(f"\nWrote {shown(out)}")

    from benchmarks import report

    chart = report.latency_chart(results, out.parent / ("smoke-latency.png" if smoke else "latency.png"))
    print(f"Wrote {shown(chart)}")
    if args.step:
        STEPS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, STEPS / f"{args.step}.json")
    growth_chart: Optional[Path] = None
    if results.get("growth"):
        growth_chart = report.growth_chart(
            results, out.parent / ("smoke-growth.png" if smoke else "growth.png")
        )
        print(f"Wrote {shown(growth_chart)}")
    complete = not (smoke or args.no_default or args.no_training or args.no_make_run or args.no_growth)
    if complete and not args.no_docs:
        for path in report.write_speed_doc(results, chart, DOCS, STEPS, growth_chart):
            print(f"Wrote {shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
