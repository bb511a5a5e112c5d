"""Buying through a payment provider: a top-up or a pass, from the rider's ask to its answer.

A purchase is three transactions with the provider's call between them, and never inside one:
the intent is recorded and committed first (so a crash leaves a payment a retry can find), the
provider is asked with no transaction open (it may be slow, and it keeps our idempotency key),
then its answer is recorded and committed.

The payment row is the Idempotency-Key's record: the same key with the same request answers
with the same payment; with another request it is refused; while the first request is still
talking to the provider, a retry is told to wait. A payment the provider never answered is
asked for again under the same provider key, so at most one payment exists there.

The provider's webhooks come in here too; what they change is in `transit.services.payments`,
which is also where paid money becomes a load.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    BlockReason,
    Card,
    CardStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Rider,
)
from transit.payments import (
    InvalidSignature,
    PaymentProvider,
    PaymentRequest,
    ProviderPayment,
    ProviderUnavailable,
)
from transit.services import loads, payments, wallet
from transit.uow import UnitOfWork

Clock = Callable[[], datetime]
UowFactory = Callable[[], UnitOfWork]

MAX_PASS_LEAD_DAYS = 35  # next month's pass can be bought during this one
MIN_TOPUP = 20_000  # Stripe's smallest charge is about 0.50 USD, some 13,000 VND
MAX_TOPUP = 2_000_000
BUSY = timedelta(seconds=30)
KEY_LIFETIME = timedelta(hours=24)


class InvalidAmount(DomainError):
    code = "invalid_amount"
    status = 422


class PurseFull(DomainError):
    code = "purse_full"
    status = 422


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422


class RequestInProgress(DomainError):
    code = "request_in_progress"
    status = 409


class ProviderDown(DomainError):
    code = "payment_provider_unavailable"
    status = 503


class BadSignature(DomainError):
    code = "invalid_signature"
    status = 400


def fingerprint(method: str, path: str, body: Any) -> str:
    """What an Idempotency-Key is held to: the request's method, path and parsed body."""
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class PaymentView:
    """A payment as the rider sees it, with what the app needs to finish paying."""

    payment_id: str
    card_id: str
    kind: str
    product_id: str | None
    status: str  # pending (ours: created), succeeded, failed, refunded
    load_status: str | None
    amount: int
    currency: str
    provider: str
    load_seq: int | None
    client_secret: str | None
    publishable_key: str | None
    created_at: datetime


def start_top_up(
    rider_id: str,
    card_id: str,
    amount: int,
    *,
    idempotency_key: str,
    request_print: str,
    clock: Clock,
    uow_factory: UowFactory,
    provider: PaymentProvider,
) -> PaymentView:
    """Top up a card through the provider; the same key never pays twice."""

    def begin(rider: Rider, now: datetime, uow: UnitOfWork) -> _Started:
        return _begin_topup(
            rider,
            card_id,
            amount,
            key=idempotency_key,
            print_=request_print,
            provider=provider.name,
            now=now,
            uow=uow,
        )

    return _purchase(rider_id, begin, clock, uow_factory, provider)


def buy_pass(
    rider_id: str,
    card_id: str,
    product_id: str,
    start: date | None,
    route_id: str | None,
    *,
    idempotency_key: str,
    request_print: str,
    clock: Clock,
    uow_factory: UowFactory,
    provider: PaymentProvider,
) -> PaymentView:
    """Buy a pass for a card (from today unless `start` says otherwise) through the provider."""

    def begin(rider: Rider, now: datetime, uow: UnitOfWork) -> _Started:
        return _begin_pass_purchase(
            rider,
            card_id,
            product_id,
            start or service_day(now),
            route_id,
            key=idempotency_key,
            print_=request_print,
            provider=provider.name,
            now=now,
            uow=uow,
        )

    return _purchase(rider_id, begin, clock, uow_factory, provider)


