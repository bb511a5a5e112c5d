"""The rider's app (/app/) paying through Stripe: Stripe.js's Card Element, against localstripe.

gunicorn runs with the Stripe provider pointed at localstripe (tests/support/localstripe.py), and
localstripe sends its webhooks to the server's own /api/v1/webhooks/stripe, which settles the
payment; the app loads Stripe.js from localstripe's stand-in (TRANSIT_STRIPE_JS_URL).

localstripe's stand-in Stripe.js draws the Card Element as plain inputs in the page, but its
confirmCardPayment does not send the card: it only answers a 3D Secure prompt for a payment
already confirmed on the server. So the test completes the stand-in the way real Stripe.js
works: the script it serves gets a confirmCardPayment that posts the card with the client secret
to <localstripe>/v1/payment_intents/{id}/confirm, and that call (which localstripe does not
take from a browser) is answered here, by creating the card, attaching it and confirming the
PaymentIntent in localstripe with the secret key, as Stripe does. The stand-in's inputs also get
the labels the real Card Element's inputs have. The app's script is untouched.

A rider signs up, makes the virtual card and tops up 50,000 VND with 4242 4242 4242 4242 typed
into the card field: the new balance shows once the webhook has settled the payment. A card that
localstripe declines on charging (4000 0000 0000 0341) shows Stripe's message and leaves the
balance as it was. axe-core, touch targets and sideways scroll on the card screen; then, in a
context under the page's real CSP, another top-up raises no CSP violation.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_bus_day import Backend
from tests.e2e.test_rider_pwa import (
    PASSWORD,
    PHONE,
    PHONE_UA,
    SECRET,
    check_screen,
    screen,
    sign_up,
)
from tests.support.browser import launch
from tests.support.localstripe import (
    WEBHOOK_SECRET,
    Localstripe,
    LocalstripeUnavailable,
    start_localstripe,
)
from tests.support.required import chromium, running

SECRET_KEY = "sk_test_local"
PUBLISHABLE_KEY = "pk_test_local"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # localstripe: attaches, then the charge is declined

# Appended to the stand-in's script (see the module's docstring). LOCALSTRIPE_BASE_API and the
# global Stripe are the stand-in's own.
COMPLETION = """
;(() => {
  const standIn = Stripe;
  const LABELS = {number: "Card number", exp_month: "Expiry month (MM)",
    exp_year: "Expiry year (YY)", cvc: "CVC", postal_code: "Postal code"};
  Stripe = (key) => {
    const stripe = standIn(key);
    const elements = stripe.elements;
    stripe.elements = (...args) => {
      const made = elements(...args);
      const create = made.create;
      made.create = function (...options) {
        const element = create.apply(this, options);
        const mount = element.mount;
        element.mount = function (where) {
          mount.call(this, where);
          for (const [field, input] of Object.entries(this._inputs)) {
            input.setAttribute("aria-label", LABELS[field]);
            input.setAttribute("inputmode", "numeric");
          }
        };
        return element;
      };
      return made;
    };
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const intent = clientSecret.match(/^(pi_\\w+)_secret_/)[1];
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_intents/${intent}/confirm`, {
        method: "POST",
        body: JSON.stringify({key, client_secret: clientSecret,
          payment_method_data: {type: "card", card: data.payment_method.card.value.card}}),
      });
      const body = await response.json().catch(() => ({}));
      return response.ok ? {paymentIntent: body} : {error: body.error || {message: "failed"}};
    };
    return stripe;
  };
})();
"""


@pytest.fixture
def localstripe() -> Iterator[Localstripe]:
    with running("localstripe", start_localstripe, LocalstripeUnavailable) as server:
        yield server


@pytest.fixture
def backend(tmp_path: Path, localstripe: Localstripe) -> Iterator[Backend]:
    chromium()  # before the server starts: without a browser there is nothing to test
    served = Backend(tmp_path)
    served.env.update(
        {
            "TRANSIT_SECRET_KEY": SECRET,
            "TRANSIT_PAYMENT_PROVIDER": "stripe",
            "TRANSIT_STRIPE_SECRET_KEY": SECRET_KEY,
            "TRANSIT_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "TRANSIT_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TRANSIT_STRIPE_API_BASE": localstripe.base,
            "TRANSIT_STRIPE_JS_URL": f"{localstripe.base}/js.stripe.com/v3/",
        }
    )
    served.flask("db", "upgrade")
    served.start()
    # localstripe's webhooks go to the server's own endpoint, signed with the shared secret.
    data = f"url={served.url}/api/v1/webhooks/stripe&secret={WEBHOOK_SECRET}".encode()
    request = urllib.request.Request(  # noqa: S310  loopback
        localstripe.base + "/_config/webhooks/app", data=data, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310  loopback
        pass
    try:
        yield served
    finally:
        served.stop()


def stand_in(context: Any, localstripe: Localstripe) -> None:
    """Serve the completed stand-in Stripe.js and answer its confirm call (module docstring)."""
    import stripe

    def script(route: Any) -> None:
        original = route.fetch()
        route.fulfill(response=original, body=original.text() + COMPLETION)

    def confirm(route: Any) -> None:
        origin = route.request.headers.get("origin", "*")
        cors = {"Access-Control-Allow-Origin": origin}
        intent_id = route.request.url.split("/payment_intents/")[1].split("/")[0]
        asked = json.loads(route.request.post_data or "{}")
        client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe.base})
        intent = client.v1.payment_intents.retrieve(intent_id)
        if asked.get("client_secret") != intent.client_secret:
            error = {"error": {"message": "No such payment_intent", "type": "invalid_request"}}
            route.fulfill(status=401, json=error, headers=cors)
            return
        card = asked["payment_method_data"]["card"]
        try:
            method = client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {
                        "number": card["number"].replace(" ", ""),
                        "exp_month": int(card["exp_month"]),
                        "exp_year": int(card["exp_year"]),
                        "cvc": card["cvc"],
                    },
                }
            )
            client.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
            confirmed = client.v1.payment_intents.confirm(intent_id)
        except stripe.StripeError as failed:
            declined = {"error": {"message": failed.user_message, "code": failed.code}}
            route.fulfill(status=402, json=declined, headers=cors)
            return
        answer = {"id": confirmed.id, "status": confirmed.status, "object": "payment_intent"}
        route.fulfill(status=200, json=answer, headers=cors)

    context.route(re.compile(re.escape(localstripe.base) + r"/js\.stripe\.com/v3/$"), script)
    context.route(
        re.compile(re.escape(localstripe.base) + r"/v1/payment_intents/\w+/confirm$"), confirm
    )


def phone(browser: Any, localstripe: Localstripe, **options: Any) -> Any:
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        user_agent=PHONE_UA,
        has_touch=True,
        # Playwright's routes do not see what a service worker fetches; the worker is not what
        # is tested here (tests/e2e/test_rider_pwa.py does).
        service_workers="block",
        **options,
    )
    stand_in(context, localstripe)
    return context


def type_card(page: Any, number: str) -> None:
    field = page.locator("#card-element")
    field.locator("input[aria-label='Card number']").fill(number)
    field.locator("input[aria-label='Expiry month (MM)']").fill("12")
    field.locator("input[aria-label='Expiry year (YY)']").fill("30")
    field.locator("input[aria-label='CVC']").fill("123")


def top_up_to_card_step(page: Any, amount: int) -> None:
    page.locator("li.card.virtual a[href^='#/topup/']").click()
    screen(page, "topup")
    page.check(f"#amount-{amount}")
    page.click("#topup-next")
    page.click("#topup-pay")
    page.wait_for_selector("#topup-pay-card:not([hidden])")
    page.wait_for_selector("#card-element input[aria-label='Card number']")


def test_a_rider_tops_up_with_a_card_through_stripe_js(
    backend: Backend, localstripe: Localstripe, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = phone(
            browser,
            localstripe,
            locale="vi-VN",
            bypass_csp=True,  # for axe-core's injected script only
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(backend.url + "/app/")
        screen(page, "signin")
        sign_up(page, backend)
        page.click("#make-virtual")
        expect(page.locator("li.card.virtual")).to_contain_text("Đang dùng để đi xe")

        # 50,000 VND: the amount, the card field, Pay; the balance once Stripe's webhook came.
        top_up_to_card_step(page, 50_000)
        expect(page.locator("#topup-confirm")).to_be_hidden()
        expect(page.locator("#card-amount")).to_contain_text("50.000 đ")
        expect(page.locator("#card-pay")).to_have_text("Thanh toán 50.000 đ")
        assert page.locator("#card-pay").bounding_box()["height"] >= 44
        label = page.locator("#card-element").get_attribute("aria-labelledby")
        expect(page.locator(f"#{label}")).to_have_text("Thẻ ngân hàng")
        type_card(page, GOOD_CARD)
        check_screen(page, "topup-card", tmp_path)
        page.click("#card-pay")
        expect(page.locator("#topup-result")).to_contain_text("Số dư mới: 50.000 đ", timeout=30_000)
        page.click("#topup-done a")
        screen(page, "cards")
        expect(page.locator("li.card.virtual")).to_contain_text("50.000 đ")

        # A declined card: Stripe's message, and the balance as it was.
        top_up_to_card_step(page, 20_000)
        type_card(page, DECLINED_CARD)
        page.click("#card-pay")
        expect(page.locator("#alert")).to_have_text("Your card was declined.")
        expect(page.locator("#topup-result")).to_be_hidden()
        page.click("#card-back")
        page.click("nav.main a[href='#/cards']")
        screen(page, "cards")
        expect(page.locator("li.card.virtual")).to_contain_text("Số dư: 50.000 đ")
        assert backend.query("SELECT count(*) FROM payments WHERE status = 'succeeded'") == [(1,)]
        assert errors == []
        context.close()

        # Under the page's real CSP: Stripe.js loads, talks to its API, and nothing is refused.
        strict = phone(browser, localstripe, locale="en-GB")
        page = strict.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(backend.url + "/app/?lang=en")
        screen(page, "signin")
        page.fill("#signin-phone", PHONE)
        page.fill("#signin-password", PASSWORD)
        page.click("#signin-submit")
        screen(page, "cards")
        top_up_to_card_step(page, 20_000)
        type_card(page, GOOD_CARD)
        page.click("#card-pay")
        expect(page.locator("#topup-result")).to_contain_text(
            "New balance: 70.000 đ", timeout=30_000
        )
        assert [line for line in console if "Content Security Policy" in line] == []
        strict.close()
        browser.close()
