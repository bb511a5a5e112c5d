"""A newcomer's first look: the demo rider of `make run`, through the API and in /api/docs.

gunicorn serves a database prepared as `make run` prepares it (migrations, the demo network,
`demo seed`). The demo rider signs in through the API and sees a linked card and a week of
journeys; then, in headless Chromium, the interactive docs take the rider's token with
Authorize and call a rider operation with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import serving
from tests.e2e.test_bus_day import Backend
from tests.e2e.test_rider_app import call
from tests.support.browser import launch
from tests.support.required import chromium
from transit.services.demo import DEMO_PASSWORD, DEMO_PHONE


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Backend]:
    with serving(tmp_path, ("demo", "seed")) as served:
        yield served


def _sign_in(backend: Backend) -> str:
    status, tokens = call(
        backend, "POST", "/api/v1/auth/login", {"phone": DEMO_PHONE, "password": DEMO_PASSWORD}
    )
    assert status == 200, tokens
    return str(tokens["access_token"])


def test_the_demo_rider_sees_a_card_and_a_week_of_journeys(demo: Backend) -> None:
    token = _sign_in(demo)
    status, cards = call(demo, "GET", "/api/v1/cards", token=token)
    assert status == 200
    [card] = cards["data"]
    status, trips = call(
        demo, "GET", f"/api/v1/cards/{card['card_id']}/trips?limit=50", token=token
    )
    assert status == 200
    journeys = trips["data"]
    assert len({trip["time"][:10] for trip in journeys}) == 7  # a week of days
    assert all(trip["amount"] > 0 and "leg rule" in trip["explanation"] for trip in journeys)
    assert card["balance"] == journeys[0]["balance_after"]


def test_the_api_docs_authorize_a_rider_and_call_for_them(demo: Backend) -> None:
    chromium()
    from playwright.sync_api import expect, sync_playwright

    token = _sign_in(demo)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.goto(demo.url + "/api/docs")
        page.click("button.authorize")
        page.fill(".auth-container input", token)
        page.click(".auth-btn-wrapper button.authorize")
        page.click(".auth-btn-wrapper button.btn-done")
        operation = page.locator("#operations-riders-get_me")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        live = operation.locator(".live-responses-table tbody .response")
        expect(live.locator(".response-col_status")).to_have_text("200")
        expect(live).to_contain_text("+84912000000")
        browser.close()
