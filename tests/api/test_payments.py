"""Top-ups: the development provider, Stripe through localstripe, webhooks, idempotency."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox, build_app
from tests.support.localstripe import (
    WEBHOOK_SECRET,
    Localstripe,
    LocalstripeUnavailable,
    start_localstripe,
)
from tests.support.required import running
from transit.localtime import service_day
from transit.models import Alert, Payment, PaymentEvent, PendingAction
from transit.payments import PaymentRequest, ProviderPayment, ProviderUnavailable
from transit.payments.stripe import StripeProvider
from transit.services import cards, sync

UID = "04A1B2C3D4E5F6"


def topup(
    client: FlaskClient,
    who: dict[str, str],
    card_id: str,
    amount: Any = 50_000,
    key: str | None = "default",
) -> Any:
    headers = dict(who)
    if key is not None:
        headers["Idempotency-Key"] = key if key != "default" else str(uuid.uuid4())
    return client.post(f"/api/v1/cards/{card_id}/topups", json={"amount": amount}, headers=headers)


def loads(app: Flask) -> list[tuple[int, str]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            (a.amount, a.status)
            for a in uow.session.scalars(select(PendingAction).order_by(PendingAction.seq))
        ]


def alerts(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return [a.kind for a in uow.session.scalars(select(Alert).order_by(Alert.alert_id))]


@pytest.fixture
def rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms))


@pytest.fixture
def card_id(app: Flask, client: FlaskClient, rider: dict[str, str]) -> str:
    number, code = issue(app, UID, balance=10_000)
    return str(link(client, rider, number, code).get_json()["card_id"])


# -- the development provider (what `make run` uses) ------------------------------------------


def test_a_development_top_up_is_paid_at_once_and_becomes_a_load(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    answer = topup(client, rider, card_id, 50_000)
    assert answer.status_code == 201, answer.get_json()
    paid = answer.get_json()
    assert (paid["status"], paid["amount"], paid["currency"], paid["provider"]) == (
        "succeeded",
        50_000,
        "vnd",
        "dev",
    )
    assert paid["load_seq"] == 1
    assert loads(app) == [(50_000, "pending")]
    card = client.get(f"/api/v1/cards/{card_id}", headers=rider).get_json()
    assert (card["balance"], card["pending_total"]) == (10_000, 50_000)
    polled = client.get(f"/api/v1/payments/{paid['payment_id']}", headers=rider).get_json()
    assert polled["status"] == "succeeded"


def test_the_same_key_replays_and_another_body_with_it_is_refused(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    first = topup(client, rider, card_id, 50_000, key="k-1")
    again = topup(client, rider, card_id, 50_000, key="k-1")
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    other = topup(client, rider, card_id, 60_000, key="k-1")
    assert (other.status_code, other.get_json()["code"]) == (422, "idempotency_key_reused")
    missing = topup(client, rider, card_id, 50_000, key=None)
    assert (missing.status_code, missing.get_json()["code"]) == (400, "idempotency_key_missing")
    too_long = topup(client, rider, card_id, 50_000, key="k" * 256)
    assert (too_long.status_code, too_long.get_json()["code"]) == (400, "idempotency_key_missing")
    assert loads(app) == [(50_000, "pending")]


def test_keys_are_the_riders_own(
    app: Flask, client: FlaskClient, sms: SmsOutbox, rider: dict[str, str], card_id: str
) -> None:
    topup(client, rider, card_id, 50_000, key="shared-key")
    other = bearer(signed_up(client, sms, phone="0987 654 321"))
    number, code = issue(app, "04A1B2C3D4E5F7")
    other_card = link(client, other, number, code).get_json()["card_id"]
    answer = topup(client, other, other_card, 50_000, key="shared-key")
    assert answer.status_code == 201  # a new payment, not the first rider's answer
    assert answer.get_json()["card_id"] == other_card
    stolen = topup(client, other, card_id, 50_000)
    assert (stolen.status_code, stolen.get_json()["code"]) == (404, "card_not_found")
    assert client.get(
        f"/api/v1/payments/{answer.get_json()['payment_id']}", headers=rider
    ).get_json()["code"] == ("payment_not_found")


@pytest.mark.parametrize("amount", [0, -1, 19_999, 2_000_001, 10**12, "50000", 50000.5, None])
def test_amounts_outside_the_bounds_are_refused_and_charge_nothing(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str, amount: Any
) -> None:
    answer = topup(client, rider, card_id, amount)
    assert answer.status_code == 422
    assert loads(app) == []


def test_a_top_up_past_the_purses_limit_is_refused_with_the_room_left(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F8", balance=4_000_000)
    full = link(client, rider, number, code).get_json()["card_id"]
    assert topup(client, rider, full, 900_000).status_code == 201
    answer = topup(client, rider, full, 200_000)
    assert (answer.status_code, answer.get_json()["code"]) == (422, "purse_full")
    assert "100,000" in answer.get_json()["detail"] or "100000" in answer.get_json()["detail"]


# -- a provider that fails, or is slow: our own fakes, for what localstripe cannot do ---------


class FlakyProvider:
    """Honours idempotency keys like Stripe; can lose one answer, or be slow."""

    name = "stripe"

    def __init__(self) -> None:
        self.made: dict[str, ProviderPayment] = {}
        self.calls = 0
        self.lose_next_answer = False
        self.delay = 0.0

    def create(self, request: PaymentRequest) -> ProviderPayment:
        self.calls += 1
        time.sleep(self.delay)
        made = self.made.setdefault(
            request.payment_id,
            ProviderPayment(
                f"pi_fake_{len(self.made)}",
                "pending",
                request.amount,
                request.currency,
                request.payment_id,
                for_app={"client_secret": "cs_fake", "publishable_key": "pk_fake"},
            ),
        )
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise ProviderUnavailable("timed out")
        return made

    def retrieve(self, ref: str) -> ProviderPayment:
        return next(p for p in self.made.values() if p.ref == ref)

    def parse_event(self, payload: bytes, headers: dict[str, str]) -> Any:
        raise NotImplementedError

    def list_since(self, since: Any) -> list[ProviderPayment]:
        return list(self.made.values())


@pytest.fixture
def flaky(database_url: str, tmp_path: Path, sms: SmsOutbox) -> Iterator[tuple[Flask, Any]]:
    provider = FlakyProvider()
    app = build_app(database_url, tmp_path / "flaky", sms, PAYMENT_PROVIDER_OBJECT=provider)
    yield app, provider
    app.extensions["transit"].engine.dispose()


def test_a_lost_provider_answer_is_retried_into_the_same_payment(
    flaky: tuple[Flask, FlakyProvider], sms: SmsOutbox
) -> None:
    app, provider = flaky
    client = app.test_client()
    rider = bearer(signed_up(client, sms))
    number, code = issue(app, UID)
    card = link(client, rider, number, code).get_json()["card_id"]
    provider.lose_next_answer = True
    failed = topup(client, rider, card, 50_000, key="retry-me")
    assert (failed.status_code, failed.get_json()["code"]) == (503, "payment_provider_unavailable")
    retried = topup(client, rider, card, 50_000, key="retry-me")
    assert retried.status_code == 201
    assert (retried.get_json()["status"], retried.get_json()["client_secret"]) == (
        "pending",
        "cs_fake",
    )
    assert provider.calls == 2
    assert len(provider.made) == 1  # one payment at the provider, whatever happened on the way
    with app.app_context(), unit_of_work() as uow:
        assert len(uow.session.scalars(select(Payment)).all()) == 1


def test_a_retry_while_the_first_request_is_running_is_told_to_wait(
    flaky: tuple[Flask, FlakyProvider], sms: SmsOutbox
) -> None:
    app, provider = flaky
    client = app.test_client()
    rider = bearer(signed_up(client, sms))
    number, code = issue(app, UID)
    card = link(client, rider, number, code).get_json()["card_id"]
    provider.delay = 1.0
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(topup(app.test_client(), rider, card, 50_000, key="same"))
    )
    first.start()
    time.sleep(0.4)
    second = topup(app.test_client(), rider, card, 50_000, key="same")
    first.join(timeout=10)
    assert (second.status_code, second.get_json()["code"]) == (409, "request_in_progress")
    assert answers[0].status_code == 201
    assert provider.calls == 1


# -- Stripe, through the real library against localstripe ------------------------------------


@pytest.fixture(scope="module")
def localstripe() -> Iterator[Localstripe]:
    with running("localstripe", start_localstripe, LocalstripeUnavailable) as server:
        server.listen_for_webhooks()
        yield server


@pytest.fixture
def stripe_app(
    database_url: str, tmp_path: Path, sms: SmsOutbox, localstripe: Localstripe
) -> Iterator[Flask]:
    app = stripe_test_app(database_url, tmp_path, sms, localstripe)
    yield app
    app.extensions["transit"].engine.dispose()


# The Stripe provider with test keys: localstripe takes any.
STRIPE = {
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_local",
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def stripe_test_app(
    database_url: str, tmp_path: Path, sms: SmsOutbox, localstripe: Localstripe
) -> Flask:
    """The app paying through the real stripe library, pointed at localstripe."""
    return build_app(
        database_url, tmp_path / "stripe", sms, **STRIPE, STRIPE_API_BASE=localstripe.base
    )


def phone_pays(localstripe: Localstripe, intent_id: str) -> None:
    """What the Stripe SDK on the phone does: attach a card and confirm."""
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe.base})
    method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    client.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
    client.v1.payment_intents.confirm(intent_id)


def stripe_intent(app: Flask, payment_id: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        payment = uow.session.get(Payment, payment_id)
        assert payment is not None
        assert payment.provider_ref is not None
        return payment.provider_ref


def stripe_topup(stripe_app: Flask, sms: SmsOutbox) -> tuple[FlaskClient, dict[str, str], Any, str]:
    """A rider with a linked card who started a 50,000 VND top-up through Stripe:
    (client, the rider's headers, the payment as the app saw it, its PaymentIntent id)."""
    client = stripe_app.test_client()
    rider = bearer(signed_up(client, sms))
    number, code = issue(stripe_app, UID)
    card = link(client, rider, number, code).get_json()["card_id"]
    started = topup(client, rider, card, 50_000).get_json()
    return client, rider, started, stripe_intent(stripe_app, started["payment_id"])


def webhook(client: FlaskClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": headers.get("Stripe-Signature", "")},
        content_type="application/json",
    )


def signed(event: dict[str, Any], timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """An event signed as Stripe signs it, with the library's own test helper."""
    body = json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, timestamp=timestamp
    )
    return body, {"Stripe-Signature": header}


def test_a_stripe_top_up_is_loaded_once_however_often_its_webhook_comes(
    stripe_app: Flask, sms: SmsOutbox, localstripe: Localstripe
) -> None:
    client = stripe_app.test_client()
    rider = bearer(signed_up(client, sms))
    number, code = issue(stripe_app, UID)
    card = link(client, rider, number, code).get_json()["card_id"]
    answer = topup(client, rider, card, 50_000, key="stripe-1")
    assert answer.status_code == 201, answer.get_json()
    started = answer.get_json()
    assert started["status"] == "pending"
    assert started["client_secret"].startswith("pi_")
    assert started["publishable_key"] == "pk_test_local"
    replay = topup(client, rider, card, 50_000, key="stripe-1").get_json()
    assert replay["payment_id"] == started["payment_id"]
    intent = stripe_intent(stripe_app, started["payment_id"])
    lister = stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe.base})
    everything = lister.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    ours = started["payment_id"]
    mine = [p for p in everything if p.metadata.to_dict().get("payment_id") == ours]
    assert [(p.id, p.amount, p.currency) for p in mine] == [(intent, 50_000, "vnd")]

    phone_pays(localstripe, intent)
    delivered = localstripe.next_webhook("payment_intent.succeeded")
    assert delivered.event["data"]["object"]["id"] == intent
    statuses = [webhook(client, delivered.body, delivered.headers) for _ in range(5)]
    assert [s.status_code for s in statuses] == [200] * 5
    assert [s.get_json()["status"] for s in statuses] == ["applied"] + ["duplicate"] * 4
    assert loads(stripe_app) == [(50_000, "pending")]
    polled = client.get(f"/api/v1/payments/{started['payment_id']}", headers=rider).get_json()
    assert (polled["status"], polled["load_seq"]) == ("succeeded", 1)
    # A failure reported after the success moves nothing backwards.
    failed = dict(delivered.event, id="evt_late_failure", type="payment_intent.payment_failed")
    assert webhook(client, *signed(failed)).get_json()["status"] == "no_change"
    assert client.get(f"/api/v1/payments/{started['payment_id']}", headers=rider).get_json()[
        "status"
    ] == ("succeeded")


