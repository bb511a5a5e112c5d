"""Settings: code defaults, then TRANSIT_* environment variables, then the caller's mapping."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PREFIX = "TRANSIT_"

DEFAULTS: dict[str, Any] = {
    # Empty means the embedded SQLite file in the instance folder.
    "DATABASE_URL": "",
    # A validator's batch of 1,000 taps is about 600 KB of JSON.
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    # Empty means card-keys.json in the instance folder (made by `flask cards keygen`).
    "CARD_KEYS_FILE": "",
    # Printed card numbers: this prefix, an 11-digit serial, a Luhn check digit.
    "CARD_NUMBER_PREFIX": "8401",
    # development or production: production refuses development stand-ins (SMS to the log,
    # payments that complete by themselves) and a missing SECRET_KEY.
    "ENV": "development",
    # The address people reach this service at (https://…), for links the operator's commands
    # print (a school administrator's enrolment link). Empty means `make run`'s address in
    # development; production refuses to print a link without it.
    "PUBLIC_URL": "",
    # Signs access tokens and cursors, keys the hashes of one-time codes. Empty means a random
    # key kept in the instance folder (made on first start).
    "SECRET_KEY": "",
    # Where one-time codes go: "log" writes them to the log (development only); "http" posts
    # them to an SMS brandname gateway (api/sms.py says what it sends and expects back).
    "SMS_SENDER": "log",
    # The gateway's address: https://, or http:// on this machine only (a local stand-in).
    "SMS_HTTP_URL": "",
    # HTTP Basic credentials the provider issued; a provider with one API token documents
    # which of the two it goes in.
    "SMS_HTTP_USERNAME": "",
    "SMS_HTTP_PASSWORD": "",
    # The sender name registered with the carriers (at most 11 characters), shown to riders.
    "SMS_BRANDNAME": "",
    # Seconds to wait for the gateway: the rider is waiting, and gunicorn kills a worker at 30.
    "SMS_HTTP_TIMEOUT": 10,
    # How many proxies in front of the app set X-Forwarded-For and -Proto (a TLS terminator
    # is one). 0 ignores those headers: a caller could write anything in them. Rate limits
    # count the client address this yields.
    "TRUSTED_PROXIES": 0,
    # Rate limits shared by all gunicorn workers: redis://host:port in production.
    "RATELIMIT_STORAGE_URI": "memory://",
    "ACCESS_TOKEN_MINUTES": 15,
    # dev (every payment succeeds at once, no money moves) or stripe.
    "PAYMENT_PROVIDER": "dev",
    "STRIPE_SECRET_KEY": "",
    "STRIPE_PUBLISHABLE_KEY": "",
    "STRIPE_WEBHOOK_SECRET": "",
    # Empty means Stripe itself; tests point it at localstripe on 127.0.0.1.
    "STRIPE_API_BASE": "",
    # Where the rider's app loads Stripe.js from (its origin goes into the app's CSP); tests
    # point it at localstripe's stand-in, <localstripe>/js.stripe.com/v3/.
    "STRIPE_JS_URL": "https://js.stripe.com/v3/",
    # Cal-ITP Eligibility API registries asked when a roster cannot answer: a JSON object from
    # a school code (or "*" for the whole city) to its settings (transit/registries.py).
    "ELIGIBILITY_REGISTRIES": {},
    "LOG_LEVEL": "INFO",
    "LOG_JSON": True,
    "API_TITLE": "Hanoi bus card API",
    "API_VERSION": "v1",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Rider, validator and school API of the Hanoi bus card. Errors are "
            "application/problem+json with a stable `code`; send Accept-Language: en for "
            "English text (Vietnamese by default)."
        }
    },
    # Swagger UI 4 (the bundled copy) renders OpenAPI 3.0, not 3.1.
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    # Served from the app itself: riders' phones and offline demos reach no CDN.
    "OPENAPI_SWAGGER_UI_URL": "/api/docs-assets/",
}


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def load_settings(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the environment and `overrides` (later wins), with types checked."""
    settings = dict(DEFAULTS)
    for name, raw in os.environ.items():
        if name.startswith(PREFIX):
            key = name.removeprefix(PREFIX)
            settings[key] = _coerce(key, raw, DEFAULTS.get(key))
    settings.update(overrides or {})
    if not settings["CARD_KEYS_FILE"]:
        settings["CARD_KEYS_FILE"] = str(Path(instance_path) / "card-keys.json")
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "transit.sqlite3")
    production = settings["ENV"] == "production"
    if settings["ENV"] not in ("development", "production"):
        raise ConfigError(f"{PREFIX}ENV: development or production, not {settings['ENV']!r}")
    if not settings["SECRET_KEY"]:
        if production:
            raise ConfigError(f"{PREFIX}SECRET_KEY must be set in production")
        settings["SECRET_KEY"] = _instance_secret(Path(instance_path) / "secret-key")
    if len(settings["SECRET_KEY"]) < 32:
        raise ConfigError(f"{PREFIX}SECRET_KEY needs at least 32 characters")
    if not 0 <= settings["TRUSTED_PROXIES"] <= 10:
        raise ConfigError(f"{PREFIX}TRUSTED_PROXIES: a number of proxies from 0 to 10")
    if production and settings["SMS_SENDER"] == "log":
        raise ConfigError(f"{PREFIX}SMS_SENDER=log writes codes to the log: not in production")
    if settings["SMS_SENDER"] == "http":
        _check_sms_gateway(settings)
    if production and settings["PAYMENT_PROVIDER"] == "dev":
        raise ConfigError(
            f"{PREFIX}PAYMENT_PROVIDER=dev completes payments by itself: not in production"
        )
    if production and settings["RATELIMIT_STORAGE_URI"].startswith("memory"):
        raise ConfigError(
            f"{PREFIX}RATELIMIT_STORAGE_URI: memory:// is per worker; use redis:// in production"
        )
    return settings


