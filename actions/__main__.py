"""Starts the action server after checking the knowledge file and settings.

``python -m actions [--port 5055]``. A malformed knowledge file or settings file
stops start-up here, with the entry and field named, before any request is
served: nothing half-loaded is ever used.
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

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

    from rasa_sdk.endpoint import run

    run("actions.actions", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
