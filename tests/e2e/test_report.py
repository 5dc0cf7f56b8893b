"""`make report` on a tracker store filled by scripted conversations with the
real servers."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.analytics.report import build_report, main, read_turns

pytestmark = pytest.mark.e2e


def test_report_on_scripted_conversations(bot, knowledge, tmp_path):
    prefix = f"report-{uuid.uuid4().hex[:8]}"
    script = {
        f"{prefix}-1": [
            "what is radiofrequency ablation?",
            "how long is recovery?",
            "/feedback_unhelpful",
            "I wanted to know if I can play golf",
        ],
        f"{prefix}-2": ["what are the risks of an epidural?", "/feedback_helpful", "/ask_source"],
        f"{prefix}-3": ["what's the weather tomorrow", "who won the football game", "I want to kill myself"],
        f"{prefix}-4": ["zxqv wpfk brrrt", "what is radiofrequency ablation"],
    }
    for sender, messages in script.items():
        for message in messages:
            assert bot.send(sender, message)

    today = dt.date.today()
    turns = [t for t in read_turns(str(bot.db), today, today) if t.sender.startswith(prefix)]
    report = build_report(turns, today, today)
    assert report.conversations == 4
    assert report.messages == sum(len(m) for m in script.values())
    assert report.top_cells[0] == ("radiofrequency_ablation/overview", 2)
    # The comment after "not helpful" was itself a recovery question, and answered.
    assert ("radiofrequency_ablation/recovery_time", 2) in report.top_cells
    assert report.unhelpful_comments == ["I wanted to know if I can play golf"]
    assert report.red_flags == {"self_harm": 1}
    assert report.feedback == {
        "radiofrequency_ablation/recovery_time": {"helpful": 0, "unhelpful": 1},
        "epidural_steroid_injection/risks": {"helpful": 1, "unhelpful": 0},
    }
    assert report.out_of_scope_rate > 0 and report.fallback_rate > 0
    unanswered = [text for group in report.unanswered_groups for text in group]
    assert "what's the weather tomorrow" in unanswered
    assert all(turn.seconds is not None and turn.seconds >= 0 for turn in turns)
    assert len(report.slowest) == min(10, report.messages)

    out = tmp_path / "report"
    assert main(["--db", str(bot.db), "--out", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "radiofrequency_ablation/overview" in markdown and "Red-flag triggers" in markdown
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_a_missing_database(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "nothing.db")]) == 2
    assert "No tracker store" in capsys.readouterr().out
