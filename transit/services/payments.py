"""Top-ups: a rider pays through a provider, and the money becomes a load for the card.

The money reaches the ledger only from the provider's word that it was paid (a verified
webhook, or the development provider's instant success), exactly once: the event id is
recorded in the transaction that creates the load, and a payment's state only moves forward.

A top-up request carries an Idempotency-Key. The payment row is the key's record: the same
key with the same request answers with the same payment; with another request it is refused;
while the first request is still talking to the provider, a retry is told to wait.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from fares.model import Pass, date_of_card_day
from fares.passes import issue_pass, pass_price
from fares.tariff import PassCoverage, PassValidity, TariffVersion
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import Alert, AuditEntry, Card, Payment, PaymentEvent, PendingAction, Rider
from transit.payments import PaymentProvider, PaymentRequest, ProviderEvent, ProviderPayment
from transit.services import loads, tariffs, versions, wallet
from transit.uow import UnitOfWork

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


class PaymentNotFound(DomainError):
    code = "payment_not_found"
    status = 404


class InvalidProduct(DomainError):
    code = "invalid_product"
    status = 422


class PaymentMismatch(DomainError):
    code = "payment_mismatch"
    status = 422


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Started:
    """A top-up as the request sees it: the payment, and whether the provider must be asked."""

    payment: Payment
    ask_provider: bool


def begin_topup(
    rider: Rider,
    card_id: str,
    amount: int,
    *,
    key: str,
    print_: str,
    provider: str,
    now: datetime,
    uow: UnitOfWork,
) -> Started:
    """Record the top-up (or find the one this key made). Commits: the provider comes next."""

    def check(card: Card) -> dict[str, Any]:
        _check_amount(card, amount, uow)
        return {"kind": "topup", "amount": amount}

    return _begin(
        rider, card_id, check, key=key, print_=print_, provider=provider, now=now, uow=uow
    )


def begin_pass_purchase(
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
) -> Started:
    """Record a pass bought for the card (or find the one this key made)."""

    def check(card: Card) -> dict[str, Any]:
        if card.status != "active":
            raise wallet.CardNotActive()
        today = service_day(now)
        if not today <= start <= today + timedelta(days=MAX_PASS_LEAD_DAYS):
            raise InvalidProduct(f"a pass starts between today and {MAX_PASS_LEAD_DAYS} days on")
        _, price = _pass_for(card, product_id, start, route_id, today)
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
) -> Started:
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
            status="created",
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
        return Started(payment, ask_provider=True)
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused()
    if existing.provider_ref is not None:
        return Started(existing, ask_provider=False)  # a replay: answer as the first time
    if existing.busy_until is not None and existing.busy_until > now:
        raise RequestInProgress()
    # The first request failed before the provider answered: try again, under the same
    # provider idempotency key, so at most one payment exists there.
    existing.busy_until = now + BUSY
    uow.commit()
    return Started(existing, ask_provider=True)


# -- passes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    price: int
    one_route: bool
    validity: str  # e.g. "1 calendar month"
    category: str


def _tariff_at(day: date) -> TariffVersion:
    return tariffs.in_force(datetime.combine(day, time(12), tzinfo=UTC))


def effective_category(card: Card, today: date) -> str:
    """The card's category while its eligibility lasts; adult after it ends."""
    if card.valid_until is not None and card.valid_until < today:
        return "adult"
    return card.category_id


def products_for(card: Card, now: datetime) -> list[Product]:
    """The passes this card may buy today, at its category's price.

    A student pass is offered only while the card's student eligibility is valid.
    """
    today = service_day(now)
    category = effective_category(card, today)
    version = _tariff_at(today)
    offered = []
    for product in version.pass_products.values():
        if category not in product.prices:
            continue
        unit = "day" if product.validity is PassValidity.DAYS else "calendar month"
        count = product.validity_length
        offered.append(
            Product(
                product_id=product.pass_product_id,
                name=product.name,
                price=product.prices[category],
                one_route=product.coverage is PassCoverage.ONE_ROUTE,
                validity=f"{count} {unit}{'s' if count != 1 else ''}",
                category=category,
            )
        )
    return sorted(offered, key=lambda p: (p.price, p.product_id))


