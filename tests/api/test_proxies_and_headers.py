"""Behind the TLS proxy: limits count each rider's address, and every answer carries the headers
that keep a browser from misreading it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PRODUCTION, SmsOutbox, build_app

# The per-client limit of code requests (api.limits.CODE_REQUESTS_PER_CLIENT).
PER_CLIENT = 30


@pytest.fixture
def proxied(database_url: str, tmp_path: Path, sms: SmsOutbox) -> Iterator[Flask]:
    flask_app = build_app(database_url, tmp_path / "instance", sms, TRUSTED_PROXIES=1)
    yield flask_app
    flask_app.extensions["transit"].engine.dispose()


def _reset_from(client: FlaskClient, serial: int, forwarded_for: str) -> int:
    # A number with no account costs nothing but the limit: the cheapest limited request.
    answer = client.post(
        "/api/v1/auth/password-reset",
        json={"phone": f"09870{serial:05d}"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


def test_without_trusted_proxies_a_forwarded_address_is_not_believed(client: FlaskClient) -> None:
    for serial in range(PER_CLIENT):
        assert _reset_from(client, serial, f"198.51.100.{serial}") == 202
    # Writing yet another address in the header does not buy a new budget.
    assert _reset_from(client, PER_CLIENT, "198.51.100.250") == 429


def test_behind_one_trusted_proxy_each_client_has_its_own_budget(proxied: Flask) -> None:
    client = proxied.test_client()
    for serial in range(PER_CLIENT):
        assert _reset_from(client, serial, "203.0.113.5") == 202
    assert _reset_from(client, PER_CLIENT, "203.0.113.5") == 429
    # A rider elsewhere in the city is not limited by that one.
    assert _reset_from(client, PER_CLIENT + 1, "203.0.113.6") == 202
    # Only the address our proxy appended counts: what the client wrote before it is ignored.
    assert _reset_from(client, PER_CLIENT + 2, "192.0.2.1, 203.0.113.5") == 429


def test_the_address_the_proxy_saw_is_the_one_in_the_request(proxied: Flask) -> None:
    seen: list[str | None] = []

    @proxied.get("/test-remote-addr")
    def remote() -> str:
        from flask import request

        seen.append(request.remote_addr)
        return ""

    proxied.test_client().get("/test-remote-addr", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["203.0.113.9"]


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/api/v1/routes", "/api/v1/no-such-thing", "/api/openapi.json", "/school/login"],
)
def test_every_answer_says_nosniff_and_development_sends_no_hsts(
    client: FlaskClient, path: str
) -> None:
    answer = client.get(path)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in answer.headers


def test_production_tells_browsers_to_use_https_only(
    database_url: str, tmp_path: Path, sms: SmsOutbox
) -> None:
    production = build_app(database_url, tmp_path / "instance", sms, **PRODUCTION)
    try:
        for path in ("/healthz", "/api/v1/no-such-thing"):
            answer = production.test_client().get(path)
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        production.extensions["transit"].engine.dispose()
