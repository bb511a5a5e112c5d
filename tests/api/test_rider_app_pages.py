"""The rider's app as the server sends it (api/rider_app.py): the shell under its strict CSP, the
web manifest, the service worker with its scope, and an unknown address under /app/ as a page
in the rider's language with a way back, not the API's JSON problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.rider_app import APP_CSP
from tests.api.test_payments import STRIPE
from tests.conftest import SmsOutbox, build_app


def test_the_shell_is_a_page_under_the_app_s_own_strict_csp(client: FlaskClient) -> None:
    answer = client.get("/app/?lang=en")
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    policy = answer.headers["Content-Security-Policy"]
    assert policy == APP_CSP
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert answer.headers["X-Frame-Options"] == "DENY"
    page = answer.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<script>" not in page
    assert " style=" not in page
    assert 'rel="manifest" href="/app/manifest.webmanifest"' in page


@pytest.mark.parametrize(
    ("lang", "name"), [("vi", "Thẻ đi xe Hà Nội"), ("en", "Hanoi transit card")]
)
def test_the_manifest_names_the_app_and_its_icons(
    client: FlaskClient, lang: str, name: str
) -> None:
    answer = client.get(f"/app/manifest.webmanifest?lang={lang}")
    assert answer.status_code == 200
    assert answer.mimetype == "application/manifest+json"
    manifest = json.loads(answer.get_data(as_text=True))
    assert manifest["name"] == name
    assert manifest["short_name"]
    assert len(manifest["short_name"]) <= 12
    assert manifest["lang"] == lang
    assert manifest["start_url"] == "/app/"
    assert manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b5394"
    assert manifest["background_color"]
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png"
        assert "maskable" in icon["purpose"].split()
        with client.get(icon["src"]) as image:
            assert image.status_code == 200
            assert image.mimetype == "image/png"
            data = image.get_data()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]


def test_the_service_worker_is_a_script_whose_scope_is_the_app(client: FlaskClient) -> None:
    answer = client.get("/app/sw.js")
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    assert answer.headers["Cache-Control"] == "no-cache"
    # Served from /app/, its default scope is /app/ (no Service-Worker-Allowed widening it).
    assert "Service-Worker-Allowed" not in answer.headers
    first, _, source = answer.get_data(as_text=True).partition("\n")
    assert first.startswith("const BUILD = ")
    assert first.endswith(";")
    build = json.loads(first.removeprefix("const BUILD = ").removesuffix(";"))
    assert build["files"][0] == "/app/"
    assert "/static/app/main.js" in build["files"]
    assert "/static/app/sw.js" not in build["files"]
    assert len(build["version"]) == 16
    assert 'addEventListener("fetch"' in source


@pytest.mark.parametrize(
    ("path", "asked", "heading", "back"),
    [
        ("/app/nope", {"Accept-Language": "vi-VN,vi;q=0.9"}, "Không tìm thấy", "Về ứng dụng"),
        ("/app/nope?lang=en", {}, "Not found", "Back to the transit card app"),
        ("/app/cards/123/x", {"Accept-Language": "en-GB"}, "Not found", "Back to the"),
    ],
)
def test_an_unknown_address_under_the_app_is_a_page_in_the_rider_s_language(
    client: FlaskClient, path: str, asked: dict[str, str], heading: str, back: str
) -> None:
    answer = client.get(path, headers=asked)
    assert answer.status_code == 404
    assert answer.mimetype == "text/html"
    assert answer.headers["Content-Security-Policy"] == APP_CSP
    page = answer.get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page
    assert f'<a href="/app/">{back}' in page
    assert 'href="/static/app/app.css"' in page


def test_a_method_the_shell_does_not_take_is_a_page_too(client: FlaskClient) -> None:
    answer = client.post("/app/?lang=en")
    assert answer.status_code == 405
    assert answer.mimetype == "text/html"
    assert "GET" in answer.headers["Allow"]
    assert '<a href="/app/">Back to the transit card app</a>' in answer.get_data(as_text=True)


def test_other_unknown_addresses_keep_the_api_s_json_problem(client: FlaskClient) -> None:
    for path in ("/api/v1/nope", "/application", "/apps/x"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.mimetype == "application/problem+json"


def directives_of(policy: str) -> dict[str, list[str]]:
    return {
        name: sources
        for name, *sources in (part.split() for part in policy.split(";") if part.strip())
    }


def stripe_shell(database_url: str, tmp_path: Path, sms: SmsOutbox, **settings: Any) -> Any:
    app = build_app(database_url, tmp_path / "stripe", sms, **{**STRIPE, **settings})
    try:
        return app.test_client().get("/app/?lang=en")
    finally:
        app.extensions["transit"].engine.dispose()


def test_the_csp_allows_stripe_js_only_with_the_stripe_provider(
    client: FlaskClient, database_url: str, tmp_path: Path, sms: SmsOutbox
) -> None:
    # The development provider: the strict policy, and no Stripe.js for the script.
    development = client.get("/app/?lang=en")
    assert development.headers["Content-Security-Policy"] == APP_CSP
    assert "stripe" not in APP_CSP
    page = development.get_data(as_text=True)
    assert '<script type="application/json" id="payments">{"stripe_js": null}</script>' in page

    # Stripe itself: what Stripe documents for Stripe.js, nothing wider.
    real = stripe_shell(database_url, tmp_path / "real", sms)
    policy = directives_of(real.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert policy["frame-src"] == [
        "'self'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert policy["style-src"] == ["'self'"]  # still no inline style
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert '{"stripe_js": "https://js.stripe.com/v3/"}' in real.get_data(as_text=True)

    # A stand-in (localstripe): its origin only, for the script, its frames and its API.
    local = stripe_shell(
        database_url,
        tmp_path / "local",
        sms,
        STRIPE_API_BASE="http://127.0.0.1:8420",
        STRIPE_JS_URL="http://127.0.0.1:8420/js.stripe.com/v3/",
    )
    policy = directives_of(local.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "http://127.0.0.1:8420"]
    assert policy["frame-src"] == ["'self'", "http://127.0.0.1:8420"]
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:8420"]
    assert "stripe.com" not in local.headers["Content-Security-Policy"]
    assert '"stripe_js": "http://127.0.0.1:8420/js.stripe.com/v3/"' in local.get_data(as_text=True)
