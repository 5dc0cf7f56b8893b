"""Which specific question a message asks: the knowledge file's items, or a topic summary.

Patients ask hundreds of distinct questions ("can I have an MRI with my
stimulator?", "do I stop my blood thinner?"); the knowledge file answers them with
specific question items, each listing how patients ask it (``asked``). The
:class:`QuestionModel` learns one class per item from those paraphrases, one
``summary:<topic>`` class per summary topic from the knowledge file's general ways
of asking it (``questions.summaries``: "what are the risks of an epidural?"), and
an ``other`` class from the NLU examples of intents that ask no health question.
Procedure names (every name and alias of the knowledge file) are masked, so an
item learnt from "MRI with a stimulator" is not pulled towards stimulator
questions in general, and "can I drive home after it?" is one question for every
procedure the item lists.

:class:`QuestionMatcher` (a Rasa component after the intent classifier) decides, for
every procedure (``bot.questions.decide``: only the items that apply to it
compete), between an item when one is likely enough, the topic summary when the
question is a general one, and "not covered"; the answering action takes the
decision for the procedure in play and, for "not covered", says plainly that it
has no checked answer.

Adding an item to the knowledge file needs no Python: it is a class here after
the next ``rasa train`` (the fingerprint includes the knowledge file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack

from bot.knowledge import KnowledgeBase, get_knowledge, knowledge_path
from bot.nlp import linear
from bot.nlp.intent_classifier import PROCEDURE_PLACEHOLDER, _vectorizers, masked_text
from bot.nlp.spacy_pipeline import plural_forms
from bot.questions import CONDITIONS, MATCH_KEY, OTHER, conditions_named, decisions, summary_label
from bot.replies import INFORM, INTENT_TOPICS

logger = logging.getLogger(__name__)

UNREADABLE = "unreadable"  # set by UnreadableInputGuard, never overridden
SETTINGS_FILE = "questions.json"
ARRAYS_FILE = "questions.npz"


_WORD = re.compile(r"\w+")
_JOINER = re.compile(r"[\s()-]*")  # between a name's words: spaces, hyphens, brackets only


@lru_cache(maxsize=4)
def _name_table(
    names: Tuple[Tuple[str, str], ...],
) -> Tuple[Dict[Tuple[str, ...], str], int, Dict[str, str]]:
    """The names' words in one spelling each, with their kinds; the longest name's length.

    Also ``{a name word or a plural form of it (the entity ruler's): its one spelling}``:
    "blocks" and "block" are both "block", "headaches" is "headache".
    """
    spelling: Dict[str, str] = {}
    for name, _ in names:
        for word in _WORD.findall(name.lower()):
            forms = plural_forms(word) | {word}
            shortest = min(forms, key=lambda f: (len(f), f))  # "blocks" and "block": "block"
            for form in forms:
                spelling.setdefault(form, shortest)
    table: Dict[Tuple[str, ...], str] = {}
    for name, kinds in names:
        words = tuple(spelling[w] for w in _WORD.findall(name.lower()))
        if words and words not in table:
            table[words] = kinds
    return table, max((len(words) for words in table), default=0), spelling


def procedure_names(text: str, knowledge: KnowledgeBase) -> List[Tuple[int, int, str]]:
    """``(start, end, kinds)`` of every procedure name or alias in ``text``, longest first.

    Words are compared in one spelling for singular and plural ("stellate ganglion
    blocks" is the alias "stellate ganglion block"), and the words of a name may be
    joined by spaces, hyphens or brackets ("SI-joint", the entry names' "(cortisone shot)"),
    as the spaCy entity ruler finds them.
    """
    table, longest, spelling = _name_table(tuple(knowledge.alias_kinds.items()))
    tokens = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text)]
    tokens = [(start, end, spelling.get(word, word)) for start, end, word in tokens]
    found, index = [], 0
    while index < len(tokens):
        for size in range(min(longest, len(tokens) - index), 0, -1):
            span = tokens[index : index + size]
            joined = all(_JOINER.fullmatch(text, a[1], b[0]) for a, b in zip(span, span[1:]))
            kinds = table.get(tuple(t[2] for t in span)) if joined else None
            if kinds is not None:
                found.append((span[0][0], span[-1][1], kinds))
                index += size
                break
        else:
            index += 1
    return found


def masked(text: str, knowledge: KnowledgeBase) -> str:
    """``text`` lowercased with every procedure name or alias of the knowledge file masked.

    The same names the spaCy entity ruler is built from (:func:`procedure_names`), so
    paraphrases in the knowledge file and patients' messages are masked alike (and the
    benchmark needs no spaCy). An alias that names a kind of the procedure keeps the
    kind's name after the mask ("a ketamine drip" -> "a zzprocedure ketamine"): a
    ketamine question is not a lidocaine one.
    """
    found = procedure_names(text, knowledge)
    return masked_text(text, [(start, end) for start, end, _ in found], [kinds for _, _, kinds in found])


def item_examples(knowledge: KnowledgeBase) -> List[Tuple[str, str]]:
    """``(masked text, label)`` for every item's paraphrases and answer, and each summary's.

    The answer is learnt from too: its words are the point's words ("MRI", "metal
    detector"). A general question naming the procedure is learnt once more with a
    kind of procedure after the mask, kinds taken in turn ("is zzprocedure ketamine
    safe"): a kind alone does not make a question specific.
    """
    pairs = []
    for item in knowledge.items.values():
        pairs += [(masked(asked, knowledge), item.id) for asked in item.asked]
        pairs.append((masked(item.text, knowledge), item.id))
    kinds = sorted({kind for entry in knowledge.entries.values() for kind in entry.kinds})
    placeholder = re.compile(rf"\b{PROCEDURE_PLACEHOLDER}\b(?! (?:{'|'.join(kinds) or '_'})\b)")
    turn = 0
    for topic, asked in knowledge.summary_asked.items():
        for text in asked:
            plain = masked(text, knowledge)
            pairs.append((plain, summary_label(topic)))
            if kinds and placeholder.search(plain):
                kind = kinds[turn % len(kinds)]
                kinded = placeholder.sub(f"{PROCEDURE_PLACEHOLDER} {kind}", plain, count=1)
                pairs.append((kinded, summary_label(topic)))
                turn += 1
    return pairs


def intent_examples(examples: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """NLU ``(text, intent)`` pairs of intents that ask no health question, as ``other``.

    The ``ask_*`` intents' examples are left out: many are specific questions
    ("can I fly a week after?") that would teach a summary to claim them. So are
    ``inform`` (a bare procedure name) and ``emergency``.
    """
    skip = set(INTENT_TOPICS) | {INFORM, "emergency"}
    return [(text, OTHER) for text, intent in examples if intent not in skip]


class QuestionModel:
    """TF-IDF (word and character n-grams) and logistic regression over items and summaries.

    One-vs-rest (``liblinear``): one yes/no model per class, probabilities
    normalised over the classes. On 200+ classes it fits about six times faster
    than a multinomial model (``lbfgs``) and, on the development questions, serves
    the right item as often for fewer wrong ones; ``solver: lbfgs`` gives the
    multinomial model (softmax) instead.
    """

    DEFAULTS: Dict[str, Any] = {
        "word_ngrams": [1, 2],
        "word_min_df": 1,
        "char_ngrams": [2, 5],
        "char_min_df": 2,
        "C": 20.0,
        "solver": "liblinear",
        "max_iter": 3000,
        "random_state": 2024,
    }
    SOLVERS = ("liblinear", "lbfgs")

    def __init__(
        self,
        config: Optional[Dict[str, Any]] = None,
        vectorizers: Optional[List[Any]] = None,
        classes: Optional[List[str]] = None,
        coefficients: Optional[np.ndarray] = None,
        intercepts: Optional[np.ndarray] = None,
    ) -> None:
        """A model, trained when the fitted parts are given."""
        self.config = {**self.DEFAULTS, **(config or {})}
        self.vectorizers = vectorizers
        self.classes = classes or []
        self.coefficients = coefficients
        self.intercepts = intercepts

    @property
    def trained(self) -> bool:
        """Whether the model has been fitted (or loaded)."""
        return bool(self.classes) and self.vectorizers is not None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> QuestionModel:
        """Fits on masked texts and their labels."""
        from sklearn.linear_model import LogisticRegression

        solver = self.config["solver"]
        if solver not in self.SOLVERS:
            choices = ", ".join(self.SOLVERS)
            raise ValueError(f"QuestionModel: solver must be one of {choices}, not {solver!r}")
        self.vectorizers = _vectorizers(self.config)
        matrix = hstack([v.fit_transform(texts) for v in self.vectorizers], format="csr")
        model = LogisticRegression(
            C=float(self.config["C"]),
            max_iter=int(self.config["max_iter"]),
            random_state=self.config["random_state"],
            solver=solver,
            multi_class="ovr" if solver == "liblinear" else "multinomial",
        ).fit(matrix, list(labels))
        self.classes = [str(c) for c in model.classes_]
        self.coefficients = np.asarray(model.coef_, dtype=np.float64)
        self.intercepts = np.asarray(model.intercept_, dtype=np.float64)
        if len(self.classes) == 2 and self.coefficients.shape[0] == 1:
            # Two classes: one model for the second; the first's score is its negative.
            self.coefficients = np.vstack([-self.coefficients, self.coefficients])
            self.intercepts = np.concatenate([-self.intercepts, self.intercepts])
        return self

    def _fitted(self) -> Tuple[List[Any], np.ndarray, np.ndarray]:
        """The fitted vectorizers, coefficients and intercepts (an error if never fitted or loaded)."""
        if self.vectorizers is None or self.coefficients is None or self.intercepts is None:
            raise RuntimeError("QuestionModel used before it was fitted or loaded")
        return self.vectorizers, self.coefficients, self.intercepts

    def _features(self, texts: Sequence[str]) -> csr_matrix:
        vectorizers, _, _ = self._fitted()
        return hstack([v.transform(texts) for v in vectorizers], format="csr")

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per masked text, columns in ``classes`` order.

        One-vs-rest: each class's yes-probability, normalised over the classes (as
        scikit-learn does); multinomial: softmax. A text with no known n-gram gets
        all its weight on ``other``.
        """
        features = self._features(texts)
        _, coefficients, intercepts = self._fitted()
        scores = linear.scores(features, coefficients, intercepts)
        # A model saved before the solver was a setting is multinomial.
        if self.config.get("solver", "lbfgs") == "liblinear":
            result = 1.0 / (1.0 + np.exp(-scores))
        else:
            scores -= scores.max(axis=1, keepdims=True)
            result = np.exp(scores)
        result = result / result.sum(axis=1, keepdims=True)
        empty = features.getnnz(axis=1) == 0
        if empty.any() and OTHER in self.classes:
            result[empty] = 0.0
            result[np.ix_(empty, [self.classes.index(OTHER)])] = 1.0
        return result

    def by_class(self, texts: Sequence[str]) -> List[Dict[str, float]]:
        """For each text, ``{class: probability}`` (empty when untrained)."""
        if not self.trained or not texts:
            return [{} for _ in texts]
        return [dict(zip(self.classes, map(float, row))) for row in self.probabilities(texts)]

    # -- persistence (JSON and plain arrays, no pickle) ----------------------------
    def to_files(self) -> Tuple[str, Dict[str, np.ndarray]]:
        """The settings as JSON text and the weights as arrays."""
        vectorizers, coefficients, intercepts = self._fitted()
        settings = {
            "config": self.config,
            "classes": self.classes,
            "vocabularies": [{k: int(i) for k, i in v.vocabulary_.items()} for v in vectorizers],
        }
        arrays = {f"idf_{i}": v.idf_ for i, v in enumerate(vectorizers)}
        arrays.update(coefficients=coefficients, intercepts=intercepts)
        return json.dumps(settings), arrays

    @classmethod
    def from_files(cls, settings_text: str, arrays: Any) -> QuestionModel:
        """A model from :meth:`to_files`' output."""
        settings = json.loads(settings_text)
        vectorizers = _vectorizers(settings["config"], settings["vocabularies"])
        for index, vectorizer in enumerate(vectorizers):
            vectorizer.idf_ = arrays[f"idf_{index}"]
        return cls(
            settings["config"], vectorizers, settings["classes"], arrays["coefficients"], arrays["intercepts"]
        )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class QuestionMatcher(GraphComponent):
    """Ranks the knowledge file's question items (and topic summaries) for each message.

    Sets ``question_match`` in the parse result: a decision per procedure
    (``bot.questions.decide``) and the conditions the message names. An item at
    ``strong_threshold`` or more is marked ``strong``: the fallback and
    out-of-scope actions answer it too (the intent classifier declined a
    question the knowledge file answers). Unreadable input gets no match.
    """

    @staticmethod
    def required_packages() -> List[str]:
        """scikit-learn builds the features and fits the model."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Defaults; config.yml states the ones in use."""
        return {
            **QuestionModel.DEFAULTS,
            "item_threshold": 0.4,
            "summary_threshold": 0.4,
            "strong_threshold": 0.6,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[QuestionModel] = None,
    ) -> None:
        """A matcher around a (possibly untrained) model."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        model_config = {k: self.config[k] for k in QuestionModel.DEFAULTS}
        self.model = model or QuestionModel(model_config)

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> QuestionMatcher:
        """An untrained matcher."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> QuestionMatcher:
        """Loads the trained model (an untrained matcher if nothing was saved)."""
        try:
            with model_storage.read_from(resource) as directory:
                text = (directory / SETTINGS_FILE).read_text(encoding="utf-8")
                with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
                    model = QuestionModel.from_files(text, {k: arrays[k] for k in arrays.files})
        except (ValueError, FileNotFoundError):
            logger.debug(f"{cls.__name__}: nothing saved in '{resource.name}'; loading untrained.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrain when the knowledge file (its items) changes."""
        try:
            return hashlib.sha256(knowledge_path().read_bytes()).hexdigest()
        except OSError:
            return None

    @staticmethod
    def text_of(message: Message) -> str:
        """The lowercased text with procedure names masked."""
        return masked(message.get(TEXT) or "", get_knowledge())

    def train(self, training_data: TrainingData) -> Resource:
        """Fits on the items' paraphrases and the NLU examples."""
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        knowledge = get_knowledge()
        intent_pairs = [(masked(e.get(TEXT), knowledge), e.get(INTENT)) for e in examples]
        pairs = item_examples(knowledge) + intent_examples(intent_pairs)
        if len({label for _, label in pairs}) < 2:
            logger.warning(f"{self.__class__.__name__}: fewer than two kinds of question to learn.")
            return self._resource
        self.model.fit([t for t, _ in pairs], [label for _, label in pairs])
        settings, arrays = self.model.to_files()
        with self._model_storage.write_to(self._resource) as directory:
            (directory / SETTINGS_FILE).write_text(settings, encoding="utf-8")
            np.savez(directory / ARRAYS_FILE, **arrays)
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds ``question_match`` to every readable message (intents are left as they are)."""
        knowledge = get_knowledge()
        readable = [m for m in messages if not m.get(UNREADABLE)]
        texts = [self.text_of(m) for m in readable]
        for message, probabilities in zip(readable, self.model.by_class(texts)):
            if not probabilities:
                continue
            if (message.get(INTENT) or {}).get("name") in INTENT_TOPICS:
                # The intent classifier took it for a health question ("how much does it
                # cost?"): "asks no health question" is not a choice left here.
                probabilities = {label: p for label, p in probabilities.items() if label != OTHER}
            match: Dict[str, Any] = decisions(
                probabilities,
                knowledge,
                float(self.config["item_threshold"]),
                float(self.config["summary_threshold"]),
                float(self.config["strong_threshold"]),
            )
            match[CONDITIONS] = conditions_named(message.get(TEXT) or "", knowledge)
            message.set(MATCH_KEY, match, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add."""
        return training_data
