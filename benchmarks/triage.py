"""Red-flag triage measured on messages nobody tuned against (part of ``make evaluate``).

``python -m benchmarks.triage`` trains the triage classifier exactly as
``TriageGuard`` does (``bot/safety/triage_examples*.yml``, one per writer, the knowledge file's
phrasings, every other NLU training example as an ordinary message) with the
thresholds of ``config.yml``, and scores the full decision (rules + classifier +
procedure context) on:

- **held-out** (``tests/data/triage/heldout_*.yml``): red-flag messages and hard
  negatives written by helpers who never saw the rules or the training examples,
  from the public after-care and warning-sign pages each file lists. Never trained
  on, never used to choose anything;
- **dev** (``tests/data/red_flags.yml``, the older set in the rules' categories;
  its levels are what count here): seen while writing the rules;
- the **NLU hold-out and out-of-scope questions** (``tests/data/nlu_holdout.yml``
  without its ``emergency`` examples, ``tests/data/out_of_scope.yml``): ordinary
  questions that must raise nothing.

It prints and writes per level and per category: recall (the right level or a
more urgent one was served), exact level, "lower level than the right one", false
alarms, and how often the gentle crisis line was shown. ``--tune`` adds 5-fold
cross-validation on the training examples with a sweep of each level's threshold
(how the values in ``config.yml`` were chosen; the held-out files play no part).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from benchmarks.markdown import fmt, table
from benchmarks.nlu_data import HOLDOUT_DATA, OUT_OF_SCOPE_DATA, RED_FLAG_DATA, TRAINING_DATA, read_nlu_file
from bot.knowledge import LEVELS, Triage, load_knowledge
from bot.safety.triage import (
    DEFAULT_THRESHOLDS,
    NONE,
    TriageModel,
    assess,
    examples_paths,
    guard_names,
    guard_training_set,
    mentions_recent_procedure,
    read_examples,
    training_set,
)

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_DIR = ROOT / "tests" / "data" / "triage"
CONFIG = ROOT / "config.yml"
DEFAULT_OUT = ROOT / "build" / "evaluate" / "triage"
DOC = ROOT / "docs" / "evaluation" / "triage.md"
GUARD = "bot.nlp.components.TriageGuard"
#: The older red-flag set's categories (bot/safety/red_flags.py before triage had levels) -> level.
DEV_LEVELS = {
    "neuro": "emergency",
    "cauda_equina": "emergency",
    "cardio_respiratory": "emergency",
    "self_harm": "crisis",
    "infection": "urgent",
    "spinal_headache": "urgent",
    "pump": "urgent",
}


@dataclass(frozen=True)
class Case:
    """One labelled message: the level it must raise (``none`` for a negative)."""

    text: str
    level: str
    category: str = NONE
    also: Tuple[str, ...] = ()
    context: str = ""
    source: str = ""
    origin: str = ""
    split: str = ""


def guard_settings(config: Path = CONFIG) -> Dict[str, float]:
    """``TriageGuard``'s settings in ``config.yml`` (thresholds and ``C``)."""
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    for component in raw.get("pipeline") or []:
        if component.get("name") == GUARD:
            return {k: float(v) for k, v in component.items() if k != "name"}
    raise SystemExit(f"{config}: no {GUARD} in the pipeline")


#: Share of each file's source pages whose messages form the development part.
DEV_SHARE = 35


def split_of(origin: str, source: str) -> str:
    """``dev`` or ``heldout`` for a message, by its source page (stable across runs and machines).

    The split is by page, so that the development part (which whoever changes the
    triage may read, message by message) shares no page with the held-out part
    (which only the figures here ever show).
    """
    digest = hashlib.sha256(f"{origin}:{source}".encode()).digest()
    return "dev" if int.from_bytes(digest[:4], "big") % 100 < DEV_SHARE else "heldout"


