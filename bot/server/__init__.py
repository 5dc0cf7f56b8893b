"""The project's changes to the Rasa server, installed however the server is started.

``rasa run`` with the project's ``credentials.yml`` (or ``credentials.channels.yml``)
and ``endpoints.yml`` is how the assistant runs (``make run``, the images). Nothing
has to be started differently: the hooks below are installed by the parts of the
project that Rasa itself loads, before any patient message is handled:

- every input channel of the project (``bot.channels``), when Rasa builds it from
  the credentials file: that is before Rasa configures its web app, so every hook
  applies, the HTTP API's and CORS's included;
- the model's ``TriageGuard`` component, when Rasa loads the model (every start
  that loads this project's model, e.g. ``rasa shell`` or ``rasa run --connector
  rest``, which use Rasa's own channels). The web app is configured by then: the
  never-silent replies, log redaction and speed-ups still apply; the HTTP API's
  checks cannot, so such a start with ``--enable-api`` stops with a message saying
  how to start instead (:func:`install_hooks_at_model_load`).

Each hook is a small module of this package that changes one behaviour of Rasa
3.6 and says why. They were written against the exact versions in
:data:`WRITTEN_FOR`; on any other version the server does not start
(:func:`check_versions`), and ``tests/unit/bot/server/test_rasa_behaviour.py`` fails when a
behaviour they rely on changes.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional

logger = logging.getLogger(__name__)

# The distributions whose internals the hooks change, and the versions they were written for.
WRITTEN_FOR: Dict[str, str] = {"rasa": "3.6.21", "rasa-sdk": "3.6.2"}

# The name Rasa 3.6 gives its web app when the HTTP API is on (rasa/server.py create_app).
API_APP_NAME = "rasa_server"

_installed = False


class UnsupportedVersionError(SystemExit):
    """A hooked distribution is not at the version its hooks were written for."""


class UnsafeStartError(SystemExit):
    """The server was started in a way that would skip a safety check."""


def installed_version(distribution: str) -> Optional[str]:
    """The installed version of ``distribution`` (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def check_versions(distributions: Optional[List[str]] = None) -> None:
    """Stops unless each of ``distributions`` (default: all of :data:`WRITTEN_FOR`) is at its version.

    Raises:
        UnsupportedVersionError: naming the distribution, the version found and the one expected.

    """
    for distribution in distributions or list(WRITTEN_FOR):
        expected = WRITTEN_FOR[distribution]
        found = installed_version(distribution)
        if found != expected:
            raise UnsupportedVersionError(
                f"Not started: the project's changes to Rasa (bot/server) were written for "
                f"{distribution} {expected}, and {distribution} {found or '(not installed)'} is installed. "
                f"Install the pinned versions (make install, requirements/server.txt), or check each hook "
                f"against the new version and its test in tests/unit/bot/server/test_rasa_behaviour.py first."
            )


def hooks() -> List[Callable[[], None]]:
    """The hooks, in the order they are installed (imported lazily: no work at import time)."""
    from bot.server import http_api, logs, never_silent, origins, performance

    return [
        logs.install,
        http_api.install,
        origins.install,
        never_silent.install,
        performance.install,
    ]


def install_hooks() -> None:
    """Checks the Rasa versions, then installs every hook. Safe to call more than once.

    Raises:
        UnsupportedVersionError: Rasa or rasa-sdk is not at the version the hooks were written for.
        SystemExit: the clinic settings or the knowledge file is malformed.

    """
    global _installed
    if _installed:
        return
    check_versions()
    for install in hooks():
        install()
    _installed = True


def install_hooks_at_model_load() -> None:
    """The hooks, installed while Rasa loads the model (called by ``TriageGuard``).

    Nothing to do when a channel of the project has installed them already. Otherwise
    Rasa's web app is configured by now, so the HTTP API's checks (JWT only, no
    remote model management) could not be applied: if the API is on, the server
    stops and says how to start it instead.

    Raises:
        UnsafeStartError: the HTTP API is on without the project's checks.

    """
    if _installed:
        return
    install_hooks()
    if api_app_configured():
        raise UnsafeStartError(
            "Not started: the HTTP API (--enable-api) was switched on before the project's checks "
            "(JWT only, no remote model loading; SECURITY.md) could be installed, because no channel "
            "of the project was loaded. Start with the project's credentials file: "
            "rasa run --credentials credentials.yml --endpoints endpoints.yml ..."
        )
    logger.info(
        "No channel of the project is loaded (not started with its credentials.yml): the clinic's "
        "allowed_origins are not the CORS default; pass --cors for the chat widget's site."
    )


def api_app_configured() -> bool:
    """Whether Rasa has configured its web app with the HTTP API in this process."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    try:
        Sanic.get_app(API_APP_NAME)
    except SanicException:  # no app of that name registered
        return False
    return True
