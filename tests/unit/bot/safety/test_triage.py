"""Triage decisions (bot.safety.triage): rules and classifier together, levels, the
procedure context, the gentle crisis line, and the model's save and load."""

from __future__ import annotations

import pytest

from bot.safety.triage import (
    EXAMPLES_PATH,
    NONE,
    SELF_HARM,
    ExamplesError,
    TriageModel,
    assess,
    examples_paths,
    mentions_procedure,
    mentions_recent_procedure,
    read_examples,
    training_set,
)

# A tiny training set: enough for the classifier to learn what the rules do not list.
SMALL = {
    "suicide_self_harm": [
        "i am done with everything and want to disappear for good",
        "nobody would miss me if i was gone",
        "i have been thinking about ending things",
        "i keep thinking everyone would be better without me around",
        "i gave my dog to my sister in case i am not here",
    ],
    "fever_after_procedure": [
        "running hot and shivery two days after the shot",
        "temp of 101 after my rfa",
        "feverish and chills since the procedure",
    ],
    "wound_infection": [
        "the battery spot is puffy and leaking yellow",
        "cut from the trial leads is angry red",
        "the spot they injected looks infected and hot",
    ],
    NONE: [
        "how long does an rfa last",
        "what does an epidural cost",
        "can i drive after a nerve block",
        "is a fever a risk after a stimulator",
        "what are the side effects of the steroid",
        "i am so tired after physical therapy",
        "hello",
        "thank you so much",
        "what is a trigger point injection",
        "how do i prepare for my injection",
    ],
}


@pytest.fixture(scope="module")
def small_model():
    texts = [t for texts in SMALL.values() for t in texts]
    labels = [label for label, texts in SMALL.items() for _ in texts]
    return TriageModel.fit(texts, labels)


def test_rules_alone_raise_the_level_of_their_category(knowledge):
    found = assess("I suddenly can't feel my legs", knowledge.triage)
    assert found.categories == ("limb_weakness_numbness",) and found.levels == ("emergency",)
    assert found.raised_by == {"limb_weakness_numbness": "rule"}


def test_levels_are_most_urgent_first_and_keep_every_category(knowledge):
    found = assess("my pump is beeping and I want to kill myself and I can't breathe", knowledge.triage)
    assert found.levels == ("emergency", "crisis", "urgent")
    assert set(found.categories) == {"chest_breathing_fainting", "suicide_self_harm", "pump_problem"}


def test_empty_and_ordinary_messages_raise_nothing(knowledge, small_model):
    for text in ("", "   ", None, "what is RFA?", "how much does a nerve block cost"):
        assert not assess(text, knowledge.triage, small_model).alarm


def test_the_classifier_reaches_what_no_rule_lists(knowledge, small_model):
    text = "nobody would miss me if i was gone"
    assert assess(text, knowledge.triage).levels == ()  # no rule says it this way
    found = assess(text, knowledge.triage, small_model)
    assert found.levels == ("crisis",) and found.raised_by == {"suicide_self_harm": "model"}


def test_thresholds_decide_and_an_unsure_crisis_gets_the_gentle_line(knowledge, small_model):
    text = "i have been thinking about ending things"
    strict = {"crisis": 0.999, "crisis_check": 0.01}
    found = assess(text, knowledge.triage, small_model, strict)
    assert not found.alarm and found.crisis_check
    none = assess(text, knowledge.triage, small_model, {"crisis": 0.999, "crisis_check": 0.999})
    assert not none.alarm and not none.crisis_check


def test_a_sign_that_needs_a_procedure_is_conditional_without_one(knowledge, small_model):
    probabilities = {"fever_after_procedure": 0.9, NONE: 0.1}
    alone = assess("i have a temperature", knowledge.triage, probabilities=probabilities)
    assert not alone.alarm and alone.conditional == ("fever_after_procedure",)
    named = assess("i have a temperature since the injection", knowledge.triage, probabilities=probabilities)
    assert named.levels == ("urgent",) and named.categories == ("fever_after_procedure",)
    told = assess(
        "i have a temperature", knowledge.triage, probabilities=probabilities, recent_procedure=True
    )
    assert told.levels == ("urgent",)


