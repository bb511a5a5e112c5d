"""What validators download (deny list, pending loads) and what they upload (taps)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Table, func, select, text, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fares import Tariff, card_seconds, load_hanoi_tariff
from fares.model import Pass, card_day_or_none, date_of_card_day
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
from transit.services.cards import MAX_BALANCE, CardNotFound
from transit.uow import UnitOfWork

MAX_CREDIT = 2_000_000
# Validators keep time within the signature window; a card counter seen going backwards across
# more than this much time is a rolled-back card, not two clocks that disagree.
CLOCK_SLACK = timedelta(minutes=10)
FUTURE_SLACK = timedelta(minutes=5)


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
    # Loads no validator should write any more: confirmed by a tap, or withdrawn.
    withdrawn: list[dict[str, Any]] = field(default_factory=list)


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


@cache
def tariff() -> Tariff:
    """The Hanoi tariff, loaded once per process."""
    return load_hanoi_tariff()


def tariff_version(now: datetime) -> str:
    """The id of the tariff version in force at `now` (the first one before it starts)."""
    loaded = tariff()
    version = loaded.version_at(card_seconds(now))
    return (version or loaded.versions[0]).version_id


def local_today(now: datetime) -> date:
    """Today in Hanoi, by the tariff's own clock (service day)."""
    loaded = tariff()
    seconds = card_seconds(now)
    version = loaded.version_at(seconds) or loaded.versions[0]
    return date_of_card_day(version.service_day(seconds))


def snapshot(since: int, now: datetime, uow: UnitOfWork) -> Snapshot:
    """What changed after `since`; everything when `since` is 0. Unconfirmed loads always."""
    session = uow.session
    full = since <= 0
    deny_rows = session.scalars(
        select(DenyEntry).where(DenyEntry.changed_version > (0 if full else since))
    )
    result = Snapshot(version=current_version(uow), full=full, tariff_version=tariff_version(now))
    for row in deny_rows:
        if row.active:
            result.deny.append({"card_uid": row.card_uid, "reason": row.reason})
        elif not full:
            result.allow.append(row.card_uid)
    if not full:
        result.withdrawn = [
            {"card_uid": uid, "seq": seq}
            for uid, seq in session.execute(
                select(PendingAction.card_uid, PendingAction.seq)
                .where(PendingAction.changed_version > since, PendingAction.status != "pending")
                .order_by(PendingAction.card_uid, PendingAction.seq)
            )
        ]
    for action in session.scalars(
        select(PendingAction)
        .where(PendingAction.status == "pending")
        .order_by(PendingAction.card_uid, PendingAction.seq)
    ):
        item: dict[str, Any] = {
            "seq": action.seq,
            "card_uid": action.card_uid,
            "kind": action.kind,
            "amount": action.amount,
            "expires": None,
        }
        if action.kind in ("pass", "profile") and action.detail:
            item[action.kind] = json.loads(action.detail)[action.kind]
        result.pending.append(item)
    return result


def create_credit(
    card_number: str, amount: int, reason: str, actor: str, now: datetime, uow: UnitOfWork
) -> PendingAction:
    """Customer service adds money to a card; it reaches the card at its next tap."""
    card = uow.session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None or card.status != "active":
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    # A credit the purse cannot take would wait on every validator forever: refuse it here.
    shadow = uow.session.get(CardShadow, card.uid)
    waiting = uow.session.scalar(
        select(func.coalesce(func.sum(PendingAction.amount), 0)).where(
            PendingAction.card_uid == card.uid,
            PendingAction.kind == "credit",
            PendingAction.status == "pending",
        )
    )
    room = MAX_BALANCE - (shadow.balance if shadow is not None else 0) - int(waiting or 0)
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
        changed_version=bump_version(uow),
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
    category = tariff().latest.categories[category_id]
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


