"""Custom Rasa NLU components, registered with Rasa's default recipe.

Listed in ``config.yml`` by module path, in this order after the intent
classifier (``bot.nlp.intent_classifier``):

- ``ProcedureEntityExtractor``: the ``procedure`` entity, from the entity-ruler
  matches of the project-built spaCy pipeline, resolved to canonical ids.
- ``UnreadableInputGuard``: empty, emoji-only, non-Latin or mostly unknown-word
  (often another language) messages become ``nlu_fallback``, so they get the
  polite "I did not understand" reply rather than a guessed answer.
- ``RedFlagGuard``: the deterministic red-flag check; a hit makes the intent
  ``emergency`` (confidence 1) and adds a ``red_flag`` entity with its category.
  It runs last so nothing after it can override the emergency.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

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

from bot.nlp.spacy_pipeline import LABEL
from bot.safety.red_flags import detect_red_flag

PROCEDURE_ENTITY = "procedure"
RED_FLAG_ENTITY = "red_flag"
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
                {
                    "entity": PROCEDURE_ENTITY,
                    "value": ent.ent_id_,
                    "start": ent.start_char,
                    "end": ent.end_char,
                    "confidence_entity": 1.0,
                }
                for ent in doc.ents
                if ent.label_ == LABEL and ent.ent_id_
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
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
    is_trainable=False,
)
class RedFlagGuard(_Stateless):
    """Forces the ``emergency`` intent when a message raises a red flag."""

    def process(self, messages: List[Message]) -> List[Message]:
        """Checks every message; a red flag wins over any other prediction."""
        for message in messages:
            text = message.get(TEXT) or ""
            flag = detect_red_flag(text)
            if flag is None:
                continue
            _set_intent(message, EMERGENCY_INTENT)
            entity = {
                "entity": RED_FLAG_ENTITY,
                "value": flag.category,
                "start": 0,
                "end": len(text),
                "confidence_entity": 1.0,
                "extractor": self.__class__.__name__,
            }
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != RED_FLAG_ENTITY]
            message.set(ENTITIES, entities + [entity], add_to_output=True)
        return messages
