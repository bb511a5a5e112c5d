"""Top-ups paid through a payment provider, and the provider's webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, request
from flask.views import MethodView
from sqlalchemy.exc import IntegrityError

from api.auth import current_rider
from api.deps import unit_of_work
from api.limits import limiter, rider_key
from api.schemas.payments import (
    BuyPassSchema,
    PaymentSchema,
    ProductListSchema,
    TopupSchema,
)
from api.smorest import Blueprint
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import Card, Payment, Rider
from transit.payments import (
    InvalidSignature,
    PaymentProvider,
    ProviderEvent,
    ProviderPayment,
    ProviderUnavailable,
)
from transit.payments.dev import DevProvider
from transit.payments.stripe import StripeProvider
from transit.services import payments, wallet
from transit.uow import UnitOfWork

EXTENSION = "transit.payments"
MAX_KEY = 255
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
    "description": "A new UUID per top-up; kept 24 hours, scoped to the rider. The same key "
    "with the same body replays the answer; with another body 422; while the first request "
    "runs 409; missing 400.",
}
PAYMENTS_PER_RIDER = "30 per hour"

blp = Blueprint(
    "payments",
    __name__,
    url_prefix="/api/v1",
    description="Top-ups: paid through the provider, loaded onto the card at its next tap",
)


class ProviderDown(DomainError):
    code = "payment_provider_unavailable"
    status = 503


class BadSignature(DomainError):
    code = "invalid_signature"
    status = 400


class IdempotencyKeyMissing(DomainError):
    code = "idempotency_key_missing"
    status = 400


def install(app: Flask, override: Any = None) -> None:
    config = app.config
    name = config["PAYMENT_PROVIDER"]
    provider: PaymentProvider
    if override is not None:
        provider = override
    elif name == "dev":
        provider = DevProvider()
    elif name == "stripe":
        missing = [
            key
            for key in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
            if not config.get(key)
        ]
        if missing:
            raise RuntimeError(f"PAYMENT_PROVIDER=stripe needs {', '.join(missing)}")
        provider = StripeProvider(
            config["STRIPE_SECRET_KEY"],
            config["STRIPE_PUBLISHABLE_KEY"],
            config["STRIPE_WEBHOOK_SECRET"],
            api_base=config.get("STRIPE_API_BASE") or None,
        )
    else:
        raise RuntimeError(f"PAYMENT_PROVIDER={name!r}: dev or stripe")
    app.extensions[EXTENSION] = provider


def provider() -> PaymentProvider:
    found: PaymentProvider = current_app.extensions[EXTENSION]
    return found


def _view(payment: Payment, answer: ProviderPayment | None, uow: UnitOfWork) -> dict[str, Any]:
    app_part = answer.for_app if answer is not None and payment.status == "created" else {}
    return {
        "load_status": payments.load_status(payment, uow),
        "payment_id": payment.payment_id,
        "card_id": payment.card_id,
        "kind": payment.kind,
        "product_id": payment.product_id,
        "status": "pending" if payment.status == "created" else payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "provider": payment.provider,
        "load_seq": payment.load_seq,
        "client_secret": app_part.get("client_secret"),
        "publishable_key": app_part.get("publishable_key"),
        "created_at": payment.created_at,
    }


@blp.route("/cards/<card_id>/topups")
class TopupsView(MethodView):
    @blp.doc(operationId="top_up_card")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(TopupSchema)
    @blp.response(201, PaymentSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Top up a card. Retry with the same Idempotency-Key: it never pays twice."""
        return _pay(
            lambda rider, key, print_, chosen, now, uow: payments.begin_topup(
                rider,
                card_id,
                body["amount"],
                key=key,
                print_=print_,
                provider=chosen.name,
                now=now,
                uow=uow,
            ),
            body,
        )


