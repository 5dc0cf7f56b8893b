"""Shared fixtures: the real knowledge and settings, a responder, and the
rasa-sdk ``dispatcher`` / ``domain`` / ``tracker`` trio for action tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.replies import Responder
from bot.settings import ClinicSettings, load_settings
from tests.servers import bot  # noqa: F401  (the real servers, started once per session)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="session")
def settings() -> ClinicSettings:
    return load_settings()


@pytest.fixture(scope="session")
def responder(knowledge: KnowledgeBase, settings: ClinicSettings) -> Responder:
    return Responder(knowledge, settings)


@pytest.fixture(scope="session")
def referral(responder: Responder) -> str:
    return responder.referral().text


@pytest.fixture
def dispatcher():
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


def make_tracker(
    intent: str,
    entities: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
    text: str = "",
):
    """A rasa-sdk tracker whose latest message has ``intent`` and ``entities``."""
    from rasa_sdk import Tracker

    return Tracker(
        sender_id="test",
        slots=slots or {},
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def tracker():
    return make_tracker


@pytest.fixture(scope="session")
def red_flag_cases() -> Dict[str, Any]:
    return yaml.safe_load((DATA / "red_flags.yml").read_text())
