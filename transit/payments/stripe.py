"""Stripe, through its own library (StripeClient, retries on, our idempotency keys).

VND is a zero-decimal currency for Stripe: `amount=50000` is 50,000 đồng. The idempotency key
of a PaymentIntent is derived from our payment id, so a retried request, ours or the library's,
never makes a second one. Webhooks are verified with the library's own signature check.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import stripe

from transit.payments import (
    InvalidSignature,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderUnavailable,
)

TOLERANCE = 300  # seconds, either way: Stripe's library only refuses old timestamps

_STATUS = {
    "succeeded": "succeeded",
    "canceled": "canceled",
    "requires_payment_method": "pending",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "processing": "pending",
    "requires_capture": "pending",
}
_EVENTS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "charge.refunded": "refunded",
}


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        publishable_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
    ) -> None:
        addresses: Any = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            secret_key, base_addresses=addresses, max_network_retries=2
        )
        self._publishable_key = publishable_key
        self._webhook_secret = webhook_secret

    def __repr__(self) -> str:
        return "StripeProvider(<keys hidden>)"

    def create(self, request: PaymentRequest) -> ProviderPayment:
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": request.amount,
                    "currency": request.currency,
                    # The description rides in the metadata: localstripe refuses the field.
                    "metadata": {**request.metadata, "description": request.description},
                },
                options={"idempotency_key": f"payment:{request.payment_id}:create"},
            )
        except stripe.StripeError as error:
            raise ProviderUnavailable(_describe(error)) from None
        return self._payment(intent)

    def retrieve(self, ref: str) -> ProviderPayment:
        try:
            return self._payment(self._client.v1.payment_intents.retrieve(ref))
        except stripe.StripeError as error:
            raise ProviderUnavailable(_describe(error)) from None

    def list_since(self, since: datetime) -> list[ProviderPayment]:
        try:
            page = self._client.v1.payment_intents.list(
                params={"created": {"gte": int(since.timestamp())}, "limit": 100}
            )
            return [self._payment(intent) for intent in page.auto_paging_iter()]
        except stripe.StripeError as error:
            raise ProviderUnavailable(_describe(error)) from None

    def parse_event(self, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        signature = headers.get("Stripe-Signature", "")
        try:
            event = stripe.Webhook.construct_event(
                payload.decode("utf-8"), signature, self._webhook_secret, tolerance=TOLERANCE
            )
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
            raise InvalidSignature() from None
        stamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
        if not stamps or not stamps[0].isdigit() or int(stamps[0]) > time.time() + TOLERANCE:
            raise InvalidSignature()  # signed "in the future": not a delivery we trust
        kind = _EVENTS.get(event.type, "ignored")
        obj = event.data.object
        if event.type == "charge.refunded":
            payment = ProviderPayment(
                ref=str(obj["payment_intent"]),
                status="succeeded",
                amount=int(obj["amount"]),
                currency=str(obj["currency"]),
                payment_id=None,
                refunded=int(obj["amount_refunded"]),
            )
        elif kind == "ignored":
            payment = ProviderPayment(str(obj["id"]), "unknown", 0, "", None)
        else:
            payment = self._payment(obj)
        return ProviderEvent(str(event.id), kind, str(event.type), payment)

    def _payment(self, intent: Any) -> ProviderPayment:
        metadata = intent["metadata"].to_dict() if intent["metadata"] else {}
        created = intent["created"]
        return ProviderPayment(
            ref=str(intent["id"]),
            status=_STATUS.get(str(intent["status"]), "pending"),
            amount=int(intent["amount"]),
            currency=str(intent["currency"]),
            payment_id=metadata.get("payment_id"),
            created=datetime.fromtimestamp(int(created), UTC) if created else None,
            for_app={
                "client_secret": intent["client_secret"],
                "publishable_key": self._publishable_key,
            },
        )


def _describe(error: stripe.StripeError) -> str:
    # The message and code only: never the request, which may carry keys.
    return f"{type(error).__name__}: {error.user_message or error.code or 'no detail'}"
