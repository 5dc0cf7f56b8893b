"""What the assistant says, decided in one place both the actions and tests use.

Every function returns a :class:`Outcome`: the messages to send (text plus
optional buttons) and the slot values to set. All wording comes from the knowledge
file (answers, ``messages``, topic labels) filled with the clinic settings; this
module only decides which pieces to send, in which order:

- red flags first (the triage level's message: emergency, crisis or "call the
  clinic today", most urgent first, then what to do after);
- every answer to a health question ends with the referral.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from bot.knowledge import GENERAL, PROCEDURES, TOPICS, KnowledgeBase
from bot.settings import ClinicSettings

INTENT_TOPICS: Dict[str, str] = {
    "ask_procedure": "overview",
    "ask_recovery_time": "recovery_time",
    "ask_medication_reliance": "medication_reliance",
    "ask_risks": "risks",
    "ask_relief_duration": "relief_duration",
    "ask_preparation": "preparation",
    "ask_candidacy": "candidacy",
    "ask_cost": "cost",
}
TOPIC_INTENTS: Dict[str, str] = {topic: intent for intent, topic in INTENT_TOPICS.items()}
INFORM = "inform"
ASK_SOURCE = "ask_source"
FEEDBACK_HELPFUL = "feedback_helpful"
FEEDBACK_UNHELPFUL = "feedback_unhelpful"
RED_FLAG_ENTITY = "red_flag"
CONDITIONAL_ENTITY = "red_flag_conditional"
CRISIS_CHECK_ENTITY = "crisis_check"
MAX_PROCEDURES_PER_TURN = 3


@dataclass(frozen=True)
class Button:
    """A button: what the patient sees and the payload it sends."""

    title: str
    payload: str

    def as_dict(self) -> Dict[str, str]:
        """The button in Rasa's format."""
        return {"title": self.title, "payload": self.payload}


@dataclass(frozen=True)
class Reply:
    """One bot message."""

    text: str
    buttons: Tuple[Button, ...] = ()


@dataclass
class Outcome:
    """The messages to send, in order, and the slots to set."""

    replies: List[Reply] = field(default_factory=list)
    slots: Dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> List[str]:
        """Just the texts, for logs and tests."""
        return [reply.text for reply in self.replies]


def intent_payload(intent: str, **entities: str) -> str:
    """A button payload that triggers ``intent`` with ``entities``, skipping NLU."""
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


