"""Evaluation data for ``make evaluate``: labelled messages, splits and scoring.

The intent, out-of-scope and canonical-value figures come from
:func:`bot.nlp.evaluate.score` (the scorer the hold-out test uses), so the suite and
the benchmark can never disagree on what "accuracy" means. This module adds what a
comparison between systems needs on top: ``procedure`` entity *spans* (every system
can be scored on where the procedure is named, only the project resolves it to a
canonical procedure id), per-intent figures and the confusion matrix.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from bot.nlp.evaluate import DECLINED, Example, score

ROOT = Path(__file__).resolve().parents[1]
TRAINING_DATA = ROOT / "data" / "nlu.yml"
HOLDOUT_DATA = ROOT / "tests" / "data" / "nlu_holdout.yml"
OUT_OF_SCOPE_DATA = ROOT / "tests" / "data" / "out_of_scope.yml"
RED_FLAG_DATA = ROOT / "tests" / "data" / "red_flags.yml"
PROCEDURE = "procedure"
OUT_OF_SCOPE = "out_of_scope"
EMERGENCY = "emergency"
FALLBACK = "nlu_fallback"
Span = Tuple[int, int]


@dataclass(frozen=True)
class LabelledMessage:
    """One message with its expected intent and ``procedure`` annotations."""

    text: str
    intent: str
    spans: Tuple[Span, ...] = ()
    values: Tuple[str, ...] = ()


@dataclass
class Prediction:
    """What a system made of one message.

    ``confidence`` is the intent classifier's own top confidence (before any
    fallback), which the confidence histogram plots.
    """

    intent: str
    confidence: float
    spans: Tuple[Span, ...] = ()
    values: Tuple[str, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        """A JSON-serialisable form (for the prediction cache)."""
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "spans": [list(s) for s in self.spans],
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> Prediction:
        """Reads :meth:`to_json` output back."""
        return cls(
            data["intent"],
            float(data["confidence"]),
            tuple((int(a), int(b)) for a, b in data["spans"]),
            tuple(data["values"]),
        )


@dataclass
class RedFlagSet:
    """The red-flag guard's own test phrases: must flag and must not flag."""

    positive: List[str] = field(default_factory=list)
    negative: List[str] = field(default_factory=list)


def read_nlu_file(path: Path) -> List[LabelledMessage]:
    """Reads a Rasa NLU YAML file into labelled messages (with entity spans)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    messages = []
    for message in RasaYAMLReader().read(str(path)).intent_examples:
        entities = [e for e in message.get("entities") or [] if e["entity"] == PROCEDURE]
        messages.append(
            LabelledMessage(
                text=message.get("text"),
                intent=message.get("intent"),
                spans=tuple((int(e["start"]), int(e["end"])) for e in entities),
                values=tuple(str(e["value"]) for e in entities),
            )
        )
    return messages


def read_red_flags(path: Path = RED_FLAG_DATA) -> RedFlagSet:
    """Reads ``tests/data/red_flags.yml``."""
    from rasa.shared.utils.io import read_yaml_file

    data = read_yaml_file(str(path))
    return RedFlagSet(
        positive=[item["text"] for item in data.get("positive") or []],
        negative=[str(item) for item in data.get("negative") or []],
    )


def stratified_slice(
    messages: Sequence[LabelledMessage], fraction: float, minimum: int, seed: int
) -> List[LabelledMessage]:
    """A reproducible per-intent random sample (``fraction`` of each intent, at least ``minimum``)."""
    by_intent: Dict[str, List[LabelledMessage]] = defaultdict(list)
    for message in messages:
        by_intent[message.intent].append(message)
    rng = random.Random(seed)
    chosen = set()
    for intent in sorted(by_intent):
        group = by_intent[intent]
        count = min(len(group), max(minimum, math.ceil(len(group) * fraction)))
        chosen.update(id(m) for m in rng.sample(group, count))
    return [m for m in messages if id(m) in chosen]


def stratified_folds(
    messages: Sequence[LabelledMessage], folds: int, seed: int
) -> List[Tuple[List[int], List[int]]]:
    """Stratified k-fold (by intent, shuffled with ``seed``): (train indices, test indices) per fold."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    labels = [m.intent for m in messages]
    return [(list(train), list(test)) for train, test in splitter.split(labels, labels)]


def to_rasa_yaml(messages: Iterable[LabelledMessage]) -> str:
    """Writes messages as Rasa NLU training data (entity annotations kept)."""
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    examples = []
    for m in messages:
        entities = [
            {"start": a, "end": b, "value": value, "entity": PROCEDURE}
            for (a, b), value in zip(m.spans, m.values)
        ]
        examples.append(Message(data={"text": m.text, "intent": m.intent, "entities": entities}))
    return TrainingData(training_examples=examples).nlu_as_yaml()


