"""`make report` on a tracker store filled by scripted conversations with the
real servers."""

from __future__ import annotations

import datetime as dt
import re
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
        f"{prefix}-4": [
            "zxqv wpfk brrrt",
            "what is radiofrequency ablation",
            "in the past i was suicidal. how long does ketamine relief last",
        ],
        # A headache alone is no red flag; after a procedure the patient told of, it is urgent.
        f"{prefix}-5": [
            "i have a headache that gets better when i lie down",
            "i had my epidural yesterday",
            "i have a headache that gets better when i lie down",
            "my pain pump is beeping",
        ],
    }
    for sender, messages in script.items():
        for message in messages:
            assert bot.send(sender, message)

    today = dt.date.today()
    turns = [t for t in read_turns(str(bot.db), today, today) if t.sender.startswith(prefix)]
    report = build_report(turns, today, today)
    assert report.conversations == 5
    assert report.messages == sum(len(m) for m in script.values())
    assert report.top_cells[0] == ("radiofrequency_ablation/overview", 2)
    # The comment after "not helpful" was itself a recovery question, and answered.
    assert ("radiofrequency_ablation/recovery_time", 2) in report.top_cells
    assert report.unhelpful_comments == ["I wanted to know if I can play golf"]
    assert report.red_flags == {"suicide_self_harm": 1, "positional_headache": 1, "pump_problem": 1}
    assert report.triage_levels == {"crisis": 1, "urgent": 2}
    assert report.crisis_checks == 1
    by_text = {(t.sender, t.text): t for t in turns}
    crisis = by_text[(f"{prefix}-3", "I want to kill myself")]
    assert (crisis.red_flags, crisis.triage_level, crisis.crisis_check) == (
        ["suicide_self_harm"],
        "crisis",
        False,
    )
    unsure = by_text[(f"{prefix}-4", script[f"{prefix}-4"][-1])]
    assert (unsure.red_flags, unsure.triage_level, unsure.crisis_check) == ([], None, True)
    headaches = [t for t in turns if t.sender == f"{prefix}-5" and t.text == script[f"{prefix}-5"][0]]
    assert [(t.red_flags, t.conditional, t.triage_level) for t in headaches] == [
        ([], ["positional_headache"], None),
        ([], ["positional_headache"], "urgent"),
    ]
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
    assert "| level | times |" in markdown and "Crisis line shown alongside an answer" in markdown
    for category, level in (
        ("suicide_self_harm", "crisis"),
        ("positional_headache", "urgent"),
        ("pump_problem", "urgent"),
    ):
        assert re.search(rf"^\| {category} \| {level} \| [1-9]\d* \|$", markdown, re.M), category
    for level in ("crisis", "urgent"):
        assert re.search(rf"^\| {level} \| [1-9]\d* \|$", markdown, re.M), level
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_a_missing_database(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "nothing.db")]) == 2
    assert "No tracker store" in capsys.readouterr().out


def test_report_reads_a_postgresql_tracker_store_the_same_way(bot, tmp_path, monkeypatch):
    """Copies the scripted conversations into PostgreSQL through Rasa's own SQL
    tracker store, then checks the report from PostgreSQL equals SQLite's."""
    import asyncio

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from tests.conftest import ROOT
    from tests.postgres import postgres_server

    prefix = f"pg-{uuid.uuid4().hex[:8]}"
    for message in ["what is a nerve block", "/feedback_helpful", "I can't breathe", "tell me a joke"]:
        bot.send(f"{prefix}-1", message)
    today = dt.date.today()
    domain = Domain.load(str(ROOT / "domain.yml"))
    source = SQLTrackerStore(domain, dialect="sqlite", db=str(bot.db))
    password = uuid.uuid4().hex  # password login, as in production
    with postgres_server(password=password) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        target = SQLTrackerStore(
            domain,
            dialect="postgresql",
            host="127.0.0.1",
            port=port,
            db="rasa",
            username="rasa",
            password=password,
        )

        async def copy():
            for sender in await source.keys():
                if sender.startswith(prefix):
                    await target.save(await source.retrieve_full_tracker(sender))

        asyncio.run(copy())
        from_sqlite = build_report(
            [t for t in read_turns(str(bot.db), today, today) if t.sender.startswith(prefix)], today, today
        )
        from_postgres = build_report(read_turns(url, today, today), today, today)
        # Without --db, from the DB_* variables the Rasa server and retention read.
        for name, value in {"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_NAME": "rasa"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DB_USER", "rasa")
        monkeypatch.setenv("DB_PASSWORD", password)
        from_environment = build_report(read_turns(None, today, today), today, today)
        assert main(["--out", str(tmp_path / "from-env")]) == 0
        target.engine.dispose()
    assert from_environment == from_postgres
    assert from_postgres.messages == from_sqlite.messages == 4
    assert from_postgres.top_cells == from_sqlite.top_cells == [("nerve_block/overview", 1)]
    assert from_postgres.red_flags == from_sqlite.red_flags == {"chest_breathing_fainting": 1}
    assert from_postgres.triage_levels == from_sqlite.triage_levels == {"emergency": 1}
    assert from_postgres.crisis_checks == from_sqlite.crisis_checks == 0
    assert from_postgres.feedback == from_sqlite.feedback
    assert from_postgres.out_of_scope_rate == from_sqlite.out_of_scope_rate
