"""Does the reply answer the question asked? Measured on real FAQ questions (part of ``make evaluate``).

``python -m benchmarks.questions`` loads the trained model, parses every question
of ``tests/data/questions/{dev,heldout}.yml`` (questions from the public clinic,
hospital and device-maker FAQ pages listed in ``docs/evaluation/faq-pages.md``,
rewritten in patients' words, split **by page**; each labelled with the item id
that answers it, ``summary:<topic>`` when the topic summary answers the point,
``not_covered``, ``compare`` or ``condition:<name>``), builds the
reply exactly as the answering action does (``bot.replies.Responder``, with the
conversation's procedure from the question's ``context``), and scores:

- **right item**: questions an item answers, served that item;
- **right summary**: general questions, served their topic's summary;
- **another question's answer**: an item for a different question served (and,
  reported apart, a topic summary that does not answer it served as if it did);
- **honest when not covered**: ``not_covered`` questions that got "I don't have
  checked information on that" (or the fallback's "not sure I understood"),
  never another question's answer;
- comparisons served a side-by-side; condition questions the condition's list.

Each figure is given for the bot as it is and for the **topic-only bot** (the
same model with the question matcher's decisions ignored: what the bot did before
items). The held-out half's texts are never printed; the development half's
misses are (``--misses``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from benchmarks.markdown import fmt, table
from benchmarks.nlu_data import OUT_OF_SCOPE_DATA, read_nlu_file
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.questions import MATCH_KEY
from bot.replies import INFORM, INTENT_TOPICS, Outcome, Responder
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "questions"
PARTS = ("dev", "heldout")
MODEL = ROOT / "models" / "pain-clinic.tar.gz"
CONFIG = ROOT / "config.yml"
DEFAULT_OUT = ROOT / "build" / "evaluate" / "questions"
DOC = ROOT / "docs" / "evaluation" / "questions.md"
MATCHER = "bot.nlp.question_matcher.QuestionMatcher"
NOT_COVERED = "not_covered"
SUMMARY_LABEL = "summary:"  # the topic summary answers the point asked
COMPARE = "compare"


@dataclass(frozen=True)
class Question:
    """One labelled question."""

    text: str
    label: str
    kind: str
    context: Optional[str]
    page: str
    part: str


def read_questions(part: str, data: Path = DATA) -> List[Question]:
    """The labelled questions of one half (unlabelled ones are left out)."""
    raw = yaml.safe_load((data / f"{part}.yml").read_text(encoding="utf-8")) or {}
    found = []
    for item in raw.get("questions") or []:
        label = item.get("label")
        if not isinstance(label, str) or not label or not isinstance(item.get("text"), str):
            continue
        found.append(
            Question(
                text=item["text"],
                label=label,
                kind=item.get("kind") or "question",
                context=item.get("context") or None,
                page=item.get("page") or "",
                part=part,
            )
        )
    return found


def matcher_settings(config: Path = CONFIG) -> Dict[str, float]:
    """The question matcher's thresholds in config.yml."""
    pipeline = yaml.safe_load(config.read_text(encoding="utf-8"))["pipeline"]
    found = next(c for c in pipeline if c.get("name") == MATCHER)
    return {k: float(found[k]) for k in ("item_threshold", "summary_threshold")}


