"""The deny list: cards every validator refuses, from its next sync, with the reason shown."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from transit.errors import DomainError
from transit.models import AuditEntry, BlockReason, Card, CardStatus, DenyEntry
from transit.services import versions
from transit.services.cards import CardNotFound
from transit.uow import UnitOfWork

BLOCK_REASONS = (BlockReason.LOST, BlockReason.STOLEN, BlockReason.DAMAGED, BlockReason.FRAUD)


class InvalidBlock(DomainError):
    code = "invalid_block"
    status = 422


def block_card(
    card_number: str, reason: str, actor: str, now: datetime, uow: UnitOfWork
) -> DenyEntry:
    """Put a card on every validator's deny list (from their next sync), with its reason."""
    if reason not in BLOCK_REASONS:
        raise InvalidBlock(f"the reason is one of {', '.join(BLOCK_REASONS)}")
    session = uow.session
    card = session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None or card.status not in (CardStatus.ACTIVE, CardStatus.BLOCKED):
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    card.status = CardStatus.BLOCKED
    entry = deny(card.uid, BlockReason(reason), now, uow)
    session.add(
        AuditEntry(actor=actor, action="block", subject=card.card_number, detail=reason, at=now)
    )
    return entry


def deny(card_uid: str, reason: BlockReason, now: datetime, uow: UnitOfWork) -> DenyEntry:
    """The card's deny entry, made or made active again with this reason."""
    # The version's row lock comes first: a concurrent deny of the same card has committed
    # its entry by the time this one looks for it.
    version = versions.bump_version(uow)
    entry = uow.session.get(DenyEntry, card_uid)
    if entry is None:
        entry = DenyEntry(
            card_uid=card_uid, reason=reason, active=True, created_at=now, changed_version=version
        )
        uow.session.add(entry)
        # A second deny in the same transaction must find this entry: get() does not flush.
        uow.session.flush()
    else:
        entry.active, entry.reason, entry.changed_version = True, reason, version
    return entry
