"""Virtual cards and the account's one active medium (docs/virtual-card.md).

A virtual card is a card row of kind "virtual": the phone's QR ticket (docs/qr-ticket.md). Its
purse is the account, held on the server: `account_entries` is its ledger and the card's shadow
row its running balance, changed together under the shadow's row lock, each change posted once
by (kind, ref). A top-up is usable at once; passes and the rider's category apply at once too.

An account rides with one medium at a time (`riders.active_card_id`). Making a card active
puts every other usable card of the rider on the deny list (reason `inactive_medium`) and
moves what they hold to it: from a chip card, the balance the server last knew plus loads that
never reached the chip (withdrawn); from the virtual card, its account balance. The money and
passes reach a chip card as loads at its next tap, as for any top-up. Every move is audited.

An account can go below zero by at most what validators charged offline before they heard of
it: a fare that takes the balance below zero puts the virtual card on the deny list
(`negative_balance`), and no new credential is certified, until a top-up brings it back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    AuditEntry,
    BlockReason,
    Card,
    CardKind,
    CardShadow,
    CardStatus,
    Rider,
)
from transit.services import cards, eligibility, loads
from transit.services.cards import CardNotFound
from transit.services.ledger import allow as _allow
from transit.services.ledger import deny_card as _deny
from transit.services.ledger import is_virtual
from transit.uow import UnitOfWork


class VirtualCardExists(DomainError):
    code = "virtual_card_exists"
    status = 409


class SwitchNeedsTopUp(DomainError):
    """Riding with a chip card again would give back more than the account still has."""

    code = "switch_needs_top_up"
    status = 409


class MediumNotUsable(DomainError):
    """The card cannot become the account's medium (blocked for a reason of its own, or gone)."""

    code = "medium_not_usable"
    status = 409


def virtual_card_of(rider: Rider, uow: UnitOfWork) -> Card | None:
    return uow.session.scalar(
        select(Card).where(Card.rider_id == rider.rider_id, Card.kind == CardKind.VIRTUAL)
    )


def create_virtual_card(rider: Rider, prefix: str, now: datetime, uow: UnitOfWork) -> Card:
    """The rider's virtual card (one per account), numbered like a chip card. It is the active
    medium at once unless the rider already rides with a chip card: then it waits, refused by
    validators, until the rider makes it active (which moves the chip card's money to it)."""
    session = uow.session
    if virtual_card_of(rider, uow) is not None:
        raise VirtualCardExists("this account has a virtual card already")
    # The numbering is the chip cards': one series, so a number says nothing of the medium.
    serial = (session.scalar(select(func.max(Card.serial))) or 0) + 1
    number = cards.card_number(prefix, serial)
    granted = eligibility.current_grant(rider.rider_id, service_day(now), uow)
    card = Card(
        card_id="crd_" + secrets.token_hex(12),
        uid=number,  # 16 digits: no chip UID has that length
        serial=serial,
        card_number=number,
        check_code_hash="",  # nobody links a virtual card: it is made inside the account
        category_id="student" if granted is not None else "adult",
        valid_until=granted.valid_until if granted is not None else None,
        initial_balance=0,
        status=CardStatus.ACTIVE,
        issued_at=now,
        rider_id=rider.rider_id,
        linked_at=now,
        kind=CardKind.VIRTUAL,
    )
    session.add(card)
    session.add(CardShadow(card_uid=card.uid, balance=0, last_card_tx=0))
    session.flush()
    session.add(
        AuditEntry(
            actor=f"rider:{rider.rider_id}",
            action="virtual_card",
            subject=card.card_number,
            detail="created",
            at=now,
        )
    )
    if _usable(rider, uow, besides=card):
        _deny(card, BlockReason.INACTIVE_MEDIUM, now, uow)
    else:
        rider.active_card_id = card.card_id
    return card


def _usable(rider: Rider, uow: UnitOfWork, besides: Card) -> list[Card]:
    """The rider's other cards a validator would accept now."""
    return list(
        uow.session.scalars(
            select(Card)
            .where(
                Card.rider_id == rider.rider_id,
                Card.card_id != besides.card_id,
                Card.status == CardStatus.ACTIVE,
            )
            .order_by(Card.card_id)
        )
    )


@dataclass(frozen=True)
class Activation:
    card: Card
    moved: int  # VND
    passes: int
    from_cards: tuple[str, ...]  # card numbers


def activate(rider: Rider, card_id: str, now: datetime, uow: UnitOfWork) -> Activation:
    """Make one of the rider's cards the account's medium, and move the others' holdings to it.

    A card blocked as lost, stolen, damaged or by the operator stays blocked: its money moves
    with `wallet.replace`, not here.
    """
    session = uow.session
    card = session.scalar(
        select(Card).where(Card.card_id == card_id, Card.rider_id == rider.rider_id)
    )
    if card is None:
        raise CardNotFound(card_id=card_id)
    if card.status != CardStatus.ACTIVE and not (
        card.status == CardStatus.BLOCKED
        and card.blocked_reason in (BlockReason.INACTIVE_MEDIUM, BlockReason.NEGATIVE_BALANCE)
    ):
        raise MediumNotUsable("this card cannot ride: it is blocked or replaced")
    others = _usable(rider, uow, besides=card)
    actor = f"rider:{rider.rider_id}"
    # A chip card that was switched away from still holds, on the chip, the balance that moved
    # off it then: riding with it again gives that back, so what moves to it is less by that.
    owed = _left_on_chip(card, uow)
    money = 0
    carried: list[tuple[loads.PassDetail, int]] = []
    for old in others:
        # Refused first: from the next sync no validator takes the old medium, so nothing is
        # spent twice while its holdings move.
        _deny(old, BlockReason.INACTIVE_MEDIUM, now, uow)
        held = loads.empty(old, card, now, uow)
        money += held.money
        carried += held.passes
    if money < owed:
        # The other medium spent part of what this chip still holds: the chip cannot be
        # debited from here, so the rider tops up the difference first (nothing has changed).
        raise SwitchNeedsTopUp(
            f"{owed - money} VND of this card's money was spent with the other", amount=owed - money
        )
    sources = [o.card_number for o in others]
    loads.move_to(card, loads.Holdings(money - owed, tuple(carried)), sources, actor, now, uow)
    moved, passes = money - owed, len(carried)
    if card.status == CardStatus.BLOCKED and card.blocked_reason == BlockReason.INACTIVE_MEDIUM:
        _allow(card, now, uow)
    rider.active_card_id = card.card_id
    session.add(
        AuditEntry(
            actor=actor,
            action="activate",
            subject=card.card_number,
            detail=f"{moved} VND and {passes} pass(es) from "
            f"{'card ' + ', '.join(sources) if sources else 'no other card'}"
            + (f"; {owed} VND were still on the chip" if owed else ""),
            at=now,
        )
    )
    session.flush()
    return Activation(card, moved, passes, tuple(o.card_number for o in others))


def _left_on_chip(card: Card, uow: UnitOfWork) -> int:
    """What a chip card switched away from still holds on its chip (its balance moved then)."""
    if is_virtual(card) or card.blocked_reason != BlockReason.INACTIVE_MEDIUM:
        return 0
    shadow = uow.session.get(CardShadow, card.uid)
    return max(shadow.balance, 0) if shadow is not None else 0
