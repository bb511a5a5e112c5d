"""The ledger of a virtual card's account (docs/virtual-card.md): its balance on the server.

Every change is an `account_entries` row, posted once by (kind, ref), and moves the card's
shadow balance in the same transaction under the shadow's row lock. A balance below zero puts
the card on the deny list (`negative_balance`) until a credit brings it back. Here, not in
accounts.py, because loads.py posts credits and accounts.py uses loads.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from transit.models import (
    AccountEntry,
    BlockReason,
    Card,
    CardKind,
    CardShadow,
    CardStatus,
    DenyEntry,
    Rider,
)
from transit.services import denylist, versions
from transit.uow import UnitOfWork


def is_virtual(card: Card) -> bool:
    return card.kind == CardKind.VIRTUAL


def deny_card(card: Card, reason: BlockReason, now: datetime, uow: UnitOfWork) -> None:
    card.status = CardStatus.BLOCKED
    card.blocked_reason = reason
    denylist.deny(card.uid, reason, now, uow)


def allow(card: Card, now: datetime, uow: UnitOfWork) -> None:
    """Off the deny list (validators take it from their next sync)."""
    card.status = CardStatus.ACTIVE
    card.blocked_reason = None
    entry = uow.session.get(DenyEntry, card.uid)
    if entry is not None and entry.active:
        entry.active = False
        entry.changed_version = versions.bump_version(uow)


# -- the account's ledger ----------------------------------------------------------------------


def post(
    card: Card,
    kind: str,
    ref: str,
    amount: int,
    explanation: str,
    now: datetime,
    uow: UnitOfWork,
    reasons: Sequence[Mapping[str, Any]] = (),
) -> AccountEntry:
    """One change to a virtual card's balance, posted once: the same (kind, ref) again returns
    the entry already posted and changes nothing. `explanation` is for the operator; `reasons`
    (fares.why parts) are what the rider reads, worded in their language."""
    if not is_virtual(card):
        raise ValueError("only a virtual card's balance is the account's")
    session = uow.session
    shadow = session.get(CardShadow, card.uid, with_for_update=True)
    assert shadow is not None  # made with the card
    found = session.scalar(
        select(AccountEntry).where(
            AccountEntry.card_id == card.card_id, AccountEntry.kind == kind, AccountEntry.ref == ref
        )
    )
    if found is not None:
        return found
    shadow.balance += amount
    entry = AccountEntry(
        card_id=card.card_id,
        kind=kind,
        ref=ref,
        amount=amount,
        balance_after=shadow.balance,
        explanation=explanation,
        reasons=[dict(part) for part in reasons],
        at=now,
    )
    session.add(entry)
    if shadow.balance < 0 and card.status == CardStatus.ACTIVE:
        deny_card(card, BlockReason.NEGATIVE_BALANCE, now, uow)
    elif shadow.balance >= 0 and card.blocked_reason == BlockReason.NEGATIVE_BALANCE:
        rider = session.get(Rider, card.rider_id) if card.rider_id else None
        if rider is not None and rider.active_card_id not in (None, card.card_id):
            # Paid back while the account rides with another card: it waits, refused.
            deny_card(card, BlockReason.INACTIVE_MEDIUM, now, uow)
        else:
            allow(card, now, uow)
    session.flush()
    return entry


def balance(card: Card, uow: UnitOfWork) -> int:
    shadow = uow.session.get(CardShadow, card.uid)
    return shadow.balance if shadow is not None else 0


def entries(card: Card, uow: UnitOfWork, limit: int = 100) -> list[AccountEntry]:
    return list(
        uow.session.scalars(
            select(AccountEntry)
            .where(AccountEntry.card_id == card.card_id)
            .order_by(AccountEntry.entry_id.desc())
            .limit(limit)
        )
    )
