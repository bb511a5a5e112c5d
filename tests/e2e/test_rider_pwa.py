"""The rider's app (/app/) on a phone-sized headless Chromium (Playwright, Debian's chromium).

gunicorn serves the app with the development SMS sender (codes in its log) and payment provider
(paid at once). A rider signs up, tops up 50,000 VND, makes the virtual card and opens the QR
ticket; the code on the screen is read back from a screenshot (zxing-cpp) and checked as a
validator checks it, with the issuer key the server certifies with. Then the network is cut and
the page reloaded: the service worker serves the app and the ticket shows a fresh code from the
stored credential. Every screen is checked with axe-core, for 44 px touch targets and for
sideways scroll at 360 px; `SCREENSHOTS=1` writes the main screens to docs/screenshots/app-*.png.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.e2e.test_bus_day import Backend
from tests.e2e.test_rider_app import code_from_log
from tests.support.browser import launch, serious_violations
from tests.support.required import chromium

SECRET = "rider-pwa-test-secret-key-0123456789abcdef"
PHONE = "0912345678"
PASSWORD = "xe buyt 32 Cau Giay"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

SMALL_TARGETS = """() => [...document.querySelectorAll('a[href], button, summary')]
  .filter((e) => e.getClientRects().length > 0)
  .map((e) => { const r = e.getBoundingClientRect();
    return {what: e.id || e.textContent.trim().slice(0, 40), w: r.width, h: r.height}; })
  .filter((t) => t.w < 44 || t.h < 43.5)"""


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    chromium()  # before the server starts: without a browser there is nothing to test
    served = Backend(tmp_path)
    served.env["TRANSIT_SECRET_KEY"] = SECRET
    served.flask("db", "upgrade")
    served.flask("network", "import", "data/demo-network")
    served.start()
    try:
        yield served
    finally:
        served.stop()


def gate() -> Any:
    """A validator's ticket check with the issuer key the server signs credentials with."""
    from api.auth import ticket_issuer
    from readers.tickets import TicketGate, issuer_keys

    app = Flask("gate")
    app.config["SECRET_KEY"] = SECRET
    with app.app_context():
        issuer = ticket_issuer()
    return TicketGate(issuer_keys({issuer.kid.hex(): issuer.public.hex()}))


def read_qr(page: Any) -> str:
    from PIL import Image

    from readers.scanner import decode_qr

    shot = page.locator("#qr-canvas").screenshot()
    found = decode_qr(Image.open(io.BytesIO(shot)).convert("L"))
    assert len(found) == 1, "one QR code on the ticket screen"
    return found[0]


def check_screen(page: Any, name: str, out: Path) -> None:
    """axe-core, touch targets and no sideways scroll on the screen shown; a screenshot."""
    assert serious_violations(page) == [], name
    assert page.evaluate(SMALL_TARGETS) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, name
    page.screenshot(path=str(out / f"app-{name}.png"), full_page=True)


def screen(page: Any, name: str) -> None:
    page.wait_for_selector(f"#screen-{name}:not([hidden])")
    page.wait_for_selector("body[data-ready='true']", state="attached")


def controlled(page: Any) -> None:
    """Waits until the service worker controls the page (polled from outside the page: a
    string predicate would be an eval, which the app's CSP refuses)."""
    deadline = time.monotonic() + 15
    while not page.evaluate("Boolean(navigator.serviceWorker.controller)"):
        assert time.monotonic() < deadline, "the service worker never took control"
        time.sleep(0.1)


