"""Starts the action server after checking the knowledge file and settings.

``python -m actions [--port 5055]``. A malformed knowledge file or settings file
stops start-up here, with the entry and field named, before any request is
served: nothing half-loaded is ever used. Only requests carrying the shared
secret ``ACTION_SERVER_TOKEN`` in the ``X-Action-Server-Token`` header are served
(``actions/auth.py``); without the variable the server does not start, unless
``--insecure-no-token`` (local experiments only) is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from bot.knowledge import KnowledgeError, get_knowledge
from bot.settings import SettingsError, get_settings

logger = logging.getLogger("actions")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Validates content, then runs rasa-sdk's server with ``actions.actions``."""
    parser = argparse.ArgumentParser(prog="python -m actions", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="serve without the X-Action-Server-Token check (never where anything else can reach the port)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from actions.auth import TokenError, token_from_env
    from bot.server import check_versions
    from bot.server.logs import install_action_server

    # The redaction wraps rasa-sdk's executor: only on the version it was written for.
    check_versions(["rasa-sdk"])
    install_action_server()
    token = None
    if not args.insecure_no_token:
        try:
            token = token_from_env()
        except TokenError as error:
            print(f"Action server not started: {error}", file=sys.stderr)
            return 2

    try:
        knowledge = get_knowledge()
        settings = get_settings()
    except (KnowledgeError, SettingsError) as error:
        print(f"Action server not started: {error}", file=sys.stderr)
        return 2
    logger.info(
        "knowledge file %s version %s: %d entries; clinic: %s",
        knowledge.path,
        knowledge.version,
        len(knowledge.entries),
        settings.name,
    )

    if token is None:
        logger.warning("--insecure-no-token: anyone who can reach port %d can run the actions.", args.port)
    serve(token, args.port)
    return 0


def serve(token: Optional[str], port: int) -> None:
    """rasa-sdk's server (as ``rasa_sdk.endpoint.run`` starts it) with the token check of ``actions.auth``."""
    import os

    from rasa_sdk.plugin import plugin_manager
    from rasa_sdk.utils import number_of_sanic_workers

    from actions.auth import create_app

    app = create_app(token)
    if "SANIC_KEEP_ALIVE_TIMEOUT" not in os.environ:
        # A Rasa server busy with many patients' messages may open a connection and
        # write its request only seconds later; Sanic's default (5 s) drops such a
        # connection, and the patient gets the apology instead of the answer.
        app.config.KEEP_ALIVE_TIMEOUT = 30
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")
    logger.info("Action endpoint is up and running on http://%s:%d", host, port)
    app.run(host, port, workers=number_of_sanic_workers())


if __name__ == "__main__":
    sys.exit(main())
