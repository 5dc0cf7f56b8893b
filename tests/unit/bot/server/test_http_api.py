"""The HTTP API's checks on their own (bot/server/http_api.py): which routes are model management,
and which API settings are refused. The real server's API is tested in tests/security."""

from __future__ import annotations

import pytest

from bot.server.http_api import ApiConfigurationError, checked_api_arguments, is_model_route


def test_model_routes_are_recognised():
    assert is_model_route("PUT", "/model") and is_model_route("put", "/model/")
    assert is_model_route("DELETE", "/model") and is_model_route("POST", "/model/train")
    assert is_model_route("POST", "/model/test/intents") and is_model_route("POST", "//model/test/stories")
    assert not is_model_route("POST", "/model/parse") and not is_model_route("GET", "/status")


def test_unsafe_api_configurations_are_refused(monkeypatch):
    monkeypatch.delenv("RASA_JWT_SECRET", raising=False)
    with pytest.raises(ApiConfigurationError, match="--auth-token"):
        checked_api_arguments(True, "token-in-url", None, None)
    with pytest.raises(ApiConfigurationError, match="--auth-token"):
        checked_api_arguments(False, "token-in-url", None, None)
    with pytest.raises(ApiConfigurationError, match="RASA_JWT_SECRET"):
        checked_api_arguments(True, None, None, "HS256")
    with pytest.raises(ApiConfigurationError, match="too short"):
        checked_api_arguments(True, None, "short", "HS256")
    with pytest.raises(ApiConfigurationError, match="not allowed"):
        checked_api_arguments(True, None, "x" * 40, "none")
    assert checked_api_arguments(False, None, None, None) == (None, None), "API off: nothing needed"
    monkeypatch.setenv("RASA_JWT_SECRET", "s" * 32)
    assert checked_api_arguments(True, None, None, None) == ("s" * 32, "HS256")