def test_tampered_stale_and_unsigned_webhooks_are_refused_and_change_nothing(
    stripe_app: Flask, sms: SmsOutbox, localstripe: Localstripe
) -> None:
    client, rider, started, intent = stripe_topup(stripe_app, sms)
    phone_pays(localstripe, intent)
    delivered = localstripe.next_webhook("payment_intent.succeeded")
    tampered = delivered.body.replace(b'"amount": 50000', b'"amount": 5000000')
    assert tampered != delivered.body
    stale = signed(delivered.event, timestamp=int(time.time()) - 301)
    future = signed(delivered.event, timestamp=int(time.time()) + 3600)
    for body, headers in (
        (tampered, delivered.headers),
        stale,
        future,
        (delivered.body, {}),
        (delivered.body, {"Stripe-Signature": "t=1,v1=abc"}),
        (b"not json", delivered.headers),
    ):
        answer = webhook(client, body, headers)
        assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_signature")
    assert loads(stripe_app) == []
    with stripe_app.app_context(), unit_of_work() as uow:
        assert uow.session.scalars(select(PaymentEvent)).all() == []


def test_an_event_that_disagrees_with_our_payment_moves_no_money_and_raises_an_alert(
    stripe_app: Flask, sms: SmsOutbox, localstripe: Localstripe
) -> None:
    client, rider, started, intent = stripe_topup(stripe_app, sms)
    phone_pays(localstripe, intent)
    event = localstripe.next_webhook("payment_intent.succeeded").event
    event["data"]["object"]["amount"] = 5_000_000
    answer = webhook(client, *signed(event))
    assert (answer.status_code, answer.get_json()["code"]) == (422, "payment_mismatch")
    assert loads(stripe_app) == []
    assert alerts(stripe_app) == ["payment_mismatch"]
    again = webhook(client, *signed(event))
    assert again.get_json()["status"] == "duplicate"  # one alert, however often it comes
    assert alerts(stripe_app) == ["payment_mismatch"]


