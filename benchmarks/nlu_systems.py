"""The three NLU systems ``make evaluate`` compares, trained and cached the same way.

- :class:`RasaSystem` ``project``: the project's pipeline (``config.yml``).
- :class:`RasaSystem` ``rasa_default``: Rasa's default pipeline as ``rasa init`` writes it
  (``benchmarks/rasa_init_config.yml``: DIET, 100 epochs).
- :class:`TfidfBaseline`: TF-IDF word and character n-grams + logistic regression
  (scikit-learn), with a confidence threshold for out-of-scope rejection chosen by
  cross-validation on its training data, and a gazetteer of the procedure names
  annotated in its training data for the ``procedure`` entity.

Every trained model lives in a cache directory named by a content hash of what it
was trained from (system configuration, training data, fold, versions and, for the
project, its custom code and spaCy pipeline), so a re-run only trains what changed.
Predictions are cached next to the model by a hash of the messages.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import inspect
import json
import pickle
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from benchmarks.nlu_data import FALLBACK, OUT_OF_SCOPE, PROCEDURE, LabelledMessage, Prediction, to_rasa_yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_CONFIG = ROOT / "config.yml"
RASA_INIT_CONFIG = ROOT / "benchmarks" / "rasa_init_config.yml"
SPACY_PIPELINE = ROOT / "build" / "spacy_pipeline"
# The project's code a trained project model depends on (custom components, the red-flag guard it
# runs at prediction time, the spaCy pipeline builder).
PROJECT_CODE = (
    ROOT / "bot" / "nlp" / "components.py",
    ROOT / "bot" / "nlp" / "intent_classifier.py",
    ROOT / "bot" / "nlp" / "spacy_pipeline.py",
    ROOT / "bot" / "safety" / "red_flags.py",
)
META = "meta.json"


def sha256(*parts: Any) -> str:
    """A hex digest of the given strings/bytes (in order, separated)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def files_hash(paths: Sequence[Path]) -> str:
    """A digest of the contents of ``paths`` (directories: every file in them, by relative path).

    Hidden files are left out: ``make train`` keeps its input stamp (``.inputs.sha256``) in the
    spaCy pipeline's directory, and it is no part of the pipeline.
    """
    parts: List[Any] = []
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if path.is_dir()
            else [path]
        )
        for file in files:
            parts += [str(file.relative_to(ROOT)), file.read_bytes() if file.exists() else b"<missing>"]
    return sha256(*parts)


def versions() -> Dict[str, str]:
    """Versions of the libraries the trained models depend on."""
    import rasa
    import sklearn
    import spacy
    import tensorflow

    return {
        "rasa": rasa.__version__,
        "scikit-learn": sklearn.__version__,
        "spacy": spacy.__version__,
        "tensorflow": tensorflow.__version__,
    }


def rasa_default_config(epochs: Optional[int] = None) -> str:
    """Rasa's default configuration: ``rasa init``'s file verbatim, or with DIET/ResponseSelector epochs cut.

    With the pipeline commented out (as ``rasa init`` writes it), Rasa trains the
    pipeline in its ``default_config.yml``; the smoke run writes that pipeline out
    with fewer epochs, everything else unchanged.
    """
    if epochs is None:
        return RASA_INIT_CONFIG.read_text(encoding="utf-8")
    import rasa.engine.recipes.default_recipe as default_recipe
    from rasa.shared.utils.io import dump_obj_as_yaml_to_string, read_yaml_file

    default = Path(default_recipe.__file__).parent / "config_files" / "default_config.yml"
    config = read_yaml_file(str(default))
    for component in config["pipeline"]:
        if "epochs" in component:
            component["epochs"] = epochs
    config.pop("policies", None)
    return dump_obj_as_yaml_to_string(config)


@functools.lru_cache(maxsize=32)
def _training_yaml(messages: Tuple[LabelledMessage, ...]) -> str:
    """The Rasa YAML of a training set (memoised: cache keys need it several times per step)."""
    return to_rasa_yaml(messages)


def predictions_file(directory: Path, texts: Sequence[str]) -> Path:
    """Where a model's predictions for ``texts`` are cached."""
    return directory / f"predictions-{sha256(*texts)[:16]}.json"


