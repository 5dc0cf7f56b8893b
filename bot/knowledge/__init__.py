"""The vetted knowledge file and the one module that loads and validates it.

``load_knowledge()`` reads ``knowledge.yml`` (next to this module, or the file named
by ``$KNOWLEDGE_FILE``), checks every entry against the schema and returns an
immutable :class:`KnowledgeBase`. Any error stops loading with a
:class:`KnowledgeError` naming the entry and the field, so nothing half-loaded is
ever served.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import string
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from bot import yamlfile

DEFAULT_KNOWLEDGE_PATH = Path(__file__).parent / "knowledge.yml"
KNOWLEDGE_ENV_VAR = "KNOWLEDGE_FILE"

GENERAL = "general"

# The question kinds every procedure entry answers with a short summary, in the
# order buttons show them. The file's ``topics`` may add more (aftercare, medicines
# around the procedure...): their specific ``questions`` items group under them.
TOPICS: Tuple[str, ...] = (
    "overview",
    "recovery_time",
    "medication_reliance",
    "risks",
    "relief_duration",
    "preparation",
    "candidacy",
    "cost",
)

# The procedures every knowledge file must cover, in the order buttons show them.
PROCEDURES: Tuple[str, ...] = (
    "epidural_steroid_injection",
    "facet_joint_injection",
    "nerve_block",
    "radiofrequency_ablation",
    "spinal_cord_stimulation",
    "intrathecal_pump",
    "iv_infusion",
    "joint_injection",
    "trigger_point_injection",
    "physical_therapy",
)

# Messages the actions send, and the placeholders each may use.
MESSAGES: Tuple[str, ...] = (
    "referral",
    "specialist_contact",
    "ask_which_procedure",
    "no_answer",
    "not_covered",
    "not_covered_summary",
    "compare_intro",
    "condition_intro",
    "condition_none",
    "list_procedures",
    "choose_topic",
    "fallback",
    "out_of_scope",
    "disclaimer",
    "disclaimer_emergency",
    "emergency_line",
    "sources_intro",
    "sources_refer",
    "sources_none",
    "feedback_thanks",
    "feedback_missing",
    "service_unavailable",
    "rate_limited",
    "message_too_long",
)
# Labels of the buttons under every knowledge answer's referral.
BUTTONS: Tuple[str, ...] = ("helpful", "unhelpful", "sources")
PLACEHOLDERS = frozenset(
    {
        "clinic_name",
        "clinic_phone",
        "clinic_hours",
        "booking_url",
        "emergency_number",
        "crisis_line",
        "after_hours_phone",
        "procedure_name",
        "topic_label",
        "reviewed_on",
        "condition_name",
    }
)

# Triage levels, most urgent first: the order their messages are sent in.
LEVELS: Tuple[str, ...] = ("emergency", "crisis", "urgent")
TRIAGE = "triage"
QUESTIONS = "questions"

_SOURCE_ID = re.compile(r"^[a-z0-9_]+$")
_MAX_SENTENCES = 6


class KnowledgeError(ValueError):
    """The knowledge file breaks the schema; the message names entry and field."""

    def __init__(self, path: Path, entry: Optional[str], field_name: str, problem: str):
        self.path = path
        self.entry = entry
        self.field = field_name
        self.problem = problem
        where = f"entry '{entry}', field '{field_name}'" if entry else f"field '{field_name}'"
        super().__init__(f"{path}: {where}: {problem}")


@dataclass(frozen=True)
class Source:
    """A published page that supports the facts of one or more answers."""

    id: str
    title: str
    publisher: str
    url: str


@dataclass(frozen=True)
class Review:
    """Who checked an entry, when, and when it must be checked again."""

    reviewed_on: dt.date
    reviewed_by: str
    next_review_due: dt.date


@dataclass(frozen=True)
class Answer:
    """What the bot says for one procedure and topic."""

    text: str
    sources: Tuple[Source, ...]
    refer: bool = False


@dataclass(frozen=True)
class Entry:
    """One procedure (or the ``general`` entry) with its answers by topic."""

    id: str
    name: str
    short_name: str
    aliases: Tuple[str, ...]
    sources: Tuple[Source, ...]
    review: Review
    answers: Mapping[str, Answer] = field(default_factory=dict)
    # Conditions the sources say this procedure is used for, with those sources.
    conditions: Mapping[str, Tuple[Source, ...]] = field(default_factory=dict)
    # Kinds of this procedure that answer differently (ketamine or lidocaine, gel or
    # steroid): each kind with the words in an alias that name it.
    kinds: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)

    def alias_kinds(self, alias: str) -> Tuple[str, ...]:
        """The kinds ``alias`` names ("ketamine drip" -> ketamine), in file order."""
        words = set(re.findall(r"\w+", alias.lower()))
        return tuple(kind for kind, names in self.kinds.items() if words & set(names))


@dataclass(frozen=True)
class Item:
    """One specific question (MRI with a stimulator, blood thinners before a shot).

    ``asked`` are ways patients ask it: the matcher learns from them and the review
    sheet shows them. One item may answer for several procedures.
    """

    id: str
    topic: str
    procedures: Tuple[str, ...]
    asked: Tuple[str, ...]
    text: str
    sources: Tuple[Source, ...]
    review: Review

    def applies_to(self, procedure: Optional[str]) -> bool:
        """Whether this item answers for ``procedure``."""
        return procedure in self.procedures


@dataclass(frozen=True)
class Condition:
    """A condition patients name ("sciatica"), and the words they use for it."""

    id: str
    name: str
    aliases: Tuple[str, ...]


@dataclass(frozen=True)
class TriageLevel:
    """How urgent a red flag is, and what the patient is told: ``message`` first, then ``then``."""

    id: str
    label: str
    message: str
    then: str


@dataclass(frozen=True)
class TriageCategory:
    """One kind of red flag: its level, how patients say it, and why it is that level."""

    id: str
    level: str
    label: str
    phrasings: Tuple[str, ...]
    sources: Tuple[Source, ...]
    # Only a red flag after a procedure (a fever, a headache): the message or the
    # conversation must name one.
    needs_procedure: bool = False


@dataclass(frozen=True)
class Triage:
    """The triage section: levels, categories, the gentle crisis line, sources and review."""

    levels: Mapping[str, TriageLevel]
    categories: Mapping[str, TriageCategory]
    crisis_check: str
    sources: Tuple[Source, ...]
    review: Review

    def level_of(self, category: str) -> Optional[str]:
        """The level of a category id, or ``None`` for an unknown one."""
        found = self.categories.get(category)
        return found.level if found else None

    def levels_of(self, categories: Iterable[str]) -> List[str]:
        """The levels these categories raise, most urgent first, without repeats."""
        raised = {self.level_of(c) for c in categories}
        return [level for level in LEVELS if level in raised]


@dataclass(frozen=True)
class KnowledgeBase:
    """The validated knowledge file."""

    version: str
    topic_labels: Mapping[str, str]
    button_labels: Mapping[str, str]
    messages: Mapping[str, str]
    entries: Mapping[str, Entry]
    path: Path
    triage: Triage
    items: Mapping[str, Item] = field(default_factory=dict)
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    # Sources shared by the question items (an item may also cite its procedures' sources).
    item_sources: Tuple[Source, ...] = ()
    # General ways of asking a summary topic ("what are the risks?"), against which
    # a specific question ("can I fly after it?") is told apart.
    summary_asked: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)

    def entry(self, entry_id: str) -> Optional[Entry]:
        """The entry with this id, or ``None``."""
        return self.entries.get(entry_id)

    def answer(self, entry_id: str, topic: str) -> Optional[Answer]:
        """The answer for an entry and topic, or ``None`` when there is none."""
        entry = self.entries.get(entry_id)
        return entry.answers.get(topic) if entry else None

    @property
    def procedures(self) -> List[Entry]:
        """The procedure entries (without ``general``) in button order."""
        return [self.entries[p] for p in PROCEDURES]

    def item(self, item_id: str) -> Optional[Item]:
        """The question item with this id, or ``None``."""
        return self.items.get(item_id)

    def items_for(self, procedure: str) -> List[Item]:
        """The question items that answer for ``procedure``."""
        return [item for item in self.items.values() if item.applies_to(procedure)]

    def treats(self, condition: str) -> List[Entry]:
        """The procedures whose entry names ``condition``, in button order."""
        return [entry for entry in self.procedures if condition in entry.conditions]

    @cached_property
    def alias_kinds(self) -> Mapping[str, str]:
        """Every name and alias, lowercased, with the kind it names ("ketamine drip" -> "ketamine").

        An entry's name, and an alias naming more than one kind, name the whole
        procedure ("IV infusions for pain (ketamine and lidocaine)"): no kind.
        """
        found: Dict[str, str] = {}
        for entry in self.entries.values():
            found.setdefault(entry.name.lower(), "")
            for alias in entry.aliases:
                kinds = entry.alias_kinds(alias)
                found.setdefault(alias.lower(), kinds[0] if len(kinds) == 1 else "")
        return found

    def aliases(self) -> Dict[str, Tuple[str, ...]]:
        """Every entry's names and aliases, for the entity patterns."""
        return {
            entry.id: tuple(dict.fromkeys((entry.name, *entry.aliases))) for entry in self.entries.values()
        }


