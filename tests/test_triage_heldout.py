"""Red-flag triage on the messages written apart from it (tests/data/triage/).

The classifier is trained here exactly as ``TriageGuard`` trains it, with the
thresholds of config.yml, and scored on the held-out part of the sets (the part
nobody reads message by message). The minimums are just below what the triage
reaches today, so any change that makes it miss more, or cry wolf more, fails.
They are below the product's targets (emergency and crisis recall 1.00, urgent
0.97, false alarms 0.02): docs/evaluation/triage.md has the figures.
"""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.triage import evaluate, read_heldout

pytestmark = pytest.mark.nlu

# With sentence embeddings (2026-12-07): 0.987, 0.956, 0.960; n-grams alone were 0.978, 0.949, 0.947.
MIN_RECALL = {"emergency": 0.98, "crisis": 0.95, "urgent": 0.95}
MIN_CRISIS_LINE_SHOWN = 0.90  # crisis messages that got the crisis line at all (level or gentle line)
MAX_FALSE_ALARM_RATE = 0.066  # 2026-12-07: 0.064 (29 of 451; n-grams alone 31)
# 2026-12-07: 6 of 484 (NLU hold-out and out-of-scope sets; n-grams alone 2): the price of the embeddings.
MAX_QUESTION_FALSE_ALARMS = 7


@pytest.fixture(scope="module")
def report():
    return evaluate()


def test_the_sets_cover_every_level_and_category_with_sources(knowledge):
    cases = read_heldout()
    heldout = [c for c in cases if c.split == "heldout"]
    positives = [c for c in heldout if c.level != "none"]
    assert len(positives) >= 400 and len(heldout) - len(positives) >= 300
    assert {c.category for c in positives} == set(knowledge.triage.categories)
    assert {c.level for c in positives} == {"emergency", "crisis", "urgent"}
    for case in cases:
        assert case.level in ("emergency", "crisis", "urgent", "none")
        assert case.level == "none" or knowledge.triage.level_of(case.category) == case.level
        assert case.source, case.text
    # Split by source page: no page gives messages to both parts.
    parts = Counter((c.origin, c.source, c.split) for c in cases)
    pages = Counter((origin, source) for origin, source, _ in parts)
    assert all(n == 1 for n in pages.values())


def test_recall_per_level_on_the_held_out_part(report):
    levels = report["heldout"]["levels"]
    for level, minimum in MIN_RECALL.items():
        assert levels[level]["recall"] >= minimum, (level, levels[level]["recall"])
    crisis = levels["crisis"]
    assert crisis["crisis_line_shown"] / crisis["total"] >= MIN_CRISIS_LINE_SHOWN


def test_false_alarms_on_look_alikes_and_ordinary_questions(report):
    assert report["heldout"]["negatives"]["false_alarm_rate"] <= MAX_FALSE_ALARM_RATE
    assert report["questions"]["false_alarms"] <= MAX_QUESTION_FALSE_ALARMS


def test_the_classifier_adds_recall_to_the_rules(report):
    for level, figures in report["heldout"]["levels"].items():
        assert figures["recall"] > report["rules_only"]["levels"][level]["recall"]


def test_no_test_message_is_a_training_example(knowledge):
    """Each examples file comes from a writer who never saw the test sets; none copies one."""
    from bot.safety.red_flags import normalise
    from bot.safety.triage import examples_paths, read_examples

    examples = {
        normalise(text)
        for path in examples_paths()
        for text, _ in read_examples(knowledge.triage, path, phrasings=False)
    }
    copied = [c.origin for c in read_heldout() if normalise(c.text) in examples]
    assert not copied, f"{len(copied)} test messages are also training examples ({Counter(copied)})"
    # The knowledge file's phrasings are the categories' plainest words ("i want to kill
    # myself"), which a test writer may well write too; nothing longer is shared.
    phrasings = {normalise(p) for c in knowledge.triage.categories.values() for p in c.phrasings}
    shared = [c.origin for c in read_heldout() if normalise(c.text) in phrasings and len(c.text.split()) > 5]
    assert not shared, f"{len(shared)} test messages are phrasings in the knowledge file ({Counter(shared)})"
