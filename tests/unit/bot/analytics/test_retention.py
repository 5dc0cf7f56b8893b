"""Retention's command line on its own (bot/analytics/retention.py); purging and forgetting real
conversations is tested against the real servers' stores in tests/security/test_retention.py."""

from __future__ import annotations

import pytest

from bot.analytics.retention import main


def test_purge_refuses_nonsense(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["purge", "--db", str(tmp_path / "x.db"), "--days", "abc"])
    assert main(["purge", "--db", str(tmp_path / "missing.db"), "--days", "5"]) == 0
    assert "nothing to delete" in capsys.readouterr().out
