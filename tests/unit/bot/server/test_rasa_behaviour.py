"""What each change of bot/server relies on in Rasa 3.6.21, checked against the installed Rasa.

Each hook wraps or replaces something of Rasa's; if a Rasa release moves, renames or
changes it, the hook could stop working without an error (a fallback becoming
silence). Each test here names the hook and fails when the behaviour it relies on
is not there any more. ``bot.server.check_versions`` stops the server on any other
Rasa version; these tests say what to look at before allowing a new one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml

import bot.server
from bot.server import UnsupportedVersionError, check_versions
from tests.servers import ROOT


def _where(function: Any) -> Tuple[str, str]:
    if isinstance(function, str):
        module_name, qualname = function.split(":")
        return module_name, qualname
    original = inspect.unwrap(function)
    return original.__module__, original.__qualname__


def _definition(function: Any) -> ast.AST:
    """The ``def`` of ``function`` as written in Rasa's installed source file.

    Read from the file, not from the live object: the hooks (installed by other
    tests of this session) replace some of these functions in memory; those are
    named as ``"module:Class.function"``.
    """
    module_name, qualname = _where(function)
    path = inspect.getsourcefile(importlib.import_module(module_name))
    assert path and "site-packages" in path, f"{qualname} is not Rasa's: {path}"
    tree = ast.parse(Path(path).read_text())
    node: ast.AST = tree
    for name in qualname.split("."):
        node = next(
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == name
        )
    return node


def parameters(function: Any) -> List[str]:
    """Parameter names of ``function`` as Rasa defines it."""
    arguments = _definition(function).args  # type: ignore[attr-defined]
    return [argument.arg for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]


def source(function: Any) -> str:
    """The source of ``function`` as Rasa defines it."""
    path = inspect.getsourcefile(importlib.import_module(_where(function)[0]))
    assert path is not None
    return ast.get_source_segment(Path(path).read_text(), _definition(function)) or ""


# --------------------------------------------------------------------------- start-up


def test_the_installed_versions_are_the_ones_the_hooks_were_written_for():
    check_versions()


def test_another_version_stops_the_server_naming_both_versions(monkeypatch):
    monkeypatch.setattr(bot.server, "installed_version", lambda name: "3.7.0" if name == "rasa" else "3.6.2")
    with pytest.raises(UnsupportedVersionError, match=r"written for rasa 3\.6\.21, and rasa 3\.7\.0"):
        check_versions()
    monkeypatch.setattr(bot.server, "installed_version", lambda name: None)
    with pytest.raises(UnsupportedVersionError, match=r"rasa \(not installed\)"):
        check_versions()


def test_the_pinned_requirements_are_the_versions_the_hooks_were_written_for():
    pins = (ROOT / "requirements" / "server.txt").read_text()
    for distribution, version in bot.server.WRITTEN_FOR.items():
        assert f"\n{distribution}=={version}\n" in pins


def test_rasa_builds_the_channels_before_it_configures_its_app():
    """Channels install the hooks: Rasa must build them first, and look configure_app up late."""
    import rasa.core.run

    serve = source(rasa.core.run.serve_application)
    assert serve.index("create_http_input_channels(") < serve.index("app = configure_app(")
    assert "register_listener(close_resources" in serve
    single = source(rasa.core.run._create_single_channel)
    assert "class_from_module_path" in single and ".from_credentials(credentials)" in single


def credential_channels() -> Dict[str, Any]:
    channels: Dict[str, Any] = {}
    for name in ("credentials.yml", "credentials.channels.yml"):
        channels.update(yaml.safe_load((ROOT / name).read_text()) or {})
    return channels


@pytest.mark.parametrize("channel", sorted(credential_channels()))
def test_every_channel_of_the_credentials_files_installs_the_hooks(channel, monkeypatch):
    from rasa.shared.utils.common import class_from_module_path

    calls: List[str] = []
    monkeypatch.setattr(bot.server, "install_hooks", lambda: calls.append(channel))
    # The files' own settings, with test values for the secrets they take from the environment.
    written = credential_channels()[channel] or {}
    written = {key: value for key, value in written.items() if "${" not in str(value)}
    secrets = {
        "slack_token": "xoxb-test",
        "slack_signing_secret": "s" * 32,
        "access_token": "1:abc",
        "webhook_url": "https://clinic.example/webhooks/telegram/webhook",
        "secret_token": "t" * 32,
    }
    settings = {**secrets, **written} if channel.endswith(("SlackInput", "TelegramInput")) else written
    class_from_module_path(channel).from_credentials(settings)
    assert calls == [channel]


def test_the_model_installs_the_hooks_when_no_channel_did(monkeypatch):
    from bot.nlp.components import TriageGuard

    assert "install_hooks_at_model_load()" in inspect.getsource(TriageGuard.load)
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    assert "bot.nlp.components.TriageGuard" in [step["name"] for step in config["pipeline"]]


def test_rasa_names_its_app_by_whether_the_api_is_on():
    """An API switched on before the checks is recognised by the app's name."""
    import rasa.core.run
    import rasa.server

    assert f'Sanic("{bot.server.API_APP_NAME}")' in source(rasa.server.create_app)
    assert f'Sanic("{bot.server.API_APP_NAME}"' not in source(rasa.core.run._create_app_without_api)


