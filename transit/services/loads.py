"""Pending loads: money, passes and rider categories waiting to be written to a card.

A load is numbered per card and sent to every validator; the first one the card is tapped on
writes it, and the card keeps the number of the last load it applied, so none is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from fares.model import Pass, card_day, card_day_or_none, date_of_card_day
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    AccountEntry,
    AuditEntry,
    Card,
    CardShadow,
    CardStatus,
    PendingAction,
    PendingActionKind,
    PendingActionStatus,
)
from transit.services import ledger, tariffs, versions
from transit.services.cards import MAX_BALANCE, CardNotFound
from transit.uow import UnitOfWork

MAX_CREDIT = 2_000_000


class InvalidCredit(DomainError):
    code = "invalid_credit"
    status = 422


@dataclass(frozen=True)
class NoDetail:
    """A credit: its amount says it all. Also an action stored without its record."""


@dataclass(frozen=True)
class PassDetail:
    """A pass load: the record the card gets and the product it was sold as."""

    entry: Pass
    product_id: str

    @property
    def valid_from(self) -> date:
        return date_of_card_day(self.entry.valid_from)

    @property
    def valid_until(self) -> date:
        return date_of_card_day(self.entry.valid_until)


@dataclass(frozen=True)
class ProfileDetail:
    """A new rider category: its id here, and the code and last card day the card gets."""

    category: str
    category_code: int
    valid_until: int  # card day, inclusive; NO_DATE when it never ends


ActionDetail = NoDetail | PassDetail | ProfileDetail


def encode_detail(detail: ActionDetail) -> str | None:
    """The text kept in pending_actions.detail; a credit keeps none."""
    # The "pass" and "profile" records go to validators as they are stored here.
    if isinstance(detail, PassDetail):
        return json.dumps({"pass": detail.entry._asdict(), "product_id": detail.product_id})
    if isinstance(detail, ProfileDetail):
        profile = {"category_code": detail.category_code, "valid_until": detail.valid_until}
        return json.dumps({"profile": profile, "category": detail.category})
    return None


def detail_of(action: PendingAction) -> ActionDetail:
    """What a pending action writes to the card besides its amount, decoded from its row."""
    stored = json.loads(action.detail) if action.detail else {}
    if action.kind == PendingActionKind.PASS and "pass" in stored:
        return PassDetail(Pass(**stored["pass"]), str(stored.get("product_id")))
    if action.kind == PendingActionKind.PROFILE and "profile" in stored:
        profile = stored["profile"]
        return ProfileDetail(
            str(stored.get("category")), profile["category_code"], profile["valid_until"]
        )
    return NoDetail()


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
            PendingAction.kind == PendingActionKind.CREDIT,
            PendingAction.status == PendingActionStatus.PENDING,
        )
    )
    return MAX_BALANCE - balance - int(waiting or 0)


def create_credit(
    card_number: str, amount: int, reason: str, actor: str, now: datetime, uow: UnitOfWork
) -> PendingAction:
    """Customer service adds money to a card; it reaches the card at its next tap."""
    card = uow.session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None or card.status != CardStatus.ACTIVE:
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    room = headroom(card, uow)
    if amount > room:
        raise InvalidCredit(f"the card can take at most {max(room, 0):,} VND more")
    return add_credit(card, amount, reason, actor, now, uow)


def _add_action(
    card: Card,
    *,
    kind: PendingActionKind,
    amount: int,
    reason: str,
    detail: ActionDetail,
    audit: str,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
    why: Sequence[Mapping[str, Any]] = (),
) -> PendingAction:
    """A pending action for `card`, numbered after its last one, and its audit row.

    A virtual card has no chip to wait for: its action is confirmed at once (and sent to no
    validator), and a credit is posted to the account's ledger in the same transaction.
    """
    session = uow.session
    # The card's shadow row is the lock that keeps two actions from taking the same number.
    session.get(CardShadow, card.uid, with_for_update=True)
    last = session.scalar(
        select(func.max(PendingAction.seq)).where(PendingAction.card_uid == card.uid)
    )
    virtual = ledger.is_virtual(card)
    action = PendingAction(
        card_uid=card.uid,
        seq=(last or 0) + 1,
        kind=kind,
        amount=amount,
        reason=reason,
        created_by=actor,
        created_at=now,
        status=PendingActionStatus.CONFIRMED if virtual else PendingActionStatus.PENDING,
        changed_version=versions.current_version(uow) if virtual else versions.bump_version(uow),
        detail=encode_detail(detail),
    )
    session.add(action)
    if virtual and kind == PendingActionKind.CREDIT:
        ledger.post(card, "credit", f"load {action.seq}", amount, reason, now, uow, why)
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
    why: Sequence[Mapping[str, Any]] = (),
) -> PendingAction:
    """Money for `card`, written at its next tap. `why` says it to the rider (fares.why parts);
    by default the reason is the rider's note."""
    if not 0 < amount <= most:
        raise InvalidCredit(f"a credit is 1 to {most:,} VND")
    if not reason.strip():
        raise InvalidCredit("a credit needs a reason")
    return _add_action(
        card,
        kind=PendingActionKind.CREDIT,
        amount=amount,
        reason=reason.strip(),
        detail=NoDetail(),
        audit=f"{amount} VND: {reason.strip()}",
        actor=actor,
        now=now,
        uow=uow,
        why=why or ({"code": "note", "text": reason.strip()},),
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
        kind=PendingActionKind.PASS,
        amount=price,
        reason=f"pass {product_id}",
        detail=PassDetail(entry, product_id),
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
    action = _add_action(
        card,
        kind=PendingActionKind.PROFILE,
        amount=0,
        reason=f"category {category_id} until {valid_until or 'no end'}",
        detail=ProfileDetail(category_id, category.code, card_day_or_none(valid_until)),
        audit=f"{category_id} until {valid_until or 'no end'}",
        actor=actor,
        now=now,
        uow=uow,
    )
    card.category_id = category_id
    card.valid_until = valid_until
    return action


# Loads a card holds or will hold: confirmed on the card, or waiting for its next tap.
HELD = (PendingActionStatus.PENDING, PendingActionStatus.CONFIRMED)


def pass_loads(
    card: Card, uow: UnitOfWork, statuses: Sequence[PendingActionStatus] = HELD
) -> list[tuple[PendingAction, PassDetail]]:
    """The card's pass loads in these states (by default those it holds or will), oldest
    first, each with its pass."""
    found = []
    for action in uow.session.scalars(
        select(PendingAction)
        .where(
            PendingAction.card_uid == card.uid,
            PendingAction.kind == PendingActionKind.PASS,
            PendingAction.status.in_(statuses),
        )
        .order_by(PendingAction.seq)
    ):
        detail = detail_of(action)
        if isinstance(detail, PassDetail):
            found.append((action, detail))
    return found


@dataclass(frozen=True)
class Holdings:
    """What a card held when it was emptied to move to another card: its money and the passes
    still good, each pass with what was paid for it."""

    money: int
    passes: tuple[tuple[PassDetail, int], ...]


def empty(card: Card, destination: Card, now: datetime, uow: UnitOfWork) -> Holdings:
    """Take what `card` holds, to move it to `destination`: the loads that never reached it
    are withdrawn (no validator writes them any more), and a virtual card's passes leave it.

    The money is, for a chip card, the balance the server last knew plus those withdrawn
    credits (the chip keeps its own balance, refused by the deny list); for a virtual card, its
    account balance, posted out of its ledger here.
    """
    today = card_day(service_day(now))
    session = uow.session
    shadow = session.get(CardShadow, card.uid, with_for_update=True)
    withdrawn = list(
        session.scalars(
            select(PendingAction)
            .where(
                PendingAction.card_uid == card.uid,
                PendingAction.status == PendingActionStatus.PENDING,
            )
            .with_for_update()
        )
    )
    balance = max(shadow.balance if shadow is not None else 0, 0)
    money = balance + sum(a.amount for a in withdrawn if a.kind == PendingActionKind.CREDIT)
    carried = []
    for action, detail in pass_loads(card, uow):
        if detail.entry.valid_until >= today:
            carried.append((detail, action.amount))
            if ledger.is_virtual(card):
                action.status = PendingActionStatus.WITHDRAWN  # it rides elsewhere now
    for action in withdrawn:
        action.status = PendingActionStatus.WITHDRAWN
        action.changed_version = versions.bump_version(uow)
    if ledger.is_virtual(card) and money > 0:
        # Each move is its own entry: the same card may be switched to again later.
        moves = session.scalar(
            select(func.count())
            .select_from(AccountEntry)
            .where(AccountEntry.card_id == card.card_id, AccountEntry.kind == "moved_out")
        )
        ref = f"{destination.card_number}#{(moves or 0) + 1}"
        where = f"card {destination.card_number}"
        ledger.post(
            card, "moved_out", ref, -money, f"to {where}", now, uow,
            ({"code": "moved_out", "card": destination.card_number},),
        )  # fmt: skip
    return Holdings(money, tuple(carried))


def account_passes(card: Card, uow: UnitOfWork) -> list[Pass]:
    """The passes a virtual card holds (its loads are confirmed at once), oldest first."""
    return [detail.entry for _, detail in pass_loads(card, uow, (PendingActionStatus.CONFIRMED,))]


def move_to(
    card: Card,
    held: Holdings,
    sources: Sequence[str],
    actor: str,
    now: datetime,
    uow: UnitOfWork,
) -> None:
    """What other cards held (`loads.empty`), to `card`: the money as a credit, each pass as a
    pass load (at the chip's next tap; at once for a virtual card). `sources` are their card
    numbers."""
    if held.money > 0:
        # All the old card held, which may be more than one top-up.
        numbers = ", ".join(sources) or "no other card"
        add_credit(
            card, held.money, f"moved from card {numbers}", actor, now, uow, most=MAX_BALANCE,
            why=({"code": "moved_in", "card": numbers},),
        )  # fmt: skip
    has = {detail.entry for _, detail in pass_loads(card, uow)}
    for detail, price in held.passes:
        if detail.entry in has:
            continue  # a chip switched back to still holds it
        add_pass(card, detail.entry, product_id=detail.product_id, price=price, actor=actor,
                 now=now, uow=uow)  # fmt: skip