def _pass_for(
    card: Card, product_id: str, start: date, route_id: str | None, today: date
) -> tuple[Pass, int]:
    version = _tariff_at(start)
    category = effective_category(card, today)
    try:
        price = pass_price(version, product_id, category)
        entry = issue_pass(version, product_id, category, start, route_id)
    except ValueError as error:
        raise InvalidProduct(str(error)) from None
    if card.valid_until is not None and category == card.category_id:
        first = date_of_card_day(entry.valid_from)
        if card.valid_until < first:
            # A category's price for days after the category ends is not for sale.
            raise InvalidProduct(f"the card's {category} category ends {card.valid_until}")
    return entry, price


def _by_key(rider: Rider, key: str, uow: UnitOfWork) -> Payment | None:
    return uow.session.scalar(
        select(Payment).where(Payment.rider_id == rider.rider_id, Payment.idempotency_key == key)
    )


def _check_amount(card: Card, amount: int, uow: UnitOfWork) -> None:
    if not MIN_TOPUP <= amount <= MAX_TOPUP:
        raise InvalidAmount(f"a top-up is {MIN_TOPUP:,} to {MAX_TOPUP:,} VND")
    if card.status != "active":
        raise wallet.CardNotActive()
    room = loads.headroom(card, uow)
    if amount > room:
        room = max(0, room)
        raise PurseFull(f"the card can take at most {room:,} VND more", room=room)


def request_for(payment: Payment, card: Card) -> PaymentRequest:
    return PaymentRequest(
        payment_id=payment.payment_id,
        amount=payment.amount,
        currency=payment.currency,
        description=(
            f"Ve thang {payment.product_id} the {card.card_number}"
            if payment.kind == "pass"
            else f"Nap tien the xe buyt {card.card_number}"
        ),
        metadata={"payment_id": payment.payment_id, "card_id": card.card_id},
    )


def provider_answered(
    payment_id: str, answer: ProviderPayment, now: datetime, uow: UnitOfWork
) -> Payment:
    """Keep the provider's reference; a payment it reports as already paid is settled now."""
    payment = _locked(payment_id, uow)
    if payment.provider_ref is None:
        payment.provider_ref = answer.ref
    payment.busy_until = None
    payment.updated_at = now
    if answer.status == "succeeded" and answer.payment_id == payment.payment_id:
        _succeed(payment, answer, now, uow)
    return payment


def provider_failed(payment_id: str, uow: UnitOfWork) -> None:
    """The provider could not be reached: a retry with the same key may try again at once."""
    payment = _locked(payment_id, uow)
    payment.busy_until = None


def _locked(payment_id: str, uow: UnitOfWork) -> Payment:
    """The payment as it is now, locked until the transaction ends."""
    session = uow.session
    # SQLite ignores FOR UPDATE and reads outside any transaction, so two deliveries of one
    # success could both find the payment unpaid and both load the card. A write takes the
    # database's lock there (and the row's on PostgreSQL) before anything is read.
    session.execute(
        update(Payment)
        .where(Payment.payment_id == payment_id)
        .values(updated_at=Payment.updated_at)
        .execution_options(synchronize_session=False)
    )
    payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    if payment is None:
        raise PaymentNotFound()
    return payment


def owned_payment(rider_id: str, payment_id: str, uow: UnitOfWork) -> Payment:
    payment = uow.session.scalar(
        select(Payment).where(Payment.payment_id == payment_id, Payment.rider_id == rider_id)
    )
    if payment is None:
        raise PaymentNotFound()
    return payment


def load_status(payment: Payment, uow: UnitOfWork) -> str | None:
    """Where the paid money is: pending (written at the card's next tap), confirmed (on the
    card), withdrawn (refunded before it got there), or None while unpaid."""
    if payment.load_seq is None:
        return None
    card = uow.session.get(Card, payment.card_id)
    action = uow.session.get(PendingAction, (card.uid, payment.load_seq)) if card else None
    return action.status if action is not None else None


