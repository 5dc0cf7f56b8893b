"""``make report``: what patients asked and how the assistant did.

Reads Rasa's SQL tracker store (SQLite by default, PostgreSQL in production,
found as :mod:`bot.analytics.database` says: ``--db``, else the ``DB_*`` variables,
else ``conversations.db``) and writes, for a date range, a
Markdown report and a PNG chart to ``build/report/``:

- conversations and patient messages;
- the most asked procedure x topic cells (from the ``last_answer`` slot);
- fallback and out-of-scope rates, with the actual unanswered messages grouped
  by similarity (for review and for new training examples);
- red-flag triggers per triage level and per category, and how often the crisis
  line was shown alongside an answer because triage was unsure;
- helpful / not helpful counts per answer, with what patients wrote after a
  "not helpful";
- the slowest turns (time from a patient message to the assistant's last reply).

Everything is computed and written locally; no message text leaves the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from bot.analytics.database import DB_HELP, database_url, missing_sqlite_file
from bot.knowledge import LEVELS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "build" / "report"
UNANSWERED = ("nlu_fallback", "out_of_scope")


@dataclass
class Turn:
    """A patient message and what followed it, up to the next message."""

    sender: str
    timestamp: float
    text: str
    intent: Optional[str]
    red_flags: List[str] = field(default_factory=list)
    conditional: List[str] = field(default_factory=list)
    crisis_check: bool = False
    triage_level: Optional[str] = None
    answered: List[str] = field(default_factory=list)
    feedback: Optional[str] = None
    last_bot_timestamp: Optional[float] = None

    @property
    def seconds(self) -> Optional[float]:
        """Time from the message to the last reply to it."""
        return None if self.last_bot_timestamp is None else self.last_bot_timestamp - self.timestamp


def read_turns(db: Optional[str], since: dt.date, until: dt.date) -> List[Turn]:
    """Patient turns from the tracker store between ``since`` and ``until`` (inclusive).

    ``db`` is a file path or SQLAlchemy URL; None finds the store as retention does
    (:func:`bot.analytics.database.database_url`: the ``DB_*`` variables, else SQLite).
    """
    import sqlalchemy as sa

    start = dt.datetime.combine(since, dt.time.min).timestamp()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min).timestamp()
    engine = sa.create_engine(database_url(db))
    # Only the rows the report reads: a year's store holds millions of others (actions, slots it ignores).
    # A slot event's action_name column holds the slot's name (Rasa's SQL store writes it so).
    query = sa.text(
        "SELECT sender_id, type_name, timestamp, intent_name, data FROM events "
        "WHERE timestamp >= :start AND timestamp < :end AND (type_name IN ('user', 'bot') "
        "OR (type_name = 'slot' AND action_name IN ('last_answer', 'triage_level', 'feedback'))) "
        "ORDER BY sender_id, timestamp, id"
    )
    turns: List[Turn] = []
    current: Dict[str, Turn] = {}
    last_answer: Dict[str, Optional[str]] = defaultdict(lambda: None)
    with engine.connect() as connection:
        for sender, type_name, timestamp, intent, data in connection.execute(
            query, {"start": start, "end": end}
        ):
            if type_name == "bot":
                if sender in current:
                    current[sender].last_bot_timestamp = timestamp
                continue
            event = json.loads(data or "{}")
            if type_name == "user":
                entities = (event.get("parse_data") or {}).get("entities") or []
                turn = Turn(
                    sender,
                    timestamp,
                    event.get("text") or "",
                    intent,
                    red_flags=_values(entities, "red_flag"),
                    conditional=_values(entities, "red_flag_conditional"),
                    crisis_check=bool(_values(entities, "crisis_check")),
                )
                turns.append(turn)
                current[sender] = turn
            elif sender in current and type_name == "slot":
                if event.get("name") == "last_answer" and event.get("value"):
                    last_answer[sender] = event["value"]
                    current[sender].answered.append(event["value"])
                elif event.get("name") == "triage_level" and event.get("value"):
                    current[sender].triage_level = event["value"]
                elif event.get("name") == "feedback" and event.get("value"):
                    current[sender].feedback = f"{event['value']}:{last_answer[sender]}"
    engine.dispose()
    return turns


def _values(entities: List[dict], name: str) -> List[str]:
    return [str(e.get("value")) for e in entities if e.get("entity") == name]


def group_similar(texts: Iterable[str], threshold: float = 0.5) -> List[List[str]]:
    """Groups texts whose word sets overlap (Jaccard) at least ``threshold``."""
    groups: List[Tuple[set, List[str]]] = []
    for text in texts:
        words = set(re.findall(r"[a-z']+", text.lower()))
        for group_words, members in groups:
            union = words | group_words
            if union and len(words & group_words) / len(union) >= threshold:
                members.append(text)
                group_words |= words
                break
        else:
            groups.append((set(words), [text]))
    return sorted((members for _, members in groups), key=len, reverse=True)


@dataclass
class Report:
    """All the figures of one report."""

    since: dt.date
    until: dt.date
    conversations: int
    messages: int
    top_cells: List[Tuple[str, int]]
    fallback_rate: float
    out_of_scope_rate: float
    unanswered_groups: List[List[str]]
    red_flags: Dict[str, int]
    triage_levels: Dict[str, int]
    crisis_checks: int
    feedback: Dict[str, Dict[str, int]]
    unhelpful_comments: List[str]
    slowest: List[Tuple[float, str, str]]


def build_report(turns: Sequence[Turn], since: dt.date, until: dt.date) -> Report:
    """Computes the figures from the turns."""
    messages = len(turns)
    intents = Counter(t.intent for t in turns)
    cells = Counter(cell for t in turns for cell in t.answered)
    feedback: Dict[str, Dict[str, int]] = defaultdict(lambda: {"helpful": 0, "unhelpful": 0})
    comments = []
    by_sender: Dict[str, List[Turn]] = defaultdict(list)
    for turn in turns:
        by_sender[turn.sender].append(turn)
    for sender_turns in by_sender.values():
        for index, turn in enumerate(sender_turns):
            if turn.feedback:
                value, _, cell = turn.feedback.partition(":")
                feedback[cell][value] += 1
                following = sender_turns[index + 1] if index + 1 < len(sender_turns) else None
                if value == "unhelpful" and following and not following.text.startswith("/"):
                    comments.append(following.text)
    slowest = sorted(
        (
            (t.seconds, dt.datetime.fromtimestamp(t.timestamp).isoformat(" ", "seconds"), t.intent or "-")
            for t in turns
            if t.seconds is not None
        ),
        reverse=True,
    )[:10]
    unanswered = [t.text for t in turns if t.intent in UNANSWERED and t.text and t.text not in comments]
    return Report(
        since=since,
        until=until,
        conversations=len(by_sender),
        messages=messages,
        top_cells=cells.most_common(15),
        fallback_rate=intents["nlu_fallback"] / messages if messages else 0.0,
        out_of_scope_rate=intents["out_of_scope"] / messages if messages else 0.0,
        unanswered_groups=group_similar(unanswered),
        red_flags=dict(Counter(c for t in turns if t.triage_level for c in t.red_flags or t.conditional)),
        triage_levels=dict(Counter(t.triage_level for t in turns if t.triage_level)),
        crisis_checks=sum(1 for t in turns if t.crisis_check and not t.triage_level),
        feedback={cell: dict(counts) for cell, counts in feedback.items()},
        unhelpful_comments=comments,
        slowest=slowest,
    )


def level_of(category: str) -> str:
    """A category's triage level in the knowledge file in force ("?" if it has none)."""
    from bot.knowledge import get_knowledge

    return get_knowledge().triage.level_of(category) or "?"


