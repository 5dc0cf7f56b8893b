"""Checks shared by the patient channels (REST and socket.io) before a message reaches Rasa.

What a channel accepts, and what it does with the rest:

- **Sender ids** (REST ``sender``, socket.io ``session_id``): a text of 1 to
  :data:`MAX_SENDER_CHARS` characters without control characters or unpaired
  surrogates (they would break the tracker store: PostgreSQL refuses NUL, and
  SQLite cannot store an unpaired surrogate). Anything else is refused.
- **Message text**: any text. Control characters other than tab and newline,
  and unpaired surrogates, are replaced by spaces before NLU sees them (a
  patient's paste can contain them; nothing useful is lost). Empty text is
  passed on: the bot answers it like any message it does not understand.
- **Length**: a message longer than ``input_limits.max_message_chars`` (2,000 by
  default; the chat widget allows 500) is not processed; the patient is asked
  for a shorter message. REST bodies above ``input_limits.max_body_bytes``
  (64 KiB) are refused with 413 before they are read to the end.
"""

from __future__ import annotations

import re
from typing import Any, Optional

MAX_SENDER_CHARS = 128

# C0 and C1 control characters except tab, newline and carriage return, and DEL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_SENDER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def valid_sender(value: Any) -> Optional[str]:
    """``value`` as a sender id, or ``None`` when it cannot be one.

    A whole number (not a boolean) is accepted as its decimal text, as Rasa does.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SENDER_CHARS:
        return None
    if _BAD_SENDER.search(value):
        return None
    return value


def clean_text(text: str) -> str:
    """``text`` with control characters and unpaired surrogates replaced by spaces."""
    return _SURROGATE.sub(" ", _CONTROL.sub(" ", text))


class PoliteMessages:
    """The channel's own replies, from the knowledge file's ``messages``."""

    def load(self) -> None:
        """Loads the knowledge file and settings now (at server start), so a broken file stops start-up."""
        self.rate_limited()

    def rate_limited(self) -> str:
        """Asks a client that sends too fast to wait."""
        return _responder().message("rate_limited")

    def too_long(self) -> str:
        """Asks for a shorter message."""
        return _responder().message("message_too_long")

    def unavailable(self) -> str:
        """Apologises when the message could not be handled."""
        return _responder().message("service_unavailable")


def _responder() -> Any:
    from bot.replies import responder

    return responder()


def max_message_chars() -> int:
    """The longest message processed (``input_limits.max_message_chars``)."""
    from bot.settings import get_settings

    return get_settings().input_limits.max_message_chars


def max_body_bytes() -> int:
    """The largest REST request body read (``input_limits.max_body_bytes``)."""
    from bot.settings import get_settings

    return get_settings().input_limits.max_body_bytes


__all__ = [
    "MAX_SENDER_CHARS",
    "PoliteMessages",
    "clean_text",
    "max_body_bytes",
    "max_message_chars",
    "valid_sender",
]
