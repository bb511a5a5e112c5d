"""Who asks: principals that carry real credentials, requests sent as any of them, the outcome.

A `Call` is one request, described once, so that every principal sends exactly the same bytes
and only the credentials differ. A `Principal` adds its credentials to every request it makes,
whatever the address: a bearer token, a school session cookie with its CSRF token, and for a
validator the Ed25519 signature of docs/validator-protocol.md over that very request.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.test import TestResponse

from api import create_app
from readers.signing import sign
from tests.conftest import SmsOutbox

# One key for the database's template and for every app made from it: tokens, school session
# cookies and one-time codes made while building the template stay valid in each copy.
SECRET_KEY = "authorization-matrix-secret-key-0123456789abcdef"

OK = "ok"
LOGIN = "login"  # the school's HTML pages answer a stranger with the sign-in page (302)


@dataclass(frozen=True)
class Call:
    """One request, as bytes on the wire; `ok` and `goes_to` say what success looks like."""

    method: str
    url: str  # path and query, as sent, and as a validator signs it
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    ok: int = 200
    goes_to: str | None = None  # the path a successful redirect leads to


@dataclass(frozen=True)
class Principal:
    """Someone who calls the app, with the credentials they present on every request."""

    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    device: tuple[str, bytes] | None = None  # a validator's id and Ed25519 seed
    rider_id: str | None = None

    def credentials(self, call: Call) -> dict[str, str]:
        found = dict(self.headers)
        if self.device is not None:
            device_id, seed = self.device
            now = int(datetime.now(UTC).timestamp())
            found.update(sign(seed, device_id, call.method, call.url, call.body, timestamp=now))
        return found


def make_app(database: Path, instance: Path, sms: SmsOutbox | None = None) -> Flask:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": SECRET_KEY,
            "TESTING": True,
            "LOG_JSON": False,
            "SMS_SENDER_OBJECT": sms or SmsOutbox(),
        }
    )


@contextmanager
def fresh_app(template: Path) -> Iterator[Flask]:
    """An app on a new copy of `template`: nothing another request did is visible in it."""
    copy = template.with_name(f"copy-{uuid.uuid4().hex}.sqlite3")
    shutil.copyfile(template, copy)
    app = make_app(copy, template.parent / "instance")
    try:
        yield app
    finally:
        app.extensions["transit"].engine.dispose()
        copy.unlink()


def send(app: Flask, call: Call, who: Principal) -> TestResponse:
    """`call` as `who` makes it: no cookie jar, only the credentials the principal presents."""
    client = app.test_client(use_cookies=False)
    headers = {**call.headers, **who.credentials(call)}
    extra: dict[str, Any] = {"data": call.body} if call.body else {}
    if call.content_type is not None:
        extra["content_type"] = call.content_type
    response = client.open(call.url, method=call.method, headers=headers, **extra)
    response.get_data()  # read in full, so a file being sent is closed now, not at exit
    response.close()
    return response


def outcome(call: Call, response: TestResponse) -> str:
    """What happened, in the policy's words: ok, login, or the status code."""
    location = urlsplit(response.headers.get("Location", "")).path
    if response.status_code == call.ok and call.goes_to in (None, location):
        return OK
    if response.status_code == 302 and location == "/school/login":
        return LOGIN
    return str(response.status_code)
