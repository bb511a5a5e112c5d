"""Settings: defaults, then TRANSIT_* variables, then the caller's mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.config import ConfigError, load_settings


def test_with_nothing_set_the_database_is_sqlite_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRANSIT_DATABASE_URL", raising=False)
    settings = load_settings(str(tmp_path))
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path}/transit.sqlite3"


def test_with_nothing_set_a_secret_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings(str(tmp_path))["SECRET_KEY"]
    assert len(first) == 64
    assert load_settings(str(tmp_path))["SECRET_KEY"] == first
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ENV": "production"}, "SECRET_KEY must be set in production"),
        ({"ENV": "production", "SECRET_KEY": "k" * 40}, "SMS_SENDER=log"),
        (
            {"ENV": "production", "SECRET_KEY": "k" * 40, "SMS_SENDER": "gateway"},
            "PAYMENT_PROVIDER=dev",
        ),
        (
            {
                "ENV": "production",
                "SECRET_KEY": "k" * 40,
                "SMS_SENDER": "gateway",
                "PAYMENT_PROVIDER": "stripe",
            },
            "memory:// is per worker",
        ),
        ({"SECRET_KEY": "short"}, "at least 32 characters"),
        ({"ENV": "staging"}, "development or production"),
    ],
)
def test_production_refuses_development_stand_ins(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(str(tmp_path), settings)


def test_environment_variables_override_defaults_with_their_types(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRANSIT_DATABASE_URL", "postgresql+psycopg://db/transit")
    monkeypatch.setenv("TRANSIT_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("TRANSIT_LOG_JSON", "off")
    settings = load_settings(str(tmp_path))
    assert settings["DATABASE_URL"] == "postgresql+psycopg://db/transit"
    assert settings["MAX_CONTENT_LENGTH"] == 2048
    assert settings["LOG_JSON"] is False


def test_the_callers_mapping_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRANSIT_MAX_CONTENT_LENGTH", "2048")
    assert load_settings(str(tmp_path), {"MAX_CONTENT_LENGTH": 10})["MAX_CONTENT_LENGTH"] == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRANSIT_MAX_CONTENT_LENGTH", "lots", "TRANSIT_MAX_CONTENT_LENGTH: expected an integer"),
        ("TRANSIT_LOG_JSON", "maybe", "TRANSIT_LOG_JSON: expected true or false"),
    ],
)
def test_a_setting_that_cannot_be_read_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str, tmp_path: Path
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(str(tmp_path))
