"""The latency chart and the ``docs/evaluation/speed.md`` section, generated from bench JSON.

Nothing here is typed by hand: every figure comes from the JSON of the run
(``build/bench/bench.json``) and, for the tuning record, from the JSON of each
tuning step (``docs/evaluation/tuning/speed/*.json``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.markdown import table

SCENARIOS: Sequence[Tuple[str, str]] = (
    ("single", "1 patient"),
    ("concurrent_2", "2 concurrent patients"),
    ("concurrent_10", "10 concurrent patients"),
    ("concurrent_50", "50 concurrent patients"),
)
LABELS = {"ours": "this project", "default": "Rasa default (rasa init)"}
COLOURS = {"ours": "#0b5e86", "default": "#c2571a"}


def latency_chart(results: Dict[str, Any], target: Path) -> Path:
    """Latency distributions (cumulative, log scale) with p50/p95/p99 per scenario, ours vs default."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import ticker

    configs = results["configs"]
    scenarios = [(key, label) for key, label in SCENARIOS if key in configs["ours"]]
    figure, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 4.2), squeeze=False)
    for axis, (key, label) in zip(axes[0], scenarios):
        for name, figures in configs.items():
            summary = figures.get(key)
            if not summary or not summary["latencies_ms"]:
                continue
            values = np.sort(np.array(summary["latencies_ms"]))
            share = np.arange(1, len(values) + 1) / len(values)
            axis.step(values, share, where="post", color=COLOURS[name], label=LABELS[name])
            for percentile, marker in (("p50_ms", "o"), ("p95_ms", "s"), ("p99_ms", "^")):
                level = int(percentile[1:3]) / 100
                axis.plot(summary[percentile], level, marker, color=COLOURS[name], markersize=6)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_title(label)
        axis.set_xlabel("latency per message (ms, log scale)")
        axis.set_ylim(0, 1.02)
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("share of messages answered within")
    axes[0][0].legend(loc="lower right", title="markers: p50 ● p95 ■ p99 ▲", fontsize=8, title_fontsize=8)
    figure.suptitle("End-to-end latency over the REST webhook (action server included)")
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def growth_chart(results: Dict[str, Any], target: Path) -> Path:
    """Latency against turn number in one long conversation: each run's rolling median over 10 turns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import ticker

    growth = results["growth"]
    figure, axis = plt.subplots(figsize=(9, 4.6))
    styles = {"rest": "-", "socketio": "--"}
    palette = ["#0b5e86", "#2a9d8f", "#8d99ae", "#c2571a"]
    for colour, (label, runs) in zip(palette, growth["long"].items()):
        for transport, run in runs.items():
            values = np.array(run["latencies_ms"])
            if len(values) == 0:
                continue
            window = min(10, len(values))
            rolling = [float(np.median(values[max(0, i - window + 1) : i + 1])) for i in range(len(values))]
            axis.plot(
                np.arange(1, len(values) + 1),
                rolling,
                styles.get(transport, "-"),
                color=colour,
                label=f"{label}, {'socket.io' if transport == 'socketio' else 'REST'}",
            )
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(ticker.NullFormatter())
    axis.set_xlabel("turn number in one session")
    axis.set_ylabel("latency per message (ms, median of 10 turns, log scale)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(
        f"One patient's conversation of {growth['turns']} turns (tracker store reads the last "
        f"{growth['recent_turns']} turns)"
    )
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def growth_markdown(results: Dict[str, Any], chart_link: Optional[str]) -> List[str]:
    """The long-conversation and year's-store part of ``speed.md``."""
    growth = results.get("growth")
    if not growth:
        return []
    rows = []
    for label, runs in growth["long"].items():
        for transport, run in runs.items():
            blocks = run["blocks"]
            rows.append(
                [
                    label,
                    "socket.io" if transport == "socketio" else "REST",
                    *[fmt(block["p50_ms"]) for block in blocks],
                    times(run["last_over_first"]),
                    str(run["wrong_or_missing"]),
                ]
            )
    first_run = next(run for runs in growth["long"].values() for run in runs.values())
    blocks = [f"turns {block['turns']}" for block in first_run["blocks"]]
    header = ["run", "transport", *blocks, "last / first", "wrong or missing"]
    year = growth["year"]
    small, big = year["new_patients_small_store"], year["new_patients_year_store"]
    return [
        "### Long conversations and a year's store",
        "",
        f"One patient holds one session of {growth['turns']} turns (every other turn relies on the "
        "procedure named before it, and every answer is checked). The project's tracker store "
        f"(`bot/stores/tracker.py`) reads the session's last {growth['recent_turns']} patient turns and "
        "the slot values where they begin; Rasa's own SQL store (the same model and endpoints otherwise) "
        "and Rasa's default configuration read the whole session. Median latency (ms) per block of "
        f"{growth['block']} turns; \"wrong or missing\" counts turns whose first reply was not the "
        "expected knowledge answer or whose reply did not end with the referral:",
        "",
        table(header, rows, right_from=2),
        "",
        *(
            [f"![Latency against turn number in one long conversation]({chart_link})", ""]
            if chart_link
            else []
        ),
        f"A year's store: {year['events']:,} events in {year['conversations']:,} conversations (copies of "
        "real ones, spread over 365 days; filled in "
        f"{year['fill_s']:.0f} s). A new patient's first answer: p50 {fmt(small['p50_ms'])} ms on the "
        f"emptier store, {fmt(big['p50_ms'])} ms on the year's ({times(year['new_patient_p50_ratio'])}); "
        f"the server answered {fmt(year['first_answer_s'])} s after it started; `make report` over the "
        f"whole year took {fmt(year['report_s'])} s.",
        "",
    ]