def test_a_sure_sign_is_raised_without_a_told_procedure_only_when_the_message_names_one(knowledge):
    sure_fever = {"fever_after_procedure": 0.95, NONE: 0.05}
    # a fever alone is common: still conditional, however sure the classifier is
    alone = assess("my kid has a fever of 100 what do i do", knowledge.triage, probabilities=sure_fever)
    assert not alone.alarm and alone.conditional == ("fever_after_procedure",)
    # the message names the procedure without saying it was done
    named = assess("fever and chills, rfa was tuesday", knowledge.triage, probabilities=sure_fever)
    assert named.levels == ("urgent",) and named.categories == ("fever_after_procedure",)
    # a procedure named only in a question about it is no told procedure
    sure_headache = {"positional_headache": 0.99, NONE: 0.01}
    asked = "my headache gets better when i lie down, could an epidural help"
    assert assess(asked, knowledge.triage, probabilities=sure_headache).conditional == (
        "positional_headache",
    )
    # ...and not when the classifier is unsure
    unsure = assess(
        "fever and chills, rfa was tuesday",
        knowledge.triage,
        probabilities={"fever_after_procedure": 0.6, NONE: 0.4},
    )
    assert not unsure.alarm and unsure.conditional == ("fever_after_procedure",)


def test_a_level_is_raised_by_an_eligible_category_before_a_conditional_one(knowledge):
    # Split between a sign that needs a procedure and one that does not: the eligible one wins.
    probabilities = {"positional_headache": 0.3, "wound_infection": 0.25, "pump_problem": 0.2, NONE: 0.25}
    found = assess(
        "it is red and it hurts", knowledge.triage, thresholds={"urgent": 0.4}, probabilities=probabilities
    )
    assert found.categories == ("wound_infection",) and found.levels == ("urgent",)


def test_the_probabilities_of_a_level_add_up(knowledge):
    probabilities = {"overdose": 0.2, "chest_breathing_fainting": 0.2, NONE: 0.6}
    found = assess("something", knowledge.triage, thresholds={"emergency": 0.35}, probabilities=probabilities)
    assert found.levels == ("emergency",)


@pytest.mark.parametrize(
    "text, procedure, recent",
    [
        ("had my epidural on monday", True, True),
        ("got the stimulator put in last week", True, True),
        ("what is an epidural", True, False),
        ("i have a headache", False, False),
        ("since the shot my back hurts", True, True),
        ("i think they hit something during my epidural", True, True),
    ],
)
def test_procedure_mentions(text, procedure, recent):
    assert mentions_procedure(text) is procedure
    assert mentions_recent_procedure(text) is recent


def test_model_saves_and_loads_identically(tmp_path, small_model):
    small_model.save(tmp_path / "model")
    loaded = TriageModel.load(tmp_path / "model")
    texts = ["nobody would miss me", "temp of 101 after my rfa", "hello"]
    for before, after in zip(small_model.probabilities(texts), loaded.probabilities(texts)):
        assert before.keys() == after.keys()
        assert all(abs(before[k] - after[k]) < 1e-12 for k in before)
    assert not list((tmp_path / "model").glob("*.pkl"))


def test_an_untrained_or_missing_model_predicts_none(tmp_path):
    assert TriageModel.load(tmp_path / "nothing").probabilities(["x"]) == [{NONE: 1.0}]


def test_examples_must_name_knowledge_categories(tmp_path, knowledge):
    path = tmp_path / "examples.yml"
    path.write_text("categories:\n  not_a_category:\n    - something\n")
    with pytest.raises(ExamplesError, match="not_a_category"):
        read_examples(knowledge.triage, path)
    path.write_text("categories:\n  overdose: nope\n")
    with pytest.raises(ExamplesError, match="overdose"):
        read_examples(knowledge.triage, path)
    path.write_text(": : :")
    with pytest.raises(ExamplesError):
        read_examples(knowledge.triage, path)


def test_training_set_adds_phrasings_and_never_labels_a_red_flag_as_ordinary(tmp_path, knowledge):
    path = tmp_path / "examples.yml"
    path.write_text('categories:\n  overdose:\n    - "he took all his pills"\n  none:\n    - "hello"\n')
    texts, labels = training_set(
        knowledge.triage, ["he took all his pills", "what is rfa"], [path], stories=False
    )
    pairs = set(zip(texts, labels))
    assert ("he took all his pills", "overdose") in pairs and ("he took all his pills", NONE) not in pairs
    assert ("what is rfa", NONE) in pairs
    phrasing = knowledge.triage.categories["stroke_vision"].phrasings[0]
    assert (phrasing, "stroke_vision") in pairs