async def parse_texts(model: Path, texts: Sequence[str]) -> List[Dict[str, Any]]:
    """Each text parsed by the trained model, as the Rasa server parses a message."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def served(outcome: Outcome) -> Tuple[str, Optional[str]]:
    """What a reply is: ``(kind, name)``; ``name`` is the item id or condition id."""
    last = outcome.slots.get("last_answer")
    if outcome.kind == "item" and isinstance(last, str):
        return "item", last.split("/")[-1]
    if outcome.kind == "condition" and isinstance(last, str):
        return "condition", last.split(":", 1)[1]
    if outcome.kind == "summary" and isinstance(last, str):
        return "summary", last.split("/")[-1]
    return outcome.kind or "other", None


def reply_for(
    responder: Responder, question: Question, parsed: Mapping[str, Any], use_match: bool
) -> Tuple[str, Optional[str]]:
    """What the bot serves for one question (``use_match=False``: the topic-only bot)."""
    intent = (parsed.get("intent") or {}).get("name") or ""
    entities = parsed.get("entities") or []
    if any(e.get("entity") == "red_flag" for e in entities) or intent == "emergency":
        return "triage", None
    if intent == "list_procedures":
        return served(responder.list_procedures(parsed.get(MATCH_KEY) if use_match else None))
    named = [
        e["value"]
        for e in sorted(entities, key=lambda e: e.get("start") or 0)
        if e.get("entity") == "procedure" and isinstance(e.get("value"), str)
    ]
    if intent in ("nlu_fallback", "out_of_scope") or not intent:
        match = parsed.get(MATCH_KEY) if use_match else None
        if intent == "out_of_scope":
            handled = responder.out_of_scope(match, question.context, named)
        else:
            handled = responder.not_understood(question.context, match, named)
        return served(handled) if handled.kind else ("fallback" if intent != "out_of_scope" else intent, None)
    if intent == "request_specialist":
        handled = responder.specialist(parsed.get(MATCH_KEY) if use_match else None, question.context, named)
        return served(handled) if handled.kind else (intent, None)
    if intent not in INTENT_TOPICS and intent != INFORM:
        return intent, None
    if intent == INFORM and not named:
        return "fallback", None
    match = parsed.get(MATCH_KEY) if use_match else None
    return served(responder.answer_question(intent, named, {"procedure": question.context}, match=match))


def score(questions: Sequence[Question], replies: Sequence[Tuple[str, Optional[str]]]) -> Dict[str, Any]:
    """The figures for one half and one bot."""
    counts: Counter = Counter()
    kinds: Counter = Counter()
    for question, (kind, name) in zip(questions, replies):
        kinds[kind] += 1
        if question.kind == "comparison" or question.label == COMPARE:
            counts["compare_total"] += 1
            counts["compare_right"] += kind == "compare"
            continue
        if question.kind == "condition" or question.label.startswith("condition:"):
            counts["condition_total"] += 1
            counts["condition_right"] += kind == "condition"
            continue
        counts["questions"] += 1
        wrong_item = kind == "item" and name != question.label
        counts["wrong_item"] += wrong_item
        if question.label == NOT_COVERED:
            counts["not_covered_total"] += 1
            counts["honest"] += kind in ("not_covered", "fallback", "out_of_scope")
            counts["summary_as_answer"] += kind == "summary"
        elif question.label.startswith(SUMMARY_LABEL):
            counts["summary_total"] += 1
            right = kind == "summary" and name == question.label[len(SUMMARY_LABEL) :]
            counts["right_summary"] += right
            counts["summary_as_answer"] += kind == "summary" and not right
        else:
            counts["item_total"] += 1
            counts["right_item"] += kind == "item" and name == question.label
            counts["summary_as_answer"] += kind == "summary"

    def share(part: str, whole: str) -> Optional[float]:
        return round(counts[part] / counts[whole], 3) if counts[whole] else None

    return {
        "questions": counts["questions"],
        "item_questions": counts["item_total"],
        "not_covered_questions": counts["not_covered_total"],
        "summary_questions": counts["summary_total"],
        "right_item": share("right_item", "item_total"),
        "right_summary": share("right_summary", "summary_total"),
        "wrong_item": share("wrong_item", "questions"),
        "summary_as_answer": share("summary_as_answer", "questions"),
        "honest_not_covered": share("honest", "not_covered_total"),
        "comparisons": counts["compare_total"],
        "compare_right": share("compare_right", "compare_total"),
        "conditions": counts["condition_total"],
        "condition_right": share("condition_right", "condition_total"),
        "served": dict(kinds),
    }


def evaluate(model: Path = MODEL, knowledge: Optional[KnowledgeBase] = None) -> Dict[str, Any]:
    """Both halves, the bot as it is and the topic-only bot; plus the dev half's misses."""
    knowledge = knowledge or load_knowledge()
    responder = Responder(knowledge, load_settings())
    questions = {part: read_questions(part) for part in PARTS}
    everything = [q for part in PARTS for q in questions[part]]
    parsed = asyncio.run(parse_texts(model, [q.text for q in everything]))
    by_text = dict(zip((q.text for q in everything), parsed))
    out_of_scope = [m.text for m in read_nlu_file(OUT_OF_SCOPE_DATA) if m.intent == "out_of_scope"]
    oos_parsed = asyncio.run(parse_texts(model, out_of_scope))
    report: Dict[str, Any] = {"pages": {}, "misses": []}
    # Out-of-scope messages (tests/data/out_of_scope.yml) must still be declined, not answered.
    nobody = Question("", NOT_COVERED, "question", None, "", "out_of_scope")
    answered = [reply_for(responder, nobody, p, True)[0] for p in oos_parsed]
    report["out_of_scope"] = {
        "messages": len(out_of_scope),
        "answered_with_an_item": sum(kind == "item" for kind in answered),
        "answered_with_a_summary": sum(kind == "summary" for kind in answered),
    }
    for part in PARTS:
        qs = questions[part]
        report["pages"][part] = len({q.page for q in qs})
        now = [reply_for(responder, q, by_text[q.text], True) for q in qs]
        before = [reply_for(responder, q, by_text[q.text], False) for q in qs]
        report[part] = {"items": score(qs, now), "topic_only": score(qs, before)}
        if part == "dev":
            report["misses"] = [
                {"text": q.text, "label": q.label, "context": q.context, "served": list(r)}
                for q, r in zip(qs, now)
                if not _right(q, r)
            ]
    return report


