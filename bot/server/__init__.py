"""The Rasa server as this project runs it: Rasa's own CLI with the project's hooks.

``python -m bot.server run ...`` takes exactly the arguments of ``rasa run``
(and every other ``rasa`` command). Before handing over to Rasa it installs the
hooks listed in :func:`install_hooks`: each one is a small module in this package
that changes one documented behaviour of Rasa 3.6 and says why.
"""

from __future__ import annotations

from typing import Callable, List


def hooks() -> List[Callable[[], None]]:
    """The hooks, in the order they are installed (imported lazily: no work at import time)."""
    from bot.server import action_fallback, http_api, logs, origins, performance, redis_lock

    return [
        logs.install,
        http_api.install,
        origins.install,
        action_fallback.install,
        redis_lock.install,
        performance.install,
    ]


def install_hooks() -> None:
    """Installs every hook. Safe to call more than once."""
    for install in hooks():
        install()