def test_a_refund_before_the_card_saw_the_load_withdraws_it(
    stripe_app: Flask, sms: SmsOutbox, localstripe: Localstripe
) -> None:
    client, rider, started, intent = stripe_topup(stripe_app, sms)
    phone_pays(localstripe, intent)
    webhook(client, *_as_pair(localstripe.next_webhook("payment_intent.succeeded")))
    # localstripe sends no charge.refunded: the event is made here, signed as Stripe signs.
    refunded = {
        "id": "evt_refund_1",
        "object": "event",
        "type": "charge.refunded",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": intent,
                "amount": 50_000,
                "amount_refunded": 50_000,
                "currency": "vnd",
            }
        },
    }
    answer = webhook(client, *signed(refunded))
    assert answer.get_json()["status"] == "applied"
    assert loads(stripe_app) == [(50_000, "withdrawn")]
    polled = client.get(f"/api/v1/payments/{started['payment_id']}", headers=rider).get_json()
    assert polled["status"] == "refunded"


def _as_pair(delivered: Any) -> tuple[bytes, dict[str, str]]:
    return delivered.body, delivered.headers


def test_reconcile_lists_every_mismatch(flaky: tuple[Flask, FlakyProvider], sms: SmsOutbox) -> None:
    # localstripe cannot filter payments by date, so the provider here is our own fake.
    app, provider = flaky
    client = app.test_client()
    rider = bearer(signed_up(client, sms))
    number, code = issue(app, UID)
    card = link(client, rider, number, code).get_json()["card_id"]
    clean = app.test_cli_runner().invoke(args=["payments", "reconcile", "--since", "2026-01-01"])
    assert (clean.exit_code, clean.output.strip()) == (0, "no mismatches since 2026-01-01")
    paid = topup(client, rider, card, 50_000).get_json()
    # The rider paid, and the webhook never came.
    made = provider.made[paid["payment_id"]]
    provider.made[paid["payment_id"]] = dataclasses.replace(made, status="succeeded")
    # A payment at the provider that we never recorded.
    provider.made["pay_elsewhere"] = ProviderPayment("pi_stray", "succeeded", 90_000, "vnd", None)
    run = app.test_cli_runner().invoke(args=["payments", "reconcile", "--since", "2026-01-01"])
    assert run.exit_code == 1, run.output
    lines = sorted(run.output.strip().splitlines())
    assert lines == sorted(
        [
            f"{paid['payment_id']}\t{made.ref}\tprovider says succeeded, we say created",
            "-\tpi_stray\tsucceeded there, unknown here",
            "2 mismatch(es) since 2026-01-01",
        ]
    )


