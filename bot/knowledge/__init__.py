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
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import yaml

DEFAULT_KNOWLEDGE_PATH = Path(__file__).parent / "knowledge.yml"
KNOWLEDGE_ENV_VAR = "KNOWLEDGE_FILE"

GENERAL = "general"

# The question kinds the bot understands, in the order buttons show them.
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
    "list_procedures",
    "choose_topic",
    "fallback",
    "out_of_scope",
    "emergency",
    "emergency_self_harm",
    "after_emergency",
    "disclaimer",
    "disclaimer_emergency",
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
        "procedure_name",
        "topic_label",
        "reviewed_on",
    }
)

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


@dataclass(frozen=True)
class KnowledgeBase:
    """The validated knowledge file."""

    version: str
    topic_labels: Mapping[str, str]
    button_labels: Mapping[str, str]
    messages: Mapping[str, str]
    entries: Mapping[str, Entry]
    path: Path

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

    def answer(self, raw: Any, entry: str, topic: str, sources: Mapping[str, Source]) -> Answer:
        prefix = f"answers.{topic}."
        raw = self.mapping(raw, entry, f"answers.{topic}")
        unknown = sorted(set(raw) - {"text", "sources", "refer"})
        if unknown:
            raise self.fail(entry, prefix + unknown[0], "unknown field")
        text = self.text(raw, "text", entry, prefix)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        if len(sentences) > _MAX_SENTENCES:
            raise self.fail(entry, prefix + "text", f"{len(sentences)} sentences; keep it to 2-5")
        if "{" in text or "}" in text:
            raise self.fail(entry, prefix + "text", "must not contain { or }")
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

    def entry(self, raw: Any, index: int) -> Entry:
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
        answers_raw = self.mapping(raw.get("answers"), entry_id, "answers")
        unknown = sorted(set(answers_raw) - set(TOPICS))
        if unknown:
            raise self.fail(
                entry_id, f"answers.{unknown[0]}", f"unknown topic; expected one of {', '.join(TOPICS)}"
            )
        if entry_id != GENERAL:
            missing = [t for t in TOPICS if t not in answers_raw]
            if missing:
                raise self.fail(
                    entry_id, f"answers.{missing[0]}", "missing (write it, or write refer: true with a text)"
                )
        answers = {t: self.answer(answers_raw[t], entry_id, t, by_id) for t in TOPICS if t in answers_raw}
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
        )

    def labels(self, raw: Any) -> Dict[str, str]:
        raw = self.mapping(raw, None, "topics")
        unknown = sorted(set(raw) - set(TOPICS))
        if unknown:
            raise self.fail(None, f"topics.{unknown[0]}", "unknown topic")
        return {topic: self.text(raw, topic, None, "topics.") for topic in TOPICS}

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
        result = {}
        for key in MESSAGES:
            text = self.text(raw, key, None, "messages.")
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as error:
                raise self.fail(None, f"messages.{key}", f"bad placeholder ({error})") from error
            if names - PLACEHOLDERS:
                raise self.fail(
                    None, f"messages.{key}", f"unknown placeholder {{{sorted(names - PLACEHOLDERS)[0]}}}"
                )
            try:
                text.format(**{name: "" for name in PLACEHOLDERS})
            except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
                raise self.fail(None, f"messages.{key}", f"cannot be filled in ({error!r})") from error
            result[key] = text
        return result

    def knowledge(self, raw: Any) -> KnowledgeBase:
        raw = self.mapping(raw, None, "(top level)")
        version = raw.get("version")
        if not isinstance(version, (str, int, float)) or not str(version).strip():
            raise self.fail(None, "version", 'must be set, for example "2026.11.1"')
        entries_raw = raw.get("entries")
        if not isinstance(entries_raw, list) or not entries_raw:
            raise self.fail(None, "entries", "must be a non-empty list")
        entries: Dict[str, Entry] = {}
        for index, item in enumerate(entries_raw):
            entry = self.entry(item, index)
            if entry.id in entries:
                raise self.fail(entry.id, "id", "appears twice")
            entries[entry.id] = entry
        for required in (GENERAL,) + PROCEDURES:
            if required not in entries:
                raise self.fail(required, "id", "entry is missing from the file")
        self._check_aliases(entries.values())
        return KnowledgeBase(
            version=str(version),
            topic_labels=self.labels(raw.get("topics")),
            button_labels=self.buttons(raw.get("buttons")),
            messages=self.messages(raw.get("messages")),
            entries=entries,
            path=self.path,
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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KnowledgeError(path, None, "(file)", f"cannot be read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise KnowledgeError(
            path, None, "(file)", f"is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        # ValueError: an impossible date such as 2024-13-45; RecursionError: nesting too deep.
        raise KnowledgeError(path, None, "(file)", f"is not valid YAML ({error!r})") from error
    return _Reader(path).knowledge(raw)


@lru_cache(maxsize=1)
def get_knowledge() -> KnowledgeBase:
    """The knowledge base in force, loaded and validated once per process."""
    return load_knowledge()
