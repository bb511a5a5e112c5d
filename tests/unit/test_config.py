"""Settings: defaults, then TRANSIT_* variables, then the caller's mapping."""

from __future__ import annotations

import pytest

from api.config import ConfigError, load_settings


def test_with_nothing_set_the_database_is_sqlite_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRANSIT_DATABASE_URL", raising=False)
    settings = load_settings("/srv/instance")
    assert settings["DATABASE_URL"] == "sqlite:////srv/instance/transit.sqlite3"


def test_environment_variables_override_defaults_with_their_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRANSIT_DATABASE_URL", "postgresql+psycopg://db/transit")
    monkeypatch.setenv("TRANSIT_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("TRANSIT_LOG_JSON", "off")
    settings = load_settings("/srv/instance")
    assert settings["DATABASE_URL"] == "postgresql+psycopg://db/transit"
    assert settings["MAX_CONTENT_LENGTH"] == 2048
    assert settings["LOG_JSON"] is False


def test_the_callers_mapping_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSIT_MAX_CONTENT_LENGTH", "2048")
    assert load_settings("/x", {"MAX_CONTENT_LENGTH": 10})["MAX_CONTENT_LENGTH"] == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRANSIT_MAX_CONTENT_LENGTH", "lots", "TRANSIT_MAX_CONTENT_LENGTH: expected an integer"),
        ("TRANSIT_LOG_JSON", "maybe", "TRANSIT_LOG_JSON: expected true or false"),
    ],
)
def test_a_setting_that_cannot_be_read_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings("/x")