# --------------------------------------------------------------------------- http_api, origins


def test_configure_app_takes_the_arguments_the_api_and_cors_hooks_rewrite():
    import rasa.core.run

    names = parameters(rasa.core.run.configure_app)
    for name in ("input_channels", "cors", "auth_token", "enable_api", "jwt_secret", "jwt_method"):
        assert name in names


def test_the_model_management_routes_are_where_the_api_hook_refuses_them():
    import rasa.server

    from bot.server.http_api import MODEL_ROUTES

    routes = inspect.getsource(rasa.server)
    for method, path in MODEL_ROUTES:
        if path.endswith("/"):
            assert f'@app.{method.lower()}("{path}' in routes, (method, path)
        else:
            assert f'@app.{method.lower()}("{path}")' in routes, (method, path)


# --------------------------------------------------------------------------- never_silent


def test_remote_action_run_has_the_parameters_the_fallback_passes():
    from rasa.core.actions.action import RemoteAction

    assert parameters(RemoteAction.run) == ["self", "output_channel", "nlg", "tracker", "domain"]
    run = source(RemoteAction.run)
    # A rejection (HTTP 400) is raised as ActionExecutionRejection, which the fallback lets through.
    assert "status == 400" in run and "ActionExecutionRejection(" in run


def test_message_processor_handle_message_takes_the_message_alone():
    from rasa.core.processor import MessageProcessor

    assert parameters(MessageProcessor.handle_message) == ["self", "message"]


def test_rasa_drops_a_failed_actions_events_which_is_why_the_fallback_exists():
    from rasa.core.processor import MessageProcessor

    run_action = source(MessageProcessor._run_action)
    assert "except rasa.core.actions.action.ActionExecutionRejection" in run_action
    assert "except Exception" in run_action and "events = []" in run_action


# --------------------------------------------------------------------------- logs


def test_structlog_pipelines_start_with_rasas_anonymizer():
    import rasa.utils.log_utils as log_utils

    configure = source(log_utils.configure_structlog)
    assert "shared_processors = [\n        _anonymizer," in configure
    assert "cache_logger_on_first_use=True" in configure  # why the list is changed in place


def test_the_redaction_replaces_the_anonymizer_in_an_already_configured_pipeline():
    """As when a channel installs the hooks after Rasa's CLI configured structlog."""
    import structlog
    from rasa.utils.log_utils import configure_structlog

    from bot.server import logs

    configure_structlog(20)
    logs._install_structlog_redaction()
    first = structlog.get_config()["processors"][0]
    assert getattr(first, "_bot_redacting", False)
    assert first({}, "info", {"text": "my secret", "event": "x"})["text"] == logs.REDACTED


