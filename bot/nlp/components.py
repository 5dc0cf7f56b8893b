"""Custom Rasa NLU components, registered with Rasa's default recipe.

Listed in ``config.yml`` by module path, in this order after the intent
classifier (``bot.nlp.intent_classifier``):

- ``ProcedureEntityExtractor``: the ``procedure`` entity, from the entity-ruler
  matches of the project-built spaCy pipeline, resolved to canonical ids.
- ``UnreadableInputGuard``: empty, emoji-only, non-Latin or mostly unknown-word
  (often another language) messages become ``nlu_fallback``, so they get the
  polite "I did not understand" reply rather than a guessed answer.
- ``TriageGuard``: red-flag triage (``bot.safety.triage``: rules plus a trained
  classifier); a hit makes the intent ``emergency`` (confidence 1) and adds a
  ``red_flag`` entity per category. It runs last so nothing after it can override
  the emergency.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import dump_obj_as_json_to_file, read_json_file

from bot.knowledge import Triage, get_knowledge, load_knowledge
from bot.nlp.spacy_pipeline import procedure_spans
from bot.safety.triage import (
    DEFAULT_THRESHOLDS,
    SELF_HARM,
    TriageModel,
    assess,
    examples_paths,
    guard_training_set,
    mentions_recent_procedure,
)

PROCEDURE_ENTITY = "procedure"
SURE = {"confidence_entity": 1.0}  # the entity ruler matches a name or alias, or does not
RED_FLAG_ENTITY = "red_flag"
CONDITIONAL_ENTITY = "red_flag_conditional"
CRISIS_CHECK_ENTITY = "crisis_check"
RECENT_PROCEDURE_ENTITY = "recent_procedure"
TRIAGE_ENTITIES = (RED_FLAG_ENTITY, CONDITIONAL_ENTITY, CRISIS_CHECK_ENTITY, RECENT_PROCEDURE_ENTITY)
EMERGENCY_INTENT = "emergency"
FALLBACK_INTENT = "nlu_fallback"


def _set_intent(message: Message, intent: str) -> None:
    """Makes ``intent`` the certain prediction, keeping the rest of the ranking."""
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
    top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top] + ranking, add_to_output=True)


class _Stateless(GraphComponent):
    """A component without configuration or learnt state."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the component; there is nothing to configure."""
        return cls()


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    is_trainable=False,
    model_from="SpacyNLP",
)
class ProcedureEntityExtractor(_Stateless, EntityExtractorMixin):
    """Finds procedures with the project-built spaCy pipeline's entity ruler."""

    @classmethod
    def required_components(cls) -> List[type]:
        """Needs ``SpacyNLP`` (which runs the entity ruler) before it."""
        return [SpacyNLP]

    def process(self, messages: List[Message], model: SpacyModel) -> List[Message]:
        """Adds a ``procedure`` entity for every procedure named in each message."""
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                text = message.get(TEXT)
                if not text:
                    continue
                doc = model.model(text.lower())
            found = [
                {"entity": PROCEDURE_ENTITY, "value": entry, "start": start, "end": end, **SURE}
                for start, end, entry in procedure_spans(doc)
            ]
            if found:
                entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != PROCEDURE_ENTITY]
                message.set(ENTITIES, entities + self.add_extractor_name(found), add_to_output=True)
        return messages


