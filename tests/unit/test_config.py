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


def production_with_gateway(**changes: str) -> dict[str, str]:
    """Production settings that pass every check, the SMS gateway's included, then `changes`."""
    settings = {
        "ENV": "production",
        "SECRET_KEY": "k" * 40,
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "SMS_SENDER": "http",
        "SMS_HTTP_URL": "https://sms.example.vn/v1/send",
        "SMS_HTTP_USERNAME": "hanoibus",
        "SMS_HTTP_PASSWORD": "s3cret-gateway-password",
        "SMS_BRANDNAME": "HANOIBUS",
    }
    return {**settings, **changes}


def test_production_starts_with_the_http_sms_gateway_configured(tmp_path: Path) -> None:
    settings = load_settings(str(tmp_path), production_with_gateway())
    assert settings["SMS_SENDER"] == "http"
    assert settings["SMS_HTTP_TIMEOUT"] == 10


def test_production_starts_from_environment_variables_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in production_with_gateway(SMS_HTTP_TIMEOUT="5").items():
        monkeypatch.setenv("TRANSIT_" + name, value)
    settings = load_settings(str(tmp_path))
    assert settings["SMS_HTTP_URL"] == "https://sms.example.vn/v1/send"
    assert settings["SMS_HTTP_TIMEOUT"] == 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"SMS_HTTP_URL": ""}, "TRANSIT_SMS_HTTP_URL must be set with TRANSIT_SMS_SENDER=http"),
        ({"SMS_HTTP_USERNAME": ""}, "TRANSIT_SMS_HTTP_USERNAME must be set"),
        ({"SMS_HTTP_PASSWORD": ""}, "TRANSIT_SMS_HTTP_PASSWORD must be set"),
        ({"SMS_BRANDNAME": ""}, "TRANSIT_SMS_BRANDNAME must be set"),
        ({"SMS_HTTP_URL": "http://sms.example.vn/send"}, "TRANSIT_SMS_HTTP_URL: an https://"),
        ({"SMS_HTTP_URL": "ftp://sms.example.vn/send"}, "TRANSIT_SMS_HTTP_URL: an https://"),
        ({"SMS_HTTP_URL": "sms.example.vn/send"}, "TRANSIT_SMS_HTTP_URL: an https://"),
        ({"SMS_BRANDNAME": "HANOI-BUS-CARD"}, "at most 11 characters"),
    ],
)
def test_the_http_sms_gateway_refuses_to_start_half_configured(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(str(tmp_path), production_with_gateway(**changes))


def test_a_password_in_the_gateway_address_is_refused_and_never_echoed(tmp_path: Path) -> None:
    url = "http://hanoibus:leaked-password@sms.example.vn/send"
    with pytest.raises(ConfigError, match="not in the address") as refused:
        load_settings(str(tmp_path), production_with_gateway(SMS_HTTP_URL=url))
    assert "leaked-password" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8025/send", "http://localhost:8025/send", "http://[::1]:8025/send"]
)
def test_a_plain_http_gateway_is_allowed_on_this_machine_only(tmp_path: Path, url: str) -> None:
    assert load_settings(str(tmp_path), production_with_gateway(SMS_HTTP_URL=url))


def test_a_plain_http_gateway_elsewhere_is_refused_in_development_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TRANSIT_SMS_HTTP_URL"):
        load_settings(
            str(tmp_path),
            production_with_gateway(ENV="development", SMS_HTTP_URL="http://10.0.0.5/send"),
        )