def _check_sms_gateway(settings: Mapping[str, Any]) -> None:
    # Checked in development too: a gateway without these cannot send, and the password and
    # the codes must not cross a network in clear text.
    for key in ("SMS_HTTP_URL", "SMS_HTTP_USERNAME", "SMS_HTTP_PASSWORD", "SMS_BRANDNAME"):
        if not settings[key]:
            raise ConfigError(f"{PREFIX}{key} must be set with {PREFIX}SMS_SENDER=http")
    url = urlsplit(settings["SMS_HTTP_URL"])
    # The address is never echoed: it may carry a password.
    if url.username is not None or url.password is not None:
        raise ConfigError(
            f"{PREFIX}SMS_HTTP_URL: put the credentials in {PREFIX}SMS_HTTP_USERNAME and "
            f"{PREFIX}SMS_HTTP_PASSWORD, not in the address"
        )
    local = url.hostname in ("127.0.0.1", "localhost", "::1")
    if not url.hostname or not (url.scheme == "https" or (url.scheme == "http" and local)):
        raise ConfigError(
            f"{PREFIX}SMS_HTTP_URL: an https:// address (http:// only to 127.0.0.1 or "
            f"localhost), not {url.scheme or 'no scheme'}://{url.hostname or ''}"
        )
    if len(settings["SMS_BRANDNAME"]) > 11:
        raise ConfigError(f"{PREFIX}SMS_BRANDNAME: a brandname has at most 11 characters")
    if settings["SMS_HTTP_TIMEOUT"] <= 0:
        raise ConfigError(f"{PREFIX}SMS_HTTP_TIMEOUT: a number of seconds above 0")


def _instance_secret(path: Path) -> str:
    """The development secret: made once, readable by this user only; workers race safely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text
            time.sleep(0.02)  # another worker is writing it
        raise ConfigError(f"{path} is empty: delete it to make a new key") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip()


def _coerce(key: str, raw: str, default: Any) -> Any:
    # The default's type says how to read the text of the environment variable.
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{PREFIX}{key}: expected true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{key}: expected an integer, got {raw!r}") from None
    if isinstance(default, list | dict):
        try:
            return json.loads(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{key}: expected JSON, got {raw!r}") from None
    return raw