def read_heldout(directory: Path = HELDOUT_DIR) -> List[Case]:
    """The files written apart from the rules, each message in its split."""
    cases = []
    for path in sorted(directory.glob("heldout_*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in raw.get("messages") or []:
            cases.append(
                Case(
                    text=str(item["text"]),
                    level=str(item.get("level") or NONE),
                    category=str(item.get("category") or NONE),
                    also=tuple(item.get("also") or ()),
                    context=str(item.get("context") or ""),
                    source=str(item.get("source") or ""),
                    origin=path.name,
                    split=split_of(path.name, str(item.get("source") or "")),
                )
            )
    return cases


def read_dev(path: Path = RED_FLAG_DATA) -> List[Case]:
    """The older red-flag set, by level."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [
        Case(
            text=item["text"], level=DEV_LEVELS[item["category"]], category=item["category"], origin=path.name
        )
        for item in raw["positive"]
    ]
    cases += [Case(text=text, level=NONE, origin=path.name) for text in raw["negative"]]
    return cases


def read_questions() -> List[Case]:
    """Ordinary questions from the NLU hold-out and out-of-scope sets: none may raise a level."""
    cases = [
        Case(text=m.text, level=NONE, category=m.intent, origin=HOLDOUT_DATA.name)
        for m in read_nlu_file(HOLDOUT_DATA)
        if m.intent != "emergency"
    ]
    cases += [
        Case(text=m.text, level=NONE, origin=OUT_OF_SCOPE_DATA.name) for m in read_nlu_file(OUT_OF_SCOPE_DATA)
    ]
    return cases


def negatives_from_training() -> List[str]:
    """Every NLU training example but ``emergency``: ordinary messages for the classifier."""
    return [m.text for m in read_nlu_file(TRAINING_DATA) if m.intent != "emergency"]


def train(triage: Triage, settings: Mapping[str, float]) -> TriageModel:
    """The classifier exactly as ``TriageGuard.train`` fits it."""
    texts, labels = guard_training_set(load_knowledge(), negatives_from_training())
    return fit(texts, labels, settings)


def fit(texts: Sequence[str], labels: Sequence[str], settings: Mapping[str, float]) -> TriageModel:
    """A classifier with ``TriageGuard``'s settings (``C``, ``embedding_weight``)."""
    return TriageModel.fit(
        texts,
        labels,
        C=float(settings.get("C", 10.0)),
        embedding_weight=float(settings.get("embedding_weight", 0.0)),
    )


@dataclass
class Tally:
    """Counts for one group of cases."""

    total: int = 0
    caught: int = 0
    exact: int = 0
    lower: int = 0
    crisis_line: int = 0
    misses: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """The figures as JSON-ready values."""
        return {
            "total": self.total,
            "recall": self.caught / self.total if self.total else None,
            "exact": self.exact / self.total if self.total else None,
            "lower": self.lower,
            "crisis_line_shown": self.crisis_line,
            "misses": self.misses,
        }


def required_levels(case: Case, triage: Triage) -> List[str]:
    """The levels a case must raise: its own and its ``also`` categories'."""
    levels = [case.level] + triage.levels_of(case.also)
    return [level for level in LEVELS if level in levels]


def served_covers(required: str, served: Sequence[str]) -> bool:
    """Whether the served levels give what ``required`` needs (or something more urgent).

    A crisis needs the crisis line itself; an emergency the emergency number; an
    urgent sign is covered by urgent or emergency.
    """
    if required == "urgent":
        return "urgent" in served or "emergency" in served
    return required in served


def score(cases: Sequence[Case], triage: Triage, model: TriageModel, thresholds: Mapping[str, float]) -> Dict:
    """Per level and category figures for positives; false alarms for negatives."""
    by_level: Dict[str, Tally] = defaultdict(Tally)
    by_category: Dict[str, Tally] = defaultdict(Tally)
    negatives = Tally()
    negative_alarms: Counter = Counter()
    texts = [c.text for c in cases]
    probabilities = model.probabilities(texts) if model.trained else [None] * len(texts)
    for case, probability in zip(cases, probabilities):
        # An earlier message that told of a procedure works as the recent_procedure slot does.
        recent = bool(case.context) and mentions_recent_procedure(case.context)
        found = assess(
            case.text, triage, None, thresholds, recent_procedure=recent, probabilities=probability
        )
        served = list(found.levels)
        if case.level == NONE:
            negatives.total += 1
            negatives.crisis_line += int(found.crisis_check or "crisis" in served)
            if served:
                negatives.caught += 1
                negative_alarms[served[0]] += 1
                negatives.misses.append({"text": case.text, "served": served, "categories": found.categories})
            continue
        for level in required_levels(case, triage):
            for tally in (by_level[level], by_category[case.category if level == case.level else level]):
                tally.total += 1
                ok = served_covers(level, served)
                tally.caught += int(ok)
                tally.exact += int(level in served)
                tally.crisis_line += int(found.crisis_check or "crisis" in served)
                if not ok:
                    tally.lower += 1
                    tally.misses.append(
                        {
                            "text": case.text,
                            "context": case.context,
                            "served": served,
                            "conditional": found.conditional,
                        }
                    )
    return {
        "levels": {level: by_level[level].as_dict() for level in LEVELS if level in by_level},
        "categories": {c: t.as_dict() for c, t in sorted(by_category.items())},
        "negatives": {
            "total": negatives.total,
            "false_alarms": negatives.caught,
            "false_alarm_rate": negatives.caught / negatives.total if negatives.total else None,
            "by_level": dict(negative_alarms),
            "crisis_line_shown": negatives.crisis_line,
            "alarms": negatives.misses,
        },
    }


def evaluate(settings: Optional[Mapping[str, float]] = None) -> Dict[str, Any]:
    """Trains once and scores every set; the report as a dict."""
    settings = dict(settings or guard_settings())
    thresholds = {k: settings.get(k, v) for k, v in DEFAULT_THRESHOLDS.items()}
    triage = load_knowledge().triage
    model = train(triage, settings)
    every = read_heldout()
    heldout = [c for c in every if c.split == "heldout"]
    by_origin: Dict[str, List[Case]] = defaultdict(list)
    for case in every:
        by_origin[f"{case.origin} ({case.split})"].append(case)
    report = {
        "thresholds": thresholds,
        "heldout": score(heldout, triage, model, thresholds),
        "heldout_files": {
            origin: {
                "positives": sum(1 for c in cases if c.level != NONE),
                "negatives": sum(1 for c in cases if c.level == NONE),
            }
            for origin, cases in sorted(by_origin.items())
        },
        "development": score([c for c in every if c.split == "dev"], triage, model, thresholds),
        "older": score(read_dev(), triage, model, thresholds),
        "questions": score(read_questions(), triage, model, thresholds)["negatives"],
        "rules_only": score(heldout, triage, TriageModel(), thresholds),
    }
    return report


# ---------------------------------------------------------------------- tuning


def cross_validate(settings: Mapping[str, float], folds: int = 5, seed: int = 2024) -> Dict[str, Any]:
    """Per level, recall and false alarms of the training examples by threshold, in ``folds`` folds."""
    triage = load_knowledge().triage
    texts, labels = guard_training_set(load_knowledge(), negatives_from_training())
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    grid = [round(0.05 * i, 2) for i in range(1, 15)]
    sums: Dict[str, Dict[float, List[int]]] = {level: {t: [0, 0, 0, 0] for t in grid} for level in LEVELS}
    for fold in range(folds):
        test = set(order[fold::folds])
        train_idx = [i for i in order if i not in test]
        model = fit([texts[i] for i in train_idx], [labels[i] for i in train_idx], settings)
        test_idx = sorted(test)
        probabilities = model.probabilities([texts[i] for i in test_idx])
        for i, probability in zip(test_idx, probabilities):
            truth = triage.level_of(labels[i]) if labels[i] != NONE else NONE
            for level in LEVELS:
                total = sum(
                    probability.get(c.id, 0.0) for c in triage.categories.values() if c.level == level
                )
                for t in grid:
                    cell = sums[level][t]
                    if truth == level:
                        cell[0] += 1
                        cell[1] += int(total >= t)
                    elif truth == NONE:
                        cell[2] += 1
                        cell[3] += int(total >= t)
    return {
        level: [
            {
                "threshold": t,
                "recall": c[1] / c[0] if c[0] else None,
                "false_alarms": c[3] / c[2] if c[2] else None,
            }
            for t, c in sums[level].items()
        ]
        for level in LEVELS
    }


def by_writer(
    settings: Mapping[str, float],
    paths: Optional[Sequence[Path]] = None,
    negatives: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Leave one writer out: train without one examples file, score on that file's own texts.

    Each examples file comes from its own writer, so this asks what the held-out
    files ask (ways of saying things no training text used) without reading them:
    the figures to compare changes to the classifier by. Scored like everything here
    (rules + classifier + procedure context), on each file's texts as written (no
    made-up stories or typos); the knowledge file's phrasings always stay in training.
    """
    knowledge = load_knowledge()
    triage = knowledge.triage
    thresholds = {k: settings.get(k, v) for k, v in DEFAULT_THRESHOLDS.items()}
    negatives = negatives_from_training() if negatives is None else negatives
    names = guard_names(knowledge)
    paths = examples_paths() if paths is None else paths
    result: Dict[str, Any] = {}
    for left_out in paths:
        # The phrasings go with whichever file comes first, so they stay in training.
        others = [p for p in paths if p != left_out]
        texts, labels = training_set(triage, negatives, paths=others, names=names)
        own = read_examples(triage, left_out, phrasings=False)
        model = fit(texts, labels, settings)
        cases = [
            Case(text=t, level=triage.level_of(c) if c != NONE else NONE, category=c, origin=left_out.name)
            for t, c in own
        ]
        result[left_out.name] = score(cases, triage, model, thresholds)
    return result


# ---------------------------------------------------------------------- output


def to_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (``docs/evaluation/triage.md``)."""
    held, rules = report["heldout"], report["rules_only"]
    neg = held["negatives"]
    seen = []
    for name, key in (("development part", "development"), ("older set", "older")):
        part = report[key]
        seen += [[name, level, t["total"], fmt(t["recall"])] for level, t in part["levels"].items()]
        negatives = part["negatives"]
        seen.append([name, "look-alikes: false alarms", negatives["total"], negatives["false_alarms"]])
    files = ", ".join(
        f"`{k}`: {v['positives']} red flags, {v['negatives']} look-alikes"
        for k, v in report["heldout_files"].items()
    )
    lines = [
        "<!-- Generated by `make evaluate` (benchmarks/triage.py). Do not edit by hand. -->",
        "## Red-flag triage on messages it has not seen (`make evaluate`)",
        "",
        "The held-out messages were written by helpers who never read the rules or the training examples, "
        "from the public after-care and warning-sign pages listed in each file "
        f"({files}). "
        "Recall counts a message as caught when the bot served its level or a more urgent one "
        "(an urgent sign answered with the emergency number counts; a crisis needs the crisis line itself). "
        "Thresholds (config.yml): " + ", ".join(f"{k} {v:g}" for k, v in report["thresholds"].items()) + ".",
        "",
        "### Per level (held-out)",
        "",
        table(
            ["level", "messages", "recall", "exact level", "lower than right", "crisis line shown"],
            [
                [level, t["total"], fmt(t["recall"]), fmt(t["exact"]), t["lower"], t["crisis_line_shown"]]
                for level, t in held["levels"].items()
            ],
        ),
        "",
        f"Hard negatives (look-alikes): **{neg['false_alarms']} false alarms of {neg['total']}** "
        f"(rate {fmt(neg['false_alarm_rate'])}; by level {neg['by_level'] or '{}'}); the gentle crisis line "
        f"was shown with {neg['crisis_line_shown']} of them.",
        "",
        "Ordinary questions of the NLU hold-out and out-of-scope sets: "
        f"**{report['questions']['false_alarms']} "
        f"false alarms of {report['questions']['total']}**.",
        "",
        "### Per category (held-out)",
        "",
        table(
            ["category", "messages", "recall", "exact level"],
            [[c, t["total"], fmt(t["recall"]), fmt(t["exact"])] for c, t in held["categories"].items()],
        ),
        "",
        "### What the classifier adds",
        "",
        "The same held-out messages with the rules alone (`bot/safety/red_flags.py`, the old guard):",
        "",
        table(
            ["level", "recall, rules alone", "recall, rules + classifier"],
            [
                *(
                    [level, fmt(rules["levels"][level]["recall"]), fmt(t["recall"])]
                    for level, t in held["levels"].items()
                ),
                ["false alarms on look-alikes", rules["negatives"]["false_alarms"], neg["false_alarms"]],
            ],
        ),
        "",
        "### Parts seen while building the triage",
        "",
        "The development part of the same files (its source pages are not those of the held-out part) "
        "and the older `tests/data/red_flags.yml` were read while writing rules and choosing thresholds:",
        "",
        table(["set", "level", "messages", "recall"], seen, right_from=2),
    ]
    development = report["development"]
    misses = [(level, m) for level, t in development["levels"].items() for m in t["misses"]]
    lines += [
        "",
        "### Development part: misses",
        "",
        "(The held-out part's messages are never shown, here or anywhere: whoever improves the triage "
        "must not read them.)",
        "",
    ]
    lines += [f"- {level}: \"{m['text']}\" -> served {m['served'] or 'nothing'}" for level, m in misses] or [
        "None."
    ]
    lines += ["", "### Development part: false alarms", ""]
    lines += [
        f"- \"{a['text']}\" -> {a['served']} ({', '.join(a['categories'])})"
        for a in development["negatives"]["alarms"]
    ] or ["None."]
    return "\n".join(lines) + "\n"


def _hide_messages(part: Dict[str, Any]) -> None:
    """Drops the texts of a held-out part's misses and false alarms (counts stay)."""
    for group in (*part["levels"].values(), *part["categories"].values()):
        group["misses"] = len(group["misses"])
    part["negatives"]["alarms"] = len(part["negatives"]["alarms"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where report.json and report.md go")
    parser.add_argument(
        "--doc", type=Path, default=DOC, help="the generated document (docs/evaluation/triage.md)"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the document")
    parser.add_argument(
        "--tune", action="store_true", help="also sweep thresholds in 5-fold CV on the training data"
    )
    parser.add_argument(
        "--by-writer",
        action="store_true",
        help="only leave each examples file out in turn and score on it (no held-out figures, no doc)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TriageGuard setting of config.yml for this run (e.g. embedding_weight=2)",
    )
    args = parser.parse_args(argv)
    settings = guard_settings()
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        settings[key.strip()] = float(value)
    if args.by_writer:
        return print_by_writer(by_writer(settings), args.out)
    report = evaluate(settings)
    if args.tune:
        report["cross_validation"] = cross_validate(settings)
    for part in ("heldout", "rules_only"):
        _hide_messages(report[part])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    markdown = to_markdown(report)
    (args.out / "report.md").write_text(markdown, encoding="utf-8")
    if not args.no_doc:
        from benchmarks.docs import write_evaluation_doc

        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(markdown, encoding="utf-8")
        write_evaluation_doc()
    held = report["heldout"]
    print("Red-flag triage, held-out messages (recall = right level or more urgent):")
    for level, t in held["levels"].items():
        print(f"  {level:10} {t['total']:4} messages  recall {fmt(t['recall'])}  lower {t['lower']}")
    neg = held["negatives"]
    print(
        f"  look-alikes {neg['total']:4} messages  false alarms {neg['false_alarms']}"
        f"  ({fmt(neg['false_alarm_rate'])})"
    )
    print(
        f"  NLU hold-out + out-of-scope questions: {report['questions']['false_alarms']} false alarms"
        f" of {report['questions']['total']}"
    )
    if args.tune:
        for level, rows in report["cross_validation"].items():
            cells = "  ".join(
                f"{r['threshold']:.2f}:{fmt(r['recall'])}/{fmt(r['false_alarms'])}" for r in rows
            )
            print(f"  CV {level}: threshold:recall/false-alarms {cells}")
    print(f"Written to {args.out / 'report.md'}" + ("" if args.no_doc else f" and {args.doc}"))
    return 0


def print_by_writer(result: Mapping[str, Any], out: Path) -> int:
    """Prints the leave-one-writer-out figures (each level's recall, false alarms) and their sum."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "by_writer.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    totals: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    print("Leave one writer out (train without the file, score on it):")
    for name, part in result.items():
        cells = []
        for level, t in part["levels"].items():
            caught = round((t["recall"] or 0) * t["total"])
            totals[level][0] += caught
            totals[level][1] += t["total"]
            cells.append(f"{level} {caught}/{t['total']}")
        neg = part["negatives"]
        totals["false alarms"][0] += neg["false_alarms"]
        totals["false alarms"][1] += neg["total"]
        print(f"  {name:24} " + "  ".join(cells) + f"  false alarms {neg['false_alarms']}/{neg['total']}")
    print("  all: " + "  ".join(f"{k} {a}/{b} ({fmt(a / b if b else None)})" for k, (a, b) in totals.items()))
    print(f"Written to {out / 'by_writer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
