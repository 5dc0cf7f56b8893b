"""Triage: which red flags a patient's message raises, and at which level.

Two parts decide together, and either can raise a red flag:

- the deterministic rules of :mod:`bot.safety.red_flags`, a floor that never
  moves: a rule hit always raises its category;
- :class:`TriageModel`, a classifier trained on many varied examples per category
  (``bot/safety/triage_examples*.yml``, one file per writer, plus the knowledge file's ``phrasings``) and
  on hard negatives (look-alike questions, past events, negations, idioms, and every
  ordinary question of the NLU training data). It reaches the ways people say
  things that no rule lists. Its thresholds are set per level for recall
  (``config.yml``; ``python -m benchmarks.triage --tune`` shows how they were chosen).

The levels come from the knowledge file (``triage.categories[].level``): emergency,
crisis and urgent. A category with ``needs_procedure: true`` (a fever, a headache,
pain at the site) is a red flag only when the message names a procedure or the
conversation already told of one; otherwise it is returned as *conditional* and the
actions decide with the conversation. The classifier, when sure of such a sign (the
``sure`` threshold), raises it anyway if the message names a procedure without
telling that it was done ("fever and chills, rfa was tuesday"). When the classifier
is unsure whether a message is a crisis (``crisis_check`` threshold), the bot answers
and shows the crisis line alongside.

The trained state is saved as JSON (vocabularies, classes) and a NumPy ``.npz`` of
plain arrays, loaded without pickle.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
import yaml

from bot import yamlfile
from bot.knowledge import LEVELS, KnowledgeBase, Triage
from bot.nlp import linear
from bot.nlp.sentence_encoder import get_encoder
from bot.safety.context import current, current_sentences
from bot.safety.red_flags import SELF_HARM, detect_red_flags, normalise

NONE = "none"
EXAMPLES_PATH = Path(__file__).parent / "triage_examples.yml"
SETTINGS_FILE = "triage.json"
ARRAYS_FILE = "triage.npz"

#: Default thresholds on the summed probability of a level's categories (config.yml
#: states the ones in force; ``python -m benchmarks.triage --tune`` shows the sweep).
DEFAULT_THRESHOLDS: Dict[str, float] = {"emergency": 0.5, "crisis": 0.4, "urgent": 0.45, "crisis_check": 0.25, "sure": 0.9}

# Words that say a procedure (or its site) is what the message is about.
_PROCEDURE_WORDS = re.compile(
    r"\b(?:injections?|injected|procedures?|shots?|surgery|surgeries|operation|implant\w*|incisions?|site|pump"
    r"|stimulat\w*|stim|blocks?|epidurals?|ablations?|rfa|infusions?|wound|needles?|trial|esi|scs|leads?|trigger points?|tpi"
    r"|battery|cortisone|steroids?|ketamine|lidocaine|facet|nerve burn\w*|spinal tap|puncture|refill\w*"
    r"|dressing|bandage|stitches|staples|sutures?|myelograms?|blood patch(?:es)?|lumbar punctures?)\b"
)
# ...and that it happened already: "had my epidural monday", "since the shot".
_DONE = re.compile(
    r"\b(?:had|got|did|done|after|since|during|ago|yesterday|today|this morning|last (?:week|night)"
    r"|on (?:mon|tues|wednes|thurs|fri|satur|sun)day|put in|implanted|refilled|placed"
    r"|where (?:they|the|he|she|you|it)|site|spot|incision|wound|scar|stitches|pocket|level"
    r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day'?s (?:\w+ ){0,2}(?:injections?|procedure|shots?|blocks?|rfa|ablation|epidural)"
    r")\b"
)
# A device of the patient's own tells of the procedure that put it in ("pain around
# my pump"); a device named in a question does not ("what is a stimulator?").
_OWN_DEVICE = re.compile(
    r"\b(?:my|his|her|the) (?:\w+ ){0,2}(?:pump|stimulator|stim|battery|ipg|leads?|implant|generator)\b"
    r"(?! (?:trial|surgery|implant) (?:is|will be|next|on|in)\b)"
)


def examples_paths(directory: Path = EXAMPLES_PATH.parent) -> Tuple[Path, ...]:
    """Every examples file, each from its own writer (more writers, more ways of saying things).

    ``triage_examples.yml`` first (the knowledge file's phrasings go with it), then
    ``triage_examples_<n>.yml`` in number order: a new writer's file is picked up
    without a change to the code.
    """

    def number(path: Path) -> int:
        tail = path.stem[len(EXAMPLES_PATH.stem) :].lstrip("_")
        return int(tail) if tail.isdigit() else 0

    found = [p for p in directory.glob(f"{EXAMPLES_PATH.stem}*.yml") if p.stem == EXAMPLES_PATH.stem or number(p)]
    return tuple(sorted(found, key=number))


def mentions_procedure(text: str) -> bool:
    """Whether the message names a procedure, a device or a procedure site."""
    return bool(_PROCEDURE_WORDS.search(normalise(text or "")))


def mentions_recent_procedure(text: str) -> bool:
    """Whether the message tells of a procedure the patient (or someone) has had."""
    clean = normalise(text or "")
    return bool(_PROCEDURE_WORDS.search(clean) and _DONE.search(clean))


def after_a_procedure(text: str) -> bool:
    """Whether a sign in this message comes after a procedure: one it tells of, or a device."""
    return mentions_recent_procedure(text) or bool(_OWN_DEVICE.search(normalise(text or "")))


# ---------------------------------------------------------------------- the classifier

_WINDOW, _STRIDE = 16, 8
#: The key of a probabilities mapping that holds the crisis probability of the whole
#: message as written (negated or past parts included): the gentle crisis line.
UNSCOPED_CRISIS = f"{SELF_HARM}:as_written"
# A question about information (side effects, risks, how common): suicide named in
# one is not a crisis the patient reports ("how rare are suicidal thoughts with ketamine?").
_INFO_QUESTION = re.compile(
    r"\b(?:side[- ]?effects?|risks?|causes?|cause (?:it|them|this|that)|how (?:rare|common|often|likely)|chances?"
    r"|warning signs?|signs of|what counts as|is it (?:common|possible)|family history|statistics|studies|research)\b"
)
# ...unless the person says what they themselves want, feel or did.
_OWN_INTENT = re.compile(
    r"\b(?:i|i ?'?m|im|i am|i ?'?ve|ive|i ?'?d|id)\b (?:\w+ ){0,3}(?:want|wanna|going to|gonna|will|plan|planning"
    r"|thinking|think|feel|feeling|wish|ready|tried|took|taken|have been|been|don ?'?t want|do not want|can ?'?t go on)\b"
)


def parts(text: str) -> List[str]:
    """What the classifier reads: the message as happening now, then each of its sentences.

    Negated, past and hypothetical parts are left out first (:func:`current`); a
    long sentence is also read in overlapping windows, so the alarming sentence of
    a long story about insurance and appointments is not drowned by the rest.
    """
    sentences = current_sentences(text)
    found = [" ".join(sentences)] if sentences else []
    if len(sentences) > 1 or (sentences and len(sentences[0].split()) > _WINDOW):
        for sentence in sentences:
            words = sentence.split()
            if len(words) > _WINDOW:
                found += [" ".join(words[i : i + _WINDOW]) for i in range(0, len(words) - _STRIDE, _STRIDE)]
            else:
                found.append(sentence)
    return list(dict.fromkeys(found))


def _vectorizers(vocabularies: Optional[List[Dict[str, int]]] = None) -> List[Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    settings = [
        {"analyzer": "word", "ngram_range": (1, 2), "min_df": 1},
        {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
    ]
    vectorizers = []
    for index, setting in enumerate(settings):
        if vocabularies is not None:
            setting = {"analyzer": setting["analyzer"], "ngram_range": setting["ngram_range"]}
            setting["vocabulary"] = vocabularies[index]
        vectorizers.append(TfidfVectorizer(sublinear_tf=True, dtype=np.float64, **setting))
    return vectorizers


def readings(text: str, label: str) -> List[str]:
    """How a training text is read, as :meth:`TriageModel.probabilities` reads messages.

    A red flag as happening now (:func:`current`); a crisis also with its "what if"
    framing kept ("if this doesn't work I'm done"), as crises are read; an ordinary
    message both ways, so that framing words alone ("if", "what would") never sound
    like a crisis.
    """
    now = current(text)
    if label == NONE:
        return list(dict.fromkeys([now, current(text, False)]))
    if label == SELF_HARM:
        return [current(text, False)]
    return [now]


def _embeddings(texts: Sequence[str], weight: float) -> Any:
    """The texts' sentence embeddings times ``weight``, as a sparse block beside the n-grams."""
    from scipy.sparse import csr_matrix

    return csr_matrix(get_encoder().encode(texts).astype(np.float64) * weight)


class TriageModel:
    """Logistic regression over TF-IDF word and character n-grams: categories and ``none``."""

    def __init__(
        self,
        vectorizers: Optional[List[Any]] = None,
        classes: Sequence[str] = (),
        coefficients: Optional[np.ndarray] = None,
        intercepts: Optional[np.ndarray] = None,
        embedding_weight: float = 0.0,
    ) -> None:
        """A model; untrained (it predicts ``none``) unless the fitted parts are given.

        ``embedding_weight``: when above 0, each text's sentence embedding
        (:mod:`bot.nlp.sentence_encoder`), times this weight, is read beside its
        n-grams, so a red flag said in words the examples never used ("I don't
        want to wake up tomorrow") is still near the ones they did.
        """
        self.vectorizers = vectorizers
        self.classes = list(classes)
        self.coefficients = coefficients
        self.intercepts = intercepts
        self.embedding_weight = float(embedding_weight)

    @property
    def trained(self) -> bool:
        """Whether the model has been fitted or loaded."""
        return bool(self.classes) and self.vectorizers is not None

    def _fitted(self) -> Tuple[List[Any], np.ndarray, np.ndarray]:
        """The fitted vectorizers, coefficients and intercepts (an error if never fitted or loaded)."""
        if self.vectorizers is None or self.coefficients is None or self.intercepts is None:
            raise RuntimeError("TriageModel used before it was trained or loaded")
        return self.vectorizers, self.coefficients, self.intercepts

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        C: float = 10.0,
        positive_weight: float = 1.0,
        embedding_weight: float = 0.0,
    ) -> TriageModel:
        """Fits the model; each red-flag example weighs ``positive_weight`` times an ordinary one.

        Ordinary messages far outnumber red flags, so their class keeps the larger
        prior: a message the model knows nothing about ("blue monkey dance party")
        stays ``none`` instead of spreading evenly over the categories.
        """
        from scipy.sparse import hstack
        from sklearn.linear_model import LogisticRegression

        kept = [(reading, label) for t, label in zip(texts, labels) for reading in readings(t, label)]
        kept = [(t, label) for t, label in kept if t]
        clean, labels = [t for t, _ in kept], [label for _, label in kept]
        vectorizers = _vectorizers()
        blocks = [v.fit_transform(clean) for v in vectorizers]
        if embedding_weight > 0:
            blocks.append(_embeddings(clean, embedding_weight))
        matrix = hstack(blocks, format="csr")
        weights = np.array([1.0 if label == NONE else positive_weight for label in labels])
        model = LogisticRegression(C=C, max_iter=4000, random_state=2024, solver="lbfgs").fit(
            matrix, list(labels), sample_weight=weights
        )
        return cls(
            vectorizers,
            [str(c) for c in model.classes_],
            np.asarray(model.coef_, dtype=np.float64),
            np.asarray(model.intercept_, dtype=np.float64),
            embedding_weight,
        )

    def probabilities(self, texts: Sequence[str]) -> List[Dict[str, float]]:
        """For each text, the probability of each red-flag category, and ``none``.

        A long message is also read in parts (:func:`parts`): the alarming sentence
        of a long story about insurance and appointments is not drowned by the rest.
        Each category gets its highest probability over the whole text and its parts;
        ``none`` is what is left.
        """
        if not self.trained or not texts:
            return [{NONE: 1.0} for _ in texts]
        pieces = [parts(t) for t in texts]
        n = len(texts)
        # Then, per text: as written (the gentle crisis line), and without its past parts (a crisis).
        flat = (
            [p for ps in pieces for p in ps]
            + [normalise(t) for t in texts]
            + [current(t, False) for t in texts]
        )
        rows = self._softmax(flat)
        none = self.classes.index(NONE) if NONE in self.classes else None
        crisis = self.classes.index(SELF_HARM) if SELF_HARM in self.classes else None
        result, at = [], 0
        for index, ps in enumerate(pieces):
            best = rows[at : at + len(ps)].max(axis=0) if ps else np.zeros(len(self.classes))
            if crisis is not None:
                # A crisis is read in whole messages only (a window of a long story about
                # appointments is no crisis), as happening now and without only its past.
                whole = rows[at][crisis] if ps else 0.0
                best[crisis] = max(whole, rows[len(flat) - n + index][crisis])
            at += len(ps)
            found = {c: float(best[i]) for i, c in enumerate(self.classes) if i != none}
            found[NONE] = max(0.0, 1.0 - sum(found.values()))
            if crisis is not None:
                found[UNSCOPED_CRISIS] = float(rows[len(flat) - 2 * n + index][crisis])
            result.append(found)
        return result

    def _softmax(self, texts: Sequence[str]) -> np.ndarray:
        from scipy.sparse import hstack

        vectorizers, coefficients, intercepts = self._fitted()
        blocks = [v.transform(texts) for v in vectorizers]
        if self.embedding_weight > 0:
            blocks.append(_embeddings(texts, self.embedding_weight))
        features = hstack(blocks, format="csr")
        scores = linear.scores(features, coefficients, intercepts)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        """Writes the model as JSON and plain NumPy arrays into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        if not self.trained:
            return
        vectorizers, coefficients, intercepts = self._fitted()
        settings = {
            "classes": self.classes,
            "vocabularies": [{k: int(i) for k, i in v.vocabulary_.items()} for v in vectorizers],
            "embedding_weight": self.embedding_weight,
        }
        (directory / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
        idfs = {f"idf_{i}": v.idf_ for i, v in enumerate(vectorizers)}
        np.savez(directory / ARRAYS_FILE, coefficients=coefficients, intercepts=intercepts, **idfs)

    @classmethod
    def load(cls, directory: Path) -> TriageModel:
        """Reads a model written by :meth:`save` (an untrained one if nothing is there)."""
        try:
            settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
            with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
                coefficients, intercepts = arrays["coefficients"], arrays["intercepts"]
                idfs = [arrays[f"idf_{i}"] for i in range(len(settings["vocabularies"]))]
        except (OSError, ValueError, KeyError):
            return cls()
        vectorizers = _vectorizers(settings["vocabularies"])
        for vectorizer, idf in zip(vectorizers, idfs):
            vectorizer.idf_ = idf
        embedding_weight = float(settings.get("embedding_weight", 0.0))
        if embedding_weight > 0:
            get_encoder()  # loaded now, not in the first patient's message
        return cls(vectorizers, settings["classes"], coefficients, intercepts, embedding_weight)


class ExamplesError(ValueError):
    """The triage examples file is malformed; the message names the category."""


def read_examples(
    triage: Triage, path: Path = EXAMPLES_PATH, phrasings: bool = True
) -> List[Tuple[str, str]]:
    """``(text, category)`` pairs: an examples file, plus the knowledge file's phrasings.

    Raises:
        ExamplesError: the file cannot be read, or names a category the knowledge
            file does not have.

    """
    try:
        raw = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ExamplesError(f"{path}: cannot be read ({error})") from error
    except yaml.YAMLError as error:
        raise ExamplesError(f"{path}: cannot be read as YAML ({yamlfile.problem(error)})") from error
    categories = raw.get("categories") if isinstance(raw, dict) else None
    if not isinstance(categories, dict):
        raise ExamplesError(f"{path}: expected a mapping 'categories' of category -> examples")
    pairs: List[Tuple[str, str]] = []
    for category, texts in categories.items():
        if category != NONE and category not in triage.categories:
            raise ExamplesError(f"{path}: category '{category}' is not in the knowledge file's triage")
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ExamplesError(f"{path}: category '{category}' must list non-empty texts")
        pairs += [(t, category) for t in texts]
    if phrasings:
        for category in triage.categories.values():
            pairs += [(p, category.id) for p in category.phrasings]
    return pairs


def training_set(
    triage: Triage,
    negatives: Iterable[str],
    paths: Optional[Sequence[Path]] = None,
    stories: bool = True,
    seed: int = 2024,
    names: Iterable[str] = (),
) -> Tuple[List[str], List[str]]:
    """Texts and labels to fit :class:`TriageModel`: examples, phrasings and ``negatives``.

    ``negatives`` are ordinary messages (the NLU training examples of every intent
    but ``emergency``), and ``names`` the procedures' names and aliases (a name on its
    own, "the stimulator", is never a red flag); a text labelled with a category is
    never also a negative.
    With ``stories``, long messages are made up as patients write them: every
    red-flag example told in the middle of one or two ordinary messages keeps its
    category, and the same ordinary messages alone are ``none``; and every text is
    also written once more with typos, as patients in a hurry type ("fevr", "stif").
    """
    paths = examples_paths() if paths is None else paths
    pairs = [pair for path in paths for pair in read_examples(triage, path, phrasings=path == paths[0])]
    positive = {normalise(t) for t, label in pairs if label != NONE}
    ordinary = [(t, NONE) for t in negatives if normalise(t) not in positive]
    # Stories are told from the examples and the ordinary messages, not from the bare
    # names: adding an alias to the knowledge file does not retell every story.
    made = _stories(pairs + ordinary, seed) + _typos(pairs + ordinary, seed) if stories else []
    pairs += ordinary + [(t, NONE) for t in names if normalise(t) not in positive] + made
    seen, texts, labels = set(), [], []
    for text, label in pairs:
        key = (normalise(text), label)
        if key not in seen:
            seen.add(key)
            texts.append(text)
            labels.append(label)
    return texts, labels


def guard_training_set(knowledge: KnowledgeBase, negatives: Iterable[str]) -> Tuple[List[str], List[str]]:
    """What ``TriageGuard`` trains on (and ``make evaluate`` with it): one place for both.

    The examples files, the knowledge file's phrasings, ``negatives`` (the NLU
    examples of every other intent), every procedure name and alias alone and with
    "the"/"my", and the made-up stories.
    """
    return training_set(knowledge.triage, negatives, names=guard_names(knowledge))


def guard_names(knowledge: KnowledgeBase) -> List[str]:
    """Every procedure name and alias alone, with "the"/"my", and told of as done: never red flags."""
    return [
        form
        for aliases in knowledge.aliases().values()
        for a in aliases
        for form in (a, f"the {a}", f"my {a}", _told_of(a))
    ]


_WHEN = ("yesterday", "this morning", "today", "on monday", "last week", "two days ago", "on friday", "last night")
_TOLD = ("i had my {} {}", "i had the {} {}", "my {} was {}", "i got my {} {}", "my husband had his {} {}")


def _told_of(alias: str) -> str:
    """A patient saying only that a procedure happened ("i had my epidural yesterday"): never a red flag.

    One such sentence per name, chosen by the name (stable from run to run).
    """
    digest = hashlib.sha256(alias.encode("utf-8")).digest()
    return _TOLD[digest[0] % len(_TOLD)].format(alias, _WHEN[digest[1] % len(_WHEN)])


def _rng(seed: int, *key: object) -> random.Random:
    """A generator of its own for one made-up text, seeded by ``seed`` and what it is made from."""
    digest = hashlib.sha256(repr((seed, *key)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


#: Share of the longer words of a text that its typo copy misspells (``_typos``).
_TYPO_RATE = 0.15


def _typos(pairs: Sequence[Tuple[str, str]], seed: int, rate: float = _TYPO_RATE) -> List[Tuple[str, str]]:
    """Each text once more with typos (a letter dropped, swapped or doubled), same label.

    Seeded per text like the stories, so a new example leaves the others' copies alone.
    """
    made = []
    for text, label in pairs:
        rng = _rng(seed, "typos", text)
        words = normalise(text).split()
        for index, word in enumerate(words):
            if len(word) > 3 and rng.random() < rate:
                at = rng.randrange(1, len(word) - 2)
                words[index] = rng.choice(
                    (
                        word[:at] + word[at + 1 :],
                        word[:at] + word[at + 1] + word[at] + word[at + 2 :],
                        word[:at] + word[at] + word[at:],
                    )
                )
        typed = " ".join(words)
        if typed != normalise(text):
            made.append((typed, label))
    return made


def _stories(pairs: Sequence[Tuple[str, str]], seed: int) -> List[Tuple[str, str]]:
    """Each red-flag example told between ordinary messages, and the same messages without it.

    Each story draws from its own generator, seeded by the seed and its example's
    text: a new example adds its own stories and leaves the others as they were.
    """
    ordinary = sorted({t for t, label in pairs if label == NONE})
    # An example that reads as nothing happening now ("is it bad if...") tells no story:
    # its story would teach the category from the ordinary sentences alone.
    flags = [(t, label) for t, label in pairs if label != NONE and all(readings(t, label))]
    if len(ordinary) < 4:
        return []

    def sentence(text: str) -> str:
        text = text.strip()
        return text if text[-1:] in ".!?" else text + "."

    made = []
    for text, label in flags:
        rng = _rng(seed, text, label)
        before, after, more = rng.sample(ordinary, 3)
        told = rng.random() < 0.6
        story = [sentence(before), sentence(text)] + ([sentence(after)] if told else [])
        made.append((" ".join(story), label))
        # The same ordinary sentences (one more in place of the red flag) are an ordinary
        # story: what they say is no sign of anything (else "what are your hours", drawn into a
        # few crisis stories by chance, would come to sound like a crisis).
        plain = [before, after] + ([more] if told else [])
        made.append((" ".join(sentence(t) for t in plain), NONE))
    return made


# ---------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Assessment:
    """What triage found in one message."""

    #: Categories raised, most urgent level first (rules' categories first within a level).
    categories: Tuple[str, ...] = ()
    #: Levels raised, most urgent first.
    levels: Tuple[str, ...] = ()
    #: Categories that are red flags only if the conversation already named a procedure.
    conditional: Tuple[str, ...] = ()
    #: The classifier is unsure whether this is a crisis: show the crisis line with the answer.
    crisis_check: bool = False
    #: Which part raised each category: "rule", "model" or "rule+model".
    raised_by: Mapping[str, str] = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        """Whether the message raises any level."""
        return bool(self.levels)


def assess(
    text: Optional[str],
    triage: Triage,
    model: Optional[TriageModel] = None,
    thresholds: Optional[Mapping[str, float]] = None,
    recent_procedure: bool = False,
    probabilities: Optional[Mapping[str, float]] = None,
) -> Assessment:
    """Triages one message.

    Args:
        text: the patient's message.
        triage: the knowledge file's triage section (levels of the categories).
        model: the trained classifier; without one only the rules decide.
        thresholds: per level, the summed probability of its categories that raises
            it; ``crisis_check`` for the gentle crisis line (defaults: ``DEFAULT_THRESHOLDS``).
        recent_procedure: the conversation already told of a procedure the patient had.
        probabilities: the classifier's output for ``text``, when already computed.

    """
    if not text or not text.strip():
        return Assessment()
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    text = text[:5000]
    # A sign that is a red flag only after a procedure needs one that has happened:
    # "a fever since my injection", not "a fever; can I still have my injection friday?".
    procedure_named = recent_procedure or after_a_procedure(text)
    # ...or names one in what it tells as happening ("fever and chills, rfa was tuesday";
    # not "my headache eases lying down, could an epidural help?").
    now = current(text)
    named = mentions_procedure(now)
    raised: Dict[str, str] = {}
    for flag in detect_red_flags(now):
        if flag.category in triage.categories:
            raised.setdefault(flag.category, "rule")
    # Self-harm words in a question, or in a negated or past part ("my uncle died by
    # suicide years ago", "how rare are suicidal thoughts with ketamine?") are not
    # a crisis now; the gentle crisis line goes with the answer.
    clean = normalise(text)
    question = bool(_INFO_QUESTION.search(clean)) and not _OWN_INTENT.search(clean)
    if SELF_HARM in raised and question:
        del raised[SELF_HARM]
    unsure_crisis = SELF_HARM not in raised and any(f.category == SELF_HARM for f in detect_red_flags(text))

    if probabilities is None and model is not None:
        probabilities = model.probabilities([text])[0]
    probabilities = probabilities or {}
    crisis_check = unsure_crisis or probabilities.get(UNSCOPED_CRISIS, 0.0) >= limits["crisis"]
    conditional: List[str] = []
    sure: Set[str] = set()
    for level in LEVELS:
        members = [c for c in triage.categories.values() if c.level == level]
        eligible = [c for c in members if procedure_named or not c.needs_procedure]
        total = sum(probabilities.get(c.id, 0.0) for c in members)
        eligible_total = sum(probabilities.get(c.id, 0.0) for c in eligible)
        if level == "crisis" and not raised.get(SELF_HARM) and question:
            # "How rare are suicidal thoughts with ketamine?": a question, not a
            # crisis; the crisis line goes with the answer.
            crisis_check = crisis_check or total >= limits["crisis_check"]
            continue
        if eligible and eligible_total >= limits[level]:
            best = max(eligible, key=lambda c: probabilities.get(c.id, 0.0))
            raised[best.id] = "rule+model" if best.id in raised else "model"
        elif total >= limits[level]:
            best = max(members, key=lambda c: probabilities.get(c.id, 0.0))
            if named and probabilities.get(best.id, 0.0) >= limits["sure"]:
                raised[best.id] = "model"
                sure.add(best.id)
            else:
                conditional.append(best.id)
        elif level == "crisis" and total >= limits["crisis_check"]:
            crisis_check = True

    # Someone in an emergency who may also be in crisis ("took the whole bottle, I just
    # wanted the pain to stop") gets the crisis line too.
    if crisis_check and any(triage.level_of(c) in ("emergency", "urgent") for c in raised):
        raised.setdefault(SELF_HARM, "model")
    categories = []
    for category_id in raised:
        if triage.categories[category_id].needs_procedure and not procedure_named and category_id not in sure:
            conditional.append(category_id)
        else:
            categories.append(category_id)
    conditional = list(dict.fromkeys(conditional))
    raised.update({c: raised.get(c, "model") for c in conditional})
    order = {level: index for index, level in enumerate(LEVELS)}
    categories.sort(key=lambda c: order[triage.categories[c].level])
    levels = tuple(triage.levels_of(categories))
    if "crisis" in levels:
        crisis_check = False
    return Assessment(
        categories=tuple(categories),
        levels=levels,
        conditional=tuple(conditional),
        crisis_check=crisis_check,
        raised_by={c: raised[c] for c in categories + conditional},
    )


__all__ = [
    "Assessment",
    "DEFAULT_THRESHOLDS",
    "EXAMPLES_PATH",
    "examples_paths",
    "ExamplesError",
    "NONE",
    "SELF_HARM",
    "TriageModel",
    "assess",
    "mentions_procedure",
    "mentions_recent_procedure",
    "read_examples",
    "training_set",
    "guard_training_set",
]
