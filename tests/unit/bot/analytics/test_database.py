"""Where the report and retention find the conversation store (bot/analytics/database.py)."""

from __future__ import annotations

from bot.analytics.database import database_url


def test_database_url_from_the_environment():
    url = database_url(
        environ={
            "DB_HOST": "db.internal",
            "DB_PORT": "5433",
            "DB_NAME": "rasa",
            "DB_USER": "u",
            "DB_PASSWORD": "p@ss",
        }
    )
    assert (url.get_backend_name(), url.host, url.port, url.database, url.username, url.password) == (
        "postgresql",
        "db.internal",
        5433,
        "rasa",
        "u",
        "p@ss",
    )
    assert "p@ss" not in str(url), "the password is masked when printed"
    assert database_url(environ={}).get_backend_name() == "sqlite"
    assert database_url("some.db", environ={"DB_HOST": "x"}).database.endswith("some.db"), "--db wins"
