"""CORS for the HTTP routes: the clinic's websites from ``bot/clinic.yml`` by default.

Rasa answers cross-site requests only for the origins given with ``--cors``; without
the flag it allows none. This hook makes ``allowed_origins`` in the clinic settings
(one place, also read by the socket.io channel's origin check) the default, so the
chat widget works on the clinic's pages and no other website can read the
assistant's answers from a patient's browser. An explicit ``--cors`` still wins;
``--cors "*"`` is logged as a warning.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, List

logger = logging.getLogger(__name__)


def default_origins() -> List[str]:
    """The clinic's allowed origins (``allowed_origins`` in the clinic settings)."""
    from bot.settings import get_settings

    return list(get_settings().allowed_origins)


def wrap_configure_app(configure_app: Callable[..., Any]) -> Callable[..., Any]:
    """``rasa.core.run.configure_app`` with the clinic's origins as the default ``cors``."""
    signature = inspect.signature(configure_app, follow_wrapped=True)

    @functools.wraps(configure_app)
    def configure_app_with_clinic_origins(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        cors = bound.arguments.get("cors")
        if isinstance(cors, str):
            cors = [cors]
        if not cors:
            bound.arguments["cors"] = default_origins()
        elif "*" in cors:
            logger.warning("--cors '*': every website may call this server from a browser.")
        return configure_app(*bound.args, **bound.kwargs)

    return configure_app_with_clinic_origins


_installed = False


def install() -> None:
    """Wraps ``rasa.core.run.configure_app`` (once per process)."""
    global _installed
    if _installed:
        return
    import rasa.core.run

    rasa.core.run.configure_app = wrap_configure_app(rasa.core.run.configure_app)
    _installed = True