class _Reader:
    """Validates raw YAML into dataclasses, naming entry and field on error."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, entry: Optional[str], field_name: str, problem: str) -> KnowledgeError:
        return KnowledgeError(self.path, entry, field_name, problem)

    def text(self, raw: Mapping[str, Any], key: str, entry: Optional[str], prefix: str = "") -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, prefix + key, "must be a non-empty text")
        return " ".join(value.split())

    def date(self, raw: Mapping[str, Any], key: str, entry: str) -> dt.date:
        value = raw.get(key)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(entry, f"review.{key}", "must be a date written YYYY-MM-DD")

    def mapping(self, value: Any, entry: Optional[str], field_name: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(entry, field_name, "must be a mapping")
        for key in value:
            if not isinstance(key, str):
                where = f"{field_name}.{key}" if field_name and field_name != "(top level)" else str(key)
                raise self.fail(entry, where, "keys must be texts (names of fields)")
        return value

    def sources(self, raw: Any, entry: str) -> Tuple[Source, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(entry, "sources", "must list at least one source")
        result: Dict[str, Source] = {}
        for index, item in enumerate(raw):
            prefix = f"sources[{index}]."
            item = self.mapping(item, entry, f"sources[{index}]")
            source_id = self.text(item, "id", entry, prefix)
            if not _SOURCE_ID.match(source_id):
                raise self.fail(entry, prefix + "id", "use lowercase letters, digits and _")
            if source_id in result:
                raise self.fail(entry, prefix + "id", f"duplicate source id '{source_id}'")
            url = self.text(item, "url", entry, prefix)
            if not url.startswith("https://") and not url.startswith("http://"):
                raise self.fail(entry, prefix + "url", "must be a web address")
            result[source_id] = Source(
                id=source_id,
                title=self.text(item, "title", entry, prefix),
                publisher=self.text(item, "publisher", entry, prefix),
                url=url,
            )
        return tuple(result.values())

    def review(self, raw: Any, entry: str) -> Review:
        raw = self.mapping(raw, entry, "review")
        review = Review(
            reviewed_on=self.date(raw, "reviewed_on", entry),
            reviewed_by=self.text(raw, "reviewed_by", entry, "review."),
            next_review_due=self.date(raw, "next_review_due", entry),
        )
        if review.next_review_due <= review.reviewed_on:
            raise self.fail(entry, "review.next_review_due", "must come after reviewed_on")
        return review

    def answer_text(self, raw: Mapping[str, Any], entry: str, prefix: str) -> str:
        """An answer's ``text``: a few sentences, with no placeholders."""
        text = self.text(raw, "text", entry, prefix)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        if len(sentences) > _MAX_SENTENCES:
            raise self.fail(entry, prefix + "text", f"{len(sentences)} sentences; keep it to 2-5")
        if "{" in text or "}" in text:
            raise self.fail(entry, prefix + "text", "must not contain { or }")
        return text

    def answer(self, raw: Any, entry: str, topic: str, sources: Mapping[str, Source]) -> Answer:
        prefix = f"answers.{topic}."
        raw = self.mapping(raw, entry, f"answers.{topic}")
        unknown = sorted(set(raw) - {"text", "sources", "refer"})
        if unknown:
            raise self.fail(entry, prefix + unknown[0], "unknown field")
        text = self.answer_text(raw, entry, prefix)
        refer = raw.get("refer", False)
        if not isinstance(refer, bool):
            raise self.fail(entry, prefix + "refer", "must be true or false")
        ids = raw.get("sources", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise self.fail(entry, prefix + "sources", "must be a list of source ids")
        if not ids and not refer:
            raise self.fail(entry, prefix + "sources", "an answer needs at least one source (or refer: true)")
        missing = [i for i in ids if i not in sources]
        if missing:
            raise self.fail(entry, prefix + "sources", f"unknown source id '{missing[0]}'")
        return Answer(text=text, sources=tuple(sources[i] for i in ids), refer=refer)

    def entry(self, raw: Any, index: int, topics: Iterable[str] = TOPICS) -> Entry:
        if not isinstance(raw, dict):
            raise self.fail(None, f"entries[{index}]", "must be a mapping")
        entry_id = raw.get("id")
        if not isinstance(entry_id, str) or not entry_id:
            raise self.fail(None, f"entries[{index}].id", "must be a non-empty text")
        if entry_id not in PROCEDURES and entry_id != GENERAL:
            raise self.fail(
                entry_id, "id", f"unknown id; expected one of {', '.join((GENERAL,) + PROCEDURES)}"
            )
        raw = self.mapping(raw, entry_id, "")
        sources = self.sources(raw.get("sources"), entry_id)
        by_id = {s.id: s for s in sources}
        topics = tuple(topics)
        answers_raw = self.mapping(raw.get("answers"), entry_id, "answers")
        unknown = sorted(set(answers_raw) - set(topics))
        if unknown:
            raise self.fail(
                entry_id, f"answers.{unknown[0]}", f"unknown topic; expected one of {', '.join(topics)}"
            )
        if entry_id != GENERAL:
            missing = [t for t in TOPICS if t not in answers_raw]
            if missing:
                raise self.fail(
                    entry_id, f"answers.{missing[0]}", "missing (write it, or write refer: true with a text)"
                )
        answers = {t: self.answer(answers_raw[t], entry_id, t, by_id) for t in topics if t in answers_raw}
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise self.fail(entry_id, "aliases", "must be a list of non-empty texts")
        if entry_id != GENERAL and not aliases:
            raise self.fail(entry_id, "aliases", "a procedure needs at least one alias")
        short_name = self.text(raw, "short_name", entry_id)
        if len(short_name) > 24:
            raise self.fail(entry_id, "short_name", "keep it to 24 characters (it goes on buttons)")
        return Entry(
            id=entry_id,
            name=self.text(raw, "name", entry_id),
            short_name=short_name,
            aliases=tuple(" ".join(a.split()) for a in aliases),
            sources=sources,
            review=self.review(raw.get("review"), entry_id),
            answers=answers,
            conditions=self.entry_conditions(raw.get("conditions", []), entry_id, by_id),
            kinds=self.kinds(raw.get("kinds", {}), entry_id, aliases),
        )

    def kinds(self, raw: Any, entry: str, aliases: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
        """An entry's ``kinds``: each kind's words, every one a word of some alias."""
        raw = self.mapping(raw, entry, "kinds")
        alias_words = {w for alias in aliases for w in re.findall(r"\w+", alias.lower())}
        result: Dict[str, Tuple[str, ...]] = {}
        for kind, words in raw.items():
            where = f"kinds.{kind}"
            if not re.fullmatch(r"[a-z]+", str(kind)):
                raise self.fail(entry, where, "a kind is one lowercase word")
            if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
                raise self.fail(entry, where, "must be a list of words")
            lowered = tuple(w.strip().lower() for w in words)
            for word in lowered:
                if not re.fullmatch(r"\w+", word):
                    raise self.fail(entry, where, f"'{word}' is not one word")
                if word not in alias_words:
                    raise self.fail(entry, where, f"'{word}' is in none of the entry's aliases")
            result[str(kind)] = lowered
        return result

    def entry_conditions(
        self, raw: Any, entry: str, sources: Mapping[str, Source]
    ) -> Dict[str, Tuple[Source, ...]]:
        """An entry's ``conditions``: each an ``id`` with the ``sources`` that name it."""
        if not isinstance(raw, list):
            raise self.fail(entry, "conditions", "must be a list of {id, sources}")
        result: Dict[str, Tuple[Source, ...]] = {}
        for index, item in enumerate(raw):
            prefix = f"conditions[{index}]."
            item = self.mapping(item, entry, f"conditions[{index}]")
            unknown = sorted(set(item) - {"id", "sources"})
            if unknown:
                raise self.fail(entry, prefix + unknown[0], "unknown field")
            condition = self.text(item, "id", entry, prefix)
            if condition in result:
                raise self.fail(entry, prefix + "id", f"'{condition}' appears twice")
            result[condition] = self.source_ids(item.get("sources"), entry, prefix + "sources", sources)
        return result

    def source_ids(
        self, ids: Any, entry: str, field_name: str, sources: Mapping[str, Source]
    ) -> Tuple[Source, ...]:
        """A non-empty list of ids of known sources, as those sources."""
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise self.fail(entry, field_name, "must list at least one source id")
        missing = [i for i in ids if i not in sources]
        if missing:
            raise self.fail(entry, field_name, f"unknown source id '{missing[0]}'")
        return tuple(sources[i] for i in dict.fromkeys(ids))

    def labels(self, raw: Any) -> Dict[str, str]:
        """Topic labels: the summary topics first, then any the file adds, in file order."""
        raw = self.mapping(raw, None, "topics")
        for topic in raw:
            if not _SOURCE_ID.match(topic):
                raise self.fail(None, f"topics.{topic}", "use lowercase letters, digits and _")
        missing = [t for t in TOPICS if t not in raw]
        if missing:
            raise self.fail(None, f"topics.{missing[0]}", "missing (every summary topic needs a label)")
        order = list(TOPICS) + [t for t in raw if t not in TOPICS]
        return {topic: self.text(raw, topic, None, "topics.") for topic in order}

    def buttons(self, raw: Any) -> Dict[str, str]:
        raw = self.mapping(raw, None, "buttons")
        unknown = sorted(set(raw) - set(BUTTONS))
        if unknown:
            raise self.fail(None, f"buttons.{unknown[0]}", "unknown button")
        return {key: self.text(raw, key, None, "buttons.") for key in BUTTONS}

    def messages(self, raw: Any) -> Dict[str, str]:
        raw = self.mapping(raw, None, "messages")
        unknown = sorted(set(raw) - set(MESSAGES))
        if unknown:
            raise self.fail(None, f"messages.{unknown[0]}", "unknown message")
        return {key: self.template(raw, key, None, "messages.") for key in MESSAGES}

    def template(self, raw: Mapping[str, Any], key: str, entry: Optional[str], prefix: str) -> str:
        """A text whose ``{placeholders}`` are known and can be filled in."""
        text = self.text(raw, key, entry, prefix)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as error:
            raise self.fail(entry, prefix + key, f"bad placeholder ({error})") from error
        if names - PLACEHOLDERS:
            raise self.fail(entry, prefix + key, f"unknown placeholder {{{sorted(names - PLACEHOLDERS)[0]}}}")
        try:
            text.format(**{name: "" for name in PLACEHOLDERS})
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
            raise self.fail(entry, prefix + key, f"cannot be filled in ({error!r})") from error
        return text

    def triage(self, raw: Any) -> Triage:
        """The ``triage`` section: every level, and categories that each name a known level."""
        raw = self.mapping(raw, None, TRIAGE)
        unknown = sorted(set(raw) - {"review", "sources", "levels", "crisis_check", "categories"})
        if unknown:
            raise self.fail(TRIAGE, unknown[0], "unknown field")
        sources = self.sources(raw.get("sources"), TRIAGE)
        by_id = {s.id: s for s in sources}
        levels_raw = self.mapping(raw.get("levels"), TRIAGE, "levels")
        unknown = sorted(set(levels_raw) - set(LEVELS))
        if unknown:
            expected = ", ".join(LEVELS)
            raise self.fail(TRIAGE, f"levels.{unknown[0]}", f"unknown level; expected one of {expected}")
        levels: Dict[str, TriageLevel] = {}
        for level in LEVELS:
            prefix = f"levels.{level}."
            item = self.mapping(levels_raw.get(level), TRIAGE, f"levels.{level}")
            extra = sorted(set(item) - {"label", "message", "then"})
            if extra:
                raise self.fail(TRIAGE, prefix + extra[0], "unknown field")
            levels[level] = TriageLevel(
                id=level,
                label=self.text(item, "label", TRIAGE, prefix),
                message=self.template(item, "message", TRIAGE, prefix),
                then=self.template(item, "then", TRIAGE, prefix),
            )
        items = raw.get("categories")
        if not isinstance(items, list) or not items:
            raise self.fail(TRIAGE, "categories", "must be a non-empty list")
        categories: Dict[str, TriageCategory] = {}
        for index, item in enumerate(items):
            category = self.triage_category(item, index, by_id)
            if category.id in categories:
                raise self.fail(TRIAGE, f"categories[{index}].id", f"'{category.id}' appears twice")
            categories[category.id] = category
        for level in LEVELS:
            if not any(c.level == level for c in categories.values()):
                raise self.fail(TRIAGE, "categories", f"no category has level '{level}'")
        return Triage(
            levels=levels,
            categories=categories,
            crisis_check=self.template(raw, "crisis_check", TRIAGE, ""),
            sources=sources,
            review=self.review(raw.get("review"), TRIAGE),
        )

    def triage_category(self, raw: Any, index: int, sources: Mapping[str, Source]) -> TriageCategory:
        where = f"categories[{index}]"
        raw = self.mapping(raw, TRIAGE, where)
        prefix = where + "."
        unknown = sorted(set(raw) - {"id", "level", "label", "phrasings", "sources", "needs_procedure"})
        if unknown:
            raise self.fail(TRIAGE, prefix + unknown[0], "unknown field")
        category_id = self.text(raw, "id", TRIAGE, prefix)
        if not _SOURCE_ID.match(category_id) or category_id == "none":
            raise self.fail(TRIAGE, prefix + "id", "use lowercase letters, digits and _ (and not 'none')")
        level = raw.get("level")
        if level not in LEVELS:
            raise self.fail(TRIAGE, prefix + "level", f"must be one of {', '.join(LEVELS)}")
        phrasings = raw.get("phrasings")
        if not isinstance(phrasings, list) or len(phrasings) < 3:
            raise self.fail(TRIAGE, prefix + "phrasings", "list at least 3 ways patients say it")
        if not all(isinstance(p, str) and p.strip() for p in phrasings):
            raise self.fail(TRIAGE, prefix + "phrasings", "must be non-empty texts")
        ids = raw.get("sources")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise self.fail(TRIAGE, prefix + "sources", "must list at least one source id")
        missing = [i for i in ids if i not in sources]
        if missing:
            raise self.fail(TRIAGE, prefix + "sources", f"unknown source id '{missing[0]}'")
        needs_procedure = raw.get("needs_procedure", False)
        if not isinstance(needs_procedure, bool):
            raise self.fail(TRIAGE, prefix + "needs_procedure", "must be true or false")
        return TriageCategory(
            id=category_id,
            level=level,
            label=self.text(raw, "label", TRIAGE, prefix),
            phrasings=tuple(" ".join(p.split()) for p in phrasings),
            sources=tuple(sources[i] for i in ids),
            needs_procedure=needs_procedure,
        )

    def questions(
        self, raw: Any, entries: Mapping[str, Entry], topics: Mapping[str, str]
    ) -> Tuple[Tuple[Source, ...], Dict[str, Item], Dict[str, Tuple[str, ...]]]:
        """The ``questions`` section: shared ``sources``, ``summaries`` and the specific ``items``."""
        if raw is None:
            return (), {}, {}
        raw = self.mapping(raw, QUESTIONS, QUESTIONS)
        unknown = sorted(set(raw) - {"sources", "summaries", "items"})
        if unknown:
            raise self.fail(QUESTIONS, unknown[0], "unknown field")
        shared = self.sources(raw.get("sources"), QUESTIONS)
        items_raw = raw.get("items")
        if not isinstance(items_raw, list) or not items_raw:
            raise self.fail(QUESTIONS, "items", "must be a non-empty list")
        items: Dict[str, Item] = {}
        for index, item_raw in enumerate(items_raw):
            item = self.item(item_raw, index, entries, topics, shared)
            if item.id in items:
                raise self.fail(item.id, "id", "appears twice")
            items[item.id] = item
        summaries_raw = self.mapping(raw.get("summaries", {}), QUESTIONS, "summaries")
        summaries: Dict[str, Tuple[str, ...]] = {}
        for topic, asked in summaries_raw.items():
            where = f"summaries.{topic}"
            if topic not in TOPICS:
                raise self.fail(QUESTIONS, where, f"not a summary topic; expected one of {', '.join(TOPICS)}")
            if not isinstance(asked, list) or len(asked) < 3:
                raise self.fail(QUESTIONS, where, "list at least 3 general ways of asking it")
            if not all(isinstance(a, str) and a.strip() for a in asked):
                raise self.fail(QUESTIONS, where, "must be non-empty texts")
            summaries[topic] = tuple(" ".join(a.split()) for a in asked)
        return shared, items, summaries

    def item(
        self,
        raw: Any,
        index: int,
        entries: Mapping[str, Entry],
        topics: Mapping[str, str],
        shared: Tuple[Source, ...],
    ) -> Item:
        """One question item; errors name it by its id (or its place in the list)."""
        if not isinstance(raw, dict):
            raise self.fail(QUESTIONS, f"items[{index}]", "must be a mapping")
        item_id = raw.get("id")
        if not isinstance(item_id, str) or not _SOURCE_ID.match(item_id):
            problem = "must be a text of lowercase letters, digits and _"
            raise self.fail(QUESTIONS, f"items[{index}].id", problem)
        raw = self.mapping(raw, item_id, "")
        unknown = sorted(set(raw) - {"id", "topic", "procedures", "asked", "text", "sources", "review"})
        if unknown:
            raise self.fail(item_id, unknown[0], "unknown field")
        topic = raw.get("topic")
        if topic not in topics:
            raise self.fail(item_id, "topic", f"unknown topic; expected one of {', '.join(topics)}")
        procedures = raw.get("procedures")
        if not isinstance(procedures, list) or not procedures:
            raise self.fail(item_id, "procedures", "must list at least one entry id")
        if not all(isinstance(p, str) for p in procedures):
            raise self.fail(item_id, "procedures", "must list at least one entry id")
        unknown_ids = [p for p in procedures if p not in entries]
        if unknown_ids:
            raise self.fail(item_id, "procedures", f"unknown entry id '{unknown_ids[0]}'")
        asked = raw.get("asked")
        if not isinstance(asked, list) or len(asked) < 3:
            raise self.fail(item_id, "asked", "list at least 3 ways patients ask it")
        if not all(isinstance(a, str) and a.strip() for a in asked):
            raise self.fail(item_id, "asked", "must be non-empty texts")
        text = self.answer_text(raw, item_id, "")
        available = {s.id: s for s in shared}
        for procedure in procedures:
            for source in entries[procedure].sources:
                available.setdefault(source.id, source)
        return Item(
            id=item_id,
            topic=topic,
            procedures=tuple(dict.fromkeys(procedures)),
            asked=tuple(" ".join(a.split()) for a in asked),
            text=text,
            sources=self.source_ids(raw.get("sources"), item_id, "sources", available),
            review=self.review(raw.get("review"), item_id),
        )

    def conditions(self, raw: Any, entries: Mapping[str, Entry]) -> Dict[str, Condition]:
        """The ``conditions`` section: id -> name and the words patients use for it."""
        if raw is None:
            raw = {}
        raw = self.mapping(raw, None, "conditions")
        result: Dict[str, Condition] = {}
        for condition_id, item in raw.items():
            where = f"conditions.{condition_id}"
            if not _SOURCE_ID.match(condition_id):
                raise self.fail(None, where, "use lowercase letters, digits and _")
            item = self.mapping(item, None, where)
            unknown = sorted(set(item) - {"name", "aliases"})
            if unknown:
                raise self.fail(None, f"{where}.{unknown[0]}", "unknown field")
            aliases = item.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise self.fail(None, f"{where}.aliases", "must be a list of non-empty texts")
            result[condition_id] = Condition(
                id=condition_id,
                name=self.text(item, "name", None, where + "."),
                aliases=tuple(" ".join(a.split()) for a in aliases),
            )
        for entry in entries.values():
            for condition in entry.conditions:
                if condition not in result:
                    raise self.fail(entry.id, "conditions", f"'{condition}' is not in the conditions section")
        return result

    def knowledge(self, raw: Any) -> KnowledgeBase:
        raw = self.mapping(raw, None, "(top level)")
        version = raw.get("version")
        if not isinstance(version, (str, int, float)) or not str(version).strip():
            raise self.fail(None, "version", 'must be set, for example "2026.11.1"')
        entries_raw = raw.get("entries")
        if not isinstance(entries_raw, list) or not entries_raw:
            raise self.fail(None, "entries", "must be a non-empty list")
        topic_labels = self.labels(raw.get("topics"))
        entries: Dict[str, Entry] = {}
        for index, item in enumerate(entries_raw):
            entry = self.entry(item, index, topic_labels)
            if entry.id in entries:
                raise self.fail(entry.id, "id", "appears twice")
            entries[entry.id] = entry
        for required in (GENERAL,) + PROCEDURES:
            if required not in entries:
                raise self.fail(required, "id", "entry is missing from the file")
        self._check_aliases(entries.values())
        item_sources, items, summary_asked = self.questions(raw.get(QUESTIONS), entries, topic_labels)
        return KnowledgeBase(
            version=str(version),
            topic_labels=topic_labels,
            button_labels=self.buttons(raw.get("buttons")),
            messages=self.messages(raw.get("messages")),
            entries=entries,
            path=self.path,
            triage=self.triage(raw.get(TRIAGE)),
            items=items,
            conditions=self.conditions(raw.get("conditions"), entries),
            item_sources=item_sources,
            summary_asked=summary_asked,
        )

    def _check_aliases(self, entries: Iterable[Entry]) -> None:
        owner: Dict[str, str] = {}
        for entry in entries:
            for alias in (entry.name, *entry.aliases):
                key = alias.lower()
                if owner.setdefault(key, entry.id) != entry.id:
                    raise self.fail(entry.id, "aliases", f"'{alias}' also names '{owner[key]}'")


def knowledge_path() -> Path:
    """The knowledge file in force: ``$KNOWLEDGE_FILE`` or the bundled one."""
    override = os.environ.get(KNOWLEDGE_ENV_VAR)
    return Path(override) if override else DEFAULT_KNOWLEDGE_PATH


def load_knowledge(path: Optional[Path] = None) -> KnowledgeBase:
    """Reads and validates a knowledge file.

    Raises:
        KnowledgeError: the file cannot be read or breaks the schema; the message
            names the entry and the field.

    """
    path = Path(path) if path else knowledge_path()
    try:
        raw = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KnowledgeError(path, None, "(file)", f"cannot be read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise KnowledgeError(
            path, None, "(file)", f"is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    except yaml.YAMLError as error:
        problem = yamlfile.problem(error)
        raise KnowledgeError(path, None, "(file)", f"is not valid YAML ({problem})") from error
    except (ValueError, TypeError, RecursionError) as error:
        # ValueError: an impossible date such as 2024-13-45; RecursionError: nesting too deep.
        raise KnowledgeError(path, None, "(file)", f"is not valid YAML ({error!r})") from error
    return _Reader(path).knowledge(raw)


@lru_cache(maxsize=1)
def get_knowledge() -> KnowledgeBase:
    """The knowledge base in force, loaded and validated once per process."""
    return load_knowledge()
