"""The never-silent hook's parts on their own, with Rasa's real domain, tracker and
events (no servers): the action-server time budget, what a failed action returns
and what is logged about a failure."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, FollowupAction, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from bot.server import never_silent
from bot.server.never_silent import Budget, within_budget
from tests.servers import ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "domain.yml")


def run_locally(action: str, domain: Domain, tracker: DialogueStateTracker):
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return asyncio.run(
        never_silent.local_reply_events(action, CollectingOutputChannel(), nlg, tracker, domain)
    )


def test_a_hung_call_is_cancelled_when_its_budget_is_spent():
    async def scenario():
        hung = asyncio.get_running_loop().create_future()  # never answered
        budget = Budget(0.3)
        with pytest.raises(asyncio.TimeoutError):
            await within_budget(hung, budget)
        return hung, budget

    hung, budget = asyncio.run(scenario())
    assert hung.cancelled()
    assert budget.seconds <= 0


def test_time_the_event_loop_spends_on_other_work_is_not_charged():
    """The reply arrives after 1.5 s of wall time, during which the loop was busy
    (as with NLU for other patients); a 1 s budget is not used up by that, though
    a plain 1 s timeout (asyncio.wait_for) would have given up."""

    async def busy_loop(until: float) -> None:
        while time.monotonic() < until:
            time.sleep(0.3)  # blocks the event loop, like a synchronous NLU run
            await asyncio.sleep(0)

    async def reply_later(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "answer"

    async def scenario():
        budget = Budget(1.0)
        busy = asyncio.ensure_future(busy_loop(time.monotonic() + 1.5))
        result = await within_budget(reply_later(1.5), budget)
        await busy
        return result, budget

    result, budget = asyncio.run(scenario())
    assert result == "answer"
    assert budget.seconds > 0


def test_a_failed_session_start_still_starts_the_session_with_the_clinic_slots(domain, settings):
    tracker = DialogueStateTracker.from_events("s", [], slots=domain.slots)
    events = run_locally("action_session_start", domain, tracker)
    assert isinstance(events[0], SessionStarted)
    assert events[-1] == ActionExecuted(ACTION_LISTEN_NAME)
    slots = {e.key: e.value for e in events if isinstance(e, SlotSet)}
    assert slots["clinic_phone"] == settings.phone
    assert slots["clinic_name"] == settings.name
    assert set(slots) <= {slot.name for slot in domain.slots}
    assert not any(isinstance(e, BotUttered) for e in events)


def test_a_failed_answer_apologises_with_the_phone_refers_and_listens(domain, responder, referral):
    tracker = DialogueStateTracker.from_events("s", [], slots=domain.slots)
    events = run_locally("action_answer_question", domain, tracker)
    texts = [e.text for e in events if isinstance(e, BotUttered)]
    assert texts == [responder.message("service_unavailable"), referral]
    assert responder.settings.phone in texts[0]
    assert events[-1] == FollowupAction(ACTION_LISTEN_NAME)
    assert not any(isinstance(e, SlotSet) for e in events)  # the conversation's context is kept


def tracker_after(domain: Domain, text: str, intent: str, entities, slots=None) -> DialogueStateTracker:
    """A conversation whose latest message is ``text``, as NLU (TriageGuard) saw it."""
    from rasa.shared.core.events import UserUttered

    message = UserUttered(text, intent={"name": intent, "confidence": 1.0}, entities=entities)
    events = [SlotSet(name, value) for name, value in (slots or {}).items()] + [message]
    return DialogueStateTracker.from_events("s", events, slots=domain.slots)


def whole(text: str, entity: str, value: str):
    """A triage entity over the whole message, as TriageGuard adds it."""
    return {"entity": entity, "value": value, "start": 0, "end": len(text)}


def bot_texts(events):
    return [e.text for e in events if isinstance(e, BotUttered)]


def slot_events(events):
    return [(e.key, e.value) for e in events if isinstance(e, SlotSet)]


def test_a_failed_emergency_action_still_gives_the_crisis_line_first(domain, responder, settings):
    text = "I want to kill myself"
    tracker = tracker_after(domain, text, "emergency", [whole(text, "red_flag", "suicide_self_harm")])
    events = run_locally("action_handle_emergency", domain, tracker)
    texts = bot_texts(events)
    crisis = responder.knowledge.triage.levels["crisis"]
    assert texts == [
        crisis.message.format(**settings.template_values()),
        crisis.then.format(**settings.template_values()),
    ]
    assert texts == responder.triage(["suicide_self_harm"]).texts
    assert responder.settings.crisis_line in texts[0]
    assert slot_events(events) == [("pending_topic", None), ("triage_level", "crisis")]
    assert events[-1] == FollowupAction(ACTION_LISTEN_NAME)


@pytest.mark.parametrize(
    "categories, level",
    [
        (["limb_weakness_numbness", "bladder_bowel_saddle"], "emergency"),
        (["pump_problem"], "urgent"),
        (["wound_infection", "chest_breathing_fainting"], "emergency"),
        (["overdose", "suicide_self_harm"], "emergency"),
    ],
)
def test_a_failed_emergency_action_gives_the_levels_of_its_red_flags(domain, responder, categories, level):
    text = "a message with red flags"
    entities = [whole(text, "red_flag", category) for category in categories]
    events = run_locally(
        "action_handle_emergency", domain, tracker_after(domain, text, "emergency", entities)
    )
    assert bot_texts(events) == responder.triage(categories).texts
    assert slot_events(events) == [("pending_topic", None), ("triage_level", level)]
    assert events[-1] == FollowupAction(ACTION_LISTEN_NAME)


def test_a_failed_emergency_action_without_a_category_gives_the_emergency_level_alone(
    domain, responder, settings
):
    events = run_locally(
        "action_handle_emergency", domain, tracker_after(domain, "/emergency", "emergency", [])
    )
    emergency = responder.knowledge.triage.levels["emergency"]
    values = settings.template_values()
    assert bot_texts(events) == [emergency.message.format(**values), emergency.then.format(**values)]
    assert not any(settings.crisis_line in text for text in bot_texts(events))
    assert slot_events(events) == [("pending_topic", None), ("triage_level", "emergency")]


def test_any_failed_action_puts_a_red_flag_first(domain, responder):
    # The message's intent was not ``emergency`` (a conditional sign, judged with the conversation).
    text = "my head pounds when i sit up"
    entities = [whole(text, "red_flag_conditional", "positional_headache")]
    told = tracker_after(domain, text, "ask_recovery_time", entities, slots={"recent_procedure": "yes"})
    events = run_locally("action_answer_question", domain, told)
    assert bot_texts(events) == responder.triage(["positional_headache"]).texts
    assert slot_events(events) == [("pending_topic", None), ("triage_level", "urgent")]
    assert events[-1] == FollowupAction(ACTION_LISTEN_NAME)


def test_a_conditional_sign_without_a_procedure_gets_the_apology(domain, responder, referral):
    text = "my head pounds when i sit up"
    entities = [whole(text, "red_flag_conditional", "positional_headache")]
    events = run_locally(
        "action_answer_question", domain, tracker_after(domain, text, "ask_recovery_time", entities)
    )
    assert bot_texts(events) == [responder.message("service_unavailable"), referral]
    assert slot_events(events) == []


def test_a_failed_answer_shows_the_crisis_line_when_triage_was_unsure(domain, responder, referral, settings):
    text = "years ago i had dark thoughts, what are the risks of ketamine"
    entities = [whole(text, "crisis_check", "suicide_self_harm")]
    events = run_locally("action_answer_question", domain, tracker_after(domain, text, "ask_risks", entities))
    line = responder.knowledge.triage.crisis_check.format(**settings.template_values())
    assert bot_texts(events) == [line, responder.message("service_unavailable"), referral]
    assert slot_events(events) == []
    assert events[-1] == FollowupAction(ACTION_LISTEN_NAME)


def test_failures_are_described_without_anything_from_the_conversation():
    secret = "Zebulon Quist, born 1970-01-01"
    try:
        try:
            raise aiohttp.ClientResponseError(None, (), status=503, message=secret)
        except aiohttp.ClientResponseError as error:
            raise RasaException(f"Failed to execute custom action: {secret}") from error
    except RasaException as error:
        described = never_silent.describe_failure(error)
    assert described == "RasaException <- ClientResponseError, HTTP 503"
    assert "Zebulon" not in described


def test_only_dropped_connections_are_tried_again():
    def chained(cause: BaseException) -> RasaException:
        try:
            raise cause
        except BaseException:
            try:
                raise RasaException("Failed to execute custom action")
            except RasaException as error:
                return error

    assert never_silent.connection_dropped(chained(aiohttp.ServerDisconnectedError()))
    assert never_silent.connection_dropped(chained(aiohttp.ClientOSError(104, "reset")))
    assert not never_silent.connection_dropped(chained(aiohttp.ClientResponseError(None, (), status=500)))
    assert not never_silent.connection_dropped(chained(ValueError("invalid response")))


@pytest.mark.parametrize("value", [0, -1, 31, "2", True, None])
def test_a_bad_action_timeout_is_refused_naming_the_field(tmp_path, value):
    import yaml

    from bot.settings import SettingsError, load_settings, settings_path

    path = tmp_path / "clinic.yml"
    path.write_text(
        yaml.safe_dump({**yaml.safe_load(settings_path().read_text()), "action_timeout_seconds": value})
    )
    with pytest.raises(SettingsError, match="action_timeout_seconds"):
        load_settings(path)


def test_the_default_action_timeout_keeps_replies_within_3_seconds(settings):
    assert 0 < settings.action_timeout_seconds <= 2.5


@pytest.mark.parametrize(
    "intent, entities, slots",
    [
        ("emergency", [("red_flag", "suicide_self_harm")], {}),
        ("emergency", [("red_flag", "limb_weakness_numbness"), ("red_flag", "pump_problem")], {}),
        ("emergency", [], {}),  # an /emergency payload
        ("emergency", [("red_flag_conditional", "fever_after_procedure")], {"recent_procedure": "yes"}),
        ("emergency", [("red_flag_conditional", "fever_after_procedure")], {}),
        ("emergency", [("red_flag", "wound_infection"), ("crisis_check", "suicide_self_harm")], {}),
        ("emergency", [("crisis_check", "suicide_self_harm")], {}),
    ],
)
def test_the_emergency_reply_is_the_same_with_or_without_the_action_server(
    domain, dispatcher, intent, entities, slots
):
    """One emergency path: the action server's action and the Rasa server's local reply agree."""
    from actions.actions import ActionHandleEmergency
    from tests.conftest import make_tracker

    text = "a message"
    found = [whole(text, entity, value) for entity, value in entities]
    local = run_locally("action_handle_emergency", domain, tracker_after(domain, text, intent, found, slots))
    action_events = asyncio.run(
        ActionHandleEmergency().run(dispatcher, make_tracker(intent, found, slots, text), {})
    )
    assert bot_texts(local) == [message["text"] for message in dispatcher.messages]
    assert slot_events(local) == [(e["name"], e["value"]) for e in action_events if e["event"] == "slot"]