BLOCK_REASONS = ("lost", "stolen", "damaged", "fraud")


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
    if card is None or card.status not in ("active", "blocked"):
        raise CardNotFound(f"no active card {card_number}", card_id=card_number)
    card.status = "blocked"
    version = bump_version(uow)
    entry = session.get(DenyEntry, card.uid)
    if entry is None:
        entry = DenyEntry(
            card_uid=card.uid, reason=reason, active=True, created_at=now, changed_version=version
        )
        session.add(entry)
    else:
        entry.active, entry.reason, entry.changed_version = True, reason, version
    session.add(
        AuditEntry(actor=actor, action="block", subject=card.card_number, detail=reason, at=now)
    )
    return entry


def ingest_taps(
    device: Device, taps: list[dict[str, Any]], backlog: int | None, now: datetime, uow: UnitOfWork
) -> list[TapResult]:
    """Store a batch of taps in one transaction: idempotent by tap_id, in any order.

    The first copy of a tap_id is stored; a later copy, in this batch or any other, is answered
    "duplicate". Two batches racing with the same tap store it once: the insert skips a tap_id
    that is already there, and what it skipped is answered "duplicate".
    """
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        # "accepted" lets the validator forget a tap, so the commit must outlive a crash even
        # on a server tuned with synchronous_commit off.
        session.execute(text("SET LOCAL synchronous_commit = on"))
    results: list[TapResult] = []
    first: dict[str, dict[str, Any]] = {}
    for tap in taps:
        if tap["tap_id"] in first:
            results.append(TapResult(tap["tap_id"], "duplicate"))
        else:
            first[tap["tap_id"]] = tap
            results.append(TapResult(tap["tap_id"], "accepted"))
    stored = _insert_new(session, [_row(device, tap, now) for tap in first.values()])
    fresh = [tap for tap_id, tap in first.items() if tap_id in stored]
    results = [
        TapResult(r.tap_id, "duplicate") if r.status == "accepted" and r.tap_id not in stored else r
        for r in results
    ]
    by_card: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tap in fresh:
        by_card[tap["card_uid"]].append(tap)
    # Row locks in one order (card uid), so two batches touching the same cards cannot deadlock;
    # a second batch for a card waits here until the first has committed.
    shadows = {
        shadow.card_uid: shadow
        for shadow in session.scalars(
            select(CardShadow)
            .where(CardShadow.card_uid.in_(sorted(by_card)))
            .order_by(CardShadow.card_uid)
            .with_for_update()
        )
    }
    actions: dict[str, dict[int, PendingAction]] = defaultdict(dict)
    loading = sorted(
        uid
        for uid, card_taps in by_card.items()
        if any(t.get("applied_loads") or t.get("loaded") for t in card_taps)
    )
    if loading:
        for action in session.scalars(
            select(PendingAction)
            .where(PendingAction.card_uid.in_(loading))
            .order_by(PendingAction.card_uid, PendingAction.seq)
            .with_for_update()
        ):
            actions[action.card_uid][action.seq] = action
    known = _transactions_on_record(session, fresh, stored, shadows)
    for card_uid, card_taps in by_card.items():
        _settle_card(
            card_uid,
            card_taps,
            shadows.get(card_uid),
            actions[card_uid],
            known[card_uid],
            device,
            now,
            uow,
        )
    for tap in fresh:
        if tap["time"] > now + FUTURE_SLACK:
            _alert(
                uow,
                "device_clock",
                tap["card_uid"],
                device,
                now,
                f"tap {tap['tap_id']} is dated {tap['time'].isoformat()}, in the future",
            )
    _check_routes(device, fresh, now, uow)
    device.last_seen_at = now
    if backlog is not None:
        device.last_backlog = backlog
    return results


