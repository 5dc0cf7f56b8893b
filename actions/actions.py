"""Custom actions.

Each is a thin adapter: read the tracker, ask ``bot.replies.Responder`` what to
say, send it and set the slots. Every answering action is a :class:`PatientAction`:
red flags come first (a fever or headache after a procedure the conversation told
of, too), and when triage was unsure about a crisis the answer shows the crisis line.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.questions import MATCH_KEY
from bot.replies import Outcome, Responder, responder, triage_slots
from bot.replies import entity_values as message_entity_values
from bot.settings import get_settings

logger = logging.getLogger(__name__)  # what was answered: DEBUG only, it is health information (SECURITY.md)

PROCEDURE_ENTITY = "procedure"
QUESTION_ENTITY = "question"  # an item id, from a button's payload
RED_FLAG_ENTITY = "red_flag"  # set by bot.nlp.components.TriageGuard


def send(outcome: Outcome, dispatcher: CollectingDispatcher) -> List[EventType]:
    """Sends an outcome's replies and returns its slot events."""
    for reply in outcome.replies:
        dispatcher.utter_message(text=reply.text, buttons=[b.as_dict() for b in reply.buttons])
    return [SlotSet(name, value) for name, value in outcome.slots.items()]


def entity_values(tracker: Tracker, entity: str) -> List[str]:
    """Values of ``entity`` in the latest message, in order of appearance, without repeats."""
    return message_entity_values(triage_entities(tracker), entity)


def triage_entities(tracker: Tracker) -> List[Dict[str, Any]]:
    """The latest message's entities (triage's among them)."""
    return list(tracker.latest_message.get("entities") or [])


class PatientAction(Action, ABC):
    """An action that answers a patient: red flags first, then :meth:`outcome`.

    Abstract, so the action server (which registers every subclass of ``Action``
    that is not abstract) does not register it.
    """

    @abstractmethod
    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """What this action says when no red flag comes first."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Triage first, else this action's answer."""
        replies = responder()
        outcome = replies.respond(
            triage_entities(tracker), triage_slots(tracker.get_slot), lambda: self.outcome(replies, tracker)
        )
        return send(outcome, dispatcher)


class ActionSessionStart(Action):
    """Starts a session with the clinic details in slots for domain responses."""

    def name(self) -> str:
        """Action name."""
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Session start, clinic slots, then listen."""
        values = get_settings().template_values()
        return [
            SessionStarted(),
            *(SlotSet(k, v) for k, v in values.items()),
            ActionExecuted("action_listen"),
        ]


class ActionAnswerQuestion(PatientAction):
    """Answers the question asked: the specific item, the topic summary, or "not covered".

    The question matcher's decisions (``question_match`` in the parse result) name
    what answers it for each procedure; this takes the one in play.
    """

    def name(self) -> str:
        """Action name."""
        return "action_answer_question"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Answer from the knowledge file, or ask which procedure is meant."""
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "inform"
        names = ("procedure", "topic", "pending_topic", "pending_question")
        slots = {name: tracker.get_slot(name) for name in names}
        questions = entity_values(tracker, QUESTION_ENTITY)
        outcome = replies.answer_question(
            intent,
            entity_values(tracker, PROCEDURE_ENTITY),
            slots,
            match=tracker.latest_message.get(MATCH_KEY),
            question=questions[0] if questions else None,
        )
        logger.debug("answered %s", outcome.slots.get("last_answer") or "with a clarifying question")
        return outcome


class ActionListProcedures(PatientAction):
    """Lists the procedures the bot can talk about."""

    def name(self) -> str:
        """Action name."""
        return "action_list_procedures"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Procedure buttons (or the procedures for a condition named), then the referral."""
        return replies.list_procedures(tracker.latest_message.get(MATCH_KEY))


class ActionReferSpecialist(PatientAction):
    """Tells the patient how to reach a pain specialist."""

    def name(self) -> str:
        """Action name."""
        return "action_refer_specialist"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Phone, hours and booking link (or the item the matcher is sure answers it)."""
        return replies.specialist(
            tracker.latest_message.get(MATCH_KEY),
            tracker.get_slot("procedure"),
            entity_values(tracker, PROCEDURE_ENTITY),
        )


class ActionHandleEmergency(PatientAction):
    """Emergency, crisis or "call the clinic today" instructions, before anything else.

    With :meth:`PatientAction.run` this is :meth:`bot.replies.Responder.emergency`, the
    reply the Rasa server gives when the action server is down (:mod:`bot.server.never_silent`).
    """

    def name(self) -> str:
        """Action name."""
        return "action_handle_emergency"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Each raised level's message, most urgent first, then what to do after."""
        categories = entity_values(tracker, RED_FLAG_ENTITY)
        logger.debug("red flags: %s", ", ".join(categories) or "none named")
        return replies.triage(categories)


class ActionHandleFallback(PatientAction):
    """Low confidence or unreadable input: say so, offer topics, refer."""

    def name(self) -> str:
        """Action name."""
        return "action_handle_fallback"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """The polite "I did not understand" with topic buttons and referral."""
        return replies.not_understood(
            tracker.get_slot("procedure"),
            tracker.latest_message.get(MATCH_KEY),
            entity_values(tracker, PROCEDURE_ENTITY),
        )


class ActionHandleOutOfScope(PatientAction):
    """Questions the bot must not answer: decline, then refer."""

    def name(self) -> str:
        """Action name."""
        return "action_handle_out_of_scope"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Decline politely and refer (unless an item surely answers it)."""
        return replies.out_of_scope(
            tracker.latest_message.get(MATCH_KEY),
            tracker.get_slot("procedure"),
            entity_values(tracker, PROCEDURE_ENTITY),
        )


class ActionShowSources(PatientAction):
    """Where the last answer came from: its sources and review date."""

    def name(self) -> str:
        """Action name."""
        return "action_show_sources"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Sources of the answer named by the ``last_answer`` slot."""
        return replies.sources(tracker.get_slot("last_answer"))


class ActionRecordFeedback(PatientAction):
    """Records "Was this helpful?" in the ``feedback`` slot and replies."""

    def name(self) -> str:
        """Action name."""
        return "action_record_feedback"

    def outcome(self, replies: Responder, tracker: Tracker) -> Outcome:
        """Thanks, or (for "not helpful") an invitation to say what was missing."""
        helpful = (tracker.latest_message.get("intent") or {}).get("name") == "feedback_helpful"
        logger.debug(
            "feedback on %s: %s", tracker.get_slot("last_answer"), "helpful" if helpful else "unhelpful"
        )
        return replies.feedback(helpful)
