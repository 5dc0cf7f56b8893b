"""Where the conversations are: the tracker store's database, for the report and for retention.

One rule for every command that reads or deletes conversations (``make report``,
``make purge-conversations``, ``make forget-conversation``):

1. ``--db``, a file path (SQLite) or an SQLAlchemy URL, when given;
2. else the PostgreSQL named by ``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_USER``
   and ``DB_PASSWORD`` when ``DB_HOST`` is set: the variables
   ``deploy/endpoints.production.yml`` gives the Rasa server, so the password never
   has to appear on a command line;
3. else ``conversations.db`` at the repository root (``endpoints.yml``'s SQLite store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB = ROOT / "conversations.db"
DB_HELP = "SQLite file or SQLAlchemy URL (default: the DB_* variables, else conversations.db)"


def database_url(db: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Any:
    """The tracker store's SQLAlchemy URL: ``db`` (path or URL), else ``DB_*`` variables, else SQLite."""
    import sqlalchemy as sa

    environ = os.environ if environ is None else environ
    if db:
        return sa.engine.make_url(db if "://" in db else f"sqlite:///{Path(db).resolve()}")
    if environ.get("DB_HOST"):
        return sa.engine.URL.create(
            "postgresql",
            username=environ.get("DB_USER") or None,
            password=environ.get("DB_PASSWORD") or None,
            host=environ["DB_HOST"],
            port=int(environ["DB_PORT"]) if environ.get("DB_PORT") else None,
            database=environ.get("DB_NAME") or "rasa",
        )
    return sa.engine.make_url(f"sqlite:///{DEFAULT_DB}")


def missing_sqlite_file(url: Any) -> Optional[str]:
    """The path of an SQLite database file that does not exist (None otherwise)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if Path(url.database).exists() else url.database
