"""The intent classifier: TF-IDF n-grams with procedure names masked, and logistic regression.

Patients ask the same eight questions about ten procedures, and they name the
procedure in hundreds of ways ("ESI", "epidural", "steriod shot in my back"). What
a question asks does not depend on which procedure it names, so before it looks at
the words this classifier replaces every procedure the project's entity ruler found
(``SpacyNLP`` with ``build/spacy_pipeline``) by one placeholder word. "How long is
recovery after RFA?" and "how long is recovery after a nerve burn" then look alike,
and a procedure name that appears mostly with one question kind in the training data
cannot pull other questions about it towards that kind.

Features: TF-IDF (sublinear term frequency) of word 1-2-grams and of character
2-5-grams within words (``char_wb``: catches misspellings and word endings), of the
lowercased, masked text. Classifier: multinomial logistic regression. Its settings
were chosen by cross-validation on the training data (``make evaluate`` records what
each change bought); the hold-out sets were never used to choose them.

The trained state is saved as JSON (vocabularies, settings) and a NumPy ``.npz`` of
plain arrays (IDF weights, coefficients), loaded without pickle. A message with no
n-grams at all (empty, emoji only, another script) gets no intent here;
``UnreadableInputGuard`` sends it to the fallback.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack

from bot.nlp import linear
from bot.nlp.spacy_pipeline import procedure_spans as spacy_procedure_spans

logger = logging.getLogger(__name__)

# The word every procedure name becomes: not an English word, never in patients' messages.
PROCEDURE_PLACEHOLDER = "zzprocedure"
SETTINGS_FILE = "settings.json"
ARRAYS_FILE = "weights.npz"
_SPACES = re.compile(r"\s+")


def masked_text(text: str, spans: Sequence[Tuple[int, int]], kept: Optional[Sequence[str]] = None) -> str:
    """``text`` lowercased, with each ``(start, end)`` span replaced by the placeholder word.

    Spans are character offsets into ``text``; overlapping or out-of-order spans are
    ignored after the first (the entity ruler never produces them). ``kept``, one
    text per span, follows its placeholder (the kind of procedure the span named).
    """
    lowered = text.lower()
    kept = list(kept) if kept is not None else [""] * len(spans)
    parts, last = [], 0
    for (start, end), words in sorted(zip(spans, kept)):
        if start < last or end <= start or end > len(lowered):
            continue
        parts += [lowered[last:start], f" {PROCEDURE_PLACEHOLDER} {words} "]
        last = end
    parts.append(lowered[last:])
    return _SPACES.sub(" ", "".join(parts)).strip()


def procedure_spans(message: Message) -> List[Tuple[int, int]]:
    """Character spans of the procedures in ``message`` (:func:`bot.nlp.spacy_pipeline.procedure_spans`)."""
    return [(start, end) for start, end, _ in spacy_procedure_spans(message.get(SPACY_DOCS[TEXT]))]


def _vectorizers(config: Dict[str, Any], vocabularies: Optional[List[Dict[str, int]]] = None) -> List[Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    settings = [
        {"analyzer": "word", "ngram_range": tuple(config["word_ngrams"]), "min_df": config["word_min_df"]},
        {"analyzer": "char_wb", "ngram_range": tuple(config["char_ngrams"]), "min_df": config["char_min_df"]},
    ]
    vectorizers = []
    for index, setting in enumerate(settings):
        if vocabularies is not None:
            setting = {"analyzer": setting["analyzer"], "ngram_range": setting["ngram_range"]}
            setting["vocabulary"] = vocabularies[index]
        vectorizers.append(TfidfVectorizer(sublinear_tf=True, dtype=np.float64, **setting))
    return vectorizers


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class MaskedTfidfIntentClassifier(IntentClassifier, GraphComponent):
    """Logistic regression over TF-IDF n-grams of the message with procedure names masked."""

    @classmethod
    def required_components(cls) -> List[type]:
        """Needs ``SpacyNLP`` before it (its entity ruler finds the procedure names)."""
        return [SpacyNLP]

    @staticmethod
    def required_packages() -> List[str]:
        """scikit-learn builds the features and fits the model."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default settings (``config.yml`` states the ones the project uses)."""
        return {
            "mask_procedures": True,
            "word_ngrams": [1, 2],
            "word_min_df": 1,
            "char_ngrams": [2, 5],
            "char_min_df": 2,
            "C": 30.0,
            "max_iter": 3000,
            "random_state": 2024,
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectorizers: Optional[List[Any]] = None,
        classes: Optional[List[str]] = None,
        coefficients: Optional[np.ndarray] = None,
        intercepts: Optional[np.ndarray] = None,
    ) -> None:
        """Creates the classifier, trained when the fitted parts are given."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizers = vectorizers
        self.classes = classes or []
        self.coefficients = coefficients
        self.intercepts = intercepts

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        """Rejects settings that cannot work, naming the setting."""
        merged = {**cls.get_default_config(), **config}
        for key in ("word_ngrams", "char_ngrams"):
            value = merged[key]
            if not (isinstance(value, (list, tuple)) and len(value) == 2 and 1 <= value[0] <= value[1]):
                raise ValueError(
                    f"{cls.__name__}: '{key}' must be [low, high] with 1 <= low <= high, not {value!r}"
                )
        if not float(merged["C"]) > 0:
            raise ValueError(f"{cls.__name__}: 'C' must be above 0, not {merged['C']!r}")

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MaskedTfidfIntentClassifier:
        """Creates an untrained classifier."""
        cls.validate_config(config)
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ features

    def text_of(self, message: Message) -> str:
        """What the classifier reads: the lowercased text, procedure names masked if configured."""
        text = message.get(TEXT) or ""
        spans = procedure_spans(message) if self.config["mask_procedures"] else []
        return masked_text(text, spans)

    def _fitted(self) -> Tuple[List[Any], np.ndarray, np.ndarray]:
        """The fitted vectorizers, coefficients and intercepts (an error if never trained or loaded)."""
        if self.vectorizers is None or self.coefficients is None or self.intercepts is None:
            raise RuntimeError(f"{self.__class__.__name__} used before it was trained or loaded")
        return self.vectorizers, self.coefficients, self.intercepts

    def _features(self, texts: Sequence[str]) -> csr_matrix:
        vectorizers, _, _ = self._fitted()
        return hstack([v.transform(texts) for v in vectorizers], format="csr")

    # ------------------------------------------------------------------ training

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the vectorizers and the logistic regression on the intent examples."""
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        intents = {e.get(INTENT) for e in examples}
        if len(intents) < 2:
            logger.warning(
                f"{self.__class__.__name__} needs at least two intents to train; it found {len(intents)}."
            )
            return self._resource
        texts = [self.text_of(e) for e in examples]
        labels = [e.get(INTENT) for e in examples]
        self.vectorizers = _vectorizers(self.config)
        matrix = hstack([v.fit_transform(texts) for v in self.vectorizers], format="csr")
        model = LogisticRegression(
            C=float(self.config["C"]),
            max_iter=int(self.config["max_iter"]),
            random_state=self.config["random_state"],
            solver="lbfgs",
            multi_class="multinomial",
        ).fit(matrix, labels)
        self.classes = [str(c) for c in model.classes_]
        self.coefficients = np.asarray(model.coef_, dtype=np.float64)
        self.intercepts = np.asarray(model.intercept_, dtype=np.float64)
        self.persist()
        return self._resource

    # ------------------------------------------------------------------ prediction

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax probabilities (one row per text, columns in ``self.classes`` order)."""
        return self._softmax(self._features(texts))

    def _softmax(self, features: csr_matrix) -> np.ndarray:
        _, coefficients, intercepts = self._fitted()
        scores = linear.scores(features, coefficients, intercepts)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets ``intent`` and ``intent_ranking`` on every message.

        A message with no n-gram the classifier knows (empty, emoji only, another
        script) gets no intent (name ``None``, confidence 0), so the fallback takes it.
        """
        for message in messages:
            message.set(INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [], add_to_output=True)
        if not self.classes or self.vectorizers is None:
            return messages
        texts = [self.text_of(m) for m in messages]
        readable = [i for i, t in enumerate(texts) if any(ch.isalnum() for ch in t)]
        if not readable:
            return messages
        features = self._features([texts[i] for i in readable])
        rows = np.flatnonzero(features.getnnz(axis=1))
        if not len(rows):
            return messages
        probabilities = self._softmax(features[rows])
        limit = int(self.config["ranking_length"])
        for row, probability in zip(rows, probabilities):
            order = np.argsort(-probability, kind="stable")
            if limit > 0:
                order = order[:limit]
            ranking = [
                {INTENT_NAME_KEY: self.classes[i], PREDICTED_CONFIDENCE_KEY: float(probability[i])}
                for i in order
            ]
            message = messages[readable[row]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data

    # ------------------------------------------------------------------ persistence

    def persist(self) -> None:
        """Saves vocabularies and settings as JSON, weights as plain NumPy arrays."""
        with self._model_storage.write_to(self._resource) as directory:
            vectorizers, coefficients, intercepts = self._fitted()
            settings = {
                "classes": self.classes,
                "vocabularies": [{k: int(i) for k, i in v.vocabulary_.items()} for v in vectorizers],
            }
            (directory / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
            arrays = {f"idf_{i}": v.idf_ for i, v in enumerate(vectorizers)}
            np.savez(directory / ARRAYS_FILE, coefficients=coefficients, intercepts=intercepts, **arrays)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> MaskedTfidfIntentClassifier:
        """Loads a trained classifier (an untrained one if nothing was saved)."""
        merged = {**cls.get_default_config(), **config}
        try:
            with model_storage.read_from(resource) as directory:
                settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
                with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
                    coefficients, intercepts = arrays["coefficients"], arrays["intercepts"]
                    idfs = [arrays[f"idf_{i}"] for i in range(len(settings["vocabularies"]))]
        except (ValueError, FileNotFoundError):
            logger.debug(f"{cls.__name__}: nothing saved in '{resource.name}'; loading untrained.")
            return cls(merged, model_storage, resource)
        vectorizers = _vectorizers(merged, settings["vocabularies"])
        for vectorizer, idf in zip(vectorizers, idfs):
            vectorizer.idf_ = idf
        return cls(
            merged, model_storage, resource, vectorizers, settings["classes"], coefficients, intercepts
        )
