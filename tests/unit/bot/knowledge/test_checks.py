"""`make check-knowledge`: each check fails on a file with that defect, the real
file passes, and the review sheet shows answers exactly as patients see them."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.knowledge import TOPICS, load_knowledge
from bot.knowledge.checks import DOSING, check, coverage_matrix, main, reading_grade, review_sheet
from bot.settings import ContentPolicy
from tests.fixtures import minimal_document, write

POLICY = ContentPolicy(max_reading_grade=9.0, review_interval_days=365)
TODAY = dt.date(2026, 3, 1)


def entry(document, entry_id):
    return next(e for e in document["entries"] if e["id"] == entry_id)


def load(tmp_path, document):
    return load_knowledge(write(tmp_path, document))


def test_the_real_knowledge_file_passes_every_check(knowledge, settings):
    assert check(knowledge, settings.content_policy) == []


def test_minimal_document_passes(tmp_path):
    assert check(load(tmp_path, minimal_document()), POLICY, TODAY) == []


def test_overdue_review(tmp_path):
    document = minimal_document()
    entry(document, "nerve_block")["review"]["next_review_due"] = "2026-02-01"
    (problem,) = check(load(tmp_path, document), POLICY, TODAY)
    assert (problem.entry, problem.field) == ("nerve_block", "review.next_review_due")
    assert "overdue" in problem.message


def test_review_interval_longer_than_policy(tmp_path):
    document = minimal_document()
    entry(document, "iv_infusion")["review"]["next_review_due"] = "2028-01-01"
    (problem,) = check(load(tmp_path, document), POLICY, TODAY)
    assert problem.entry == "iv_infusion" and "policy allows 365" in problem.message


def test_reading_level_above_policy(tmp_path):
    document = minimal_document()
    entry(document, "joint_injection")["answers"]["risks"]["text"] = (
        "Intra-articular corticosteroid administration occasionally precipitates transient "
        "post-procedural inflammatory exacerbation. Immunocompromised individuals necessitate "
        "individualized consideration."
    )
    (problem,) = check(load(tmp_path, document), POLICY, TODAY)
    assert (problem.entry, problem.field) == ("joint_injection", "answers.risks.text")
    assert "reads at grade" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "Most people get 40 mg of the steroid. It varies.",
        "Take 2 tablets after the shot. It varies.",
        "Use the cream twice a day. It varies.",
        "A dose of 0.5 ml is used. It varies.",
    ],
)
def test_dosing_like_text(tmp_path, text):
    document = minimal_document()
    entry(document, "trigger_point_injection")["answers"]["overview"]["text"] = text
    (problem,) = check(load(tmp_path, document), POLICY, TODAY)
    assert problem.field == "answers.overview.text" and "dosing" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "You should not drive for 24 hours.",
        "Relief often lasts 3 to 6 months.",
        "Most people can take it easy for a day or two.",
        "Your doctor may limit shots to a few a year.",
    ],
)
def test_ordinary_numbers_are_not_dosing(text):
    assert not DOSING.search(text)


def test_messages_are_checked_too(tmp_path):
    document = minimal_document()
    document["messages"]["fallback"] = "Take 2 tablets and call {clinic_phone}."
    (problem,) = check(load(tmp_path, document), POLICY, TODAY)
    assert (problem.entry, problem.field) == (None, "messages.fallback")


def test_triage_texts_and_review_are_checked_too(tmp_path):
    document = minimal_document()
    document["triage"]["levels"]["urgent"]["then"] = "Take 2 tablets and call {clinic_phone}."
    document["triage"]["crisis_check"] = (
        "Notwithstanding considerable interdisciplinary uncertainty regarding prognostication, "
        "individualised psychotherapeutic intervention necessitates immediate professional consultation."
    )
    document["triage"]["review"]["next_review_due"] = "2026-02-01"
    problems = check(load(tmp_path, document), POLICY, TODAY)
    assert [(p.entry, p.field) for p in problems] == [
        ("triage", "review.next_review_due"),
        ("triage", "levels.urgent.then"),
        ("triage", "crisis_check"),
    ]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: entry(d, "nerve_block")["answers"]["risks"].update(sources=[]), "answers.risks.sources"),
        (lambda d: entry(d, "nerve_block").pop("sources"), "field 'sources'"),
        (lambda d: entry(d, "nerve_block")["review"].pop("reviewed_by"), "review.reviewed_by"),
        (lambda d: entry(d, "nerve_block")["answers"].pop("cost"), "answers.cost"),
    ],
    ids=["answer-without-sources", "entry-without-sources", "no-reviewer", "empty-cell-without-refer"],
)
def test_command_fails_on_schema_defects_naming_entry_and_field(tmp_path, capsys, mutate, expected):
    document = minimal_document()
    mutate(document)
    assert main(["--knowledge", str(write(tmp_path, document)), "--sheet", str(tmp_path / "s.html")]) == 1
    output = capsys.readouterr().out
    assert "FAIL" in output and "entry 'nerve_block'" in output and expected in output


def test_command_passes_and_prints_matrix_grades_and_sheet(tmp_path, capsys):
    sheet = tmp_path / "sheet.html"
    assert main(["--sheet", str(sheet)]) == 0
    output = capsys.readouterr().out
    assert "radiofrequency_ablation" in output and "refer" in output and "highest" in output
    assert "All knowledge checks passed." in output
    assert sheet.exists()


def test_command_fails_on_an_overdue_review(tmp_path, capsys):
    assert main(["--sheet", str(tmp_path / "s.html"), "--today", "2099-01-01"]) == 1
    assert "review overdue" in capsys.readouterr().out


def test_coverage_matrix_marks_refer_answers(knowledge):
    lines = coverage_matrix(knowledge).splitlines()
    row = next(line for line in lines if line.startswith("trigger_point_injection"))
    assert row.split()[1:] == [
        "ok" if not knowledge.answer("trigger_point_injection", t).refer else "refer" for t in TOPICS
    ]
    assert "refer" in row  # its medication and cost answers refer


def test_review_sheet_shows_every_answer_with_referral_sources_and_sign_off(knowledge, settings, referral):
    import html

    sheet = review_sheet(knowledge, settings)
    for entry_ in knowledge.entries.values():
        assert entry_.name in html.unescape(sheet)
        for answer in entry_.answers.values():
            assert html.escape(answer.text) in sheet
            for source in answer.sources:
                assert html.escape(source.url) in sheet
    answers = sum(len(e.answers) for e in knowledge.entries.values()) + len(knowledge.items)
    assert sheet.count(html.escape(referral)) == answers + 1  # and once under "Messages"
    topics = {item.topic for item in knowledge.items.values()}
    # one per entry, per topic of specific questions, and one for the red flags
    assert sheet.count("Signature") == len(knowledge.entries) + len(topics) + 1
    for item in knowledge.items.values():
        assert html.escape(item.text) in sheet
        assert all(html.escape(asked) in sheet for asked in item.asked)
    assert knowledge.version in sheet
    for category in knowledge.triage.categories.values():
        assert html.escape(category.label) in sheet
        assert all(html.escape(p) in sheet for p in category.phrasings)
        assert all(html.escape(s.url) in sheet for s in category.sources)
    for level in knowledge.triage.levels.values():
        assert html.escape(level.message.format(**settings.template_values())) in sheet


def test_reading_grade_ignores_placeholders_and_addresses():
    assert reading_grade("Call {clinic_phone} or go to https://example.org/a-very-long-address-here.") < 6