@dataclass
class TrainedModel:
    """A trained (or cached) model of one system on one training set."""

    directory: Path
    seconds: float
    cached: bool
    decline_threshold: Optional[float]
    predictor: Callable[[Sequence[str]], List[Prediction]]

    def predict(self, texts: Sequence[str]) -> List[Prediction]:
        """Predicts every text (from the cache when the same texts were predicted before)."""
        path = predictions_file(self.directory, texts)
        if path.exists():
            return [Prediction.from_json(p) for p in json.loads(path.read_text(encoding="utf-8"))]
        predictions = self.predictor(texts)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([p.to_json() for p in predictions]), encoding="utf-8")
        tmp.replace(path)
        return predictions


class RasaSystem:
    """A Rasa NLU configuration, trained NLU-only with Rasa's Python API."""

    def __init__(
        self,
        name: str,
        label: str,
        config_text: str,
        fingerprint: str,
        resolves_values: bool,
        decline_threshold: Optional[float],
        cache: Path,
    ) -> None:
        """Creates the system.

        Args:
            name: Short id used in file names and the JSON report.
            label: Name shown in reports.
            config_text: The Rasa configuration (trained from a copy, never the original file).
            fingerprint: Digest of everything besides config and data the model depends on.
            resolves_values: Whether its ``procedure`` values are canonical procedure ids.
            decline_threshold: Its ``FallbackClassifier`` threshold (for the histogram).
            cache: Directory of cached models.

        """
        self.name = name
        self.label = label
        self.config_text = config_text
        self.fingerprint = fingerprint
        self.resolves_values = resolves_values
        self.decline_threshold = decline_threshold
        self.cache = cache

    def directory(self, messages: Sequence[LabelledMessage], tag: str) -> Path:
        """The cache directory of the model trained on ``messages``."""
        key = sha256(self.name, self.config_text, _training_yaml(tuple(messages)), tag, self.fingerprint)
        return self.cache / f"{self.name}-{tag}-{key[:16]}"

    def is_cached(self, messages: Sequence[LabelledMessage], tag: str) -> bool:
        """Whether a model for this training set is in the cache."""
        return (self.directory(messages, tag) / META).exists()

    def train(self, messages: Sequence[LabelledMessage], tag: str) -> TrainedModel:
        """Trains on ``messages`` unless the cache has the model already."""
        directory = self.directory(messages, tag)
        meta = directory / META
        cached = meta.exists()
        if not cached:
            from rasa.model_training import train_nlu

            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            (directory / "config.yml").write_text(self.config_text, encoding="utf-8")
            (directory / "train.yml").write_text(_training_yaml(tuple(messages)), encoding="utf-8")
            started = time.perf_counter()
            model = train_nlu(
                config=str(directory / "config.yml"),
                nlu_data=str(directory / "train.yml"),
                output=str(directory),
                fixed_model_name="model",
            )
            seconds = time.perf_counter() - started
            if not model or not Path(model).exists():
                raise RuntimeError(f"Rasa did not train a model for {self.name} ({tag}); see the log above.")
            meta.write_text(json.dumps({"seconds": seconds, "examples": len(messages)}), encoding="utf-8")
        seconds = json.loads(meta.read_text(encoding="utf-8"))["seconds"]
        return TrainedModel(
            directory,
            seconds,
            cached,
            self.decline_threshold,
            lambda texts: self._predict(directory / "model.tar.gz", texts),
        )

    @staticmethod
    def _predict(model: Path, texts: Sequence[str]) -> List[Prediction]:
        from rasa.core.agent import Agent

        async def parse_all(agent: Agent) -> List[Dict[str, Any]]:
            return [await agent.parse_message(text) for text in texts]

        predictions = [_from_rasa(parsed) for parsed in asyncio.run(parse_all(Agent.load(str(model))))]
        gc.collect()  # a loaded DIET model holds a lot of memory; the run loads one per fold
        return predictions