def _prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def is_declined(intent: str) -> bool:
    """Whether a predicted intent means the bot declines to answer (out of scope or fallback)."""
    return intent in DECLINED


def score_predictions(
    messages: Sequence[LabelledMessage], predictions: Sequence[Prediction], resolves_values: bool
) -> Dict[str, Optional[float]]:
    """Every figure for one system on one data set.

    Args:
        messages: The labelled messages.
        predictions: The system's prediction for each message, in the same order.
        resolves_values: Whether the system resolves procedures to canonical ids (then
            ``entity_value_*`` are scored; otherwise they are ``None``).

    Returns:
        intent accuracy and macro-F1, ``procedure`` span and value precision/recall/F1,
        out-of-scope rejection and in-scope false rejection, and the message counts.

    """
    examples = [Example(m.text, m.intent, m.values) for m in messages]
    base = score(examples, [(p.intent, p.values) for p in predictions])
    tp = fp = fn = 0
    for message, prediction in zip(messages, predictions):
        expected, got = Counter(message.spans), Counter(prediction.spans)
        tp += sum((expected & got).values())
        fp += sum((got - expected).values())
        fn += sum((expected - got).values())
    span_p, span_r, span_f1 = _prf(tp, fp, fn)
    out_of_scope = sum(1 for m in messages if m.intent == OUT_OF_SCOPE)
    return {
        "messages": len(messages),
        "in_scope_messages": len(messages) - out_of_scope,
        "out_of_scope_messages": out_of_scope,
        "procedure_mentions": sum(len(m.spans) for m in messages),
        "intent_accuracy": base.intent_accuracy,
        "intent_macro_f1": base.intent_macro_f1,
        "entity_span_precision": span_p,
        "entity_span_recall": span_r,
        "entity_span_f1": span_f1,
        "entity_value_precision": base.entity_precision if resolves_values else None,
        "entity_value_recall": base.entity_recall if resolves_values else None,
        "entity_value_f1": base.entity_f1 if resolves_values else None,
        "out_of_scope_rejection": base.out_of_scope_declined if out_of_scope else None,
        "in_scope_false_rejection": base.in_scope_declined,
    }


def per_intent(
    messages: Sequence[LabelledMessage], predictions: Sequence[Prediction]
) -> Dict[str, Dict[str, float]]:
    """Precision, recall, F1 and support per expected intent.

    Counted exactly as :func:`bot.nlp.evaluate.score` counts them, so the mean of the F1s
    is the macro-F1: declining an out-of-scope message is a hit for ``out_of_scope``.
    """
    tp, fp, fn, support = Counter(), Counter(), Counter(), Counter()
    for message, prediction in zip(messages, predictions):
        declined_correctly = message.intent == OUT_OF_SCOPE and is_declined(prediction.intent)
        predicted = OUT_OF_SCOPE if declined_correctly else prediction.intent
        support[message.intent] += 1
        if predicted == message.intent:
            tp[message.intent] += 1
        else:
            fp[predicted] += 1
            fn[message.intent] += 1
    result = {}
    for intent in sorted(support):
        p, r, f1 = _prf(tp[intent], fp[intent], fn[intent])
        result[intent] = {"precision": p, "recall": r, "f1": f1, "support": support[intent]}
    return result


def confusion(
    messages: Sequence[LabelledMessage], predictions: Sequence[Prediction]
) -> Tuple[List[str], List[str], List[List[int]]]:
    """Confusion counts: expected intents (rows), predicted intents incl. ``nlu_fallback`` (columns)."""
    rows = sorted({m.intent for m in messages}, key=lambda i: (i == OUT_OF_SCOPE, i))
    extra = sorted({p.intent for p in predictions} - set(rows) - {FALLBACK})
    columns = rows + extra + [FALLBACK]
    counts = [[0] * len(columns) for _ in rows]
    for message, prediction in zip(messages, predictions):
        counts[rows.index(message.intent)][columns.index(prediction.intent or FALLBACK)] += 1
    return rows, columns, counts


def red_flag_scores(flags: RedFlagSet, positive: Sequence[str], negative: Sequence[str]) -> Dict[str, Any]:
    """Recall on the must-flag phrases and false-alarm rate on the look-alike questions.

    Args:
        flags: The test phrases.
        positive: The predicted intent of each ``flags.positive`` phrase.
        negative: The predicted intent of each ``flags.negative`` phrase.

    """
    caught = sum(1 for intent in positive if intent == EMERGENCY)
    alarms = sum(1 for intent in negative if intent == EMERGENCY)
    return {
        "positives": len(flags.positive),
        "negatives": len(flags.negative),
        "recall": caught / len(flags.positive) if flags.positive else None,
        "false_alarm_rate": alarms / len(flags.negative) if flags.negative else None,
        "missed": len(flags.positive) - caught,
        "false_alarms": alarms,
    }