# -- the provider's word ----------------------------------------------------------------------


def handle_event(event: ProviderEvent, provider: str, now: datetime, uow: UnitOfWork) -> str:
    """Act on a verified provider event once; returns what became of it.

    Raises PaymentMismatch (after recording the event and an alert) when the event's amount,
    currency or payment id disagrees with ours: such an event moves no money.
    """
    session = uow.session
    if session.get(PaymentEvent, event.event_id) is not None:
        return "duplicate"
    payment = None
    if event.payment.ref:
        payment = session.scalar(
            select(Payment)
            .where(Payment.provider == provider, Payment.provider_ref == event.payment.ref)
            .with_for_update()
        )
    if payment is None and event.payment.payment_id:
        # The webhook can arrive before our request has stored the provider's reference.
        payment = session.get(Payment, event.payment.payment_id, with_for_update=True)
    if payment is not None:
        payment = _locked(payment.payment_id, uow)
    outcome = _apply(event, payment, now, uow)
    session.add(
        PaymentEvent(
            event_id=event.event_id,
            provider=provider,
            type=event.raw_type,
            payment_id=payment.payment_id if payment else None,
            outcome=outcome,
            received_at=now,
        )
    )
    if outcome == "refused":
        uow.commit()
        raise PaymentMismatch(f"event {event.event_id} does not match our payment")
    return outcome


def _apply(event: ProviderEvent, payment: Payment | None, now: datetime, uow: UnitOfWork) -> str:
    if event.type == "ignored":
        return "ignored"
    if payment is None:
        _alert(uow, "unknown_payment", None, f"{event.raw_type} {event.event_id}", now)
        return "unknown_payment"
    seen = event.payment
    wrong = []
    if seen.amount != payment.amount:
        wrong.append(f"amount {seen.amount} (ours {payment.amount})")
    if seen.currency.lower() != payment.currency:
        wrong.append(f"currency {seen.currency} (ours {payment.currency})")
    if seen.payment_id is not None and seen.payment_id != payment.payment_id:
        wrong.append(f"payment id {seen.payment_id} (ours {payment.payment_id})")
    if payment.provider_ref is not None and seen.ref != payment.provider_ref:
        wrong.append(f"reference {seen.ref} (ours {payment.provider_ref})")
    if wrong:
        _alert(
            uow,
            "payment_mismatch",
            payment,
            f"{event.raw_type} {event.event_id}: " + ", ".join(wrong),
            now,
        )
        return "refused"
    if payment.provider_ref is None:
        payment.provider_ref = seen.ref
    if event.type == "succeeded":
        return "applied" if _succeed(payment, seen, now, uow) else "no_change"
    if event.type == "failed":
        if payment.status == "created":
            payment.status = "failed"
            payment.failure_code = "payment_failed"
            payment.updated_at = now
            return "applied"
        return "no_change"  # a failure reported after the success changes nothing
    return _refund(payment, seen, now, uow)


def _succeed(payment: Payment, seen: ProviderPayment, now: datetime, uow: UnitOfWork) -> bool:
    if payment.status not in ("created", "failed"):
        return False
    card = uow.session.get(Card, payment.card_id)
    assert card is not None  # a foreign key
    # Loaded even if the card was blocked meanwhile: moving a lost card's money takes its
    # pending loads along.
    if payment.kind == "pass":
        assert payment.product_id is not None
        assert payment.pass_start is not None
        entry, _ = _pass_for(
            card, payment.product_id, payment.pass_start, payment.route_id, service_day(now)
        )
        action = loads.add_pass(
            card,
            entry,
            product_id=payment.product_id,
            price=payment.amount,
            actor=f"payment:{payment.provider}",
            now=now,
            uow=uow,
        )
    else:
        action = loads.add_credit(
            card,
            payment.amount,
            f"top-up {payment.payment_id}",
            f"payment:{payment.provider}",
            now,
            uow,
        )
    payment.status = "succeeded"
    payment.failure_code = None
    payment.load_seq = action.seq
    payment.updated_at = now
    if card.status == "replaced":
        _alert(uow, "payment_for_replaced_card", payment, f"load {action.seq}", now)
    return True


