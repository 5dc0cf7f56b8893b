"""The action server's token check on its own (actions/auth.py); the real servers are tested in
tests/security/test_action_server.py."""

from __future__ import annotations

from actions.auth import token_matches


def test_tokens_compare_exactly():
    assert token_matches("a" * 32, "a" * 32)
    assert not token_matches("a" * 31, "a" * 32) and not token_matches(None, "a" * 32)
    assert not token_matches("é" * 16, "e" * 16)
