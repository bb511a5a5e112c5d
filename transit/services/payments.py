"""Payments after the rider's ask: the provider's word, and the money it makes a load.

The money reaches the ledger only from the provider's word that it was paid (a verified
webhook, or the development provider's instant success), exactly once: the event id is
recorded in the transaction that creates the load, and a payment's state only moves forward.
`settle` is the one step where paid money becomes a load for the card. The rider's side (the
Idempotency-Key, the intent, the call to the provider) is `transit.services.purchases`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select, update

from fares.model import Pass, date_of_card_day
from fares.passes import issue_pass, pass_price
from fares.tariff import PassCoverage, PassValidity, TariffVersion
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    Alert,
    AuditEntry,
    Card,
    CardStatus,
    Payment,
    PaymentEvent,
    PaymentKind,
    PaymentStatus,
    PendingAction,
    PendingActionStatus,
)
from transit.payments import PaymentProvider, ProviderEvent, ProviderPayment
from transit.services import loads, tariffs, versions
from transit.uow import UnitOfWork


class PaymentNotFound(DomainError):
    code = "payment_not_found"
    status = 404


class InvalidProduct(DomainError):
    code = "invalid_product"
    status = 422


class PaymentMismatch(DomainError):
    code = "payment_mismatch"
    status = 422


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


def pass_for(
    card: Card, product_id: str, start: date, route_id: str | None, today: date
) -> tuple[Pass, int]:
    """The pass this card would get from `start`, and its price (InvalidProduct if none)."""
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


def lock_payment(payment_id: str, uow: UnitOfWork) -> Payment:
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
    """The rider's payment, or PaymentNotFound (also for someone else's)."""
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
        payment = lock_payment(payment.payment_id, uow)
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
        return "applied" if settle(payment, seen, now, uow) else "no_change"
    if event.type == "failed":
        if payment.status == PaymentStatus.CREATED:
            payment.status = PaymentStatus.FAILED
            payment.failure_code = "payment_failed"
            payment.updated_at = now
            return "applied"
        return "no_change"  # a failure reported after the success changes nothing
    return _refund(payment, seen, now, uow)


def settle(payment: Payment, seen: ProviderPayment, now: datetime, uow: UnitOfWork) -> bool:
    """Paid money becomes a load for the card, once; False if the payment was settled before.

    The one place this happens: from a webhook's success (or a refund that overtook it), and
    from a provider that answers the purchase as already paid (the development provider)."""
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.FAILED):
        return False
    card = uow.session.get(Card, payment.card_id)
    assert card is not None  # a foreign key
    # Loaded even if the card was blocked meanwhile: moving a lost card's money takes its
    # pending loads along.
    if payment.kind == PaymentKind.PASS:
        assert payment.product_id is not None
        assert payment.pass_start is not None
        entry, _ = pass_for(
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
            why=({"code": "top_up"},),
        )
    payment.status = PaymentStatus.SUCCEEDED
    payment.failure_code = None
    payment.load_seq = action.seq
    payment.updated_at = now
    if card.status == CardStatus.REPLACED:
        _alert(uow, "payment_for_replaced_card", payment, f"load {action.seq}", now)
    return True


def _refund(payment: Payment, seen: ProviderPayment, now: datetime, uow: UnitOfWork) -> str:
    if seen.refunded <= payment.refunded_amount:
        return "no_change"
    if payment.status in (PaymentStatus.CREATED, PaymentStatus.FAILED):
        # Only a paid charge is refunded: the success is still on its way (Stripe keeps no
        # order, and retries a failed delivery for days). Pay first, so that the refund below
        # withdraws the load, and the late success finds the payment past it.
        settle(payment, seen, now, uow)
    payment.refunded_amount = seen.refunded
    payment.status = PaymentStatus.REFUNDED
    payment.updated_at = now
    session = uow.session
    card = session.get(Card, payment.card_id)
    action = (
        session.get(PendingAction, (card.uid, payment.load_seq), with_for_update=True)
        if card is not None and payment.load_seq is not None
        else None
    )
    if (
        action is not None
        and action.status == PendingActionStatus.PENDING
        and seen.refunded >= payment.amount
    ):
        # Refunded before the money reached the card: the load is withdrawn.
        action.status = PendingActionStatus.WITHDRAWN
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
            if payment.status == PaymentStatus.CREATED:
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
        paid_here = payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
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