def _refund(payment: Payment, seen: ProviderPayment, now: datetime, uow: UnitOfWork) -> str:
    if seen.refunded <= payment.refunded_amount:
        return "no_change"
    if payment.status in ("created", "failed"):
        # Only a paid charge is refunded: the success is still on its way (Stripe keeps no
        # order, and retries a failed delivery for days). Pay first, so that the refund below
        # withdraws the load, and the late success finds the payment past it.
        _succeed(payment, seen, now, uow)
    payment.refunded_amount = seen.refunded
    payment.status = "refunded"
    payment.updated_at = now
    session = uow.session
    card = session.get(Card, payment.card_id)
    action = (
        session.get(PendingAction, (card.uid, payment.load_seq), with_for_update=True)
        if card is not None and payment.load_seq is not None
        else None
    )
    if action is not None and action.status == "pending" and seen.refunded >= payment.amount:
        # Refunded before the money reached the card: the load is withdrawn.
        action.status = "withdrawn"
        action.changed_version = versions.bump_version(uow)
        session.add(
            AuditEntry(
                actor=f"payment:{payment.provider}",
                action="withdraw",
                subject=card.card_number if card else payment.card_id,
                detail=f"load {action.seq}: {payment.payment_id} refunded",
                at=now,
            )
        )
    else:
        # The money is on the card already (or only part was refunded): the operator decides.
        _alert(
            uow,
            "refund_after_load",
            payment,
            f"{seen.refunded} VND refunded of {payment.amount} VND",
            now,
        )
    return "applied"


def _alert(uow: UnitOfWork, kind: str, payment: Payment | None, detail: str, now: datetime) -> None:
    card_uid = None
    if payment is not None:
        card = uow.session.get(Card, payment.card_id)
        card_uid = card.uid if card else None
        detail = f"{payment.payment_id}: {detail}"
    uow.session.add(
        Alert(kind=kind, card_uid=card_uid, device_id=None, detail=detail, created_at=now)
    )


# -- reconciliation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    payment_id: str | None
    ref: str | None
    problem: str


def reconcile(provider: PaymentProvider, since: datetime, uow: UnitOfWork) -> list[Mismatch]:
    """Compare our payments with the provider's since a moment; every disagreement."""
    theirs = {p.ref: p for p in provider.list_since(since)}
    ours = list(
        uow.session.scalars(
            select(Payment)
            .where(Payment.provider == provider.name, Payment.created_at >= since)
            .order_by(Payment.created_at)
        )
    )
    found: list[Mismatch] = []
    seen_refs = set()
    for payment in ours:
        if payment.provider_ref is None:
            if payment.status == "created":
                found.append(Mismatch(payment.payment_id, None, "never reached the provider"))
            continue
        seen_refs.add(payment.provider_ref)
        other = theirs.get(payment.provider_ref)
        if other is None:
            found.append(
                Mismatch(payment.payment_id, payment.provider_ref, "unknown to the provider")
            )
            continue
        if other.amount != payment.amount or other.currency.lower() != payment.currency:
            found.append(
                Mismatch(
                    payment.payment_id,
                    other.ref,
                    f"provider has {other.amount} {other.currency}, "
                    f"we have {payment.amount} {payment.currency}",
                )
            )
        paid_there = other.status == "succeeded"
        paid_here = payment.status in ("succeeded", "refunded")
        if paid_there != paid_here:
            found.append(
                Mismatch(
                    payment.payment_id,
                    other.ref,
                    f"provider says {other.status}, we say {payment.status}",
                )
            )
    for ref, other in theirs.items():
        if ref not in seen_refs and (other.created is None or other.created >= since):
            found.append(Mismatch(other.payment_id, ref, f"{other.status} there, unknown here"))
    return found