def test_stripe_keys_never_reach_a_repr() -> None:
    provider = StripeProvider("sk_live_secret", "pk_live", "whsec_secret", api_base="http://x")
    assert "sk_live_secret" not in repr(provider)


# -- passes -------------------------------------------------------------------------------------


def issue_for(app: Flask, uid: str, category: str, valid_until: date | None) -> tuple[str, str]:
    with app.app_context(), unit_of_work() as uow:
        reservation = cards.reserve_card(
            uow,
            uid=bytes.fromhex(uid),
            category_id=category,
            valid_until=valid_until,
            balance=0,
            prefix="8401",
            now=datetime.now(UTC),
        )
        cards.finish_issuing(uow, reservation.card_id, personalized=True)
        uow.commit()
    return reservation.card_number, reservation.check_code


def offered(client: FlaskClient, rider: dict[str, str], card: str) -> dict[str, int]:
    answer = client.get(f"/api/v1/cards/{card}/products", headers=rider)
    assert answer.status_code == 200, answer.get_json()
    return {p["product_id"]: p["price"] for p in answer.get_json()["data"]}


def test_a_card_is_offered_the_passes_of_its_category(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    adult = {
        "pass_one_route": 140_000,
        "pass_all_routes": 280_000,
        "metro_2a_month": 280_000,
        "metro_31_month": 280_000,
        "metro_day": 30_000,
        "multimodal_month": 500_000,
    }
    assert offered(client, rider, card_id) == adult
    today = service_day(datetime.now(UTC))  # Hanoi's date, as the service counts
    student = link(
        client,
        rider,
        *issue_for(app, "04A1B2C3D4E5F9", "student", today.replace(year=today.year + 1)),
    ).get_json()["card_id"]
    assert offered(client, rider, student) == {
        "pass_one_route": 70_000,
        "pass_all_routes": 140_000,
        "metro_2a_month": 140_000,
        "metro_31_month": 140_000,
        "metro_day": 30_000,
        "multimodal_month": 250_000,
    }
    lapsed = link(
        client, rider, *issue_for(app, "04A1B2C3D4E5FA", "student", today - timedelta(days=1))
    ).get_json()["card_id"]
    assert offered(client, rider, lapsed) == adult
    elderly = link(client, rider, *issue_for(app, "04A1B2C3D4E5FB", "elderly", None)).get_json()[
        "card_id"
    ]
    assert offered(client, rider, elderly) == {}  # rides free: nothing to buy


def buy(client: FlaskClient, rider: dict[str, str], card: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/cards/{card}/passes",
        json=body,
        headers={**rider, "Idempotency-Key": str(uuid.uuid4())},
    )


def test_a_bought_pass_waits_for_the_cards_next_tap(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    answer = buy(client, rider, card_id, product_id="pass_all_routes")
    assert answer.status_code == 201, answer.get_json()
    paid = answer.get_json()
    assert (paid["kind"], paid["product_id"], paid["amount"], paid["status"]) == (
        "pass",
        "pass_all_routes",
        280_000,
        "succeeded",
    )
    card = client.get(f"/api/v1/cards/{card_id}", headers=rider).get_json()
    [held] = card["passes"]
    assert (held["product_id"], held["on_card"]) == ("pass_all_routes", False)
    assert card["pending_total"] == 0  # a pass is not money on the purse
    with app.app_context(), unit_of_work() as uow:
        snapshot = sync.snapshot(0, datetime.now(UTC), uow)
    [pending] = snapshot.pending
    assert pending.kind == "pass"
    assert pending.pass_ is not None
    assert pending.pass_.pass_code == 2
    assert date.fromisoformat(held["valid_from"]).day == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"product_id": "pass_gold"}, "invalid_product"),
        ({"product_id": "pass_one_route"}, "invalid_product"),  # which route?
        ({"product_id": "pass_one_route", "route_id": "999"}, "invalid_product"),
        ({"product_id": "pass_all_routes", "start": "2020-01-01"}, "invalid_product"),
        ({"product_id": "pass_all_routes", "route_id": "32"}, "invalid_product"),
    ],
)
def test_a_pass_that_cannot_be_sold_is_refused_before_any_payment(
    app: Flask,
    client: FlaskClient,
    rider: dict[str, str],
    card_id: str,
    body: dict[str, Any],
    code: str,
) -> None:
    answer = buy(client, rider, card_id, **body)
    assert (answer.status_code, answer.get_json()["code"]) == (422, code)
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.scalars(select(Payment)).all() == []


