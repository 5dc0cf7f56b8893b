"""Clinic details, read from one settings file (``bot/clinic.yml`` by default).

The file is read on first use, not at import time. ``CLINIC_SETTINGS`` may name
another file so that a deployment keeps its own details outside the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

import yaml

from bot import yamlfile

DEFAULT_SETTINGS_PATH = Path(__file__).parent / "clinic.yml"
SETTINGS_ENV_VAR = "CLINIC_SETTINGS"


class SettingsError(ValueError):
    """The clinic settings file is missing, malformed or incomplete."""


@dataclass(frozen=True)
class ContentPolicy:
    """The clinic's rules for its knowledge file, checked by ``make check-knowledge``."""

    max_reading_grade: float = 9.0
    review_interval_days: int = 365


@dataclass(frozen=True)
class RateLimit:
    """Per-sender and per-client-address message limits (``bot/ratelimit.py``).

    A sender (one conversation) may send ``sender_burst`` messages at once, then
    ``sender_per_minute`` per minute. All conversations from one network address
    together may send ``client_burst`` at once, then ``client_per_minute``; no
    ``client_burst`` turns that limit off. At most ``max_tracked`` senders and
    addresses are remembered (idle ones are forgotten first).
    """

    enabled: bool = True
    sender_burst: int = 10
    sender_per_minute: float = 30.0
    client_burst: Optional[int] = 120
    client_per_minute: Optional[float] = 600.0
    max_tracked: int = 20000


@dataclass(frozen=True)
class InputLimits:
    """How much one message may hold (``bot/channels/inputs.py``).

    Longer messages get a polite "please send a shorter message" reply; REST
    request bodies above ``max_body_bytes`` get HTTP 413 and are not read.
    """

    max_message_chars: int = 2000
    max_body_bytes: int = 65536


@dataclass(frozen=True)
class ClinicSettings:
    """Everything patient-facing text may say about the clinic."""

    name: str
    phone: str
    booking_url: str
    hours: str
    emergency_number: str
    crisis_line: str
    # Who answers outside the clinic's hours (the on-call doctor): the "urgent" triage level.
    after_hours_phone: str
    content_policy: ContentPolicy = ContentPolicy()
    # The longest the Rasa server waits for the action server during one patient
    # message before it sends the apology with the clinic's phone (bot/server/never_silent.py).
    action_timeout_seconds: float = 2.0
    # Websites allowed to embed the chat widget (CORS and socket.io origins), e.g.
    # "https://www.your-clinic.example"; the assistant's own pages are always allowed.
    allowed_origins: Tuple[str, ...] = ("http://localhost:5005", "http://127.0.0.1:5005")
    # `make purge-conversations` deletes conversations older than this (bot/analytics/retention.py).
    retention_days: int = 90
    # Per-sender and per-address message limits, and the longest message (bot/ratelimit.py).
    rate_limit: RateLimit = RateLimit()
    input_limits: InputLimits = InputLimits()

    def template_values(self) -> Dict[str, str]:
        """Values for the ``{clinic_*}`` placeholders in ``domain.yml`` responses."""
        return {
            "clinic_name": self.name,
            "clinic_phone": self.phone,
            "booking_url": self.booking_url,
            "clinic_hours": self.hours,
            "emergency_number": self.emergency_number,
            "crisis_line": self.crisis_line,
            "after_hours_phone": self.after_hours_phone,
        }


def settings_path() -> Path:
    """The settings file in force: ``$CLINIC_SETTINGS`` or the bundled default."""
    override = os.environ.get(SETTINGS_ENV_VAR)
    return Path(override) if override else DEFAULT_SETTINGS_PATH


def load_settings(path: Optional[Path] = None) -> ClinicSettings:
    """Reads and validates a clinic settings file.

    Raises:
        SettingsError: naming the file and the field that is wrong.

    """
    path = Path(path) if path else settings_path()
    try:
        raw = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: cannot read clinic settings ({error})") from error
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML ({yamlfile.problem(error)})") from error
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of clinic details")

    names = [field.name for field in fields(ClinicSettings) if field.type == "str"]
    unknown = sorted(set(raw) - {field.name for field in fields(ClinicSettings)})
    if unknown:
        raise SettingsError(f"{path}: unknown field(s) {', '.join(unknown)}")
    values: Dict[str, Any] = {"content_policy": _content_policy(path, raw.get("content_policy") or {})}
    values["action_timeout_seconds"] = _action_timeout(path, raw)
    values["allowed_origins"] = _allowed_origins(path, raw)
    values["retention_days"] = _retention_days(path, raw)
    values["rate_limit"] = _rate_limit(path, _section(raw, "rate_limit"))
    values["input_limits"] = _input_limits(path, _section(raw, "input_limits"))
    for name in names:
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{path}: field '{name}' must be a non-empty text")
        values[name] = value.strip()
    if not values["booking_url"].startswith(("https://", "http://")):
        raise SettingsError(f"{path}: field 'booking_url' must be a web address")
    return ClinicSettings(**values)


def _action_timeout(path: Path, raw: Dict[str, object]) -> float:
    """``action_timeout_seconds``: a number of seconds from 0.1 to 30 (default 2)."""
    value = raw.get("action_timeout_seconds", ClinicSettings.action_timeout_seconds)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 30:
        raise SettingsError(
            f"{path}: field 'action_timeout_seconds' must be a number of seconds from 0.1 to 30"
        )
    return float(value)


