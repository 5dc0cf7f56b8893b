"""Shared fixtures: the real knowledge and settings, a responder, and the
rasa-sdk ``dispatcher`` / ``domain`` / ``tracker`` trio for action tests.

Hypothesis (tests/fuzz, and the property tests in tests/unit) runs the ``ci`` profile
unless ``HYPOTHESIS_PROFILE`` names another: derandomized (the same examples every
run), no example database, no deadline. ``HYPOTHESIS_PROFILE=explore`` draws new
random examples, ten times as many (:func:`tests.strategies.examples`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.replies import Responder
from bot.settings import ClinicSettings, load_settings
from tests.servers import bot  # noqa: F401  (the real servers, started once per session)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"

hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile(
    "explore",
    database=DirectoryBasedExampleDatabase(str(ROOT / "build" / "hypothesis")),  # failures replay first
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


# Slow-suite markers (pyproject.toml): every test outside tests/unit has one, no test inside does,
# so `make test-unit` (pytest tests/unit) runs every test that needs no server, model or browser.
SLOW_MARKERS = ("e2e", "nlu", "browser", "scale", "bench")
UNIT = ROOT / "tests" / "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Refuses a test whose place (tests/unit or not) and markers disagree."""
    misplaced = []
    for item in items:
        slow = [name for name in SLOW_MARKERS if item.get_closest_marker(name)]
        in_unit = UNIT in Path(str(item.fspath)).resolve().parents
        if in_unit and slow:
            misplaced.append(f"{item.nodeid}: marked {', '.join(slow)}, so it belongs outside tests/unit")
        elif not in_unit and not slow:
            misplaced.append(
                f"{item.nodeid}: has no slow-suite marker ({', '.join(SLOW_MARKERS)}), so it "
                "belongs in tests/unit (or mark what it starts)"
            )
    if misplaced:
        raise pytest.UsageError("Tests in the wrong place:\n  " + "\n  ".join(misplaced))
