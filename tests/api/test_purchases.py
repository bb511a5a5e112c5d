"""The purchase service on its own: the provider is asked between transactions, never in one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self

from flask import Flask
from flask.testing import FlaskClient

from api.deps import backend
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from transit.models import Card
from transit.payments import PaymentRequest, ProviderPayment
from transit.payments.dev import DevProvider
from transit.services import purchases
from transit.uow import UnitOfWork

UID = "04A1B2C3D4E5F7"


class CountedUnitOfWork(UnitOfWork):
    """A unit of work that counts how many are open, and how many were opened."""

    open_now = 0
    opened = 0

    def __enter__(self) -> Self:
        CountedUnitOfWork.open_now += 1
        CountedUnitOfWork.opened += 1
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        CountedUnitOfWork.open_now -= 1
        super().__exit__(None, None, None)


class WatchedProvider(DevProvider):
    """The development provider, noting how many units of work are open when it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.open_when_asked: list[int] = []

    def create(self, request: PaymentRequest) -> ProviderPayment:
        self.open_when_asked.append(CountedUnitOfWork.open_now)
        return super().create(request)


def test_a_top_up_asks_the_provider_between_its_two_transactions(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    rider = bearer(signed_up(client, sms))
    number, code = issue(app, UID, balance=10_000)
    card_id = link(client, rider, number, code).get_json()["card_id"]
    provider = WatchedProvider()
    CountedUnitOfWork.open_now = CountedUnitOfWork.opened = 0
    with app.app_context():
        factory = backend().session_factory
        with CountedUnitOfWork(factory) as uow:
            card = uow.session.get(Card, card_id)
            assert card is not None
            rider_id = card.rider_id
        assert rider_id is not None

        def top_up() -> purchases.PaymentView:
            return purchases.start_top_up(
                rider_id,
                card_id,
                50_000,
                idempotency_key="watched",
                request_print="print",
                clock=lambda: datetime.now(UTC),
                uow_factory=lambda: CountedUnitOfWork(factory),
                provider=provider,
            )

        CountedUnitOfWork.opened = 0
        paid = top_up()
        assert (provider.open_when_asked, CountedUnitOfWork.opened) == ([0], 2)
        assert (paid.status, paid.load_status) == ("succeeded", "pending")

        replayed = top_up()  # the same key: answered again, the provider not asked again
        assert provider.open_when_asked == [0]
        assert (replayed.payment_id, replayed.status) == (paid.payment_id, "succeeded")