def fmt(value: Any, unit: str = "") -> str:
    """A figure for a Markdown table."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value}{unit}"
    if abs(value) >= 100:
        return f"{value:.0f}{unit}"
    if abs(value) >= 10:
        return f"{value:.1f}{unit}"
    return f"{value:.2f}{unit}"


def times(value: Optional[float]) -> str:
    """A ratio, as ``0.25×``."""
    return "–" if value is None else f"{value:.2f}×"


def comparison_rows(results: Dict[str, Any]) -> List[List[str]]:
    """Rows of the ours-vs-default table."""
    ours = results["configs"]["ours"]
    default = results["configs"].get("default", {})
    ratios = results.get("ratios", {})
    rows: List[List[str]] = []

    def add(label: str, key: str, unit: str, ours_value: Any, default_value: Any) -> None:
        rows.append([label, fmt(ours_value, unit), fmt(default_value, unit), times(ratios.get(key))])

    add(
        "start to first answer", "first_answer_s", " s", ours["first_answer_s"], default.get("first_answer_s")
    )
    for scenario, label in SCENARIOS:
        if scenario not in ours:
            continue
        mine, theirs = ours[scenario], default.get(scenario, {})
        for stat in ("p50_ms", "p95_ms", "p99_ms"):
            add(f"{label}: {stat[:3]}", f"{scenario}_{stat}", " ms", mine[stat], theirs.get(stat))
        if scenario != "single":
            add(
                f"{label}: messages/s",
                f"{scenario}_messages_per_s",
                "",
                mine["messages_per_s"],
                theirs.get("messages_per_s"),
            )
        add(f"{label}: errors", f"{scenario}_errors", "", mine["errors"], theirs.get("errors"))
    for server, label in (("rasa", "Rasa server"), ("actions", "action server")):
        add(
            f"{label} resident memory after the load",
            f"{server}_rss_mib",
            " MiB",
            ours["rss_mib"][server],
            default.get("rss_mib", {}).get(server),
        )
    training = results.get("training") or {}
    if training.get("ours"):
        add(
            "cold training (spaCy pipeline + `rasa train`)",
            "training_s",
            " s",
            training["ours"]["total_s"],
            training.get("default_s"),
        )
    make_run = results.get("make_run")
    if make_run:
        rows.append(["`make run` ready, nothing changed", fmt(make_run["ready_s"], " s"), "–", "–"])
        rows.append(["`make run` retrained", fmt(make_run["retrained"]), "–", "–"])
        if make_run.get("first_run_retrained"):
            rows.append(
                [
                    "(the first `make run` of this bench retrained: its inputs had changed since the last "
                    f"training; it was ready after {fmt(make_run['first_run_ready_s'], ' s')})",
                    "",
                    "",
                    "",
                ]
            )
    return rows


def load_steps(steps: Path) -> List[Dict[str, Any]]:
    """The recorded tuning steps, in the order of their file names."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(steps.glob("*.json"))]


def steps_table(recorded: Sequence[Dict[str, Any]]) -> str:
    """What each tuning step bought: the key figures of each recorded run."""
    rows = []
    for run in recorded:
        ours = run["configs"]["ours"]
        default = run["configs"].get("default", {})
        ratios = run.get("ratios", {})
        c50 = ours.get("concurrent_50", {})
        rows.append(
            [
                f"`{run['meta']['step']}`",
                run["meta"].get("note") or "",
                fmt(ours["single"]["p50_ms"]),
                fmt(ours["single"]["p95_ms"]),
                fmt(ours["single"]["p99_ms"]),
                fmt((default.get("single") or {}).get("p50_ms")),
                times(ratios.get("single_p50_ms")),
                fmt(c50.get("messages_per_s")),
                fmt(c50.get("errors")),
                fmt(ours["first_answer_s"]),
                fmt(ours["rss_mib"]["rasa"]),
                fmt(run["meta"]["loadavg_1m_start"]),
            ]
        )
    header = [
        "step",
        "change",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "default p50 ms",
        "p50 / default",
        "50 patients msg/s",
        "50 patients errors",
        "first answer s",
        "Rasa MiB",
        "load avg",
    ]
    return table(header, rows, right_from=2)