def _purchase(
    rider_id: str,
    begin: Callable[[Rider, datetime, UnitOfWork], _Started],
    clock: Clock,
    uow_factory: UowFactory,
    provider: PaymentProvider,
) -> PaymentView:
    with uow_factory() as uow:
        started = begin(_rider(rider_id, uow), clock(), uow)  # commits the intent
        payment = started.payment
        payment_id, ref = payment.payment_id, payment.provider_ref
        card = uow.session.get(Card, payment.card_id)
        assert card is not None  # a foreign key
        request = _request_for(payment, card)
    if not started.ask_provider:
        # A replay: answered as the first time, with what the app still needs from the provider.
        answer = _retrieve(provider, ref)
        with uow_factory() as uow:
            return _view(payments.owned_payment(rider_id, payment_id, uow), answer, uow)
    try:
        answer = provider.create(request)
    except ProviderUnavailable:
        with uow_factory() as uow:
            _provider_failed(payment_id, uow)
            uow.commit()
        raise ProviderDown() from None
    with uow_factory() as uow:
        payment = _provider_answered(payment_id, answer, clock(), uow)
        result = _view(payment, answer, uow)
        uow.commit()
    return result


def _rider(rider_id: str, uow: UnitOfWork) -> Rider:
    rider = uow.session.get(Rider, rider_id)
    if rider is None:
        # Signed in a moment ago by the caller: gone only if deleted since.
        raise payments.PaymentNotFound()
    return rider


def _retrieve(provider: PaymentProvider, ref: str | None) -> ProviderPayment | None:
    if ref is None:
        return None
    try:
        return provider.retrieve(ref)
    except ProviderUnavailable:
        raise ProviderDown() from None


def payment_of(rider_id: str, payment_id: str, uow: UnitOfWork) -> PaymentView:
    """The rider's payment as it is now (PaymentNotFound for someone else's)."""
    return _view(payments.owned_payment(rider_id, payment_id, uow), None, uow)


def _view(payment: Payment, answer: ProviderPayment | None, uow: UnitOfWork) -> PaymentView:
    unpaid = payment.status == PaymentStatus.CREATED
    for_app = answer.for_app if answer is not None and unpaid else {}
    return PaymentView(
        payment_id=payment.payment_id,
        card_id=payment.card_id,
        kind=payment.kind,
        product_id=payment.product_id,
        status="pending" if unpaid else payment.status,
        load_status=payments.load_status(payment, uow),
        amount=payment.amount,
        currency=payment.currency,
        provider=payment.provider,
        load_seq=payment.load_seq,
        client_secret=for_app.get("client_secret"),
        publishable_key=for_app.get("publishable_key"),
        created_at=payment.created_at,
    )


def receive_event(
    payload: bytes,
    headers: dict[str, str],
    *,
    provider: PaymentProvider,
    clock: Clock,
    uow_factory: UowFactory,
) -> str:
    """Verify a webhook and act on its event once; returns what became of it."""
    try:
        event = provider.parse_event(payload, headers)
    except InvalidSignature:
        raise BadSignature() from None

    def handle() -> str:
        with uow_factory() as uow:
            outcome = payments.handle_event(event, provider.name, clock(), uow)
            uow.commit()
        return outcome

    try:
        return handle()
    except IntegrityError:
        # A second delivery of this event, or of its twin, committed while this one ran:
        # looked at again, it is a duplicate or changes nothing.
        return handle()


# -- the steps: the intent, the request to the provider, its answer -----------------------


@dataclass(frozen=True)
class _Started:
    """A top-up as the request sees it: the payment, and whether the provider must be asked."""

    payment: Payment
    ask_provider: bool


def _begin_topup(
    rider: Rider,
    card_id: str,
    amount: int,
    *,
    key: str,
    print_: str,
    provider: str,
    now: datetime,
    uow: UnitOfWork,
) -> _Started:
    """Record the top-up (or find the one this key made). Commits: the provider comes next."""

    def check(card: Card) -> dict[str, Any]:
        _check_amount(card, amount, uow)
        return {"kind": "topup", "amount": amount}

    return _begin(
        rider, card_id, check, key=key, print_=print_, provider=provider, now=now, uow=uow
    )


def _begin_pass_purchase(
    rider: Rider,
    card_id: str,
    product_id: str,
    start: date,
    route_id: str | None,
    *,
    key: str,
    print_: str,
    provider: str,
    now: datetime,
    uow: UnitOfWork,
) -> _Started:
    """Record a pass bought for the card (or find the one this key made)."""

    def check(card: Card) -> dict[str, Any]:
        if card.status != CardStatus.ACTIVE:
            raise wallet.CardNotActive()
        today = service_day(now)
        if not today <= start <= today + timedelta(days=MAX_PASS_LEAD_DAYS):
            raise payments.InvalidProduct(
                f"a pass starts between today and {MAX_PASS_LEAD_DAYS} days on"
            )
        _, price = payments.pass_for(card, product_id, start, route_id, today)
        return {
            "kind": "pass",
            "amount": price,
            "product_id": product_id,
            "pass_start": start,
            "route_id": route_id,
        }

    return _begin(
        rider, card_id, check, key=key, print_=print_, provider=provider, now=now, uow=uow
    )