class Responder:
    """Builds replies from a knowledge base and clinic settings."""

    def __init__(self, knowledge: KnowledgeBase, settings: ClinicSettings) -> None:
        """Keeps the knowledge and settings to build replies from."""
        self.knowledge = knowledge
        self.settings = settings

    # -- building blocks -------------------------------------------------------
    def message(self, key: str, **values: str) -> str:
        """A message from the knowledge file with the clinic details filled in."""
        return self.knowledge.messages[key].format(**self.settings.template_values(), **values)

    def referral(self) -> Reply:
        """The referral to a pain specialist that ends every health answer."""
        return Reply(self.message("referral"))

    def referral_with_feedback(self) -> Reply:
        """The referral after a knowledge answer, offering feedback and sources.

        The buttons never block: the patient can ignore them and ask on.
        """
        labels = self.knowledge.button_labels
        return Reply(
            self.message("referral"),
            (
                Button(labels["helpful"], intent_payload(FEEDBACK_HELPFUL)),
                Button(labels["unhelpful"], intent_payload(FEEDBACK_UNHELPFUL)),
                Button(labels["sources"], intent_payload(ASK_SOURCE)),
            ),
        )

    def procedure_buttons(self, intent: str) -> Tuple[Button, ...]:
        """One button per procedure, asking ``intent`` about it."""
        return tuple(
            Button(entry.short_name, intent_payload(intent, procedure=entry.id))
            for entry in self.knowledge.procedures
        )

    def topic_buttons(self, procedure: str) -> Tuple[Button, ...]:
        """One button per topic the entry can answer."""
        entry = self.knowledge.entry(procedure)
        topics = [t for t in TOPICS if entry and t in entry.answers]
        return tuple(
            Button(self.knowledge.topic_labels[t], intent_payload(TOPIC_INTENTS[t], procedure=procedure))
            for t in topics
        )

    # -- answers -----------------------------------------------------------------
    def answer_question(
        self,
        intent: str,
        mentioned: Sequence[str],
        slots: Mapping[str, Any],
    ) -> Outcome:
        """Answers a topic question (or ``inform``) from the knowledge file.

        Args:
            intent: one of the ``ask_*`` intents, or ``inform``.
            mentioned: procedure ids named in the message, in order.
            slots: the conversation's ``procedure``, ``topic`` and ``pending_topic``.

        """
        if intent == INFORM:
            topic = slots.get("pending_topic") or slots.get("topic") or "overview"
        else:
            topic = INTENT_TOPICS[intent]
        procedures = _known(mentioned, self.knowledge)
        if len(procedures) > 1 and GENERAL in procedures:
            procedures.remove(GENERAL)
        if not procedures:
            current = slots.get("procedure")
            procedures = [current] if current in self.knowledge.entries else [GENERAL]
        procedures = procedures[:MAX_PROCEDURES_PER_TURN]

        if procedures == [GENERAL] and self.knowledge.answer(GENERAL, topic) is None:
            return Outcome(
                replies=[
                    Reply(self.message("ask_which_procedure"), self.procedure_buttons(TOPIC_INTENTS[topic]))
                ],
                slots={"pending_topic": topic, "topic": topic, "procedure": None},
            )

        outcome = Outcome()
        for procedure in procedures:
            answer = self.knowledge.answer(procedure, topic)
            outcome.replies.append(Reply(answer.text if answer else self.message("no_answer")))
        outcome.replies.append(self.referral_with_feedback())
        outcome.slots = {
            "procedure": procedures[-1],
            "topic": topic,
            "pending_topic": None,
            "last_answer": f"{procedures[-1]}/{topic}",
            "knowledge_version": self.knowledge.version,
        }
        return outcome

    def sources(self, last_answer: Optional[str]) -> Outcome:
        """Where the last answer came from: its sources and review date."""
        procedure, _, topic = (last_answer or "").partition("/")
        entry = self.knowledge.entry(procedure)
        answer = self.knowledge.answer(procedure, topic)
        if entry is None or answer is None:
            return Outcome(replies=[Reply(self.message("sources_none"))])
        values = {
            "topic_label": self.knowledge.topic_labels[topic].lower(),
            "procedure_name": entry.name.lower() if procedure == GENERAL else entry.name,
            "reviewed_on": entry.review.reviewed_on.strftime("%B %-d, %Y"),
        }
        if not answer.sources:
            return Outcome(replies=[Reply(self.message("sources_refer", **values)), self.referral()])
        listing = "\n".join(f"- {s.title} ({s.publisher}): {s.url}" for s in answer.sources)
        return Outcome(
            replies=[Reply(f"{self.message('sources_intro', **values)}\n{listing}"), self.referral()]
        )

    def feedback(self, helpful: bool) -> Outcome:
        """Thanks for a "helpful"; for "not helpful", invite a comment and refer."""
        if helpful:
            return Outcome(replies=[Reply(self.message("feedback_thanks"))], slots={"feedback": "helpful"})
        return Outcome(
            replies=[Reply(self.message("feedback_missing")), self.referral()],
            slots={"feedback": "unhelpful"},
        )

    def list_procedures(self) -> Outcome:
        """The procedures the bot knows, as buttons, then the referral."""
        return Outcome(
            replies=[
                Reply(self.message("list_procedures"), self.procedure_buttons("ask_procedure")),
                self.referral(),
            ]
        )

    def specialist(self) -> Outcome:
        """How to reach a pain specialist (the referral itself, in full)."""
        return Outcome(replies=[Reply(self.message("specialist_contact"))])

    def level_message(self, level: str) -> str:
        """A triage level's message, filled in."""
        return self.knowledge.triage.levels[level].message.format(**self.settings.template_values())

    def triage(self, categories: Sequence[str]) -> Outcome:
        """Red flags first: each level's message, most urgent first, then what to do after.

        Args:
            categories: the red-flag categories raised (``red_flag`` entities). An
                emergency makes an urgent level redundant; a crisis is never dropped.
                Without a known category (an ``/emergency`` payload), the emergency
                message alone is given.

        """
        triage = self.knowledge.triage
        levels = triage.levels_of(categories) or ["emergency"]
        if "emergency" in levels and "urgent" in levels:
            levels.remove("urgent")
        values = self.settings.template_values()
        replies = [Reply(self.level_message(level)) for level in levels]
        replies.append(Reply(triage.levels[levels[0]].then.format(**values)))
        return Outcome(replies=replies, slots={"pending_topic": None, "triage_level": levels[0]})

    def red_flags_first(
        self, entities: Sequence[Mapping[str, Any]], slots: Mapping[str, Any]
    ) -> Optional[Outcome]:
        """The triage a message needs before anything else, or ``None``.

        A ``red_flag`` always counts; a ``red_flag_conditional`` (a fever, a headache)
        counts when the conversation told of a recent procedure (``recent_procedure`` slot).
        """
        raised = entity_values(entities, RED_FLAG_ENTITY)
        if slots.get("recent_procedure"):
            raised += [c for c in entity_values(entities, CONDITIONAL_ENTITY) if c not in raised]
        return self.triage(raised) if raised else None

    def with_crisis_check(self, outcome: Outcome, entities: Sequence[Mapping[str, Any]]) -> Outcome:
        """``outcome`` with the gentle crisis line first when triage was unsure about a crisis."""
        if not entity_values(entities, CRISIS_CHECK_ENTITY):
            return outcome
        line = Reply(self.knowledge.triage.crisis_check.format(**self.settings.template_values()))
        return Outcome(replies=[line, *outcome.replies], slots=outcome.slots)

    def respond(
        self, entities: Sequence[Mapping[str, Any]], slots: Mapping[str, Any], answer: Callable[[], Outcome]
    ) -> Outcome:
        """Red flags first, else ``answer()`` (with the crisis line if triage was unsure)."""
        first = self.red_flags_first(entities, slots)
        if first is not None:
            return first
        return self.with_crisis_check(answer(), entities)

    def fallback(self, procedure: Optional[str]) -> Outcome:
        """Say plainly the message was not understood, offer topics, refer."""
        if procedure in PROCEDURES:
            label = self.knowledge.entries[procedure].name
            first = Reply(
                f"{self.message('fallback')} {self.message('choose_topic', procedure_name=label)}",
                self.topic_buttons(procedure),
            )
        else:
            first = Reply(self.message("fallback"), self.procedure_buttons("ask_procedure"))
        return Outcome(replies=[first, self.referral()])

    def out_of_scope(self) -> Outcome:
        """Decline politely, then refer."""
        return Outcome(replies=[Reply(self.message("out_of_scope")), self.referral()])


def entity_values(entities: Sequence[Mapping[str, Any]], entity: str) -> List[str]:
    """Values of ``entity`` among a message's entities, in order of appearance, without repeats."""
    ordered = sorted(entities or [], key=lambda e: e.get("start") or 0)
    values = [e["value"] for e in ordered if e.get("entity") == entity and isinstance(e.get("value"), str)]
    return list(dict.fromkeys(values))


def _known(mentioned: Iterable[str], knowledge: KnowledgeBase) -> List[str]:
    """Known entry ids in order of first mention, without repeats."""
    return [p for p in dict.fromkeys(mentioned) if p in knowledge.entries]
