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
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from bot.knowledge import GENERAL, PROCEDURES, TOPICS, Item, KnowledgeBase, Source, get_knowledge
from bot.questions import ANY, ITEM, NOT_COVERED, SUMMARY, Decision
from bot.settings import ClinicSettings, get_settings

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
ITEM_BUTTON_INTENT = "ask_procedure"  # buttons naming an item: the ``question`` entity decides
QUESTION_ENTITY = "question"  # an item id, in a button's payload
# What a side-by-side shows for each procedure, in order.
COMPARE_TOPICS: Tuple[str, ...] = ("overview", "recovery_time", "relief_duration", "risks")
COMPARE = "compare"
CONDITION = "condition"
PENDING_PREFIX = "per:"  # pending_question: the decisions for each procedure, as JSON
ASK_SOURCE = "ask_source"
FEEDBACK_HELPFUL = "feedback_helpful"
FEEDBACK_UNHELPFUL = "feedback_unhelpful"
RED_FLAG_ENTITY = "red_flag"
CONDITIONAL_ENTITY = "red_flag_conditional"
CRISIS_CHECK_ENTITY = "crisis_check"
MAX_PROCEDURES_PER_TURN = 3
# The slots triage reads besides the message (a fever counts after a procedure the conversation told of).
TRIAGE_SLOTS = ("recent_procedure",)


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
    # What kind of answer it is (item, summary, not_covered, compare, condition,
    # ask_procedure), for logs and the benchmarks; never sent.
    kind: str = ""

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
        match: Optional[Mapping[str, Any]] = None,
        question: Optional[str] = None,
    ) -> Outcome:
        """Answers a health question from the knowledge file: one question, one answer.

        Args:
            intent: an ``ask_*`` intent or ``inform``.
            mentioned: procedure ids named in the message, in order.
            slots: the conversation's ``procedure``, ``topic``, ``pending_topic`` and
                ``pending_question``.
            match: the question matcher's decisions (``question_match``: one per
                procedure, ``any``, and the ``conditions`` named); ``None`` for a
                button payload, which names its topic.
            question: an item id named by a button's payload.

        Two procedures named: a short side-by-side. A condition named without a
        procedure: the procedures the file names for it. Otherwise the specific
        item that answers the question, the topic summary for a general question,
        or, when nothing covers it, a plain "I don't have checked information on
        that" with the closest summary offered only as such.

        """
        named = [p for p in _known(mentioned, self.knowledge) if p != GENERAL]
        if len(named) > 1:
            return self.compare(named[:MAX_PROCEDURES_PER_TURN], INTENT_TOPICS.get(intent))
        match = match if isinstance(match, Mapping) else {}
        conditions = [c for c in match.get("conditions") or [] if c in self.knowledge.conditions]
        if conditions and not named and intent != INFORM and not question:
            specific = Decision.from_dict(match.get(ANY) or {})
            in_conversation = slots.get("procedure") in PROCEDURES
            # Only a question about what may help ("what can help my sciatica?"), never a
            # symptom told in passing ("I have a headache since yesterday").
            asks_what_helps = INTENT_TOPICS.get(intent) == "candidacy" or (
                intent == "ask_procedure" and not in_conversation
            )
            if (specific is None or specific.kind != ITEM) and asks_what_helps:
                return self.condition(conditions[0])

        if named:
            procedure = named[0]
        elif GENERAL in mentioned:
            procedure = GENERAL
        else:
            current: Any = slots.get("procedure")
            procedure = current if current in self.knowledge.entries else GENERAL

        if intent == INFORM:
            pending = slots.get("pending_question")
            item = self.knowledge.item(pending) if isinstance(pending, str) else None
            if item is not None:
                return self.item_answer(item, procedure)
            decided = _pending_decisions(pending).get(procedure)
            if decided is not None and procedure != GENERAL:
                return self.decided(decided, procedure, None)
            topic = slots.get("pending_topic") or slots.get("topic") or "overview"
            return self.summary(topic if topic in TOPICS else "overview", procedure)

        intent_topic = INTENT_TOPICS.get(intent)
        if question:
            item = self.knowledge.item(question)
            if item is not None:
                return self.item_answer(item, procedure)
        decision = Decision.from_dict(match.get(ANY if procedure == GENERAL else procedure) or {})
        if decision is None:
            return self.summary(intent_topic or "overview", procedure)
        if procedure == GENERAL:
            general = Decision.from_dict(match.get(GENERAL) or {})
            if (
                decision.kind == NOT_COVERED
                and general is not None
                and general.strong
                and decision.name == general.name
            ):
                # Every item competed and none was likely enough, the likeliest being a
                # general item (each treatment's version of the same question shared the
                # vote): that item, sure among the questions about any procedure, answers.
                decision = general
            item = (
                self.knowledge.item(decision.name)
                if decision.kind == ITEM and decision.name is not None
                else None
            )
            if item is not None and not item.applies_to(GENERAL):
                if decision.strong and len(item.procedures) == 1:
                    # Sure among the questions about every treatment, and only one treatment
                    # has it ("is lidocaine safe with heart problems?"): the question names
                    # its treatment in other words, so asking which one would be a detour.
                    return self.item_answer(item, item.procedures[0])
                # An item about one treatment's version of the question, and no treatment
                # named: which one? (each treatment's answer is decided already)
                return self.ask_which_procedure(intent_topic or decision.closest or "overview", match)
            topic = decision.name if decision.kind == SUMMARY else intent_topic or decision.closest
            if item is None and topic in TOPICS and self.knowledge.answer(GENERAL, topic) is None:
                return self.ask_which_procedure(topic, match)
        return self.decided(decision, procedure, intent_topic)

    def decided(self, decision: Decision, procedure: str, intent_topic: Optional[str]) -> Outcome:
        """The reply a matcher's decision calls for, for one procedure."""
        if decision.kind == ITEM and decision.name is not None and decision.name in self.knowledge.items:
            return self.item_answer(self.knowledge.items[decision.name], procedure)
        if decision.kind == SUMMARY and decision.name in TOPICS:
            return self.summary(decision.name, procedure)
        return self.not_covered(procedure, intent_topic or decision.closest)

    def ask_which_procedure(self, topic: str, match: Mapping[str, Any]) -> Outcome:
        """Which treatment? The answer for each is decided now and kept in ``pending_question``.

        The buttons (or a typed name, ``inform``) then get that procedure's decision:
        its item, its summary, or "not covered".
        """
        pending = {
            p: match[p]
            for p in PROCEDURES
            if isinstance(match.get(p), Mapping) and Decision.from_dict(match[p])
        }
        buttons = tuple(
            Button(entry.short_name, intent_payload(INFORM, procedure=entry.id))
            for entry in self.knowledge.procedures
        )
        return Outcome(
            replies=[Reply(self.message("ask_which_procedure"), buttons)],
            slots={
                "pending_topic": topic,
                "topic": topic,
                "procedure": None,
                "pending_question": PENDING_PREFIX + json.dumps(pending, separators=(",", ":")),
            },
            kind="ask_procedure",
        )

    def summary(self, topic: str, procedure: str) -> Outcome:
        """The topic summary for one procedure (or, for ``general`` without one, which procedure?)."""
        if procedure == GENERAL and self.knowledge.answer(GENERAL, topic) is None:
            return Outcome(
                replies=[
                    Reply(self.message("ask_which_procedure"), self.procedure_buttons(TOPIC_INTENTS[topic]))
                ],
                slots={"pending_topic": topic, "topic": topic, "procedure": None, "pending_question": None},
                kind="ask_procedure",
            )
        answer = self.knowledge.answer(procedure, topic)
        return Outcome(
            replies=[
                Reply(answer.text if answer else self.message("no_answer")),
                self.referral_with_feedback(),
            ],
            slots=self._answered(procedure, topic, f"{procedure}/{topic}"),
            kind="summary",
        )

    def item_answer(self, item: Item, procedure: str) -> Outcome:
        """A specific item's answer; asks which procedure first when that decides the answer."""
        if not item.applies_to(procedure):
            if procedure != GENERAL and procedure in self.knowledge.entries:
                return self.not_covered(procedure, item.topic if item.topic in TOPICS else None)
            if len(item.procedures) > 1:
                buttons = tuple(
                    Button(
                        self.knowledge.entries[p].short_name,
                        intent_payload(ITEM_BUTTON_INTENT, procedure=p, question=item.id),
                    )
                    for p in item.procedures
                    if p != GENERAL
                )
                return Outcome(
                    replies=[Reply(self.message("ask_which_procedure"), buttons)],
                    slots={"pending_question": item.id, "pending_topic": None, "procedure": None},
                    kind="ask_procedure",
                )
            procedure = item.procedures[0]
        return Outcome(
            replies=[Reply(item.text), self.referral_with_feedback()],
            slots=self._answered(procedure, item.topic, f"{procedure}/{item.topic}/{item.id}"),
            kind="item",
        )

    def not_covered(self, procedure: str, closest: Optional[str]) -> Outcome:
        """No checked answer to this question: say so, offer the closest summary as such, refer."""
        replies = [Reply(self.message("not_covered"))]
        answer = self.knowledge.answer(procedure, closest) if closest else None
        last_answer = None
        if closest and answer is not None and not answer.refer:
            entry = self.knowledge.entries[procedure]
            intro = self.message(
                "not_covered_summary",
                topic_label=self.knowledge.topic_labels[closest].lower(),
                procedure_name=entry.name.lower() if procedure == GENERAL else entry.name,
            )
            replies.append(Reply(f"{intro}\n{answer.text}"))
            last_answer = f"{procedure}/{closest}"
        replies.append(self.referral_with_feedback() if last_answer else self.referral())
        slots = self._answered(procedure, closest, last_answer)
        slots["procedure"] = procedure if procedure != GENERAL else None
        return Outcome(replies=replies, slots=slots, kind="not_covered")

    def compare(self, procedures: Sequence[str], topic: Optional[str] = None) -> Outcome:
        """A short side-by-side of two or three procedures, from their summaries.

        For a question about one topic ("risks of X and Y") that topic alone;
        otherwise what each is, recovery, how long relief lasts and the main risks,
        the first sentence of each summary.
        """
        topics = (topic,) if topic and topic != "overview" else COMPARE_TOPICS
        sentences = 2 if len(topics) == 1 else 1
        blocks = []
        for each in topics:
            lines = [f"{self.knowledge.topic_labels[each]}:"]
            for procedure in procedures:
                answer = self.knowledge.answer(procedure, each)
                text = _first_sentences(answer.text, sentences) if answer else self.message("no_answer")
                lines.append(f"- {self.knowledge.entries[procedure].short_name}: {text}")
            blocks.append("\n".join(lines))
        # One message: Rasa's channels split a text at blank lines.
        text = self.message("compare_intro") + "\n" + "\n".join(blocks)
        slots = self._answered(procedures[-1], topic, f"{COMPARE}:{','.join(procedures)}:{','.join(topics)}")
        return Outcome(replies=[Reply(text), self.referral_with_feedback()], slots=slots, kind="compare")

    def condition(self, condition_id: str) -> Outcome:
        """The procedures the knowledge file names for a condition (never a diagnosis)."""
        condition = self.knowledge.conditions[condition_id]
        entries = self.knowledge.treats(condition_id)
        if not entries:
            text = self.message("condition_none", condition_name=condition.name)
            return Outcome(
                replies=[Reply(text), self.referral()], slots={"pending_question": None}, kind="condition"
            )
        lines = [self.message("condition_intro", condition_name=condition.name)]
        for entry in entries:
            overview = entry.answers.get("overview")
            lines.append(
                f"- {entry.name}: {_first_sentences(overview.text, 1)}" if overview else f"- {entry.name}"
            )
        slots = self._answered(None, "candidacy", f"{CONDITION}:{condition_id}")
        slots["procedure"] = None
        return Outcome(
            replies=[Reply("\n".join(lines)), self.referral_with_feedback()], slots=slots, kind="condition"
        )

    def _answered(
        self, procedure: Optional[str], topic: Optional[str], last_answer: Optional[str]
    ) -> Dict[str, Any]:
        return {
            "procedure": procedure,
            "topic": topic,
            "pending_topic": None,
            "pending_question": None,
            "last_answer": last_answer,
            "knowledge_version": self.knowledge.version,
        }

    def sources(self, last_answer: Optional[str]) -> Outcome:
        """Where the last answer came from: its sources and review date."""
        found = self.provenance(last_answer)
        if found is None:
            return Outcome(replies=[Reply(self.message("sources_none"))])
        values, sources = found
        if not sources:
            return Outcome(replies=[Reply(self.message("sources_refer", **values)), self.referral()])
        listing = "\n".join(f"- {s.title} ({s.publisher}): {s.url}" for s in sources)
        return Outcome(
            replies=[Reply(f"{self.message('sources_intro', **values)}\n{listing}"), self.referral()]
        )

    def provenance(self, last_answer: Optional[str]) -> Optional[Tuple[Dict[str, str], Tuple[Source, ...]]]:
        """The message values and sources of a ``last_answer`` slot value, or ``None``.

        ``procedure/topic`` (a summary), ``procedure/topic/item`` (an item),
        ``compare:p1,p2:topics`` (a side-by-side) or ``condition:id``.
        """
        text = last_answer or ""
        if text.startswith(f"{CONDITION}:"):
            condition = self.knowledge.conditions.get(text.split(":", 1)[1])
            if condition is None:
                return None
            entries = self.knowledge.treats(condition.id)
            sources = _unique(s for e in entries for s in e.conditions[condition.id])
            reviewed = min((e.review.reviewed_on for e in entries), default=None)
            return self._values("treatments", condition.name, reviewed), sources
        if text.startswith(f"{COMPARE}:"):
            _, procedures, topics = (text.split(":") + ["", ""])[:3]
            entries = [
                self.knowledge.entries[p] for p in procedures.split(",") if p in self.knowledge.entries
            ]
            if not entries:
                return None
            answers = [e.answers[t] for e in entries for t in topics.split(",") if t in e.answers]
            reviewed = min(e.review.reviewed_on for e in entries)
            names = " and ".join(e.name for e in entries)
            return self._values("how they compare", names, reviewed), _unique(
                s for a in answers for s in a.sources
            )
        procedure, topic, item_id = (text.split("/") + ["", ""])[:3]
        entry = self.knowledge.entry(procedure)
        if entry is None or topic not in self.knowledge.topic_labels:
            return None
        name = entry.name.lower() if procedure == GENERAL else entry.name
        label = self.knowledge.topic_labels[topic].lower()
        if item_id:
            item = self.knowledge.item(item_id)
            if item is None:
                return None
            return self._values(label, name, item.review.reviewed_on), item.sources
        answer = self.knowledge.answer(procedure, topic)
        if answer is None:
            return None
        return self._values(label, name, entry.review.reviewed_on), answer.sources

    @staticmethod
    def _values(topic_label: str, procedure_name: str, reviewed_on: Any) -> Dict[str, str]:
        when = reviewed_on.strftime("%B %-d, %Y") if reviewed_on else ""
        return {"topic_label": topic_label, "procedure_name": procedure_name, "reviewed_on": when}

    def feedback(self, helpful: bool) -> Outcome:
        """Thanks for a "helpful"; for "not helpful", invite a comment and refer."""
        if helpful:
            return Outcome(replies=[Reply(self.message("feedback_thanks"))], slots={"feedback": "helpful"})
        return Outcome(
            replies=[Reply(self.message("feedback_missing")), self.referral()],
            slots={"feedback": "unhelpful"},
        )

    def list_procedures(self, match: Optional[Mapping[str, Any]] = None) -> Outcome:
        """The procedures the bot knows, as buttons, then the referral.

        When the message named a condition ("what can help my sciatica?"), the
        procedures the knowledge file names for it instead.
        """
        conditions = (match or {}).get("conditions") if isinstance(match, Mapping) else None
        known = [c for c in conditions or [] if c in self.knowledge.conditions]
        if known:
            return self.condition(known[0])
        return Outcome(
            replies=[
                Reply(self.message("list_procedures"), self.procedure_buttons("ask_procedure")),
                self.referral(),
            ]
        )

    def specialist(
        self,
        match: Optional[Mapping[str, Any]] = None,
        procedure: Optional[str] = None,
        mentioned: Sequence[str] = (),
    ) -> Outcome:
        """How to reach a pain specialist (the referral itself, in full).

        Unless the matcher is sure of an answer (:meth:`sure_answer`): "how long is
        the first appointment?" or "do I need a referral?" sound like asking for the
        clinic, but have their own answers (which end with the referral too).
        """
        sure = self.sure_answer(match, procedure, mentioned)
        if sure is not None:
            return sure
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
        return Outcome(replies=[line, *outcome.replies], slots=outcome.slots, kind=outcome.kind)

    def respond(
        self, entities: Sequence[Mapping[str, Any]], slots: Mapping[str, Any], answer: Callable[[], Outcome]
    ) -> Outcome:
        """Red flags first, else ``answer()`` (with the crisis line if triage was unsure).

        Args:
            entities: the latest message's entities (triage's among them).
            slots: the conversation's slots; only :data:`TRIAGE_SLOTS` are read.
            answer: what to say when no red flag comes first.

        """
        first = self.red_flags_first(entities, slots)
        if first is not None:
            return first
        return self.with_crisis_check(answer(), entities)

    def emergency(self, entities: Sequence[Mapping[str, Any]], slots: Mapping[str, Any]) -> Outcome:
        """What ``action_handle_emergency`` says, from the action server or without it.

        The raised levels' messages (the emergency message alone for an
        ``/emergency`` payload naming no red flag), exactly as :meth:`respond` orders them.
        """
        return self.respond(entities, slots, lambda: self.triage(entity_values(entities, RED_FLAG_ENTITY)))

    def unavailable(self, entities: Sequence[Mapping[str, Any]], slots: Mapping[str, Any]) -> Outcome:
        """What any other action says when the action server failed: red flags first, else the apology.

        The apology is ``service_unavailable`` (with the clinic's phone) and the referral.
        """
        return self.respond(
            entities,
            slots,
            lambda: Outcome(replies=[Reply(self.message("service_unavailable")), self.referral()]),
        )

    def sure_answer(
        self, match: Optional[Mapping[str, Any]], procedure: Optional[str], mentioned: Sequence[str] = ()
    ) -> Optional[Outcome]:
        """The answer the matcher is sure of (``strong``) for this procedure, or ``None``.

        A sure item's answer, or a sure general question's topic summary (with no
        procedure known, "which treatment?").
        """
        if not isinstance(match, Mapping):
            return None
        named = [p for p in _known(mentioned, self.knowledge) if p != GENERAL]
        procedure = named[0] if named else procedure
        key = (
            procedure
            if procedure is not None and procedure in self.knowledge.entries and procedure != GENERAL
            else ANY
        )
        decision = Decision.from_dict(match.get(key) or {})
        if decision is None or not decision.strong:
            return None
        # key is the known procedure itself unless it is ANY.
        if decision.kind == SUMMARY and decision.name in TOPICS:
            # "what is the recovery time?" taken for out of scope: the summary (or, with
            # no procedure known, which procedure?)
            return self.summary(decision.name, key if key != ANY else GENERAL)
        item = self.knowledge.item(decision.name) if decision.name is not None else None
        if item is None or (key == ANY and not item.applies_to(GENERAL)):
            return None
        return self.item_answer(item, key if key != ANY else GENERAL)

    def not_understood(
        self,
        procedure: Optional[str],
        match: Optional[Mapping[str, Any]] = None,
        mentioned: Sequence[str] = (),
    ) -> Outcome:
        """Say plainly the message was not understood (``nlu_fallback``), offer topics, refer.

        Unless the question matcher is sure of an answer (:meth:`sure_answer`) for the
        procedure named (``mentioned``) or in play.
        """
        sure = self.sure_answer(match, procedure, mentioned)
        if sure is not None:
            return sure
        if procedure in PROCEDURES:
            label = self.knowledge.entries[procedure].name
            first = Reply(
                f"{self.message('fallback')} {self.message('choose_topic', procedure_name=label)}",
                self.topic_buttons(procedure),
            )
        else:
            first = Reply(self.message("fallback"), self.procedure_buttons("ask_procedure"))
        return Outcome(replies=[first, self.referral()])

    def out_of_scope(
        self,
        match: Optional[Mapping[str, Any]] = None,
        procedure: Optional[str] = None,
        mentioned: Sequence[str] = (),
    ) -> Outcome:
        """Decline politely, then refer; unless the matcher is sure of an answer (:meth:`sure_answer`)."""
        sure = self.sure_answer(match, procedure, mentioned)
        if sure is not None:
            return sure
        return Outcome(replies=[Reply(self.message("out_of_scope")), self.referral()])