def _begin(
    rider: Rider,
    card_id: str,
    check: Callable[[Card], dict[str, Any]],
    *,
    key: str,
    print_: str,
    provider: str,
    now: datetime,
    uow: UnitOfWork,
) -> _Started:
    session = uow.session
    existing = _by_key(rider, key, uow)
    if existing is not None and existing.created_at < now - KEY_LIFETIME:
        raise IdempotencyKeyReused("an Idempotency-Key is kept 24 hours; use a new one")
    if existing is None:
        card = wallet.owned_card(rider, card_id, uow)
        fields = check(card)
        payment = Payment(
            payment_id="pay_" + secrets.token_hex(12),
            rider_id=rider.rider_id,
            card_id=card.card_id,
            currency="vnd",
            provider=provider,
            status=PaymentStatus.CREATED,
            refunded_amount=0,
            idempotency_key=key,
            fingerprint=print_,
            busy_until=now + BUSY,
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(payment)
        try:
            uow.commit()
        except IntegrityError:
            # The same key, at the same moment, from a second request.
            uow.rollback()
            raise RequestInProgress() from None
        return _Started(payment, ask_provider=True)
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused()
    if existing.provider_ref is not None:
        return _Started(existing, ask_provider=False)  # a replay: answer as the first time
    if existing.busy_until is not None and existing.busy_until > now:
        raise RequestInProgress()
    # The first request failed before the provider answered: try again, under the same
    # provider idempotency key, so at most one payment exists there.
    existing.busy_until = now + BUSY
    uow.commit()
    return _Started(existing, ask_provider=True)


def _by_key(rider: Rider, key: str, uow: UnitOfWork) -> Payment | None:
    return uow.session.scalar(
        select(Payment).where(Payment.rider_id == rider.rider_id, Payment.idempotency_key == key)
    )


def _check_amount(card: Card, amount: int, uow: UnitOfWork) -> None:
    if not MIN_TOPUP <= amount <= MAX_TOPUP:
        raise InvalidAmount(f"a top-up is {MIN_TOPUP:,} to {MAX_TOPUP:,} VND")
    # An account below zero is refused at validators until a top-up: the way back is open.
    owing = (
        card.status == CardStatus.BLOCKED and card.blocked_reason == BlockReason.NEGATIVE_BALANCE
    )
    if card.status != CardStatus.ACTIVE and not owing:
        raise wallet.CardNotActive()
    room = loads.headroom(card, uow)
    if amount > room:
        room = max(0, room)
        raise PurseFull(f"the card can take at most {room:,} VND more", room=room)


def _request_for(payment: Payment, card: Card) -> PaymentRequest:
    return PaymentRequest(
        payment_id=payment.payment_id,
        amount=payment.amount,
        currency=payment.currency,
        description=(
            f"Ve thang {payment.product_id} the {card.card_number}"
            if payment.kind == PaymentKind.PASS
            else f"Nap tien the xe buyt {card.card_number}"
        ),
        metadata={"payment_id": payment.payment_id, "card_id": card.card_id},
    )


def _provider_answered(
    payment_id: str, answer: ProviderPayment, now: datetime, uow: UnitOfWork
) -> Payment:
    """Keep the provider's reference; a payment it reports as already paid is settled now."""
    payment = payments.lock_payment(payment_id, uow)
    if payment.provider_ref is None:
        payment.provider_ref = answer.ref
    payment.busy_until = None
    payment.updated_at = now
    if answer.status == "succeeded" and answer.payment_id == payment.payment_id:
        payments.settle(payment, answer, now, uow)
    return payment


def _provider_failed(payment_id: str, uow: UnitOfWork) -> None:
    """The provider could not be reached: a retry with the same key may try again at once."""
    payment = payments.lock_payment(payment_id, uow)
    payment.busy_until = None