def _from_rasa(parsed: Dict[str, Any]) -> Prediction:
    """A Rasa parse result as a :class:`Prediction` (confidence: the classifier's, before fallback)."""
    intent = (parsed.get("intent") or {}).get("name") or FALLBACK
    ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    confidence = max((float(r.get("confidence") or 0.0) for r in ranking), default=0.0)
    entities = [e for e in parsed.get("entities") or [] if e.get("entity") == PROCEDURE]
    return Prediction(
        intent=intent,
        confidence=confidence,
        spans=tuple((int(e["start"]), int(e["end"])) for e in entities),
        values=tuple(str(e.get("value")) for e in entities),
    )


class TfidfBaseline:
    """What a team would build without Rasa: TF-IDF + logistic regression in scikit-learn."""

    name = "baseline"
    label = "TF-IDF + logistic regression"
    resolves_values = False
    # Fixed beforehand, not tuned on any evaluation data.
    C = 10.0
    THRESHOLDS = [round(t * 0.01, 2) for t in range(0, 91)]

    def __init__(self, seed: int, cache: Path, inner_folds: int = 3) -> None:
        """Creates the baseline; ``inner_folds`` is the cross-validation that picks its threshold."""
        self.seed = seed
        self.cache = cache
        self.inner_folds = inner_folds
        code = inspect.getsource(TfidfBaseline)
        self.fingerprint = sha256(self.C, self.THRESHOLDS, inner_folds, seed, code, json.dumps(versions()))

    def directory(self, messages: Sequence[LabelledMessage], tag: str) -> Path:
        """The cache directory of the model trained on ``messages``."""
        key = sha256(self.name, to_rasa_yaml(messages), tag, self.fingerprint)
        return self.cache / f"{self.name}-{tag}-{key[:16]}"

    def is_cached(self, messages: Sequence[LabelledMessage], tag: str) -> bool:
        """Whether a model for this training set is in the cache."""
        return (self.directory(messages, tag) / META).exists()

    def _pipeline(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        return make_pipeline(
            make_union(
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ),
            LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed),
        )

    def choose_threshold(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        """The confidence below which to decline, by cross-validation on the training data only.

        Picks the threshold with the best out-of-fold accuracy, where declining an
        out-of-scope example counts as correct (the lowest such threshold on ties).
        """
        import numpy as np
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = min(self.inner_folds, min(labels.count(label) for label in set(labels)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        probabilities = cross_val_predict(
            self._pipeline(), list(texts), list(labels), cv=splitter, method="predict_proba"
        )
        classes = np.array(sorted(set(labels)))
        top = probabilities.max(axis=1)
        predicted = classes[probabilities.argmax(axis=1)]
        expected = np.array(labels)
        out_of_scope = expected == OUT_OF_SCOPE
        best, best_accuracy = 0.0, -1.0
        for threshold in self.THRESHOLDS:
            declined = (top < threshold) | (predicted == OUT_OF_SCOPE)
            correct = np.where(out_of_scope, declined, ~declined & (predicted == expected))
            accuracy = float(correct.mean())
            if accuracy > best_accuracy:
                best, best_accuracy = threshold, accuracy
        return best

    def train(self, messages: Sequence[LabelledMessage], tag: str) -> TrainedModel:
        """Fits the classifier, its threshold and its gazetteer (or loads them from the cache)."""
        directory = self.directory(messages, tag)
        meta_file, model_file = directory / META, directory / "model.pkl"
        cached = meta_file.exists()
        if not cached:
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            started = time.perf_counter()
            texts, labels = [m.text for m in messages], [m.intent for m in messages]
            threshold = self.choose_threshold(texts, labels)
            classifier = self._pipeline().fit(texts, labels)
            names = {m.text[a:b].lower().strip() for m in messages for a, b in m.spans}
            seconds = time.perf_counter() - started
            model_file.write_bytes(pickle.dumps({"classifier": classifier, "names": sorted(names)}))
            meta = {"seconds": seconds, "examples": len(messages), "threshold": threshold}
            meta_file.write_text(json.dumps(meta), encoding="utf-8")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))

        def predict(texts: Sequence[str]) -> List[Prediction]:
            state = pickle.loads(model_file.read_bytes())  # our own cache file, written above
            return self._predict(state["classifier"], state["names"], meta["threshold"], texts)

        return TrainedModel(directory, meta["seconds"], cached, meta["threshold"], predict)

    @staticmethod
    def _predict(
        classifier: Any, names: Sequence[str], threshold: float, texts: Sequence[str]
    ) -> List[Prediction]:
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if n)
        gazetteer = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if alternatives else None
        probabilities = classifier.predict_proba(list(texts))
        classes = list(classifier.classes_)
        predictions = []
        for text, row in zip(texts, probabilities):
            best = int(row.argmax())
            confidence = float(row[best])
            intent = classes[best] if confidence >= threshold else FALLBACK
            matches = list(gazetteer.finditer(text.lower())) if gazetteer else []
            predictions.append(
                Prediction(
                    intent=intent,
                    confidence=confidence,
                    spans=tuple(m.span() for m in matches),
                    values=tuple(m.group(0) for m in matches),
                )
            )
        return predictions