def test_the_sql_tracker_store_takes_its_engine_options_from_create_engine_kwargs():
    import rasa.core.tracker_store as tracker_store

    assert parameters(tracker_store.create_engine_kwargs) == ["url"]
    assert "**create_engine_kwargs(engine_url)" in source(tracker_store.SQLTrackerStore.__init__)


def test_the_agent_handles_and_parses_a_message_first():
    from rasa.core.agent import Agent

    assert parameters(Agent.handle_message)[:2] == ["self", "message"]
    assert parameters(Agent.parse_message)[:2] == ["self", "message_data"]


# --------------------------------------------------------------------------- performance


def test_remote_action_validates_each_reply_with_jsonschema_validate():
    from rasa.core.actions.action import RemoteAction

    assert "self._validate_action_result(response)" in source(RemoteAction.run)
    validate = source("rasa.core.actions.action:RemoteAction._validate_action_result")
    assert "validate(result, self.action_response_format_spec())" in validate


def test_endpoint_requests_use_a_session_as_a_context_manager():
    from rasa.utils.endpoints import EndpointConfig

    assert "async with self.session() as session:" in source(EndpointConfig.request)
    assert parameters(EndpointConfig.session) == ["self"]


def test_stored_events_are_resolved_by_type_name():
    from rasa.shared.core.events import Event

    assert parameters("rasa.shared.core.events:Event.resolve_by_type") == ["type_name", "default"]
    assert "Event.resolve_by_type(event_name, default)" in source(Event.from_parameters)


# --------------------------------------------------------------------------- lock store


def test_rasa_builds_a_lock_store_named_by_module_path_from_its_endpoint_settings():
    import rasa.core.lock_store as lock_store

    assert "lock_store_class(endpoint_config=endpoint_config)" in source(
        lock_store._load_from_module_name_in_endpoint_config
    )
    cleanup = source(lock_store.LockStore.cleanup)
    assert "self.finish_serving(conversation_id, ticket_number)" in cleanup
    assert "self.is_someone_waiting(conversation_id)" in cleanup and "self.delete_lock(" in cleanup
    for name in ("issue_ticket", "update_lock", "finish_serving"):
        assert parameters(getattr(lock_store.RedisLockStore, name))[:2] == ["self", "conversation_id"]
    init = source(lock_store.RedisLockStore.__init__)
    assert "self.red = " in init and "self.key_prefix = " in init


# --------------------------------------------------------------------------- tracker store


def test_a_tracker_store_named_by_module_path_gets_the_endpoints_settings():
    """bot.stores.tracker.ClinicTrackerStore takes recent_turns and the SQL settings from endpoints.yml."""
    import rasa.core.tracker_store as tracker_store

    loader = source(tracker_store._load_from_module_name_in_endpoint_config)
    assert "host=store.url, domain=domain, event_broker=event_broker, **store.kwargs" in loader
    assert "return InMemoryTrackerStore(domain)" in loader  # why tests check the server wrote to the file


def test_the_sql_tracker_store_keeps_its_engine_and_reads_one_session_as_the_store_expects():
    import rasa.core.tracker_store as tracker_store

    init = source(tracker_store.SQLTrackerStore.__init__)
    assert "self.engine = sa.create_engine(" in init and "self.sessionmaker = " in init
    assert parameters(tracker_store.SQLTrackerStore._event_query) == [
        "self",
        "session",
        "sender_id",
        "fetch_events_from_all_sessions",
    ]
    assert "self.SQLEvent.timestamp >= session_start_sub_query.c.session_start" in source(
        tracker_store.SQLTrackerStore._event_query
    )
    assert parameters(tracker_store.TrackerStore._stream_new_events) == [
        "self",
        "event_broker",
        "new_events",
        "sender_id",
    ]
    # The processor reads the tracker through retrieve and writes it through save.
    assert "tracker = await self.retrieve(sender_id)" in source(
        tracker_store.TrackerStore.get_or_create_tracker
    )