def _quote(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def to_markdown(report: Report, chart: Optional[str]) -> str:
    """The report as Markdown."""
    lines = [
        f"# Conversation report, {report.since} to {report.until}",
        "",
        f"- Conversations: **{report.conversations}**",
        f"- Patient messages: **{report.messages}**",
        f"- Not understood (fallback): **{report.fallback_rate:.1%}**",
        f"- Out of scope: **{report.out_of_scope_rate:.1%}**",
        "",
        "## Most asked procedure x topic",
        "",
    ]
    if chart:
        lines += [f"![Most asked answers]({chart})", ""]
    lines += ["| answer | times |", "|---|---:|"] + [f"| {cell} | {n} |" for cell, n in report.top_cells]
    lines += ["", "## Red-flag triggers", "", "| level | times |", "|---|---:|"]
    lines += [f"| {level} | {report.triage_levels.get(level, 0)} |" for level in LEVELS]
    lines += [
        "",
        f"Crisis line shown alongside an answer (triage unsure): **{report.crisis_checks}**",
        "",
        "| category | level | times |",
        "|---|---|---:|",
    ]
    lines += [
        f"| {category} | {level_of(category)} | {n} |" for category, n in sorted(report.red_flags.items())
    ] or ["| (none) | | 0 |"]
    lines += ["", "## Was this helpful?", "", "| answer | helpful | not helpful |", "|---|---:|---:|"]
    lines += [
        f"| {cell} | {c['helpful']} | {c['unhelpful']} |" for cell, c in sorted(report.feedback.items())
    ]
    if report.unhelpful_comments:
        lines += ["", 'What patients wrote after "not helpful":', ""]
        lines += [f"- {_quote(text)}" for text in report.unhelpful_comments]
    lines += ["", "## Unanswered messages, grouped by similarity", ""]
    lines += ['Review these; good ones become training examples (see README, "Learning from patients").', ""]
    for group in report.unanswered_groups:
        lines.append(f"- ({len(group)}) " + " / ".join(_quote(text) for text in group[:5]))
    lines += ["", "## Slowest turns", "", "| seconds | when | intent |", "|---:|---|---|"]
    lines += [f"| {seconds:.2f} | {when} | {intent} |" for seconds, when, intent in report.slowest]
    return "\n".join(lines) + "\n"


def draw_chart(report: Report, path: Path) -> bool:
    """A bar chart of the most asked answers; False when there is nothing to draw."""
    if not report.top_cells:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cells = list(reversed(report.top_cells))
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(cells) + 1.2))
    axes.barh([cell for cell, _ in cells], [n for _, n in cells], color="#2a6f97")
    axes.set_xlabel("times answered")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_title(f"Most asked answers, {report.since} to {report.until}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help=DB_HELP)
    today = dt.date.today()
    parser.add_argument("--since", type=dt.date.fromisoformat, default=today - dt.timedelta(days=30))
    parser.add_argument("--until", type=dt.date.fromisoformat, default=today)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    missing = missing_sqlite_file(database_url(args.db))
    if missing:
        print(f"No tracker store at {missing}: talk to the assistant first (make run), or pass --db.")
        return 2
    report = build_report(read_turns(args.db, args.since, args.until), args.since, args.until)
    args.out.mkdir(parents=True, exist_ok=True)
    chart = "report.png" if draw_chart(report, args.out / "report.png") else None
    (args.out / "report.md").write_text(to_markdown(report, chart), encoding="utf-8")
    print(to_markdown(report, chart))
    print(f"Written to {args.out / 'report.md'}" + (f" and {args.out / 'report.png'}" if chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
