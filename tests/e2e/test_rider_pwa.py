"""The rider's app (/app/) on a phone-sized headless Chromium (Playwright, Debian's chromium).

gunicorn serves the app with the development SMS sender (codes in its log) and payment provider
(paid at once). A rider signs up, tops up 50,000 VND, makes the virtual card and opens the QR
ticket; the code on the screen is read back from a screenshot (zxing-cpp) and checked as a
validator checks it, with the issuer key the server certifies with. Then the network is cut and
the page reloaded: the service worker serves the app and the ticket shows a fresh code from the
stored credential. Every screen is checked with axe-core, for 44 px touch targets and for
sideways scroll at 360 px; `SCREENSHOTS=1` writes the main screens to docs/screenshots/app-*.png.

A second test visits every other screen and state, in English (chosen once, kept when the app
opens again at /app/): a rider with a chip card (issued into the server's database, as the
issuing station would, and added with its number and check code) and a virtual card switches
between them, buys a pass, gets a statement, blocks and replaces the chip card, applies for
student fares, downloads their data and deletes the account.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
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


def phone(browser: Any, **settings: Any) -> Any:
    """A browser context like a cheap Android phone (360x640, touch, Vietnamese); the page's
    CSP is bypassed for axe-core's injected script only."""
    return browser.new_context(
        viewport={"width": 360, "height": 640},
        user_agent=PHONE_UA,
        locale="vi-VN",
        has_touch=True,
        bypass_csp=True,
        **settings,
    )


def sign_up(
    page: Any,
    backend: Backend,
    at_form: Callable[[], None] = lambda: None,
    at_code: Callable[[], None] = lambda: None,
) -> None:
    """From the sign-in screen: phone, password, consent, then the SMS code from the server's
    log; ends on the cards screen. `at_form` and `at_code` look at the two steps, filled in."""
    page.click("#to-signup")
    screen(page, "signup")
    page.fill("#signup-phone", PHONE)
    page.fill("#signup-password", PASSWORD)
    page.check("#signup-consent")
    at_form()
    page.click("#signup-submit")
    page.wait_for_selector("#verify-form:not([hidden])")
    page.fill("#verify-code", code_from_log(backend.home, "+84912345678"))
    at_code()
    page.click("#verify-submit")
    screen(page, "cards")


def controlled(page: Any) -> None:
    """Waits until the service worker controls the page (polled from outside the page: a
    string predicate would be an eval, which the app's CSP refuses)."""
    deadline = time.monotonic() + 45  # a loaded machine may take a while to install it
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
        context = phone(browser)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(backend.url + "/app/")
        screen(page, "signin")
        expect(page.locator("h1:visible")).to_have_text("Đăng nhập")
        check_screen(page, "signin", out)

        # Sign up: phone, password, consent; then the SMS code.
        sign_up(page, backend, at_form=lambda: check_screen(page, "signup", out))

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


