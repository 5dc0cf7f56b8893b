"""Clinic settings: one file, validated, with obviously fictional defaults."""

from __future__ import annotations

import pytest
import yaml

from bot.settings import SettingsError, load_settings, settings_path


def test_defaults_are_fictional_placeholders(settings):
    assert "555-01" in settings.phone
    assert "example.org" in settings.booking_url


def test_env_var_points_at_another_file(tmp_path, monkeypatch):
    path = tmp_path / "clinic.yml"
    values = yaml.safe_load(settings_path().read_text())
    path.write_text(yaml.safe_dump({**values, "name": "Other Clinic"}))
    monkeypatch.setenv("CLINIC_SETTINGS", str(path))
    assert load_settings().name == "Other Clinic"


@pytest.mark.parametrize(
    "change, field",
    [({"phone": ""}, "phone"), ({"booking_url": "call us"}, "booking_url"), ({"fax": "1"}, "fax")],
)
def test_bad_settings_name_the_field(tmp_path, change, field):
    values = {**yaml.safe_load(settings_path().read_text()), **change}
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(SettingsError, match=field):
        load_settings(path)