def test_a_one_route_pass_names_its_route(
    client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    answer = buy(client, rider, card_id, product_id="pass_one_route", route_id="32")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["amount"] == 140_000


def test_a_lost_cards_passes_move_to_the_new_card(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str
) -> None:
    assert buy(client, rider, card_id, product_id="pass_all_routes").status_code == 201
    new_number, new_code = issue(app, "04A1B2C3D4E5F7", balance=0)
    client.post(f"/api/v1/cards/{card_id}/block", json={"reason": "lost"}, headers=rider)
    moved = client.post(
        f"/api/v1/cards/{card_id}/replace",
        json={"card_number": new_number, "check_code": new_code},
        headers=rider,
    ).get_json()
    assert (moved["moved"], moved["passes"]) == (10_000, 1)
    assert [p["product_id"] for p in moved["card"]["passes"]] == ["pass_all_routes"]


def test_a_declined_card_fails_the_payment_and_a_second_card_can_still_pay_it(
    stripe_app: Flask, sms: SmsOutbox, localstripe: Localstripe
) -> None:
    client, rider, started, intent = stripe_topup(stripe_app, sms)
    # localstripe does not decline cards: the decline is made here, signed as Stripe signs.
    declined = {
        "id": "evt_declined_1",
        "object": "event",
        "type": "payment_intent.payment_failed",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": intent,
                "object": "payment_intent",
                "amount": 50_000,
                "currency": "vnd",
                "status": "requires_payment_method",
                "metadata": {"payment_id": started["payment_id"]},
                "client_secret": None,
                "created": int(time.time()),
            }
        },
    }
    assert webhook(client, *signed(declined)).get_json()["status"] == "applied"
    polled = client.get(f"/api/v1/payments/{started['payment_id']}", headers=rider).get_json()
    assert (polled["status"], polled["load_status"]) == ("failed", None)
    assert loads(stripe_app) == []
    # The rider tries another card on the same payment, and it goes through.
    phone_pays(localstripe, intent)
    webhook(client, *_as_pair(localstripe.next_webhook("payment_intent.succeeded")))
    polled = client.get(f"/api/v1/payments/{started['payment_id']}", headers=rider).get_json()
    assert (polled["status"], polled["load_status"]) == ("succeeded", "pending")
    assert loads(stripe_app) == [(50_000, "pending")]


def test_a_category_price_is_not_sold_for_days_after_the_category_ends(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    today = service_day(datetime.now(UTC))  # Hanoi's date, as the service counts
    month_end = date(today.year + today.month // 12, today.month % 12 + 1, 1) - timedelta(days=1)
    number, code = issue_for(app, "04A1B2C3D4E5FC", "student", month_end)
    card = link(client, rider, number, code).get_json()["card_id"]
    this_month = buy(client, rider, card, product_id="pass_all_routes")
    assert (this_month.status_code, this_month.get_json()["amount"]) == (201, 140_000)
    next_month = buy(
        client,
        rider,
        card,
        product_id="pass_all_routes",
        start=(month_end + timedelta(days=1)).isoformat(),
    )
    assert (next_month.status_code, next_month.get_json()["code"]) == (422, "invalid_product")
