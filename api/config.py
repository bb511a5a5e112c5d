"""Settings: code defaults, then TRANSIT_* environment variables, then the caller's mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    return settings


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
