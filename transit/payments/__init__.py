"""Payment providers behind one small interface: Stripe first, room for VietQR, MoMo, ZaloPay.

A provider creates a payment for an amount in VND and hands back what the app needs to
complete it; it turns the provider's webhooks into `ProviderEvent`s after checking their
signature; and it lists its payments for reconciliation. Nothing else in the backend knows
which provider it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed; nothing is known to have happened."""


class InvalidSignature(Exception):
    """A webhook whose signature does not verify: it is not from the provider."""


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str
    amount: int  # VND, a zero-decimal currency: the number of đồng
    currency: str
    description: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's side of one payment."""

    ref: str
    status: str  # pending, succeeded, failed, canceled
    amount: int
    currency: str
    payment_id: str | None  # ours, from the metadata
    created: datetime | None = None
    refunded: int = 0
    # What the app needs to finish paying on the phone (e.g. Stripe's client secret).
    for_app: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    type: str  # succeeded, failed, refunded, ignored
    raw_type: str
    payment: ProviderPayment


class PaymentProvider(Protocol):
    """The port: what the services need from a provider (`transit.services.purchases` asks
    it, `transit.services.payments` reconciles with it). `stripe.StripeProvider` and
    `dev.DevProvider` are its adapters; tests plug in their own through
    `PAYMENT_PROVIDER_OBJECT`. Every method raises ProviderUnavailable when the provider
    cannot be reached."""

    name: str  # stored with each payment: the provider its reference belongs to

    def create(self, request: PaymentRequest) -> ProviderPayment:
        """Create the payment; the same payment_id twice gives the same payment."""
        ...

    def retrieve(self, ref: str) -> ProviderPayment:
        """The payment as the provider has it now, by its reference."""
        ...

    def parse_event(self, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify and read a webhook; raises InvalidSignature."""
        ...

    def list_since(self, since: datetime) -> list[ProviderPayment]:
        """Every payment made since a moment, for reconciliation."""
        ...