def _allowed_origins(path: Path, raw: Dict[str, object]) -> Tuple[str, ...]:
    """``allowed_origins``: a list of web origins (scheme://host[:port], no path, no ``*``)."""
    value = raw.get("allowed_origins", list(ClinicSettings.allowed_origins))
    if not isinstance(value, list) or not all(isinstance(origin, str) for origin in value):
        raise SettingsError(f"{path}: field 'allowed_origins' must be a list of web origins")
    origins = []
    for origin in value:
        cleaned = origin.strip().rstrip("/").lower()
        parts = urlsplit(cleaned)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise SettingsError(
                f"{path}: field 'allowed_origins': {origin!r} is not an origin like https://www.clinic.example"
            )
        if "*" in cleaned:
            raise SettingsError(f"{path}: field 'allowed_origins' may not contain '*': list the sites")
        origins.append(cleaned)
    return tuple(dict.fromkeys(origins))


def _retention_days(path: Path, raw: Dict[str, object]) -> int:
    """``retention_days``: how long conversations are kept, in whole days (1 to 3650)."""
    value = raw.get("retention_days", ClinicSettings.retention_days)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise SettingsError(f"{path}: field 'retention_days' must be a whole number of days from 1 to 3650")
    return value


def _section(raw: Dict[str, object], name: str) -> object:
    """A settings section; missing or empty means all defaults."""
    value = raw.get(name)
    return {} if value is None else value


def _whole(path: Path, name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{path}: field '{name}' must be a whole number from {low} to {high}")
    return value


def _rate(path: Path, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 100000:
        raise SettingsError(f"{path}: field '{name}' must be a number of messages per minute (0.1 to 100000)")
    return float(value)


def _rate_limit(path: Path, raw: object) -> RateLimit:
    """``rate_limit``: see :class:`RateLimit`; missing keys keep their defaults."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: field 'rate_limit' must be a mapping")
    unknown = sorted(str(key) for key in set(raw) - {field.name for field in fields(RateLimit)})
    if unknown:
        raise SettingsError(f"{path}: unknown field 'rate_limit.{unknown[0]}'")
    default = RateLimit()
    enabled = raw.get("enabled", default.enabled)
    if not isinstance(enabled, bool):
        raise SettingsError(f"{path}: field 'rate_limit.enabled' must be true or false")
    client_burst = raw.get("client_burst", default.client_burst)
    client_rate = raw.get("client_per_minute", default.client_per_minute)
    if (client_burst is None) != (client_rate is None):
        raise SettingsError(
            f"{path}: fields 'rate_limit.client_burst' and 'rate_limit.client_per_minute' are set together"
        )
    if client_burst is not None:
        client_burst = _whole(path, "rate_limit.client_burst", client_burst, 1, 1000000)
        client_rate = _rate(path, "rate_limit.client_per_minute", client_rate)
    burst = raw.get("sender_burst", default.sender_burst)
    rate = raw.get("sender_per_minute", default.sender_per_minute)
    tracked = raw.get("max_tracked", default.max_tracked)
    return RateLimit(
        enabled=enabled,
        sender_burst=_whole(path, "rate_limit.sender_burst", burst, 1, 10000),
        sender_per_minute=_rate(path, "rate_limit.sender_per_minute", rate),
        client_burst=client_burst,
        client_per_minute=client_rate,
        max_tracked=_whole(path, "rate_limit.max_tracked", tracked, 100, 10000000),
    )


def _input_limits(path: Path, raw: object) -> InputLimits:
    """``input_limits``: see :class:`InputLimits`; missing keys keep their defaults."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: field 'input_limits' must be a mapping")
    unknown = sorted(str(key) for key in set(raw) - {field.name for field in fields(InputLimits)})
    if unknown:
        raise SettingsError(f"{path}: unknown field 'input_limits.{unknown[0]}'")
    default = InputLimits()
    chars = raw.get("max_message_chars", default.max_message_chars)
    body = raw.get("max_body_bytes", default.max_body_bytes)
    limits = InputLimits(
        max_message_chars=_whole(path, "input_limits.max_message_chars", chars, 100, 100000),
        max_body_bytes=_whole(path, "input_limits.max_body_bytes", body, 1024, 10000000),
    )
    if limits.max_body_bytes < limits.max_message_chars:
        raise SettingsError(f"{path}: field 'input_limits.max_body_bytes' must be at least max_message_chars")
    return limits


def _content_policy(path: Path, raw: object) -> ContentPolicy:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: field 'content_policy' must be a mapping")
    unknown = sorted(set(raw) - {field.name for field in fields(ContentPolicy)})
    if unknown:
        raise SettingsError(f"{path}: unknown field 'content_policy.{unknown[0]}'")
    grade = raw.get("max_reading_grade", ContentPolicy.max_reading_grade)
    interval = raw.get("review_interval_days", ContentPolicy.review_interval_days)
    if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not 1 <= grade <= 20:
        raise SettingsError(f"{path}: field 'content_policy.max_reading_grade' must be a number from 1 to 20")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise SettingsError(
            f"{path}: field 'content_policy.review_interval_days' must be a whole number of days"
        )
    return ContentPolicy(max_reading_grade=float(grade), review_interval_days=interval)


@lru_cache(maxsize=1)
def get_settings() -> ClinicSettings:
    """The clinic settings in force, read once per process."""
    return load_settings()


__all__ = [
    "ClinicSettings",
    "ContentPolicy",
    "InputLimits",
    "RateLimit",
    "SettingsError",
    "get_settings",
    "load_settings",
]
