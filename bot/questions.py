"""Deciding what answers a question: a specific item, a topic summary, or "not covered".

The question matcher (``bot.nlp.question_matcher``) gives a probability for every
class it knows: each knowledge item, each ``summary:<topic>``, and ``other``.
:func:`decide` turns them into one decision for one procedure: only the items that
apply to that procedure compete (probabilities renormalised over what is left), so
"Can I have an MRI?" in a stimulator conversation gets the stimulator's MRI item,
and in an epidural conversation, where no item is about MRI, an honest "not
covered". The matcher stores a decision per procedure in the parse result
(``question_match``); the answering action looks up the procedure in play.

No Rasa here: the action server and the benchmarks use it as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Tuple

from bot.knowledge import KnowledgeBase

MATCH_KEY = "question_match"
SUMMARY_PREFIX = "summary:"
OTHER = "other"
ITEM = "item"
SUMMARY = "summary"
NOT_COVERED = "not_covered"
ANY = "any"  # the decision when no procedure is known: every item competes
CONDITIONS = "conditions"


def summary_label(topic: str) -> str:
    """The class of a topic's general questions."""
    return SUMMARY_PREFIX + topic


@dataclass(frozen=True)
class Decision:
    """What answers the question for one procedure.

    ``kind`` is ``item`` (``name`` is its id), ``summary`` (``name`` is the topic) or
    ``not_covered`` (``name``: the likeliest item, which fell short, if any);
    ``closest`` is the likeliest summary topic, offered "as such" when nothing
    covers the question.
    """

    kind: str
    name: Optional[str]
    confidence: float
    closest: Optional[str]
    # An item (or a general question's summary) so likely it answers even when the
    # intent classifier declined the message (fallback) or took it for out of scope.
    strong: bool = False

    def as_dict(self) -> Dict[str, Any]:
        """JSON-friendly form, for the parse result."""
        confidence = round(self.confidence, 4)
        return {
            "kind": self.kind,
            "name": self.name,
            "confidence": confidence,
            "closest": self.closest,
            "strong": self.strong,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Optional[Decision]:
        """The decision stored by :meth:`as_dict`, or ``None`` when malformed."""
        kind = raw.get("kind") if isinstance(raw, Mapping) else None
        if kind not in (ITEM, SUMMARY, NOT_COVERED):
            return None
        confidence = raw.get("confidence")
        return cls(
            kind=kind,
            name=raw.get("name") if isinstance(raw.get("name"), str) else None,
            confidence=float(confidence) if isinstance(confidence, (int, float)) else 0.0,
            closest=raw.get("closest") if isinstance(raw.get("closest"), str) else None,
            strong=raw.get("strong") is True and kind in (ITEM, SUMMARY),
        )


def decide(
    probabilities: Mapping[str, float],
    procedure: Optional[str],
    knowledge: KnowledgeBase,
    item_threshold: float,
    summary_threshold: float,
    strong_threshold: float = 1.0,
) -> Decision:
    """The answer for ``procedure`` (``None``: any procedure) from the matcher's probabilities."""
    allowed: Dict[str, float] = {}
    for label, probability in probabilities.items():
        if label == OTHER or label.startswith(SUMMARY_PREFIX):
            allowed[label] = probability
            continue
        item = knowledge.item(label)
        if item is not None and (procedure is None or item.applies_to(procedure)):
            allowed[label] = probability
    total = sum(allowed.values())
    summaries = [label for label in allowed if label.startswith(SUMMARY_PREFIX)]
    closest = max(summaries, key=allowed.__getitem__)[len(SUMMARY_PREFIX) :] if summaries else None
    if total <= 0:
        return Decision(NOT_COVERED, None, 0.0, closest)
    best = max(allowed, key=allowed.__getitem__)
    share = allowed[best] / total
    if best.startswith(SUMMARY_PREFIX):
        if share >= summary_threshold:
            return Decision(
                SUMMARY, best[len(SUMMARY_PREFIX) :], share, closest, strong=share >= strong_threshold
            )
    elif best != OTHER and share >= item_threshold:
        return Decision(ITEM, best, share, closest, strong=share >= strong_threshold)
    # Not likely enough: ``name`` keeps the likeliest item that fell short (never served
    # as it is; the answering action may serve the same item found surely among the
    # general questions).
    runner_up = best if best != OTHER and not best.startswith(SUMMARY_PREFIX) else None
    return Decision(NOT_COVERED, runner_up, share, closest)


def decisions(
    probabilities: Mapping[str, float],
    knowledge: KnowledgeBase,
    item_threshold: float,
    summary_threshold: float,
    strong_threshold: float = 1.0,
) -> Dict[str, Dict[str, Any]]:
    """A decision for every entry of the knowledge file, and for ``any`` procedure."""
    thresholds = (item_threshold, summary_threshold, strong_threshold)
    result = {
        entry_id: decide(probabilities, entry_id, knowledge, *thresholds).as_dict()
        for entry_id in knowledge.entries
    }
    result[ANY] = decide(probabilities, None, knowledge, *thresholds).as_dict()
    return result


@lru_cache(maxsize=4)
def _condition_patterns(
    conditions: Tuple[Tuple[str, Tuple[str, ...]], ...],
) -> List[Tuple[str, re.Pattern[str]]]:
    patterns = []
    for condition_id, names in conditions:
        ordered = sorted({n.lower() for n in names if n.strip()}, key=len, reverse=True)
        if ordered:
            alternatives = "|".join(re.escape(n) for n in ordered)
            patterns.append((condition_id, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)))
    return patterns


def conditions_named(text: str, knowledge: KnowledgeBase) -> List[str]:
    """Ids of the conditions a message names (by name or alias), in order of appearance."""
    keyed = tuple((c.id, (c.name, *c.aliases)) for c in knowledge.conditions.values())
    found = []
    for condition_id, pattern in _condition_patterns(keyed):
        match = pattern.search(text or "")
        if match:
            found.append((match.start(), condition_id))
    return [condition_id for _, condition_id in sorted(found)]