def _check_routes(
    device: Device, fresh: list[dict[str, Any]], now: datetime, uow: UnitOfWork
) -> None:
    """A validator that charges on another route than it is registered for: moved to another
    bus without being re-registered, or misconfigured. The taps stay (the riders were charged);
    an operator gets one alert per route and batch, not one per tap."""
    elsewhere: dict[str, list[str]] = defaultdict(list)
    for tap in fresh:
        if tap.get("route_id") and tap["route_id"] != device.route_id:
            elsewhere[tap["route_id"]].append(tap["tap_id"])
    for route_id, tap_ids in sorted(elsewhere.items()):
        _alert(
            uow,
            "route_mismatch",
            None,
            device,
            now,
            f"{len(tap_ids)} taps on route {route_id}, registered for route {device.route_id}; "
            f"first: {tap_ids[0]}",
        )


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose tap_id is new; returns the tap_ids actually inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect
    table = TapRecord.__table__
    assert isinstance(table, Table)
    if dialect.name == "postgresql":
        # One short statement over arrays, a column each: a thousand-row VALUES list costs
        # more to build and parse than the insert itself.
        names = list(rows[0])
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(
            f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in names
        )
        # taps is partitioned by month, so its primary key is (tap_id, time): a tap_id stored
        # in any month is looked up first, and ON CONFLICT settles two batches racing.
        columns = ", ".join(quote(n) for n in names)
        statement = text(
            f"INSERT INTO {quote(table.name)} ({columns})"  # noqa: S608  names from the model
            f" SELECT * FROM unnest({arrays}) AS incoming ({columns})"
            f" WHERE NOT EXISTS (SELECT 1 FROM {quote(table.name)} stored"
            " WHERE stored.tap_id = incoming.tap_id)"
            " ON CONFLICT DO NOTHING RETURNING tap_id"
        )
        return set(session.scalars(statement, {n: [row[n] for row in rows] for n in names}))
    if dialect.name == "sqlite":
        inserted = session.execute(
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=["tap_id"])
            .returning(table.c.tap_id),
            rows,
        )
        return set(inserted.scalars())
    raise NotImplementedError(f"tap ingestion does not support {dialect.name}")


def _transactions_on_record(
    session: Session,
    fresh: list[dict[str, Any]],
    stored: set[str],
    shadows: dict[str, CardShadow],
) -> dict[str, dict[int, TapRecord]]:
    """Accepted taps stored before this batch for the card transactions in it.

    Every stored transaction of a card is at most its shadow's newest, so only taps at or
    below it (late arrivals, or a repeat) can meet one: in-order uploads cost no query.
    """
    pairs = sorted(
        {
            (t["card_uid"], t["card_tx"])
            for t in fresh
            if t.get("card_tx") is not None
            and t["card_uid"] in shadows
            and t["card_tx"] <= shadows[t["card_uid"]].last_card_tx
        }
    )
    known: dict[str, dict[int, TapRecord]] = defaultdict(dict)
    for start in range(0, len(pairs), 500):
        rows = session.scalars(
            select(TapRecord).where(
                tuple_(TapRecord.card_uid, TapRecord.card_tx).in_(pairs[start : start + 500]),
                TapRecord.result == "accepted",
            )
        )
        for row in rows:
            if row.card_tx is not None and row.tap_id not in stored:
                known[row.card_uid][row.card_tx] = row
    return known


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
    actions: dict[int, PendingAction],
    known: dict[int, TapRecord],
    device: Device,
    now: datetime,
    uow: UnitOfWork,
) -> None:
    """Confirm the loads these taps report, then follow the card's transactions in order.

    The shadow holds the balance the card reported at its newest known transaction. A tap that
    directly follows it is checked: the shadow, plus the loads applied in the tap, minus the
    fare must be what the card says. A tap after a gap (one still on its way from another bus)
    is not checked but taken as the card's word; a tap older than the newest is history.
    """
    for tap in sorted(taps, key=lambda t: t["time"]):
        for seq in {*(tap.get("applied_loads") or []), *(tap.get("loaded") or [])}:
            action = actions.get(seq)
            if action is not None and action.status == "pending":
                # Confirmed once, whichever validator reports it first.
                action.status = "confirmed"
                action.confirmed_by_tap = tap["tap_id"]
                action.changed_version = bump_version(uow)
    charged = sorted(
        (t for t in taps if t["result"] == "accepted" and t.get("card_tx") is not None),
        key=lambda t: t["card_tx"],
    )
    for tap in charged:
        card_tx = tap["card_tx"]
        earlier = known.get(card_tx)
        if earlier is not None:
            _repeated_transaction(uow, card_uid, device, now, tap, earlier)
            continue
        known[card_tx] = _as_record(tap)
        if shadow is None:
            shadow = CardShadow(card_uid=card_uid, balance=0, last_card_tx=0)
            uow.session.add(shadow)
            _alert(uow, "unknown_card", card_uid, device, now, f"tap {tap['tap_id']}")
            _adopt(shadow, tap)
            continue
        if card_tx <= shadow.last_card_tx:
            newest = shadow.last_tap_time
            if newest is not None and tap["time"] > newest + CLOCK_SLACK:
                _suspect_clone(
                    uow,
                    card_uid,
                    device,
                    now,
                    f"transaction {card_tx} at {tap['time'].isoformat()} comes after "
                    f"transaction {shadow.last_card_tx} at {newest.isoformat()} "
                    f"(tap {tap['tap_id']}): the card was rolled back",
                )
            continue
        loaded = [int(seq) for seq in tap.get("loaded") or []]
        if (
            card_tx == shadow.last_card_tx + len(loaded) + 1
            and tap.get("balance_after") is not None
        ):
            credited = sum(
                actions[seq].amount
                for seq in loaded
                if seq in actions and actions[seq].kind == "credit"
            )
            unknown = [seq for seq in loaded if seq not in actions]
            expected = shadow.balance + credited - tap["amount"]
            if unknown:
                _alert(
                    uow,
                    "unknown_load",
                    card_uid,
                    device,
                    now,
                    f"tap {tap['tap_id']} applied loads {unknown} that were never issued",
                )
            elif tap["balance_after"] != expected:
                _alert(
                    uow,
                    "balance_mismatch",
                    card_uid,
                    device,
                    now,
                    f"card says {tap['balance_after']} VND, ledger {expected} VND "
                    f"after tap {tap['tap_id']}",
                )
        _adopt(shadow, tap)


