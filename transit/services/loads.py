"""Pending loads: money, passes and rider categories waiting to be written to a card.

A load is numbered per card and sent to every validator; the first one the card is tapped on
writes it, and the card keeps the number of the last load it applied, so none is written twice.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from fares.model import Pass, card_day_or_none, date_of_card_day
from transit.errors import DomainError
from transit.models import AuditEntry, Card, CardShadow, PendingAction
from transit.services import tariffs, versions
from transit.services.cards import MAX_BALANCE, CardNotFound
from transit.uow import UnitOfWork

MAX_CREDIT = 2_000_000


class InvalidCredit(DomainError):
    code = "invalid_credit"
    status = 422


def headroom(card: Card, uow: UnitOfWork) -> int:
    """What the card's purse can still take, in VND (negative when it is over).

    The purse holds at most MAX_BALANCE: the balance the card had at its last known tap plus
    every credit still waiting for it must stay within that, or a load would wait on every
    validator forever, refused by the card.
    """
    shadow = uow.session.get(CardShadow, card.uid)
    balance = shadow.balance if shadow is not None else card.initial_balance
    waiting = uow.session.scalar(
        select(func.coalesce(func.sum(PendingAction.amount), 0)).where(
            PendingAction.card_uid == card.uid,
            PendingAction.kind == "credit",
            PendingAction.status == "pending",
        )
    )
    return MAX_BALANCE - balance - int(waiting or 0)


def create_credit(
    card_number: str, amount: int, reason: str, actor: str, now: datetime, uow: UnitOfWork
) -> PendingAction:
    """Customer service adds money to a card; it reaches the card at its next tap."""
    card = uow.session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None or card.status != "active":
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    room = headroom(card, uow)
    if amount > room:
        raise InvalidCredit(f"the card can take at most {max(room, 0):,} VND more")
    return add_credit(card, amount, reason, actor, now, uow)


def _add_action(
    card: Card,
    *,
    kind: str,
    amount: int,
    reason: str,
    detail: dict[str, Any] | None,
    audit: str,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
) -> PendingAction:
    """A pending action for `card`, numbered after its last one, and its audit row."""
    session = uow.session
    # The card's shadow row is the lock that keeps two actions from taking the same number.
    session.get(CardShadow, card.uid, with_for_update=True)
    last = session.scalar(
        select(func.max(PendingAction.seq)).where(PendingAction.card_uid == card.uid)
    )
    action = PendingAction(
        card_uid=card.uid,
        seq=(last or 0) + 1,
        kind=kind,
        amount=amount,
        reason=reason,
        created_by=actor,
        created_at=now,
        status="pending",
        changed_version=versions.bump_version(uow),
        detail=json.dumps(detail) if detail is not None else None,
    )
    session.add(action)
    session.add(
        AuditEntry(
            actor=actor,
            action=kind,
            subject=card.card_number,
            detail=f"{audit}, load {action.seq}",
            at=now,
        )
    )
    session.flush()
    return action


def add_credit(
    card: Card,
    amount: int,
    reason: str,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
    *,
    most: int = MAX_CREDIT,
) -> PendingAction:
    """Money for `card`, written at its next tap."""
    if not 0 < amount <= most:
        raise InvalidCredit(f"a credit is 1 to {most:,} VND")
    if not reason.strip():
        raise InvalidCredit("a credit needs a reason")
    return _add_action(
        card,
        kind="credit",
        amount=amount,
        reason=reason.strip(),
        detail=None,
        audit=f"{amount} VND: {reason.strip()}",
        actor=actor,
        now=now,
        uow=uow,
    )


def add_pass(
    card: Card,
    entry: Pass,
    *,
    product_id: str,
    price: int,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
) -> PendingAction:
    """A pass for `card`, written at its next tap."""
    return _add_action(
        card,
        kind="pass",
        amount=price,
        reason=f"pass {product_id}",
        detail={"pass": entry._asdict(), "product_id": product_id},
        audit=f"{product_id} {date_of_card_day(entry.valid_from)} to "
        f"{date_of_card_day(entry.valid_until)}",
        actor=actor,
        now=now,
        uow=uow,
    )


def add_profile(
    card: Card,
    category_id: str,
    valid_until: date | None,
    *,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
) -> PendingAction:
    """A new rider category for `card` (and its record here), written at its next tap."""
    category = tariffs.tariff().latest.categories[category_id]
    profile = {"category_code": category.code, "valid_until": card_day_or_none(valid_until)}
    action = _add_action(
        card,
        kind="profile",
        amount=0,
        reason=f"category {category_id} until {valid_until or 'no end'}",
        detail={"profile": profile, "category": category_id},
        audit=f"{category_id} until {valid_until or 'no end'}",
        actor=actor,
        now=now,
        uow=uow,
    )
    card.category_id = category_id
    card.valid_until = valid_until
    return action