def test_the_real_examples_cover_every_category(knowledge):
    labels = {label for _, label in read_examples(knowledge.triage)}
    assert labels == set(knowledge.triage.categories) | {NONE}


def test_every_writers_examples_file_is_read_first_file_first(tmp_path):
    names = ["triage_examples_10.yml", "triage_examples_2.yml", "triage_examples.yml"]
    names.append("triage_examples_b.yml")
    for name in names:
        (tmp_path / name).write_text("categories: {}\n")
    assert [p.name for p in examples_paths(tmp_path)] == [
        "triage_examples.yml",
        "triage_examples_2.yml",
        "triage_examples_10.yml",
    ]
    real = examples_paths()
    assert real[0] == EXAMPLES_PATH and len(real) >= 3


def test_stories_do_not_change_when_names_or_other_examples_are_added(tmp_path, knowledge):
    path = tmp_path / "examples.yml"
    path.write_text('categories:\n  overdose:\n    - "he took all his pills"\n')
    ordinary = ["what is rfa", "how long does it last", "does it hurt", "can i drive home", "what it costs"]

    def stories(names, extra=""):
        path.write_text(f'categories:\n  overdose:\n    - "he took all his pills"\n{extra}')
        texts, labels = training_set(knowledge.triage, ordinary, [path], names=names)
        told = "he took all his pills."
        return {(t, label) for t, label in zip(texts, labels) if told in t and t != told[:-1]}

    before = stories(["rfa"])
    assert before and all(label == "overdose" for _, label in before)
    assert stories(["rfa", "the stimulator", "gel shot"]) == before
    assert stories(["rfa"], '  stroke_vision:\n    - "her face is drooping"\n') == before


def test_typo_copies_keep_their_label_and_do_not_change_from_run_to_run():
    from bot.safety.triage import _typos

    pairs = [
        ("fever with a stiff neck and a terrible headache since the shot", "fever_stiff_neck"),
        ("what does a medial branch block involve and how long does it take", NONE),
    ]
    copies = _typos(pairs, seed=2024, rate=0.5)
    assert copies == _typos(pairs, seed=2024, rate=0.5)
    assert [label for _, label in copies] == ["fever_stiff_neck", NONE]
    for (original, _), (typed, _) in zip(pairs, copies):
        changed = [(a, b) for a, b in zip(original.split(), typed.split()) if a != b]
        assert changed and len(original.split()) == len(typed.split())
        # one letter dropped, swapped or doubled, never the first or the last
        for a, b in changed:
            assert abs(len(a) - len(b)) <= 1 and a[0] == b[0] and a[-1] == b[-1]
    assert _typos(pairs, seed=2024, rate=0.0) == []


def test_saying_only_that_a_procedure_happened_is_trained_as_ordinary(knowledge):
    from bot.safety.triage import _told_of, guard_training_set

    texts, labels = guard_training_set(knowledge, ["what is rfa"])
    ordinary = {t for t, label in zip(texts, labels) if label == NONE}
    told = {_told_of(a) for aliases in knowledge.aliases().values() for a in aliases}
    assert told <= ordinary
    assert all(len(t.split()) >= 4 for t in told)


def test_a_model_with_embeddings_reads_meaning_and_saves_its_weight(tmp_path):
    texts = [t for texts in SMALL.values() for t in texts]
    labels = [label for label, texts in SMALL.items() for _ in texts]
    model = TriageModel.fit(texts, labels, embedding_weight=2.0)
    plain = TriageModel.fit(texts, labels)
    veiled = ["i won't be around to bother anyone much longer"]
    assert model.probabilities(veiled)[0][SELF_HARM] > plain.probabilities(veiled)[0][SELF_HARM]
    model.save(tmp_path / "model")
    loaded = TriageModel.load(tmp_path / "model")
    assert loaded.embedding_weight == 2.0
    for before, after in zip(
        model.probabilities(veiled + texts[:3]), loaded.probabilities(veiled + texts[:3])
    ):
        assert all(abs(before[k] - after[k]) < 1e-12 for k in before)