@blp.route("/cards/<card_id>/passes")
class PassesView(MethodView):
    @blp.doc(operationId="buy_pass")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(BuyPassSchema)
    @blp.response(201, PaymentSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Buy a pass for a card; it is written to the card at its next tap once paid."""
        return _pay(
            lambda rider, key, print_, chosen, now, uow: payments.begin_pass_purchase(
                rider,
                card_id,
                body["product_id"],
                body["start"] or service_day(now),
                body["route_id"],
                key=key,
                print_=print_,
                provider=chosen.name,
                now=now,
                uow=uow,
            ),
            body,
        )


@blp.route("/cards/<card_id>/products")
class ProductsView(MethodView):
    @blp.etag
    @blp.response(200, ProductListSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, card_id: str) -> Any:
        """The passes this card may buy, at its price (student passes with a valid student
        eligibility only)."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            card = wallet.owned_card(rider, card_id, uow)
            offered = payments.products_for(card, datetime.now(UTC))
        return {"data": [product.__dict__ for product in offered]}


Begin = Callable[[Rider, str, str, PaymentProvider, datetime, UnitOfWork], payments.Started]


def _pay(begin: Begin, body: dict[str, Any]) -> Any:
    """The money-moving request: idempotency, the provider call outside any transaction."""
    chosen = provider()
    now = datetime.now(UTC)
    with unit_of_work() as uow:
        rider = current_rider(uow)  # who asks comes first, before what is wrong with the ask
        idempotency_key = request.headers.get("Idempotency-Key", "").strip()
        # A NUL cannot be stored (PostgreSQL refuses it): such a key is no key.
        if not 0 < len(idempotency_key) <= MAX_KEY or "\x00" in idempotency_key:
            raise IdempotencyKeyMissing()
        with limiter.limit(PAYMENTS_PER_RIDER, key_func=rider_key):
            started = begin(
                rider,
                idempotency_key,
                payments.fingerprint("POST", request.path, body),
                chosen,
                now,
                uow,
            )
        payment = started.payment
        rider_id, payment_id, ref = rider.rider_id, payment.payment_id, payment.provider_ref
        card = uow.session.get(Card, payment.card_id)
        assert card is not None
        payment_request = payments.request_for(payment, card)
    if not started.ask_provider:
        answer = _retrieve(chosen, ref)
        with unit_of_work() as uow:
            return _view(payments.owned_payment(rider_id, payment_id, uow), answer, uow)
    try:
        answer = chosen.create(payment_request)
    except ProviderUnavailable:
        with unit_of_work() as uow:
            payments.provider_failed(payment_id, uow)
            uow.commit()
        raise ProviderDown() from None
    with unit_of_work() as uow:
        payment = payments.provider_answered(payment_id, answer, datetime.now(UTC), uow)
        result = _view(payment, answer, uow)
        uow.commit()
    return result


def _retrieve(chosen: PaymentProvider, ref: str | None) -> ProviderPayment | None:
    if ref is None:
        return None
    try:
        return chosen.retrieve(ref)
    except ProviderUnavailable:
        raise ProviderDown() from None


@blp.route("/payments/<payment_id>")
class PaymentView(MethodView):
    @blp.response(200, PaymentSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, payment_id: str) -> Any:
        """A payment's state: the app polls this after paying, until it is succeeded."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            return _view(payments.owned_payment(rider.rider_id, payment_id, uow), None, uow)


@blp.route("/webhooks/stripe")
class StripeWebhookView(MethodView):
    @blp.doc(operationId="handle_stripe_webhook")
    @blp.response(200)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self) -> Any:
        """Stripe's events, verified by their signature; each acted on once."""
        chosen = provider()
        if chosen.name != "stripe":
            raise BadSignature()
        payload = request.get_data(cache=False)
        try:
            event = chosen.parse_event(payload, dict(request.headers))
        except InvalidSignature:
            raise BadSignature() from None
        try:
            outcome = _handle(event, chosen.name)
        except IntegrityError:
            # A second delivery of this event, or of its twin, committed while this one ran:
            # looked at again, it is a duplicate or changes nothing.
            outcome = _handle(event, chosen.name)
        return {"status": outcome}


def _handle(event: ProviderEvent, provider_name: str) -> str:
    with unit_of_work() as uow:
        outcome = payments.handle_event(event, provider_name, datetime.now(UTC), uow)
        uow.commit()
    return outcome
