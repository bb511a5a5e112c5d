"""The development provider: every payment succeeds at once, and no money moves.

It is what `make run` uses with no configuration, so the whole top-up path works on a laptop;
the app refuses it when configured for production.
"""

from __future__ import annotations

from datetime import datetime

from transit.payments import InvalidSignature, PaymentRequest, ProviderEvent, ProviderPayment


class DevProvider:
    name = "dev"

    def __init__(self) -> None:
        self._made: dict[str, ProviderPayment] = {}

    def create(self, request: PaymentRequest) -> ProviderPayment:
        payment = ProviderPayment(
            ref="dev_" + request.payment_id,
            status="succeeded",
            amount=request.amount,
            currency=request.currency,
            payment_id=request.payment_id,
        )
        self._made[payment.ref] = payment
        return payment

    def retrieve(self, ref: str) -> ProviderPayment:
        found = self._made.get(ref)
        if found is None:
            payment_id = ref.removeprefix("dev_")
            return ProviderPayment(ref, "succeeded", 0, "vnd", payment_id)
        return found

    def parse_event(self, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        raise InvalidSignature("the development provider sends no webhooks")

    def list_since(self, since: datetime) -> list[ProviderPayment]:
        return list(self._made.values())
