"""A rider's cards: linking one by its number and check code, what it holds, losing it.

Every lookup is by the rider and the card together, in the query: another rider's card is
"not found", never "forbidden", so the API does not even confirm that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    AuditEntry,
    BlockReason,
    Card,
    CardShadow,
    CardStatus,
    PendingAction,
    PendingActionKind,
    PendingActionStatus,
    Rider,
)
from transit.services import denylist, eligibility, loads
from transit.services.cards import MAX_BALANCE, CardNotFound, check_code_matches
from transit.uow import UnitOfWork

RIDER_BLOCK_REASONS = (BlockReason.LOST, BlockReason.STOLEN, BlockReason.DAMAGED)


class CardAlreadyLinked(DomainError):
    code = "card_already_linked"
    status = 409


class CardNotActive(DomainError):
    code = "card_not_active"
    status = 409


class TransferTooLarge(DomainError):
    code = "transfer_too_large"
    status = 409


@dataclass(frozen=True)
class PendingLoad:
    seq: int
    kind: PendingActionKind
    amount: int
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class CardPass:
    product_id: str
    valid_from: date
    valid_until: date
    on_card: bool  # False while it waits for the card's next tap


@dataclass(frozen=True)
class CardView:
    """What the app shows of a card: the balance the card had at its last tap, and loads
    that are paid for but not yet written to the card (they are, at its next tap)."""

    card_id: str
    card_number: str
    status: CardStatus
    blocked_reason: BlockReason | None
    category_id: str
    valid_until: date | None
    balance: int
    balance_at: datetime | None
    pending: list[PendingLoad] = field(default_factory=list)
    passes: list[CardPass] = field(default_factory=list)
    kind: str = "physical"  # or virtual: the phone's QR ticket, its balance on the server
    active: bool = True  # the medium the account rides with

    @property
    def pending_total(self) -> int:
        return sum(load.amount for load in self.pending if load.kind == PendingActionKind.CREDIT)


def _digits(card_number: str) -> str:
    return "".join(ch for ch in card_number if ch.isdigit())


def owned_card(rider: Rider, card_id: str, uow: UnitOfWork) -> Card:
    """The rider's card with this id, or CardNotFound (also for someone else's card)."""
    card = uow.session.scalar(
        select(Card).where(Card.card_id == card_id, Card.rider_id == rider.rider_id)
    )
    if card is None:
        raise CardNotFound(card_id=card_id)
    return card


def link_card(
    rider: Rider, card_number: str, check_code: str, now: datetime, uow: UnitOfWork
) -> Card:
    """Link a card the rider holds: its printed number and the check code on its sleeve."""
    card = uow.session.scalar(select(Card).where(Card.card_number == _digits(card_number)))
    stored = card.check_code_hash if card is not None else None
    if not check_code_matches(check_code, stored) or card is None:
        raise CardNotFound("no card with this number and check code")
    if card.rider_id == rider.rider_id:
        return card  # linking twice is not an error: the app may retry
    if card.rider_id is not None:
        raise CardAlreadyLinked()
    if card.status != CardStatus.ACTIVE:
        raise CardNotActive()
    card.rider_id = rider.rider_id
    card.linked_at = now
    # A student's new card becomes a student's card too, from its next tap.
    granted = eligibility.current_grant(rider.rider_id, service_day(now), uow)
    if granted is not None and card.category_id == "adult":
        loads.add_profile(
            card,
            "student",
            granted.valid_until,
            actor=f"eligibility:{granted.application_id}",
            now=now,
            uow=uow,
        )
    return card


def cards_of(rider: Rider, uow: UnitOfWork) -> list[CardView]:
    cards = uow.session.scalars(
        select(Card).where(Card.rider_id == rider.rider_id).order_by(Card.linked_at, Card.card_id)
    )
    return [view(card, uow) for card in cards]


def view(card: Card, uow: UnitOfWork) -> CardView:
    session = uow.session
    shadow = session.get(CardShadow, card.uid)
    pending = [
        PendingLoad(a.seq, a.kind, a.amount, a.reason, a.created_at)
        for a in session.scalars(
            select(PendingAction)
            .where(
                PendingAction.card_uid == card.uid,
                PendingAction.status == PendingActionStatus.PENDING,
            )
            .order_by(PendingAction.seq)
        )
    ]
    passes = [
        CardPass(
            product_id=detail.product_id,
            valid_from=detail.valid_from,
            valid_until=detail.valid_until,
            on_card=action.status == PendingActionStatus.CONFIRMED,
        )
        for action, detail in loads.pass_loads(card, uow)
    ]
    rider = session.get(Rider, card.rider_id) if card.rider_id else None
    chosen = rider.active_card_id if rider is not None else None
    return CardView(
        kind=card.kind,
        active=card.status == CardStatus.ACTIVE and chosen in (None, card.card_id),
        passes=passes,
        card_id=card.card_id,
        card_number=card.card_number,
        status=card.status,
        blocked_reason=card.blocked_reason,
        category_id=card.category_id,
        valid_until=card.valid_until,
        balance=shadow.balance if shadow else card.initial_balance,
        balance_at=shadow.last_tap_time if shadow else None,
        pending=pending,
    )


def block(rider: Rider, card_id: str, reason: str, now: datetime, uow: UnitOfWork) -> Card:
    """The rider reports the card lost, stolen or damaged: every validator refuses it."""
    card = owned_card(rider, card_id, uow)
    if reason not in RIDER_BLOCK_REASONS:
        raise denylist.InvalidBlock(f"the reason is one of {', '.join(RIDER_BLOCK_REASONS)}")
    # A card blocked only because the rider rides with another one (or a virtual card below
    # zero) is still theirs to ride with again: reported lost, it must not come back that way.
    waiting = (BlockReason.INACTIVE_MEDIUM, BlockReason.NEGATIVE_BALANCE)
    if card.status == CardStatus.BLOCKED and card.blocked_reason not in waiting:
        return card
    denylist.block_card(card.card_number, reason, f"rider:{rider.rider_id}", now, uow)
    card.blocked_reason = BlockReason(reason)
    return card


@dataclass(frozen=True)
class Replacement:
    card: Card
    moved: int
    passes: int = 0


def replace(
    rider: Rider,
    old_card_id: str,
    new_card_number: str,
    new_check_code: str,
    now: datetime,
    uow: UnitOfWork,
) -> Replacement:
    """Move a blocked card's money to another card of the rider, as a load for its next tap.

    The money is the balance the old card had at its last known tap plus the loads that never
    reached it (they are withdrawn, so no validator writes them to the old card). A tap on the
    old card still on its way from a bus is not known yet; the operator sees it as an alert.
    """
    session = uow.session
    old = owned_card(rider, old_card_id, uow)
    if old.status != CardStatus.BLOCKED:
        raise CardNotActive("block the card before moving what it holds")
    new = link_card(rider, new_card_number, new_check_code, now, uow)
    if new.card_id == old.card_id or new.status != CardStatus.ACTIVE:
        raise CardNotActive("the new card must be another active card")
    if session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "replace", AuditEntry.subject == old.card_number)
    ):
        raise CardNotActive("this card's money was moved already")
    # The shadow keeps the old card's own balance: the card still holds it, and the deny list
    # keeps anyone from spending it. The audit row says where the money went.
    held = loads.empty(old, new, now, uow)
    if held.money > loads.headroom(new, uow):
        raise TransferTooLarge(f"the new card can hold at most {MAX_BALANCE:,} VND")
    loads.move_to(new, held, [old.card_number], f"rider:{rider.rider_id}", now, uow)
    moved, carried = held.money, held.passes
    session.add(
        AuditEntry(
            actor=f"rider:{rider.rider_id}",
            action="replace",
            subject=old.card_number,
            detail=f"{moved} VND and {len(carried)} pass(es) to card {new.card_number}",
            at=now,
        )
    )
    old.status = CardStatus.REPLACED
    session.flush()
    return Replacement(new, moved, len(carried))


def as_json(card: CardView) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "card_number": card.card_number,
        "kind": card.kind,
        "active": card.active,
        "status": card.status,
        "blocked_reason": card.blocked_reason,
        "category": card.category_id,
        "valid_until": card.valid_until,
        "balance": card.balance,
        "balance_at": card.balance_at,
        "pending": [
            {"seq": p.seq, "kind": p.kind, "amount": p.amount, "created_at": p.created_at}
            for p in card.pending
        ],
        "pending_total": card.pending_total,
        "passes": [
            {
                "product_id": p.product_id,
                "valid_from": p.valid_from,
                "valid_until": p.valid_until,
                "on_card": p.on_card,
            }
            for p in card.passes
        ],
    }
