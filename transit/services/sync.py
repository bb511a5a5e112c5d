"""What validators download (deny list, pending loads) and what they upload (taps)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from transit.errors import DomainError
from transit.models import (
    Alert,
    AuditEntry,
    Card,
    CardShadow,
    DenyEntry,
    Device,
    PendingAction,
    SyncVersion,
    TapRecord,
)
from transit.services.cards import CardNotFound
from transit.uow import UnitOfWork

MAX_CREDIT = 2_000_000
TARIFF_VERSION = "hanoi-2024-11"


class InvalidCredit(DomainError):
    code = "invalid_credit"
    status = 422


@dataclass(frozen=True)
class TapResult:
    tap_id: str
    status: str  # accepted, duplicate, rejected
    reason: str | None = None


@dataclass
class Snapshot:
    version: int
    full: bool
    tariff_version: str
    deny: list[dict[str, str]] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)


def bump_version(uow: UnitOfWork) -> int:
    """The next sync version; taking the row lock keeps concurrent writers in order."""
    row = uow.session.get(SyncVersion, 1, with_for_update=True)
    if row is None:
        row = SyncVersion(id=1, version=0)
        uow.session.add(row)
    row.version += 1
    return row.version


def current_version(uow: UnitOfWork) -> int:
    row = uow.session.get(SyncVersion, 1)
    return row.version if row else 0


def snapshot(since: int, uow: UnitOfWork) -> Snapshot:
    """What changed after `since`; everything when `since` is 0. Unconfirmed loads always."""
    session = uow.session
    full = since <= 0
    deny_rows = session.scalars(
        select(DenyEntry).where(DenyEntry.changed_version > (0 if full else since))
    )
    result = Snapshot(version=current_version(uow), full=full, tariff_version=TARIFF_VERSION)
    for row in deny_rows:
        if row.active:
            result.deny.append({"card_uid": row.card_uid, "reason": row.reason})
        elif not full:
            result.allow.append(row.card_uid)
    for action in session.scalars(
        select(PendingAction)
        .where(PendingAction.status == "pending")
        .order_by(PendingAction.card_uid, PendingAction.seq)
    ):
        result.pending.append(
            {
                "seq": action.seq,
                "card_uid": action.card_uid,
                "kind": action.kind,
                "amount": action.amount,
                "expires": None,
            }
        )
    return result


def create_credit(
    card_number: str, amount: int, reason: str, actor: str, now: datetime, uow: UnitOfWork
) -> PendingAction:
    """Customer service adds money to a card; it reaches the card at its next tap."""
    if not 0 < amount <= MAX_CREDIT:
        raise InvalidCredit(f"a credit is 1 to {MAX_CREDIT:,} VND")
    if not reason.strip():
        raise InvalidCredit("a credit needs a reason")
    session = uow.session
    card = session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None or card.status != "active":
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    last = session.scalar(
        select(func.max(PendingAction.seq)).where(PendingAction.card_uid == card.uid)
    )
    action = PendingAction(
        card_uid=card.uid,
        seq=(last or 0) + 1,
        kind="credit",
        amount=amount,
        reason=reason.strip(),
        created_by=actor,
        created_at=now,
        status="pending",
        changed_version=bump_version(uow),
    )
    session.add(action)
    session.add(
        AuditEntry(
            actor=actor,
            action="credit",
            subject=card.card_number,
            detail=f"{amount} VND, load {action.seq}: {action.reason}",
            at=now,
        )
    )
    return action


def ingest_taps(
    device: Device, taps: list[dict[str, Any]], backlog: int | None, now: datetime, uow: UnitOfWork
) -> list[TapResult]:
    """Store a batch of taps in one transaction: idempotent by tap_id, in any order."""
    session = uow.session
    ids = [t["tap_id"] for t in taps]
    known = set(session.scalars(select(TapRecord.tap_id).where(TapRecord.tap_id.in_(ids))))
    results: dict[str, TapResult] = {}
    fresh: list[dict[str, Any]] = []
    for tap in taps:
        if tap["tap_id"] in known or tap["tap_id"] in results:
            results[tap["tap_id"]] = TapResult(tap["tap_id"], "duplicate")
            continue
        results[tap["tap_id"]] = TapResult(tap["tap_id"], "accepted")
        fresh.append(tap)
    if fresh:
        # Core bulk insert: one statement for the batch, not an ORM object per tap.
        session.execute(insert(TapRecord), [_row(device, tap, now) for tap in fresh])
    by_card: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tap in fresh:
        by_card[tap["card_uid"]].append(tap)
    shadows = {
        shadow.card_uid: shadow
        for shadow in session.scalars(
            select(CardShadow).where(CardShadow.card_uid.in_(by_card)).with_for_update()
        )
    }
    loading = {
        uid for uid, card_taps in by_card.items() if any(t.get("applied_loads") for t in card_taps)
    }
    actions: dict[str, list[PendingAction]] = defaultdict(list)
    if loading:
        for action in session.scalars(
            select(PendingAction).where(
                PendingAction.card_uid.in_(loading), PendingAction.status == "pending"
            )
        ):
            actions[action.card_uid].append(action)
    for card_uid, card_taps in by_card.items():
        _settle_card(
            card_uid, card_taps, shadows.get(card_uid), actions[card_uid], device, now, uow
        )
    device.last_seen_at = now
    if backlog is not None:
        device.last_backlog = backlog
    return [results[tap_id] for tap_id in ids]


def _row(device: Device, tap: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dict(
        tap_id=tap["tap_id"],
        device_id=device.device_id,
        device_seq=tap["device_seq"],
        time=tap["time"],
        card_uid=tap["card_uid"],
        card_number=tap.get("card_number"),
        route_id=tap["route_id"],
        stop_id=tap.get("stop_id") or "",
        result=tap["result"],
        reason=tap.get("reason"),
        amount=tap["amount"],
        paid_by=tap["paid_by"],
        balance_after=tap.get("balance_after"),
        card_tx=tap.get("card_tx"),
        tariff_version=tap.get("tariff_version"),
        explanation=tap.get("explanation") or "",
        commit=tap.get("commit") or "none",
        received_at=now,
    )


def _settle_card(
    card_uid: str,
    taps: list[dict[str, Any]],
    shadow: CardShadow | None,
    pending: list[PendingAction],
    device: Device,
    now: datetime,
    uow: UnitOfWork,
) -> None:
    session = uow.session
    reported = {seq for t in taps for seq in t.get("applied_loads") or []}
    for action in pending:
        if action.seq not in reported:
            continue
        # Confirmed once, whichever validator reports it first; later reports change nothing.
        action.status = "confirmed"
        action.confirmed_by_tap = next(
            t["tap_id"] for t in taps if action.seq in (t.get("applied_loads") or [])
        )
        action.changed_version = bump_version(uow)
        if shadow is not None:
            shadow.balance += action.amount
    charged = sorted(
        (t for t in taps if t["result"] == "accepted" and t.get("card_tx") is not None),
        key=lambda t: t["card_tx"],
    )
    for tap in charged:
        if shadow is None:
            shadow = CardShadow(
                card_uid=card_uid, balance=tap["balance_after"] + tap["amount"], last_card_tx=0
            )
            session.add(shadow)
            _alert(uow, "unknown_card", card_uid, device, now, f"tap {tap['tap_id']}")
        if tap["card_tx"] <= shadow.last_card_tx:
            _suspect_clone(uow, card_uid, device, now, tap, shadow.last_card_tx)
            continue
        shadow.balance -= tap["amount"]
        shadow.last_card_tx = tap["card_tx"]
        shadow.last_tap_id = tap["tap_id"]
        if tap.get("balance_after") is not None and tap["balance_after"] != shadow.balance:
            _alert(
                uow,
                "balance_mismatch",
                card_uid,
                device,
                now,
                f"card says {tap['balance_after']} VND, ledger {shadow.balance} VND "
                f"after tap {tap['tap_id']}",
            )
            shadow.balance = tap["balance_after"]


def _suspect_clone(
    uow: UnitOfWork, card_uid: str, device: Device, now: datetime, tap: dict[str, Any], last: int
) -> None:
    _alert(
        uow,
        "suspected_clone",
        card_uid,
        device,
        now,
        f"transaction {tap['card_tx']} after {last} (tap {tap['tap_id']})",
    )
    entry = uow.session.get(DenyEntry, card_uid)
    version = bump_version(uow)
    if entry is None:
        uow.session.add(
            DenyEntry(
                card_uid=card_uid,
                reason="suspected_clone",
                active=True,
                created_at=now,
                changed_version=version,
            )
        )
    else:
        entry.active, entry.reason, entry.changed_version = True, "suspected_clone", version


def _alert(
    uow: UnitOfWork, kind: str, card_uid: str, device: Device, now: datetime, detail: str
) -> None:
    uow.session.add(
        Alert(
            kind=kind, card_uid=card_uid, device_id=device.device_id, detail=detail, created_at=now
        )
    )
