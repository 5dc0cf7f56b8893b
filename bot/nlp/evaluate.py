"""Scores a trained model's NLU on hold-out data it was never trained on.

``python -m bot.nlp.evaluate MODEL [HOLDOUT ...]`` prints intent accuracy and
macro-F1, ``procedure`` entity precision/recall (by canonical value), and the
share of out-of-scope messages the bot declines. The test suite calls
:func:`evaluate` and enforces minimum scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOLDOUT = (ROOT / "tests" / "data" / "nlu_holdout.yml", ROOT / "tests" / "data" / "out_of_scope.yml")
DECLINED = {"out_of_scope", "nlu_fallback"}


@dataclass
class Example:
    """One hold-out message with its expected intent and procedure values."""

    text: str
    intent: str
    procedures: Tuple[str, ...]


@dataclass
class Scores:
    """The figures the suite and reports use."""

    examples: int = 0
    intent_accuracy: float = 0.0
    intent_macro_f1: float = 0.0
    entity_precision: float = 0.0
    entity_recall: float = 0.0
    entity_f1: float = 0.0
    out_of_scope_declined: float = 0.0
    in_scope_declined: float = 0.0
    errors: List[Dict[str, str]] = field(default_factory=list)


def load_examples(paths: Iterable[Path]) -> List[Example]:
    """Reads Rasa NLU YAML files into examples."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    examples = []
    for path in paths:
        data = RasaYAMLReader().read(str(path))
        for message in data.intent_examples:
            values = tuple(e["value"] for e in message.get("entities") or [] if e["entity"] == "procedure")
            examples.append(Example(message.get("text"), message.get("intent"), values))
    return examples


def score(examples: Sequence[Example], predictions: Sequence[Tuple[str, Tuple[str, ...]]]) -> Scores:
    """Scores predictions (intent, procedure values) against examples."""
    result = Scores(examples=len(examples))
    correct = 0
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    ent_tp = ent_fp = ent_fn = 0
    oos_total = oos_declined = ins_total = ins_declined = 0
    for example, (intent, procedures) in zip(examples, predictions):
        hit = intent == example.intent or (example.intent == "out_of_scope" and intent in DECLINED)
        correct += hit
        if hit:
            tp[example.intent] += 1
        else:
            fp[intent] += 1
            fn[example.intent] += 1
            result.errors.append({"text": example.text, "expected": example.intent, "predicted": intent})
        expected, got = Counter(example.procedures), Counter(procedures)
        ent_tp += sum((expected & got).values())
        ent_fp += sum((got - expected).values())
        ent_fn += sum((expected - got).values())
        if example.intent == "out_of_scope":
            oos_total += 1
            oos_declined += intent in DECLINED
        else:
            ins_total += 1
            ins_declined += intent in DECLINED
    labels = {e.intent for e in examples}
    f1s = []
    for label in labels:
        precision = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        recall = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    result.intent_accuracy = correct / len(examples) if examples else 0.0
    result.intent_macro_f1 = sum(f1s) / len(f1s) if f1s else 0.0
    result.entity_precision = ent_tp / (ent_tp + ent_fp) if ent_tp + ent_fp else 1.0
    result.entity_recall = ent_tp / (ent_tp + ent_fn) if ent_tp + ent_fn else 1.0
    p, r = result.entity_precision, result.entity_recall
    result.entity_f1 = 2 * p * r / (p + r) if p + r else 0.0
    result.out_of_scope_declined = oos_declined / oos_total if oos_total else 0.0
    result.in_scope_declined = ins_declined / ins_total if ins_total else 0.0
    return result


async def _predict(model: Path, texts: Sequence[str]) -> List[Tuple[str, Tuple[str, ...]]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    predictions = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = (parsed.get("intent") or {}).get("name") or ""
        values = tuple(e["value"] for e in parsed.get("entities") or [] if e.get("entity") == "procedure")
        predictions.append((intent, values))
    return predictions


def evaluate(model: Path, holdout: Optional[Sequence[Path]] = None) -> Scores:
    """Loads ``model`` and scores it on the hold-out files."""
    examples = load_examples(holdout or DEFAULT_HOLDOUT)
    predictions = asyncio.run(_predict(Path(model), [e.text for e in examples]))
    return score(examples, predictions)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("holdout", type=Path, nargs="*")
    parser.add_argument("--errors", action="store_true", help="list every misclassified message")
    parser.add_argument("--json", type=Path, help="also write the scores as JSON here")
    args = parser.parse_args(argv)
    scores = evaluate(args.model, args.holdout or None)
    figures = {k: v for k, v in asdict(scores).items() if k != "errors"}
    for key, value in figures.items():
        print(f"{key:24} {value:.3f}" if isinstance(value, float) else f"{key:24} {value}")
    if args.errors:
        for error in scores.errors:
            print(f"  {error['expected']:24} -> {error['predicted']:24} {error['text']}")
    if args.json:
        args.json.write_text(json.dumps(asdict(scores), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