_LATIN_WORD = re.compile(r"[a-z]{2,}")
_MARKUP = re.compile(r"<[^>]{0,200}>|&[a-z]+;")


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
    is_trainable=True,
)
class UnreadableInputGuard(GraphComponent):
    """Sends messages the bot cannot read to the fallback instead of a guess.

    Trained on the NLU data: it remembers the words of the training examples, and
    a message of three or more words of which fewer than ``min_known_ratio`` are
    known (typically another language) is treated as unreadable, as are messages
    with no Latin letters at all (empty, emoji, other scripts, bare markup).
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default settings."""
        return {"min_known_ratio": 0.35, "min_words": 3}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: Optional[set] = None,
    ) -> None:
        """Initialises the guard with an optional learnt vocabulary."""
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary or set()

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UnreadableInputGuard:
        """Creates an untrained guard."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> UnreadableInputGuard:
        """Loads the learnt vocabulary."""
        try:
            with model_storage.read_from(resource) as directory:
                vocabulary = set(read_json_file(directory / "vocabulary.json"))
        except (ValueError, FileNotFoundError):
            vocabulary = set()
        return cls(config, model_storage, resource, vocabulary)

    @staticmethod
    def _words(text: str) -> List[str]:
        return _LATIN_WORD.findall(_MARKUP.sub(" ", text.lower()))

    def train(self, training_data: TrainingData) -> Resource:
        """Learns the words of the training examples."""
        vocabulary = set()
        for example in training_data.training_examples:
            vocabulary.update(self._words(example.get(TEXT) or ""))
        with self._model_storage.write_to(self._resource) as directory:
            dump_obj_as_json_to_file(directory / "vocabulary.json", sorted(vocabulary))
        self._vocabulary = vocabulary
        return self._resource

    def is_unreadable(self, text: Optional[str]) -> bool:
        """Whether the bot cannot read ``text`` at all."""
        words = self._words(text or "")
        if not words:
            return True
        if len(words) < self._config["min_words"] or not self._vocabulary:
            return False
        known = sum(1 for word in words if word in self._vocabulary)
        return known / len(words) < self._config["min_known_ratio"]

    def process(self, messages: List[Message]) -> List[Message]:
        """Marks unreadable messages as ``nlu_fallback``."""
        for message in messages:
            text = message.get(TEXT)
            if text is not None and self.is_unreadable(text):
                _set_intent(message, FALLBACK_INTENT)
                message.set("unreadable", True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
    is_trainable=True,
)
class TriageGuard(GraphComponent):
    """Red flags first: the triage rules and classifier decide ``emergency``, nothing else does.

    Trained on ``bot/safety/triage_examples*.yml``, the knowledge file's triage
    phrasings and, as ordinary messages, every NLU example of another intent. Per
    message it adds entities the actions read:

    - ``red_flag`` (one per category raised): the intent becomes ``emergency``;
    - ``red_flag_conditional``: a sign that is a red flag only after a procedure,
      when the message names none (the actions check the conversation);
    - ``crisis_check``: unsure whether it is a crisis; the answer shows the crisis line;
    - ``recent_procedure``: the message tells of a procedure the patient had (fills
      the slot of that name, so a later "fever" or "headache" is judged with it).

    When the intent classifier guessed ``emergency`` but triage raised nothing, the
    next intent of the ranking is used (``nlu_fallback`` below ``fallback_threshold``,
    the same as ``FallbackClassifier``'s): the level comes from what the message says.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Thresholds on a level's summed probability (``bot.safety.triage``)."""
        return {**DEFAULT_THRESHOLDS, "C": 10.0, "embedding_weight": 0.0, "fallback_threshold": 0.25}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[TriageModel] = None,
    ) -> None:
        """A guard with ``model`` (rules only until trained)."""
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model or TriageModel()
        self._triage: Optional[Triage] = None

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TriageGuard:
        """An untrained guard."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TriageGuard:
        """Loads the trained classifier; the knowledge file is read (and validated) now.

        The model is loaded however the Rasa server is started, so this also installs
        the project's server hooks if no channel of the project has
        (:func:`bot.server.install_hooks_at_model_load`).
        """
        from bot.server import install_hooks_at_model_load

        install_hooks_at_model_load()
        try:
            with model_storage.read_from(resource) as directory:
                model = TriageModel.load(directory)
        except ValueError:
            model = TriageModel()
        guard = cls(config, model_storage, resource, model)
        guard.check_knowledge()
        return guard

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrain when the examples, the knowledge file or the triage code change."""
        import hashlib
        import inspect

        from bot.knowledge import knowledge_path
        from bot.safety import context, red_flags, triage

        digest = hashlib.sha256()
        modules = (triage, red_flags, context)
        paths = (*examples_paths(), knowledge_path(), *(Path(inspect.getfile(m)) for m in modules))
        for path in paths:
            digest.update(path.read_bytes() if path.exists() else b"missing")
        return digest.hexdigest()

    @property
    def triage(self) -> Triage:
        """The knowledge file's triage section (levels and categories)."""
        if self._triage is None:
            self._triage = get_knowledge().triage
        return self._triage

    def check_knowledge(self) -> None:
        """Reads the triage section now, so a broken knowledge file stops start-up."""
        self._triage = get_knowledge().triage

    @property
    def thresholds(self) -> Dict[str, float]:
        """The per-level thresholds in force."""
        return {key: float(self._config[key]) for key in DEFAULT_THRESHOLDS}

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the triage classifier."""
        negatives = [
            e.get(TEXT)
            for e in training_data.intent_examples
            if e.get(TEXT) and e.get(INTENT) not in (EMERGENCY_INTENT, None)
        ]
        texts, labels = guard_training_set(load_knowledge(), negatives)
        self.model = TriageModel.fit(
            texts,
            labels,
            C=float(self._config["C"]),
            embedding_weight=float(self._config["embedding_weight"]),
        )
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Triages every message; a red flag wins over any other prediction."""
        texts = [message.get(TEXT) or "" for message in messages]
        probabilities: Sequence[Optional[Dict[str, float]]]
        if self.model.trained:
            probabilities = self.model.probabilities(texts)
        else:
            probabilities = [None] * len(texts)
        for message, text, probability in zip(messages, texts, probabilities):
            found = assess(text, self.triage, thresholds=self.thresholds, probabilities=probability)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") not in TRIAGE_ENTITIES]
            added = [(RED_FLAG_ENTITY, c) for c in found.categories]
            added += [(CONDITIONAL_ENTITY, c) for c in found.conditional]
            if found.crisis_check:
                added.append((CRISIS_CHECK_ENTITY, SELF_HARM))
            if mentions_recent_procedure(text):
                added.append((RECENT_PROCEDURE_ENTITY, "yes"))
            entities += [
                {
                    "entity": name,
                    "value": value,
                    "start": 0,
                    "end": len(text),
                    "confidence_entity": 1.0,
                    "extractor": self.__class__.__name__,
                }
                for name, value in added
            ]
            message.set(ENTITIES, entities, add_to_output=True)
            if found.alarm:
                _set_intent(message, EMERGENCY_INTENT)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == EMERGENCY_INTENT:
                self._demote(message)
        return messages

    def _demote(self, message: Message) -> None:
        """The classifier guessed ``emergency`` without a red flag: the next guess, or the fallback."""
        ranking = [
            r
            for r in message.get(INTENT_RANKING_KEY) or []
            if r.get(INTENT_NAME_KEY) not in (EMERGENCY_INTENT, FALLBACK_INTENT)
        ]
        if ranking and ranking[0].get(PREDICTED_CONFIDENCE_KEY, 0.0) >= self._config["fallback_threshold"]:
            top = ranking[0]
        else:
            top = {INTENT_NAME_KEY: FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [top] + ranking
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
