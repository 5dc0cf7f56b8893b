"""The end-to-end tests use the session's real servers: the ``bot`` fixture lives
in ``tests/servers.py`` (shared with the browser tests, so the servers start once)."""

from __future__ import annotations

from tests.servers import MODEL, ROOT, VENV_BIN, Bot, free_port, wait_until

__all__ = ["MODEL", "ROOT", "VENV_BIN", "Bot", "free_port", "wait_until"]