def responder() -> Responder:
    """The one responder factory: over the knowledge file and clinic settings in force.

    The actions, the Rasa server's reply when the action server fails and the
    channels' own messages all use it. Each file is read and checked once per
    process (:func:`bot.knowledge.get_knowledge`, :func:`bot.settings.get_settings`).
    """
    return Responder(get_knowledge(), get_settings())


def triage_slots(get_slot: Callable[[str], Any]) -> Dict[str, Any]:
    """The slots triage reads (:data:`TRIAGE_SLOTS`), from a tracker's ``get_slot``."""
    return {name: get_slot(name) for name in TRIAGE_SLOTS}


def entity_values(entities: Sequence[Mapping[str, Any]], entity: str) -> List[str]:
    """Values of ``entity`` among a message's entities, in order of appearance, without repeats."""
    ordered = sorted(entities or [], key=lambda e: e.get("start") or 0)
    values = [e["value"] for e in ordered if e.get("entity") == entity and isinstance(e.get("value"), str)]
    return list(dict.fromkeys(values))


def _pending_decisions(pending: Any) -> Dict[str, Decision]:
    """The per-procedure decisions kept by :meth:`Responder.ask_which_procedure`."""
    if not isinstance(pending, str) or not pending.startswith(PENDING_PREFIX):
        return {}
    try:
        raw = json.loads(pending[len(PENDING_PREFIX) :])
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    decided = {p: Decision.from_dict(d) for p, d in raw.items() if isinstance(d, Mapping)}
    return {p: d for p, d in decided.items() if d is not None}


def _first_sentences(text: str, count: int) -> str:
    """The first ``count`` sentences of ``text``."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(sentences[:count])


def _unique(sources: Iterable[Source]) -> Tuple[Source, ...]:
    """Sources without repeats (same id), in order."""
    return tuple({s.id: s for s in sources}.values())


def _known(mentioned: Iterable[str], knowledge: KnowledgeBase) -> List[str]:
    """Known entry ids in order of first mention, without repeats."""
    return [p for p in dict.fromkeys(mentioned) if p in knowledge.entries]
