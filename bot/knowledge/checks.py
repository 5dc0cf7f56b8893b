"""Checks the knowledge file the way a clinical content owner would.

``python -m bot.knowledge.checks`` (``make check-knowledge``) loads the file (the
loader already refuses missing sources, review metadata or answers without a
``refer`` marker), then checks every answer and message against the clinic's
content policy in ``bot/clinic.yml``:

- reviews: overdue (next review date passed) or spaced further apart than the
  allowed interval;
- reading level: Flesch-Kincaid grade above the allowed maximum;
- dosing: amounts with units or instructions such as "take 2";

and prints a coverage matrix (procedures x topics) and each entry's reading
grades. It writes a review sheet (HTML) that shows every answer exactly as a
patient sees it, with the referral, its sources and review dates, and room for
sign-off. It exits with 1 when any check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import re
import string
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bot.knowledge import (
    GENERAL,
    LEVELS,
    PROCEDURES,
    TOPICS,
    TRIAGE,
    KnowledgeBase,
    KnowledgeError,
    Review,
    load_knowledge,
)
from bot.replies import TOPIC_INTENTS, Responder
from bot.settings import ClinicSettings, ContentPolicy, SettingsError, load_settings

DEFAULT_SHEET = Path(__file__).resolve().parents[2] / "build" / "knowledge_review.html"

_UNITS = (
    r"mg|mcg|µg|ug|ml|cc|iu|grams?|milligrams?|micrograms?|milliliters?|millilitres?|units?"
    r"|tablets?|pills?|capsules?|puffs?|drops?|patch(?:es)?|doses?|sprays?"
)
_NUMBER = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|half an?|a half)"
DOSING = re.compile(
    rf"\b{_NUMBER}\s*(?:{_UNITS})\b"
    rf"|\btake\s+{_NUMBER}\b"
    rf"|\b(?:\d+|once|twice|three times|four times)\s+(?:times\s+)?(?:a|per|every)\s+(?:day|daily)\b"
    r"|\bevery\s+\d+\s+hours\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Problem:
    """One failed check, naming the entry and field like the loader does."""

    entry: Optional[str]
    field: str
    message: str

    def __str__(self) -> str:
        where = f"entry '{self.entry}', field '{self.field}'" if self.entry else f"field '{self.field}'"
        return f"{where}: {self.message}"


@lru_cache(maxsize=None)
def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade of a text (placeholders and web addresses left out)."""
    import textstat

    text = re.sub(r"https?://\S+", "", text)
    text = string.Formatter().vformat(text, (), _Blank())
    return float(textstat.flesch_kincaid_grade(text))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "us"


def check(knowledge: KnowledgeBase, policy: ContentPolicy, today: Optional[dt.date] = None) -> List[Problem]:
    """Every problem found in ``knowledge`` under ``policy``, in file order."""
    today = today or dt.date.today()
    problems: List[Problem] = []
    for entry in knowledge.entries.values():
        review = entry.review
        if review.next_review_due < today:
            problems.append(
                Problem(entry.id, "review.next_review_due", f"review overdue since {review.next_review_due}")
            )
        gap = (review.next_review_due - review.reviewed_on).days
        if gap > policy.review_interval_days:
            problems.append(
                Problem(
                    entry.id,
                    "review.next_review_due",
                    f"{gap} days after the last review; the policy allows {policy.review_interval_days}",
                )
            )
        for topic, answer in entry.answers.items():
            problems.extend(_text_problems(entry.id, f"answers.{topic}.text", answer.text, policy))
    for key, text in knowledge.messages.items():
        problems.extend(_text_problems(None, f"messages.{key}", text, policy))
    for item in knowledge.items.values():
        problems.extend(_review_problems(item.id, item.review, policy, today))
        problems.extend(_text_problems(item.id, "text", item.text, policy))
    problems.extend(_triage_problems(knowledge, policy, today))
    return problems


def _review_problems(where: str, review: Review, policy: ContentPolicy, today: dt.date) -> List[Problem]:
    """An overdue review, or one spaced further apart than the policy allows."""
    problems = []
    if review.next_review_due < today:
        problems.append(
            Problem(where, "review.next_review_due", f"review overdue since {review.next_review_due}")
        )
    gap = (review.next_review_due - review.reviewed_on).days
    if gap > policy.review_interval_days:
        message = f"{gap} days after the last review; the policy allows {policy.review_interval_days}"
        problems.append(Problem(where, "review.next_review_due", message))
    return problems