def test_the_app_keeps_itself_for_offline_even_when_its_first_try_fails(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a weak signal one file of the service worker's install may not come, and the install
    fails with it: the app tries again while it is open, and ends up kept for offline use with
    no reload."""
    from playwright.sync_api import Route, sync_playwright

    # Playwright routes what a service worker fetches only with this (Chromium only).
    monkeypatch.setenv("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")
    lost: list[str] = []

    def weak_signal(route: Route) -> None:
        if route.request.service_worker is not None and not lost:
            lost.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = phone(browser)
        context.route("**/static/app/qr.js", weak_signal)
        page = context.new_page()
        page.goto(backend.url + "/app/")
        screen(page, "signin")
        controlled(page)
        assert lost, "the worker's first fetch of qr.js was not the one lost"
        browser.close()


def chip_cards(backend: Backend, count: int) -> list[tuple[str, str]]:
    """Chip cards issued straight into the server's database, as the issuing station would after
    personalizing them (no card reader here): (card number, check code) each."""
    from datetime import UTC, datetime

    from api import create_app
    from api.deps import unit_of_work
    from transit.services.cards import finish_issuing, reserve_card

    app = create_app(
        {
            "DATABASE_URL": backend.env["TRANSIT_DATABASE_URL"],
            "SECRET_KEY": SECRET,
            "CARD_KEYS_FILE": backend.env["TRANSIT_CARD_KEYS_FILE"],
            "INSTANCE_PATH": str(backend.home / "issuing-instance"),
            "LOG_JSON": False,
        }
    )
    issued = []
    with app.app_context():
        for _ in range(count):
            with unit_of_work() as uow:
                reservation = reserve_card(
                    uow,
                    uid=os.urandom(7),
                    category_id="adult",
                    valid_until=None,
                    balance=30_000,
                    prefix="8401",
                    now=datetime.now(UTC),
                )
                finish_issuing(uow, reservation.card_id, personalized=True)
                uow.commit()
            issued.append((reservation.card_number, reservation.check_code))
    app.extensions["transit"].engine.dispose()
    return issued


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def test_every_other_screen_of_a_rider_with_a_chip_card_and_a_virtual_card(
    backend: Backend, tmp_path: Path
) -> None:
    """In English, chosen once and kept when the app opens again at /app/: add a chip card, make
    the virtual card (waiting), ride with it and back (what moves, said before and after), buy
    the network-wide monthly pass, the statement, block the chip card and replace it, apply for
    student fares and see the application waiting, download my data, and delete the account
    last. Each screen and state: axe-core, 44 px touch targets, no sideways scroll at 360 px."""
    from playwright.sync_api import expect, sync_playwright

    out = tmp_path  # the pictures in docs/ are the first test's
    backend.flask("schools", "create", "THPT-CVA", "Trường THPT Chu Văn An")
    (chip, chip_code), (new_chip, new_code) = chip_cards(backend, 2)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = phone(browser, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # The phone speaks Vietnamese; the rider chooses English in the header.
        page.goto(backend.url + "/app/")
        screen(page, "signin")
        expect(page.locator("h1:visible")).to_have_text("Đăng nhập")
        page.click("header a[lang='en']")
        screen(page, "signin")
        expect(page.locator("h1:visible")).to_have_text("Sign in")
        check_screen(page, "en-signin", out)
        sign_up(page, backend, at_code=lambda: check_screen(page, "en-verify", out))
        expect(page.locator("#card-list")).to_contain_text("You have no cards yet.")
        check_screen(page, "en-no-cards", out)

        # Add a chip card by its number and check code.
        page.click("details.link-card summary")
        page.fill("#link-number", spaced(chip))
        page.fill("#link-check", chip_code)
        check_screen(page, "en-link", out)
        page.click("#link-submit")
        chip_item = page.locator(f"li.card[data-card='{chip}']")
        expect(chip_item).to_contain_text("Rides now")
        expect(chip_item).to_contain_text("30.000 đ")
        expect(page.locator("#status")).to_contain_text(f"Card {spaced(chip)} added.")

        # The virtual card waits: the rider still rides with the chip card.
        page.click("#make-virtual")
        virtual = page.locator("li.card.virtual")
        expect(virtual).to_contain_text("Not riding now")
        expect(page.locator("#status")).to_contain_text("You still ride with your chip card")
        check_screen(page, "en-two-cards", out)

        # The QR ticket says how to use it while the chip card rides.
        page.click("nav.main a[href='#/ticket']")
        screen(page, "ticket")
        expect(page.locator("#ticket-problem")).to_contain_text("You ride with your chip card")
        check_screen(page, "en-ticket-chip", out)

        # The app opens again from the home screen at /app/, through the service worker: the
        # rider's language, not the phone's.
        controlled(page)
        page.goto(backend.url + "/app/")
        screen(page, "cards")
        expect(page.locator("h1:visible")).to_have_text("My cards")
        assert "lang=en" in page.url
        page.goto(backend.url + "/app/#/cards")
        screen(page, "cards")
        expect(page.locator("nav.main a[href='#/more']")).to_have_text("More")

        # Ride with the virtual card: what will move, said first; then what moved.
        virtual.locator("a", has_text="Ride with this card").click()
        screen(page, "activate")
        expect(page.locator("#activate-what")).to_contain_text("30.000 đ")
        expect(page.locator("#activate-what")).to_contain_text(spaced(chip))
        check_screen(page, "en-activate", out)
        page.click("#activate-confirm")
        screen(page, "cards")
        expect(page.locator("#status")).to_contain_text("30.000 đ and 0 passes moved")
        expect(virtual).to_contain_text("Rides now")
        expect(virtual).to_contain_text("30.000 đ")
        expect(chip_item).to_contain_text("Not riding now")
        check_screen(page, "en-activated", out)

        # And back to the chip card: it still holds its 30,000 on the chip, so nothing more
        # is written to it (the money is not counted twice).
        chip_item.locator("a", has_text="Ride with this card").click()
        screen(page, "activate")
        expect(page.locator("#activate-what")).to_contain_text("30.000 đ")
        page.click("#activate-confirm")
        screen(page, "cards")
        expect(chip_item).to_contain_text("Rides now")
        expect(chip_item).to_contain_text("Balance: 30.000 đ")
        expect(chip_item).not_to_contain_text("waiting to be written")

        # Buy the network-wide monthly pass for the chip card.
        chip_item.locator("a", has_text="Top up").click()
        screen(page, "topup")
        products = page.locator("#product-list")
        expect(products).to_contain_text("monthly pass all routes")
        expect(products).to_contain_text("A one-route pass")
        check_screen(page, "en-passes", out)
        products.locator("li", has_text="monthly pass all routes").locator("button").click()
        screen(page, "cards")
        expect(page.locator("#status")).to_contain_text("monthly pass all routes")
        expect(chip_item).to_contain_text("(waiting for the card)")
        check_screen(page, "en-pass-bought", out)

        # The chip card's journeys and its monthly statement, saved as a file.
        chip_item.locator("a", has_text="Journeys").click()
        screen(page, "journeys")
        expect(page.locator("#journeys-none")).to_be_visible()
        page.click("#statement-get")
        link = page.locator("#statement-link")
        expect(link).to_be_visible()
        check_screen(page, "en-statement", out)
        with page.expect_download() as download:
            link.click()
        saved = Path(download.value.path()).read_text(encoding="utf-8")
        assert saved.strip(), "a statement, even of a month with no journeys"

        # Ride with the virtual card again: the pass moves to it too. The chip card waits.
        page.click("nav.main a[href='#/cards']")
        screen(page, "cards")
        virtual.locator("a", has_text="Ride with this card").click()
        screen(page, "activate")
        expect(page.locator("#activate-what")).to_contain_text(" 1 passes on ")
        page.click("#activate-confirm")
        screen(page, "cards")
        expect(page.locator("#status")).to_contain_text("and 1 passes moved")
        expect(virtual).to_contain_text("Rides now")
        expect(virtual).to_contain_text("monthly pass all routes")
        expect(chip_item).to_contain_text("Not riding now")

        # The waiting chip card is lost: blocked for that reason, it cannot ride again; then
        # it is replaced with a new one.
        chip_item.locator("a", has_text="Block or replace").click()
        screen(page, "manage")
        expect(page.locator("#manage-card")).to_have_text(f"Chip card {spaced(chip)}")
        check_screen(page, "en-manage", out)
        page.check("#reason-lost")
        page.click("#block-submit")
        screen(page, "cards")
        expect(page.locator("#status")).to_contain_text(f"Card {spaced(chip)} blocked.")
        expect(chip_item).to_contain_text("Blocked")
        expect(chip_item.locator("a", has_text="Ride with this card")).to_have_count(0)
        check_screen(page, "en-blocked", out)
        chip_item.locator("a", has_text="Block or replace").click()
        screen(page, "manage")
        expect(page.locator("#block-form")).to_be_hidden()
        page.fill("#replace-number", spaced(new_chip))
        page.fill("#replace-check", new_code)
        check_screen(page, "en-replace", out)
        page.click("#replace-submit")
        screen(page, "cards")
        expect(page.locator("#status")).to_contain_text(f"Replaced by card {spaced(new_chip)}")
        expect(chip_item).to_contain_text("Replaced")
        expect(page.locator(f"li.card[data-card='{new_chip}']")).to_be_visible()
        check_screen(page, "en-replaced", out)

        # Student fares: the schools to choose from, the form, then the application waiting.
        page.click("nav.main a[href='#/more']")
        screen(page, "more")
        expect(page.locator("#apply-school option")).to_have_text(["Trường THPT Chu Văn An"])
        page.fill("#apply-student", "HS-2041")
        page.fill("#apply-name", "Nguyễn Thị Lan")
        page.fill("#apply-birth", "2009-04-12")
        check_screen(page, "en-apply", out)
        page.click("#apply-submit")
        screen(page, "more")
        expect(page.locator("#status")).to_contain_text("Application sent to")
        expect(page.locator("#application-list")).to_contain_text(
            "Trường THPT Chu Văn An: waiting for the school"
        )
        check_screen(page, "en-applied", out)

        # My data: the export, saved as a file.
        page.click("#export")
        expect(page.locator("#export-link")).to_be_visible()
        check_screen(page, "en-export", out)
        with page.expect_download() as download:
            page.click("#export-link")
        assert PHONE[1:] in Path(download.value.path()).read_text(encoding="utf-8")

        # Last: delete the account (password asked again); the app returns to sign-in.
        page.click("#screen-more details summary")
        page.fill("#delete-password", PASSWORD)
        check_screen(page, "en-delete", out)
        page.click("#delete-submit")
        screen(page, "signin")
        expect(page.locator("#status")).to_have_text("Your account is deleted.")
        expect(page.locator("nav.main a[href='#/cards']")).to_be_hidden()
        check_screen(page, "en-deleted", out)

        # An address the app does not know: a page in English with the way back to the app.
        page.goto(backend.url + "/app/nope?lang=en")
        expect(page.locator("h1")).to_have_text("Not found")
        check_screen(page, "en-not-found", out)
        page.click("main a[href='/app/']")
        screen(page, "signin")
        assert errors == []
        context.close()
        browser.close()