def epochs_note(epochs: Optional[int]) -> List[str]:
    """Says so when the default configuration was trained with fewer epochs than Rasa's 100."""
    if epochs is None:
        return []
    return [
        f"Rasa's default configuration was trained here with {epochs} epochs instead of 100 per "
        "neural component (`--default-epochs`), because this shared machine was too busy to train "
        "4 x 100 epochs in time. Epochs change training time and accuracy, not the model's size or "
        "the work done per message, so its speed and memory figures stand; its training time does "
        "not (no training ratio is given).",
        "",
    ]


def speed_markdown(
    results: Dict[str, Any],
    chart_link: str,
    recorded: Sequence[Dict[str, Any]],
    growth_link: Optional[str] = None,
) -> str:
    """The ``speed.md`` section."""
    meta = results["meta"]
    machine = meta["machine"]
    mix = meta["mix"]
    commit = meta["git_commit"][:10] + (" (with uncommitted changes)" if meta["git_dirty"] else "")
    target_rows = [
        [
            row["target"],
            fmt(row["value"]),
            f"{row['comparison']} {fmt(row['limit'])}",
            {True: "met", False: "**not met**", None: "not measured"}[row["met"]],
        ]
        for row in results["targets"]
    ]
    parts = [
        "<!-- Generated by `make bench` (benchmarks/bench.py and report.py). Do not edit by hand. -->",
        "## Speed and memory (`make bench`)",
        "",
        f"Measured {meta['date']} at commit `{commit}` on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_gib']} GiB RAM, {machine['os']}, Python {machine['python']}, Rasa {machine['rasa']}, "
        f"rasa-sdk {machine['rasa_sdk']}. The machine is shared: the 1-minute load average was "
        f"{meta['loadavg_1m_start']:.2f} at the start and {meta['loadavg_1m_end']:.2f} at the end, so "
        "absolute figures are noisy; the ratios to Rasa's default configuration, measured in the same "
        "run, are the fairer comparison.",
        "",
        "### Targets",
        "",
        table(["target", "measured", "limit", "result"], target_rows),
        "",
        "### This project against Rasa's default configuration",
        "",
        "Both run on the same data, domain and action server code, with the same SQLite tracker store. "
        "The project runs as `make run` runs it (`rasa run` with its own credentials and endpoints, "
        "all its channels); the "
        "default is what a team gets from `rasa init`'s configuration with plain `rasa run` and the REST "
        "channel. Each patient runs the scripted mix: "
        f"{mix['conversations']} conversations, {mix['messages_per_pass']} messages (questions about "
        "several procedures and topics, follow-ups that rely on context, button payloads, greetings, "
        "small talk, an out-of-scope request and a red flag). One patient runs it "
        f"{mix['single_repetitions']} times after a warm-up pass; concurrent patients run it once each, "
        "as distinct senders. Latency is measured by the client, from sending the request to reading the "
        "whole reply.",
        "",
        *epochs_note(meta.get("default_epochs")),
        table(["figure", "this project", "Rasa default", "project / default"], comparison_rows(results)),
        "",
        f"![Latency distributions, this project against Rasa's default configuration]({chart_link})",
        "",
        *growth_markdown(results, growth_link),
    ]
    if recorded:
        parts += [
            "### What each tuning change bought",
            "",
            "Each row is a full `make bench` run recorded during tuning (`--step`), each with its own "
            "measurement of the default configuration; the change in a row is applied on top of the rows "
            "above it.",
            "",
            steps_table(recorded),
            "",
        ]
    parts += [
        "### How to reproduce",
        "",
        "```bash",
        "make bench        # trains what is missing; Rasa's default model is cached in build/bench/",
        "```",
        "",
        "It writes `build/bench/bench.json` (every figure and every latency) and `build/bench/latency.png`, "
        "then this section and its chart. The first run trains Rasa's default configuration (about ten "
        "minutes on 2 cores); later runs reuse it until the data or domain change. "
        "`python -m benchmarks.bench --help` lists the options; `--step NAME --note TEXT` records a run "
        "as a tuning step for the table above. `make test` runs `--smoke`, a few messages with a "
        "one-epoch default model, asserting only that the bench works and our model answers every message.",
        "",
    ]
    return "\n".join(parts)


def write_speed_doc(
    results: Dict[str, Any], chart: Path, docs: Path, steps: Path, growth: Optional[Path] = None
) -> List[Path]:
    """Writes ``speed.md`` and its charts into ``docs`` and reassembles ``docs/evaluation.md``."""
    from benchmarks.docs import write_evaluation_doc

    docs.mkdir(parents=True, exist_ok=True)
    image = docs / "speed-latency.png"
    shutil.copyfile(chart, image)
    written = [image]
    growth_link = None
    if growth is not None:
        growth_image = docs / "speed-growth.png"
        shutil.copyfile(growth, growth_image)
        written.append(growth_image)
        growth_link = growth_image.relative_to(docs.parent).as_posix()
    # speed.md is a section of docs/evaluation.md, so links are relative to docs/.
    link = image.relative_to(docs.parent).as_posix()
    section = docs / "speed.md"
    section.write_text(speed_markdown(results, link, load_steps(steps), growth_link), encoding="utf-8")
    return [section, *written, write_evaluation_doc(docs.parent)]