def test_a_rider_signs_up_tops_up_and_rides_with_the_qr_ticket_even_offline(
    backend: Backend, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    out = SHOTS if os.environ.get("SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(
            viewport={"width": 360, "height": 640},
            user_agent=PHONE_UA,
            locale="vi-VN",
            has_touch=True,
            bypass_csp=True,  # for axe-core's injected script only
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(backend.url + "/app/")
        screen(page, "signin")
        expect(page.locator("h1:visible")).to_have_text("Đăng nhập")
        check_screen(page, "signin", out)

        # Sign up: phone, password, consent; then the SMS code.
        page.click("#to-signup")
        screen(page, "signup")
        page.fill("#signup-phone", PHONE)
        page.fill("#signup-password", PASSWORD)
        page.check("#signup-consent")
        check_screen(page, "signup", out)
        page.click("#signup-submit")
        page.wait_for_selector("#verify-form:not([hidden])")
        page.fill("#verify-code", code_from_log(backend.home, "+84912345678"))
        page.click("#verify-submit")
        screen(page, "cards")

        # No card yet: make the virtual card; it rides at once (no chip card to switch from).
        page.click("#make-virtual")
        card = page.locator("li.card.virtual")
        expect(card).to_contain_text("Đang dùng để đi xe")
        number = card.get_attribute("data-card")
        assert number is not None
        assert len(number) == 16

        # Top up 50,000 VND: choose, confirm, the new balance.
        card.locator("a", has_text="Nạp tiền").click()
        screen(page, "topup")
        page.check("#amount-50000")
        page.click("#topup-next")
        expect(page.locator("#topup-confirm-text")).to_contain_text("50.000 đ")
        check_screen(page, "topup", out)
        page.click("#topup-pay")
        expect(page.locator("#topup-result")).to_contain_text("Số dư mới: 50.000 đ")
        page.click("#topup-done a")
        screen(page, "cards")
        expect(page.locator("li.card.virtual")).to_contain_text("50.000 đ")
        check_screen(page, "cards", out)

        # The ticket: a fresh code for this card, limit 50,000, that a validator accepts.
        page.click("nav.main a[href='#/ticket']")
        screen(page, "ticket")
        page.wait_for_selector("#qr-canvas[data-signed-at]")
        expect(page.locator("#ticket-card")).to_have_text(
            " ".join(number[i : i + 4] for i in range(0, 16, 4))
        )
        expect(page.locator("#ticket-countdown")).to_contain_text("giây")
        validator = gate()
        ticket = validator.check(read_qr(page), int(time.time()))
        assert ticket.credential.card_number == number
        assert ticket.credential.limit == 50_000
        assert abs(ticket.signed_at - time.time()) < 20
        check_screen(page, "ticket", out)

        # Journeys and the account's ledger: the top-up, explained.
        page.click("nav.main a[href='#/journeys']")
        screen(page, "journeys")
        expect(page.locator("#account-list")).to_contain_text("+50.000 đ")
        check_screen(page, "journeys", out)

        page.click("nav.main a[href='#/more']")
        screen(page, "more")
        check_screen(page, "more", out)

        # Offline: the service worker serves the shell, the stored credential signs new codes.
        controlled(page)
        page.click("nav.main a[href='#/ticket']")
        page.wait_for_selector("#qr-canvas[data-signed-at]")
        before = int(page.get_attribute("#qr-canvas", "data-signed-at") or 0)
        context.set_offline(True)
        page.wait_for_timeout(1100)  # a new second: a new signing time
        page.reload()
        screen(page, "ticket")
        page.wait_for_selector("#qr-canvas[data-signed-at]")
        expect(page.locator("#offline")).to_be_visible()
        after = int(page.get_attribute("#qr-canvas", "data-signed-at") or 0)
        assert after > before
        again = validator.check(read_qr(page), int(time.time()))
        assert (again.credential.card_number, again.signed_at) == (number, after)
        context.set_offline(False)
        assert errors == []
        context.close()
        browser.close()


def test_the_app_runs_under_its_own_strict_csp(backend: Backend) -> None:
    """Without bypass_csp: the shell, its modules, the manifest and the service worker load, and
    the browser reports no violation of the page's Content-Security-Policy."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 360, "height": 640}, locale="en-GB")
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(backend.url + "/app/?lang=en")
        screen(page, "signin")
        expect(page.locator("h1:visible")).to_have_text("Sign in")
        controlled(page)
        page.click("#to-signup")
        screen(page, "signup")
        assert [line for line in console if "Content Security Policy" in line] == []
        browser.close()