def _triage_problems(knowledge: KnowledgeBase, policy: ContentPolicy, today: dt.date) -> List[Problem]:
    """The triage section: its review, and every text a patient is sent (levels, crisis line)."""
    triage = knowledge.triage
    problems: List[Problem] = []
    if triage.review.next_review_due < today:
        problems.append(
            Problem(TRIAGE, "review.next_review_due", f"review overdue since {triage.review.next_review_due}")
        )
    gap = (triage.review.next_review_due - triage.review.reviewed_on).days
    if gap > policy.review_interval_days:
        problems.append(
            Problem(
                TRIAGE,
                "review.next_review_due",
                f"{gap} days after the last review; the policy allows {policy.review_interval_days}",
            )
        )
    for level in triage.levels.values():
        for part in ("message", "then"):
            problems.extend(_text_problems(TRIAGE, f"levels.{level.id}.{part}", getattr(level, part), policy))
    problems.extend(_text_problems(TRIAGE, "crisis_check", triage.crisis_check, policy))
    return problems


def _text_problems(entry: Optional[str], field: str, text: str, policy: ContentPolicy) -> List[Problem]:
    problems = []
    grade = reading_grade(text)
    if grade > policy.max_reading_grade:
        problems.append(
            Problem(
                entry, field, f"reads at grade {grade:.1f}; the policy allows {policy.max_reading_grade:g}"
            )
        )
    dose = DOSING.search(text)
    if dose:
        problems.append(Problem(entry, field, f"looks like dosing: '{dose.group(0)}'"))
    return problems


_SHORT = {
    "overview": "overview",
    "recovery_time": "recovery",
    "medication_reliance": "meds",
    "risks": "risks",
    "relief_duration": "relief",
    "preparation": "prepare",
    "candidacy": "who",
    "cost": "cost",
}


def coverage_matrix(knowledge: KnowledgeBase) -> str:
    """Procedures x topics: ``ok`` answered, ``refer`` refers, ``-`` not covered."""
    width = max(len(label) for label in _SHORT.values())
    rows = [" " * 28 + " ".join(_SHORT[t].ljust(width) for t in TOPICS)]
    for entry_id in (GENERAL, *PROCEDURES):
        entry = knowledge.entries[entry_id]
        cells = []
        for topic in TOPICS:
            answer = entry.answers.get(topic)
            cells.append(("-" if answer is None else "refer" if answer.refer else "ok").ljust(width))
        rows.append(entry_id.ljust(28) + " ".join(cells))
    return "\n".join(rows)


def item_coverage(knowledge: KnowledgeBase) -> str:
    """How many specific question items answer for each procedure, by topic."""
    topics = list(knowledge.topic_labels)
    width = 9
    rows = [" " * 28 + " ".join(t[:width].ljust(width) for t in topics) + "  all"]
    for entry_id in (GENERAL, *PROCEDURES):
        items = knowledge.items_for(entry_id)
        cells = [str(sum(1 for i in items if i.topic == t) or "-").ljust(width) for t in topics]
        rows.append(entry_id.ljust(28) + " ".join(cells) + f"  {len(items)}")
    return "\n".join(rows)


def grades(knowledge: KnowledgeBase) -> Dict[str, Dict[str, float]]:
    """Each entry's mean and highest reading grade."""
    result = {}
    for entry in knowledge.entries.values():
        values = [reading_grade(answer.text) for answer in entry.answers.values()]
        values += [reading_grade(item.text) for item in knowledge.items_for(entry.id)]
        result[entry.id] = {"mean": sum(values) / len(values), "max": max(values)}
    return result


