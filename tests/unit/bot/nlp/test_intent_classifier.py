"""The intent classifier (bot/nlp/intent_classifier.py): procedure names masked, TF-IDF n-grams,
logistic regression; saved without pickle; never leaves a message without an intent field.

Trained for real on small data, with the project-built spaCy pipeline in front of it as in
config.yml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.intent_classifier import (
    ARRAYS_FILE,
    PROCEDURE_PLACEHOLDER,
    SETTINGS_FILE,
    MaskedTfidfIntentClassifier,
    masked_text,
)
from bot.nlp.spacy_pipeline import build_pipeline
from tests.servers import ROOT

P = PROCEDURE_PLACEHOLDER

# Recovery questions only ever name the epidural, risk questions only radiofrequency ablation:
# a classifier that learns the procedure names takes "recovery after rfa" for a risk question.
TRAINING = {
    "ask_recovery_time": [
        "how long is recovery after an epidural",
        "when can i go back to work after the epidural",
        "how many days to recover from an epidural",
        "recovery time for an epidural steroid injection",
        "how soon can i drive after my epidural",
        "how long until i feel normal after the epidural shot",
    ],
    "ask_risks": [
        "what are the risks of rfa",
        "is radiofrequency ablation dangerous",
        "side effects of rfa",
        "can rfa cause nerve damage",
        "what could go wrong with radiofrequency ablation",
        "is rfa safe",
    ],
    "greet": ["hello", "hi there", "good morning", "hey", "hello there", "hi"],
}


@pytest.fixture(scope="module")
def spacy_nlp(knowledge, tmp_path_factory) -> SpacyNLP:
    path = tmp_path_factory.mktemp("spacy") / "pipeline"
    build_pipeline(knowledge, path)
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    context = ExecutionContext(node_name="spacy", graph_schema=None)
    return SpacyNLP.create({"model": str(path)}, storage, Resource("spacy"), context)


def parsed(spacy_nlp: SpacyNLP, *texts: str):
    """Messages as the Rasa server sees them when they reach the classifier."""
    return spacy_nlp.process([Message(data={TEXT: t}) for t in texts], spacy_nlp.provide())


def train(spacy_nlp: SpacyNLP, tmp_path: Path, **config) -> MaskedTfidfIntentClassifier:
    examples = [Message(data={TEXT: t, INTENT: i}) for i, texts in TRAINING.items() for t in texts]
    data = spacy_nlp.process_training_data(TrainingData(training_examples=examples), spacy_nlp.provide())
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(node_name="classifier", graph_schema=None)
    classifier = MaskedTfidfIntentClassifier.create(
        {"char_min_df": 1, **config}, storage, Resource("classifier"), context
    )
    classifier.train(data)
    return classifier


def top(classifier: MaskedTfidfIntentClassifier, spacy_nlp: SpacyNLP, text: str):
    (message,) = classifier.process(parsed(spacy_nlp, text))
    return message.get(INTENT)


@pytest.mark.parametrize(
    "text, spans, expected",
    [
        ("What is RFA?", [(8, 11)], f"what is {P} ?"),
        ("epidural or nerve block", [(0, 8), (12, 23)], f"{P} or {P}"),
        ("no procedure here", [], "no procedure here"),
        ("overlap", [(0, 4), (2, 6)], f"{P} lap"),  # a second, overlapping span is ignored
        ("out of range", [(5, 99)], "out of range"),
    ],
)
def test_masked_text(text, spans, expected):
    assert masked_text(text, spans) == expected


def test_it_reads_the_masked_text(spacy_nlp, tmp_path):
    classifier = train(spacy_nlp, tmp_path)
    (message,) = parsed(spacy_nlp, "How long is recovery after a Nerve Block?")
    assert classifier.text_of(message) == f"how long is recovery after a {P} ?"


def test_masking_learns_the_question_apart_from_the_procedure(spacy_nlp, tmp_path):
    masked = train(spacy_nlp, tmp_path / "masked")
    unmasked = train(spacy_nlp, tmp_path / "unmasked", mask_procedures=False)
    for text in ("how long is recovery after rfa", "how many days to recover from radiofrequency ablation"):
        assert top(masked, spacy_nlp, text)["name"] == "ask_recovery_time", text
        # Without masking the procedure's name drags its confidence down (the reason for masking).
        assert top(unmasked, spacy_nlp, text)["confidence"] < top(masked, spacy_nlp, text)["confidence"]
    assert top(masked, spacy_nlp, "is an epidural risky")["name"] == "ask_risks"


def test_ranking_is_sorted_limited_and_probabilities(spacy_nlp, tmp_path):
    classifier = train(spacy_nlp, tmp_path, ranking_length=2)
    (message,) = classifier.process(parsed(spacy_nlp, "hello, what are the risks"))
    ranking = message.get(INTENT_RANKING_KEY)
    assert len(ranking) == 2
    assert ranking[0] == message.get(INTENT)
    assert ranking[0]["confidence"] >= ranking[1]["confidence"]
    full = classifier.probabilities([classifier.text_of(message)])
    assert full.shape == (1, len(TRAINING)) and full.sum() == pytest.approx(1.0)


def test_saved_without_pickle_and_loaded_back_identical(spacy_nlp, tmp_path):
    classifier = train(spacy_nlp, tmp_path)
    with classifier._model_storage.read_from(classifier._resource) as directory:
        assert sorted(p.name for p in directory.iterdir()) == sorted([ARRAYS_FILE, SETTINGS_FILE])
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:  # plain arrays only
            assert arrays["coefficients"].shape[0] == len(TRAINING)
    loaded = MaskedTfidfIntentClassifier.load(
        {"char_min_df": 1},
        classifier._model_storage,
        classifier._resource,
        ExecutionContext(node_name="classifier", graph_schema=None),
    )
    texts = ["how long is recovery after rfa", "hi", "side effects of the pump"]
    assert loaded.classes == classifier.classes
    np.testing.assert_array_equal(loaded.probabilities(texts), classifier.probabilities(texts))


def test_loading_with_nothing_saved_gives_an_untrained_classifier(spacy_nlp, tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(node_name="classifier", graph_schema=None)
    loaded = MaskedTfidfIntentClassifier.load({}, storage, Resource("missing"), context)
    (message,) = loaded.process(parsed(spacy_nlp, "hello"))
    assert message.get(INTENT) == {"name": None, "confidence": 0.0}


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "ʕ•ᴥ•ʔ", "qqqqqqqq"])
def test_nothing_to_read_gets_no_intent_and_then_the_fallback(spacy_nlp, tmp_path, text):
    classifier = train(spacy_nlp, tmp_path)
    (message,) = classifier.process(parsed(spacy_nlp, text))
    if message.get(INTENT)["name"] is None:
        assert message.get(INTENT_RANKING_KEY) == []
    context = ExecutionContext(node_name="fallback", graph_schema=None)
    fallback = FallbackClassifier.create(
        {**FallbackClassifier.get_default_config(), "threshold": 0.2, "ambiguity_threshold": 0.0},
        LocalModelStorage(tmp_path / "fallback"),
        Resource("fallback"),
        context,
    )
    (message,) = fallback.process([message])  # never a KeyError: there is always an intent field
    if text.strip() != "qqqqqqqq":
        assert message.get(INTENT)["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    "config, named",
    [({"word_ngrams": [2, 1]}, "word_ngrams"), ({"char_ngrams": [0, 5]}, "char_ngrams"), ({"C": 0}, "'C'")],
)
def test_bad_settings_are_named(config, named):
    with pytest.raises(ValueError, match=named):
        MaskedTfidfIntentClassifier.validate_config(config)


def test_config_yml_uses_it_with_masking(tmp_path):
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text())
    names = [c["name"] for c in config["pipeline"]]
    classifier = next(c for c in config["pipeline"] if c["name"].endswith("MaskedTfidfIntentClassifier"))
    assert classifier["mask_procedures"] is True
    assert names.index("SpacyNLP") < names.index(classifier["name"]) < names.index("FallbackClassifier")