# Left out of the pipeline these benchmarks train: it adds only ``question_match`` to a parse
# (never an intent or an entity, and no other component reads it), it is measured by
# ``benchmarks/questions.py``, and it costs a minute or more of every training.
NOT_NLU_COMPONENTS = ("bot.nlp.question_matcher.QuestionMatcher",)


def without_question_matcher(config_text: str) -> str:
    """The configuration without the components that change no intent or entity."""
    from rasa.shared.utils.io import dump_obj_as_yaml_to_string, read_yaml

    config = read_yaml(config_text)
    pipeline = config.get("pipeline") or []
    kept = [c for c in pipeline if c.get("name") not in NOT_NLU_COMPONENTS]
    if len(kept) == len(pipeline):
        return config_text
    config["pipeline"] = kept
    return dump_obj_as_yaml_to_string(config)


def project_system(cache: Path, config: Path = PROJECT_CONFIG) -> RasaSystem:
    """The project's pipeline as ``config.yml`` is now, or a candidate ``config`` (trained from a copy).

    Without the question matcher (:data:`NOT_NLU_COMPONENTS`): intents and entities are
    the same with or without it.
    """
    from rasa.shared.utils.io import read_yaml

    text = without_question_matcher(config.read_text(encoding="utf-8"))
    threshold = next(
        (c.get("threshold") for c in read_yaml(text)["pipeline"] if c["name"] == "FallbackClassifier"),
        None,
    )
    fingerprint = sha256(files_hash(PROJECT_CODE), files_hash([SPACY_PIPELINE]), json.dumps(versions()))
    return RasaSystem("project", "This project (config.yml)", text, fingerprint, True, threshold, cache)


def without_fallback_threshold(config_text: str) -> str:
    """The configuration with ``FallbackClassifier`` never declining (threshold 0, no ambiguity rule)."""
    from rasa.shared.utils.io import dump_obj_as_yaml_to_string, read_yaml

    config = read_yaml(config_text)
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            component["threshold"] = 0.0
            component["ambiguity_threshold"] = 0.0
    return dump_obj_as_yaml_to_string(config)


def project_sweep_system(cache: Path, config: Path = PROJECT_CONFIG) -> RasaSystem:
    """The project's pipeline with its fallback threshold at 0, to score every threshold from one model.

    ``FallbackClassifier`` only compares the classifier's confidence with the threshold (and,
    here, never the gap to the second guess), so declining below ``t`` afterwards gives exactly
    what the pipeline with threshold ``t`` predicts.
    """
    project = project_system(cache, config)
    return RasaSystem(
        "project_sweep",
        "This project, fallback threshold swept",
        without_fallback_threshold(project.config_text),
        project.fingerprint,
        True,
        0.0,
        cache,
    )


def rasa_default_system(cache: Path, epochs: Optional[int] = None) -> RasaSystem:
    """Rasa's default configuration (``rasa init``), optionally with fewer epochs (smoke runs)."""
    unit = "epoch" if epochs == 1 else "epochs"
    label = "Rasa default (rasa init)" if epochs is None else f"Rasa default (rasa init, {epochs} {unit})"
    return RasaSystem(
        "rasa_default", label, rasa_default_config(epochs), json.dumps(versions()), False, 0.3, cache
    )