def review_sheet(knowledge: KnowledgeBase, settings: ClinicSettings) -> str:
    """A printable HTML sheet: every answer as patients see it, sources, sign-off."""
    responder = Responder(knowledge, settings)
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Knowledge review: {esc(settings.name)}, version {esc(knowledge.version)}</title>",
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#1a1a1a}h2{border-top:2px solid #333;padding-top:1rem;margin-top:2.5rem}"
        ".bot{background:#f3f6f8;border-left:4px solid #2a6f97;padding:.5rem 1rem;margin:.5rem 0;"
        "white-space:pre-line}.referral{color:#333;font-style:italic}"
        ".signoff td{border-bottom:1px solid #333;height:2rem;min-width:12rem}.refer{color:#8a4b00}"
        "@media print{h2{page-break-before:always}}</style></head><body>",
        f"<h1>Knowledge review sheet</h1><p>{esc(settings.name)} &middot; knowledge file version "
        f"<strong>{esc(knowledge.version)}</strong> &middot; generated {dt.date.today()} from "
        f"<code>{esc(knowledge.path.name)}</code>. Every answer is shown exactly as a patient sees it.</p>",
    ]
    for entry_id in (GENERAL, *PROCEDURES):
        entry = knowledge.entries[entry_id]
        review = entry.review
        parts.append(f"<h2 id='{esc(entry.id)}'>{esc(entry.name)}</h2>")
        aliases = esc(", ".join(entry.aliases)) or "(none)"
        parts.append(
            f"<p>Reviewed on {review.reviewed_on} by {esc(review.reviewed_by)}; next review due "
            f"{review.next_review_due}.<br>Also recognised as: {aliases}</p>"
        )
        for topic in TOPICS:
            answer = entry.answers.get(topic)
            if answer is None:
                continue
            mentioned = [] if entry.id == GENERAL else [entry.id]
            outcome = responder.answer_question(TOPIC_INTENTS[topic], mentioned, {})
            label = knowledge.topic_labels[topic] + (
                " <span class='refer'>(refers)</span>" if answer.refer else ""
            )
            parts.append(f"<h3>{label}</h3>")
            for index, text in enumerate(outcome.texts):
                css = "bot referral" if index == len(outcome.texts) - 1 else "bot"
                parts.append(f"<div class='{css}'>{esc(text)}</div>")
            sources = "".join(
                f"<li>{esc(s.title)} ({esc(s.publisher)}): <a href='{esc(s.url)}'>{esc(s.url)}</a></li>"
                for s in answer.sources
            )
            parts.append(f"<p>Sources:</p><ul>{sources or '<li>none: this answer refers</li>'}</ul>")
        parts.append(
            "<table class='signoff'><tr><th>Clinician</th><td></td><th>Date</th><td></td></tr>"
            "<tr><th>Changes needed</th><td colspan='3'></td></tr><tr><th>Signature</th><td colspan='3'></td>"
            "</tr></table>"
        )
    parts.extend(_items_sheet(knowledge, settings))
    parts.extend(_triage_sheet(knowledge, settings))
    parts.append("<h2>Messages</h2>")
    for key, text in knowledge.messages.items():
        filled = text.format(
            **settings.template_values(),
            procedure_name="(treatment)",
            topic_label="(topic)",
            reviewed_on="(review date)",
            condition_name="(condition)",
        )
        parts.append(f"<h3>{esc(key)}</h3><div class='bot'>{esc(filled)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


_SIGN_OFF = (
    "<table class='signoff'><tr><th>Clinician</th><td></td><th>Date</th><td></td></tr>"
    "<tr><th>Changes needed</th><td colspan='3'></td></tr><tr><th>Signature</th><td colspan='3'></td>"
    "</tr></table>"
)


def _items_sheet(knowledge: KnowledgeBase, settings: ClinicSettings) -> List[str]:
    """The specific questions, by topic: how patients ask, the reply as sent, sources, review."""
    esc = html.escape
    responder = Responder(knowledge, settings)
    parts = [
        "<h2 id='questions'>Specific questions</h2>",
        f"<p>{len(knowledge.items)} questions. Each is answered for the treatments it lists; "
        "the bot learns from the ways patients ask it.</p>",
    ]
    for topic, label in knowledge.topic_labels.items():
        items = [i for i in knowledge.items.values() if i.topic == topic]
        if not items:
            continue
        parts.append(f"<h3>{esc(label)} ({len(items)})</h3>")
        for item in items:
            names = ", ".join(knowledge.entries[p].name for p in item.procedures)
            outcome = responder.item_answer(item, item.procedures[0])
            asked = "<br>".join(esc(a) for a in item.asked)
            sources = "".join(
                f"<li>{esc(s.title)} ({esc(s.publisher)}): <a href='{esc(s.url)}'>{esc(s.url)}</a></li>"
                for s in item.sources
            )
            review = item.review
            parts.append(
                f"<h4 id='q-{esc(item.id)}'>{esc(item.id)}</h4><p>For: {esc(names)}<br>Reviewed on "
                f"{review.reviewed_on} by {esc(review.reviewed_by)}; next review due "
                f"{review.next_review_due}.</p><p>How patients ask it:<br>{asked}</p>"
            )
            for index, text in enumerate(outcome.texts):
                css = "bot referral" if index == len(outcome.texts) - 1 else "bot"
                parts.append(f"<div class='{css}'>{esc(text)}</div>")
            parts.append(f"<p>Sources:</p><ul>{sources}</ul>")
        parts.append(_SIGN_OFF)
    return parts


def _triage_sheet(knowledge: KnowledgeBase, settings: ClinicSettings) -> List[str]:
    """The triage section of the review sheet: what each level sends, and every category."""
    esc = html.escape
    triage = knowledge.triage
    responder = Responder(knowledge, settings)
    review = triage.review
    parts = [
        "<h2 id='triage'>Red flags (triage)</h2>",
        f"<p>Reviewed on {review.reviewed_on} by {esc(review.reviewed_by)}; next review due "
        f"{review.next_review_due}. Red flags come before anything else. Each level's reply, exactly "
        "as a patient sees it:</p>",
    ]
    for level in LEVELS:
        example = next(c.id for c in triage.categories.values() if c.level == level)
        parts.append(f"<h3>{esc(triage.levels[level].label)} ({esc(level)})</h3>")
        parts += [f"<div class='bot'>{esc(text)}</div>" for text in responder.triage([example]).texts]
    crisis_line = triage.crisis_check.format(**settings.template_values())
    parts.append("<h3>When unsure about a crisis (shown before the answer)</h3>")
    parts.append(f"<div class='bot'>{esc(crisis_line)}</div>")
    parts.append(
        "<table><tr><th>Category</th><th>Level</th><th>How patients say it</th><th>Sources</th></tr>"
    )
    for category in triage.categories.values():
        condition = " <em>(only after a procedure)</em>" if category.needs_procedure else ""
        phrasings = "<br>".join(esc(p) for p in category.phrasings)
        sources = "<br>".join(
            f"<a href='{esc(s.url)}'>{esc(s.title)}</a> ({esc(s.publisher)})" for s in category.sources
        )
        parts.append(
            f"<tr><td>{esc(category.label)}{condition}</td><td>{esc(category.level)}</td>"
            f"<td>{phrasings}</td><td>{sources}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        "<table class='signoff'><tr><th>Clinician</th><td></td><th>Date</th><td></td></tr>"
        "<tr><th>Changes needed</th><td colspan='3'></td></tr><tr><th>Signature</th><td colspan='3'></td>"
        "</tr></table>"
    )
    return parts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: check, print the matrix and grades, write the review sheet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="knowledge file (default: the bundled one)"
    )
    parser.add_argument(
        "--settings", type=Path, default=None, help="clinic settings (default: bot/clinic.yml)"
    )
    parser.add_argument("--sheet", type=Path, default=DEFAULT_SHEET, help="where to write the review sheet")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        knowledge = load_knowledge(args.knowledge)
        settings = load_settings(args.settings)
    except (KnowledgeError, SettingsError) as error:
        print(f"FAIL {error}")
        return 1
    policy = settings.content_policy
    print(f"Knowledge file {knowledge.path} version {knowledge.version}\n")
    print("Coverage (ok: answered, refer: says so and refers, -: the bot asks which procedure)")
    print(coverage_matrix(knowledge))
    print(f"\nSpecific questions: {len(knowledge.items)} items (per procedure and topic)")
    print(item_coverage(knowledge))
    print("\nRed flags: categories per level")
    for level in LEVELS:
        names = [c.id for c in knowledge.triage.categories.values() if c.level == level]
        print(f"  {level:10} {len(names):2}  {', '.join(names)}")
    print(f"\nReading grade (Flesch-Kincaid; the policy allows {policy.max_reading_grade:g})")
    for entry_id, figures in grades(knowledge).items():
        print(f"  {entry_id:28} mean {figures['mean']:4.1f}  highest {figures['max']:4.1f}")
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    args.sheet.write_text(review_sheet(knowledge, settings), encoding="utf-8")
    print(f"\nReview sheet written to {args.sheet}")
    problems = check(knowledge, policy, args.today)
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"\n{len(problems)} problem(s) found." if problems else "\nAll knowledge checks passed.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
