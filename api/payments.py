"""Top-ups paid through a payment provider, and the provider's webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, request
from flask.views import MethodView

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
from transit.payments import PaymentProvider
from transit.payments.dev import DevProvider
from transit.payments.stripe import StripeProvider
from transit.services import payments, purchases, wallet

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


@blp.route("/cards/<card_id>/topups")
class TopupsView(MethodView):
    @blp.doc(operationId="top_up_card")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(TopupSchema)
    @blp.response(201, PaymentSchema)
    @blp.errors(400, 401, 404, 409, 422, 429, 503)
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Top up a card. Retry with the same Idempotency-Key: it never pays twice."""
        asker = _money_request(body)
        return purchases.start_top_up(
            asker.rider_id,
            card_id,
            body["amount"],
            idempotency_key=asker.key,
            request_print=asker.print_,
            clock=_now,
            uow_factory=unit_of_work,
            provider=provider(),
        )


@blp.route("/cards/<card_id>/passes")
class PassesView(MethodView):
    @blp.doc(operationId="buy_pass")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(BuyPassSchema)
    @blp.response(201, PaymentSchema)
    @blp.errors(400, 401, 404, 409, 422, 429, 503)
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Buy a pass for a card; it is written to the card at its next tap once paid."""
        asker = _money_request(body)
        return purchases.buy_pass(
            asker.rider_id,
            card_id,
            body["product_id"],
            body["start"],
            body["route_id"],
            idempotency_key=asker.key,
            request_print=asker.print_,
            clock=_now,
            uow_factory=unit_of_work,
            provider=provider(),
        )


@blp.route("/cards/<card_id>/products")
class ProductsView(MethodView):
    @blp.etag
    @blp.response(200, ProductListSchema)
    @blp.errors(401, 404)
    def get(self, card_id: str) -> Any:
        """The passes this card may buy, at its price (student passes with a valid student
        eligibility only)."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            card = wallet.owned_card(rider, card_id, uow)
            offered = payments.products_for(card, datetime.now(UTC))
        return {"data": [product.__dict__ for product in offered]}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Asker:
    rider_id: str
    key: str
    print_: str


def _money_request(body: dict[str, Any]) -> _Asker:
    """Who asks (401), their Idempotency-Key (400), then their pace (429), in that order."""
    with unit_of_work() as uow:
        rider_id = current_rider(uow).rider_id
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    # A NUL cannot be stored (PostgreSQL refuses it): such a key is no key.
    if not 0 < len(idempotency_key) <= MAX_KEY or "\x00" in idempotency_key:
        raise IdempotencyKeyMissing()
    # flask-limiter names a limit entered as a context by the line it is entered on: this one
    # line counts top-ups and passes together, and the check happens on entering.
    with limiter.limit(PAYMENTS_PER_RIDER, key_func=rider_key):
        pass
    return _Asker(rider_id, idempotency_key, purchases.fingerprint("POST", request.path, body))


@blp.route("/payments/<payment_id>")
class PaymentView(MethodView):
    @blp.response(200, PaymentSchema)
    @blp.errors(401, 404)
    def get(self, payment_id: str) -> Any:
        """A payment's state: the app polls this after paying, until it is succeeded."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            return purchases.payment_of(rider.rider_id, payment_id, uow)


@blp.route("/webhooks/stripe")
class StripeWebhookView(MethodView):
    @blp.doc(operationId="handle_stripe_webhook")
    @blp.response(200)
    @blp.errors(400, 422)
    def post(self) -> Any:
        """Stripe's events, verified by their signature; each acted on once."""
        chosen = provider()
        if chosen.name != "stripe":
            raise purchases.BadSignature()
        outcome = purchases.receive_event(
            request.get_data(cache=False),
            dict(request.headers),
            provider=chosen,
            clock=_now,
            uow_factory=unit_of_work,
        )
        return {"status": outcome}
