"""Does the reply answer the question asked? Real FAQ questions, held out by page.

The questions come from the public pages in docs/evaluation/faq-pages.md, split by
page (sha256 of the address, even: development, odd: held out). The bot's replies
are built as the answering action builds them, from the trained model's parse; the
minimums below are just under what it reaches on the held-out half today, and well
below the product's targets (right item 0.90, another question's item 0.03,
honest 0.90): docs/evaluation/questions.md has the figures.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from benchmarks.questions import DATA, MODEL, PARTS, evaluate, read_questions

pytestmark = pytest.mark.nlu
ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "evaluation" / "faq-pages.md"

# Measured 2026-12-03 on the held-out half (141 questions an item answers, 49 a topic
# summary answers, 42 nothing does): right item 0.603, right summary 0.490, another
# question's item 0.056, honest 0.690; the topic-only bot 0.000 / 0.551 / 0.000 / 0.095.
# Earlier figures, each change chosen on the development half (dev figures in brackets):
# 2026-12-02, before the one-vs-rest matcher: 0.546 / 0.449 / 0.082 / 0.643 (0.695 /
# 0.480 / 0.036 / 0.706); then 0.553 / 0.510 / 0.078 / 0.643 (0.743 / 0.540 / 0.022 /
# 0.765); with kinds of a procedure kept after the mask: 0.582 / 0.469 / 0.052 / 0.690
# (0.776 / 0.520 / 0.029 / 0.824); now, with 296 paraphrases from 85 pages outside the
# evaluation sets (docs/paraphrase-sources.md), plurals masked like the entity ruler does,
# a sure single-treatment item answered without asking which treatment, and five new
# items (sedation aftercare, genicular blocks, gel shot courses and allergies, pump
# removal): (0.814 / 0.520 / 0.036 / 0.824). The pipeline is seeded, so retraining gives
# the same figures.
MIN_RIGHT_ITEM = 0.56
MIN_RIGHT_SUMMARY = 0.44
MAX_WRONG_ITEM = 0.07
MIN_HONEST_NOT_COVERED = 0.66


@pytest.fixture(scope="module")
def report():
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make train` (make test does it for you).")
    return evaluate(MODEL)


def test_the_halves_are_split_by_page_and_list_their_sources():
    listed = set(re.findall(r"https?://[^\s|)>]+", PAGES.read_text(encoding="utf-8")))
    pages = {}
    for part in PARTS:
        questions = read_questions(part, DATA)
        assert len(questions) >= 200, part
        for question in questions:
            assert question.page in listed, question.page
            expected = (
                "dev" if int(hashlib.sha256(question.page.encode()).hexdigest(), 16) % 2 == 0 else "heldout"
            )
            assert expected == part, question.page
            pages.setdefault(part, set()).add(question.page)
    assert len(pages["dev"] | pages["heldout"]) >= 40
    assert not pages["dev"] & pages["heldout"]


def test_no_page_read_to_write_paraphrases_is_an_evaluation_page():
    def addresses(path):
        found = re.findall(r"https?://[^\s|)>]+", path.read_text(encoding="utf-8"))
        return {a.rstrip("/").lower() for a in found}

    read_for_training = addresses(ROOT / "docs" / "paraphrase-sources.md")
    assert len(read_for_training) >= 40
    assert not read_for_training & addresses(PAGES)


def test_the_held_out_half_gets_answers_to_the_questions_asked(report):
    held = report["heldout"]["items"]
    assert held["right_item"] >= MIN_RIGHT_ITEM
    assert held["wrong_item"] <= MAX_WRONG_ITEM
    assert held["honest_not_covered"] >= MIN_HONEST_NOT_COVERED
    assert held["right_summary"] >= MIN_RIGHT_SUMMARY


def test_items_do_better_than_the_topic_only_bot(report):
    for part in PARTS:
        now, before = report[part]["items"], report[part]["topic_only"]
        assert now["right_item"] > before["right_item"], part
        assert now["honest_not_covered"] > before["honest_not_covered"], part
        assert now["summary_as_answer"] < before["summary_as_answer"], part


def test_out_of_scope_messages_are_still_declined(report):
    assert report["out_of_scope"]["answered_with_an_item"] <= 2
    assert report["out_of_scope"]["answered_with_a_summary"] == 0