def _right(question: Question, reply: Tuple[str, Optional[str]]) -> bool:
    kind, name = reply
    if question.label == COMPARE or question.kind == "comparison":
        return kind == "compare"
    if question.label.startswith("condition:") or question.kind == "condition":
        return kind == "condition"
    if question.label == NOT_COVERED:
        return kind in ("not_covered", "fallback", "out_of_scope")
    if question.label.startswith(SUMMARY_LABEL):
        return kind == "summary" and name == question.label[len(SUMMARY_LABEL) :]
    return kind == "item" and name == question.label


def render(report: Mapping[str, Any], thresholds: Mapping[str, float]) -> str:
    """The markdown section for docs/evaluation.md."""
    rows = [
        ("right item served (items answer it)", "right_item"),
        ("general question: its topic summary served", "right_summary"),
        ("another question's item served", "wrong_item"),
        ("a summary that does not answer it served", "summary_as_answer"),
        ("honest when nothing covers it", "honest_not_covered"),
        ("comparisons: side-by-side served", "compare_right"),
        ("conditions: the condition's list served", "condition_right"),
    ]
    held, dev, oos = report["heldout"], report["dev"], report["out_of_scope"]

    def figures(half: str, part: Mapping[str, Any]) -> str:
        header = [f"{half} half", "with question items", "topic-only bot (before)"]
        return table(
            header, [[label, fmt(part["items"][k]), fmt(part["topic_only"][k])] for label, k in rows]
        )

    lines = [
        "<!-- Generated by `make evaluate` (benchmarks/questions.py). Do not edit by hand. -->",
        "## Does the reply answer the question asked? (`make evaluate`)",
        "",
        "Questions from public clinic, hospital and device-maker FAQ pages "
        "([docs/evaluation/faq-pages.md](faq-pages.md)), rewritten in patients' words and split by page: "
        f"the development half ({report['pages']['dev']} pages, {dev['items']['questions']} questions) "
        f"was read while building; the held-out half ({report['pages']['heldout']} pages, "
        f"{held['items']['questions']} questions, {held['items']['comparisons']} comparisons, "
        f"{held['items']['conditions']} condition questions) never was, by anyone writing paraphrases. "
        "Each reply is built as the answering action builds it, with the conversation's procedure. "
        f"Thresholds (config.yml): item {thresholds['item_threshold']}, "
        f"summary {thresholds['summary_threshold']}.",
        "",
        figures("held-out", held),
        "",
        f"Held-out: {held['items']['item_questions']} questions an item answers, "
        f"{held['items']['not_covered_questions']} that no item answers. "
        "Targets: right item >= 0.90, another question's item <= 0.03, honest >= 0.90"
        + (
            "."
            if (held["items"]["right_item"] or 0) >= 0.9
            and (held["items"]["wrong_item"] or 0) <= 0.03
            and (held["items"]["honest_not_covered"] or 0) >= 0.9
            else ": **not met yet**."
        ),
        "",
        figures("development", dev),
        "",
        f"Out-of-scope messages (`tests/data/out_of_scope.yml`, {oos['messages']}): "
        f"{oos['answered_with_an_item']} answered with an item, {oos['answered_with_a_summary']} with a "
        "summary (the rest declined or not understood).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: evaluate, print, write the report and the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--misses", action="store_true", help="list the development half's misses")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/evaluation/questions.md")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    thresholds = matcher_settings()
    report = evaluate(args.model)
    for part in PARTS:
        for bot in ("items", "topic_only"):
            figures = {k: v for k, v in report[part][bot].items() if k != "served"}
            print(f"{part:8} {bot:11} {json.dumps(figures)}")
            print(f"{'':20} served: {report[part][bot]['served']}")
    print(f"out of scope: {report['out_of_scope']}")
    if args.misses:
        for miss in report["misses"]:
            print(f"  {miss['label']:34} <- {miss['served']} [{miss['context']}] {miss['text']}")
    args.out.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in report.items() if k != "misses"}
    (args.out / "report.json").write_text(json.dumps(public, indent=2), encoding="utf-8")
    (args.out / "dev_misses.json").write_text(json.dumps(report["misses"], indent=2), encoding="utf-8")
    if not args.no_doc:
        from benchmarks.docs import write_evaluation_doc

        DOC.write_text(render(report, thresholds), encoding="utf-8")
        write_evaluation_doc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
