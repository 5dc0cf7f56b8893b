"""Clinic details, read from one settings file (``bot/clinic.yml`` by default).

The file is read on first use, not at import time. ``CLINIC_SETTINGS`` may name
another file so that a deployment keeps its own details outside the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import yaml

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
class ClinicSettings:
    """Everything patient-facing text may say about the clinic."""

    name: str
    phone: str
    booking_url: str
    hours: str
    emergency_number: str
    crisis_line: str
    content_policy: ContentPolicy = ContentPolicy()

    def template_values(self) -> Dict[str, str]:
        """Values for the ``{clinic_*}`` placeholders in ``domain.yml`` responses."""
        return {
            "clinic_name": self.name,
            "clinic_phone": self.phone,
            "booking_url": self.booking_url,
            "clinic_hours": self.hours,
            "emergency_number": self.emergency_number,
            "crisis_line": self.crisis_line,
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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: cannot read clinic settings ({error})") from error
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of clinic details")

    names = [field.name for field in fields(ClinicSettings) if field.name != "content_policy"]
    unknown = sorted(set(raw) - set(names) - {"content_policy"})
    if unknown:
        raise SettingsError(f"{path}: unknown field(s) {', '.join(unknown)}")
    values: Dict[str, object] = {"content_policy": _content_policy(path, raw.get("content_policy") or {})}
    for name in names:
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{path}: field '{name}' must be a non-empty text")
        values[name] = value.strip()
    if not values["booking_url"].startswith(("https://", "http://")):
        raise SettingsError(f"{path}: field 'booking_url' must be a web address")
    return ClinicSettings(**values)


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


__all__ = ["ClinicSettings", "ContentPolicy", "SettingsError", "get_settings", "load_settings"]