def _adopt(shadow: CardShadow, tap: dict[str, Any]) -> None:
    if tap.get("balance_after") is not None:
        shadow.balance = tap["balance_after"]
    shadow.last_card_tx = tap["card_tx"]
    shadow.last_tap_id = tap["tap_id"]
    shadow.last_tap_time = tap["time"]


def _as_record(tap: dict[str, Any]) -> TapRecord:
    return TapRecord(
        tap_id=tap["tap_id"],
        time=tap["time"],
        route_id=tap["route_id"],
        amount=tap["amount"],
        balance_after=tap.get("balance_after"),
        card_tx=tap["card_tx"],
    )


def _repeated_transaction(
    uow: UnitOfWork,
    card_uid: str,
    device: Device,
    now: datetime,
    tap: dict[str, Any],
    earlier: TapRecord,
) -> None:
    same = (
        tap["time"] == earlier.time
        and tap["route_id"] == earlier.route_id
        and tap["amount"] == earlier.amount
        and tap.get("balance_after") == earlier.balance_after
    )
    detail = f"transaction {tap['card_tx']} in tap {tap['tap_id']} and tap {earlier.tap_id}"
    if same:
        # The same charge under two ids is a validator's fault, not the card's.
        _alert(uow, "duplicate_transaction", card_uid, device, now, detail)
    else:
        _suspect_clone(uow, card_uid, device, now, detail + ", with different content")


def _suspect_clone(
    uow: UnitOfWork, card_uid: str, device: Device, now: datetime, detail: str
) -> None:
    _alert(uow, "suspected_clone", card_uid, device, now, detail)
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
        # A second suspicion in the same batch must find this entry: get() does not flush.
        uow.session.flush()
    else:
        entry.active, entry.reason, entry.changed_version = True, "suspected_clone", version


def _alert(
    uow: UnitOfWork, kind: str, card_uid: str | None, device: Device, now: datetime, detail: str
) -> None:
    uow.session.add(
        Alert(
            kind=kind, card_uid=card_uid, device_id=device.device_id, detail=detail, created_at=now
        )
    )
