"""Custom actions.

Each is a thin adapter: read the tracker, ask ``bot.replies.Responder`` what to
say, send it and set the slots.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge import get_knowledge
from bot.replies import Outcome, Responder
from bot.settings import get_settings

logger = logging.getLogger(__name__)  # what was answered: DEBUG only, it is health information (SECURITY.md)

PROCEDURE_ENTITY = "procedure"
RED_FLAG_ENTITY = "red_flag"


def responder() -> Responder:
    """The responder over the knowledge and settings loaded at start-up."""
    return Responder(get_knowledge(), get_settings())


def send(outcome: Outcome, dispatcher: CollectingDispatcher) -> List[EventType]:
    """Sends an outcome's replies and returns its slot events."""
    for reply in outcome.replies:
        dispatcher.utter_message(text=reply.text, buttons=[b.as_dict() for b in reply.buttons])
    return [SlotSet(name, value) for name, value in outcome.slots.items()]


def entity_values(tracker: Tracker, entity: str) -> List[str]:
    """Values of ``entity`` in the latest message, in order of appearance."""
    entities = tracker.latest_message.get("entities") or []
    ordered = sorted(entities, key=lambda e: e.get("start") or 0)
    return [e["value"] for e in ordered if e.get("entity") == entity and isinstance(e.get("value"), str)]


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


class ActionAnswerQuestion(Action):
    """Answers the recognised topic for the recognised (or remembered) procedure."""

    def name(self) -> str:
        """Action name."""
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Answer from the knowledge file, or ask which procedure is meant."""
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "inform"
        slots = {name: tracker.get_slot(name) for name in ("procedure", "topic", "pending_topic")}
        outcome = responder().answer_question(intent, entity_values(tracker, PROCEDURE_ENTITY), slots)
        logger.debug("answered %s", outcome.slots.get("last_answer") or "with a clarifying question")
        return send(outcome, dispatcher)


class ActionListProcedures(Action):
    """Lists the procedures the bot can talk about."""

    def name(self) -> str:
        """Action name."""
        return "action_list_procedures"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Procedure buttons, then the referral."""
        return send(responder().list_procedures(), dispatcher)


class ActionReferSpecialist(Action):
    """Tells the patient how to reach a pain specialist."""

    def name(self) -> str:
        """Action name."""
        return "action_refer_specialist"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Phone, hours and booking link."""
        return send(responder().specialist(), dispatcher)


class ActionHandleEmergency(Action):
    """Emergency or crisis instructions, before anything else."""

    def name(self) -> str:
        """Action name."""
        return "action_handle_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Instructions for the red-flag category, then the specialist."""
        categories = entity_values(tracker, RED_FLAG_ENTITY)
        category: Optional[str] = categories[0] if categories else None
        logger.debug("red flag: %s", category or "recognised by the classifier")
        return send(responder().emergency(category), dispatcher)


class ActionHandleFallback(Action):
    """Low confidence or unreadable input: say so, offer topics, refer."""

    def name(self) -> str:
        """Action name."""
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """The polite "I did not understand" with topic buttons and referral."""
        return send(responder().fallback(tracker.get_slot("procedure")), dispatcher)


class ActionHandleOutOfScope(Action):
    """Questions the bot must not answer: decline, then refer."""

    def name(self) -> str:
        """Action name."""
        return "action_handle_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Decline politely and refer."""
        return send(responder().out_of_scope(), dispatcher)


class ActionShowSources(Action):
    """Where the last answer came from: its sources and review date."""

    def name(self) -> str:
        """Action name."""
        return "action_show_sources"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sources of the answer named by the ``last_answer`` slot."""
        return send(responder().sources(tracker.get_slot("last_answer")), dispatcher)


class ActionRecordFeedback(Action):
    """Records "Was this helpful?" in the ``feedback`` slot and replies."""

    def name(self) -> str:
        """Action name."""
        return "action_record_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Thanks, or (for "not helpful") an invitation to say what was missing."""
        helpful = (tracker.latest_message.get("intent") or {}).get("name") == "feedback_helpful"
        logger.debug(
            "feedback on %s: %s", tracker.get_slot("last_answer"), "helpful" if helpful else "unhelpful"
        )
        return send(responder().feedback(helpful), dispatcher)
