"""Taps uploaded by validators: stored once each, and checked against what the card said before.

A batch is stored in one transaction, idempotent by tap_id and in any order. Each card's
transactions are then followed in order: a repeated transaction number with other content, or
a counter that went backwards, is a cloned or rolled-back card, which goes on the deny list.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, text, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from transit.models import (
    Alert,
    BlockReason,
    CardShadow,
    Device,
    PendingAction,
    PendingActionKind,
    PendingActionStatus,
    TapRecord,
    TapVerdict,
    UnsettledCharge,
)
from transit.services import account_taps, credentials, denylist, journeys, versions
from transit.services.credentials import INVALID
from transit.uow import UnitOfWork
from wire import Tap

UNKNOWN = "unknown"  # a tap's `commit` when the validator lost the card's answer to its charge

# Validators keep time within the signature window; a card counter seen going backwards across
# more than this much time is a rolled-back card, not two clocks that disagree.
CLOCK_SLACK = timedelta(minutes=10)
FUTURE_SLACK = timedelta(minutes=5)
# Stored as columns of the taps table; the loads a tap reports confirm pending actions instead.
_STORED = tuple(
    field.name for field in fields(Tap) if field.name not in {"applied_loads", "loaded"}
)


@dataclass(frozen=True)
class TapResult:
    tap_id: str
    status: str  # accepted, duplicate, rejected
    reason: str | None = None


def ingest_taps(
    device: Device, taps: list[Tap], backlog: int | None, now: datetime, uow: UnitOfWork
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
    first: dict[str, Tap] = {}
    unknown: dict[str, Tap] = {}  # charges whose commit answer the validator lost
    for tap in taps:
        if tap.tap_id in first or tap.tap_id in unknown:
            results.append(TapResult(tap.tap_id, "duplicate"))
        else:
            (unknown if tap.commit == UNKNOWN else first)[tap.tap_id] = tap
            results.append(TapResult(tap.tap_id, "accepted"))
    # A QR tap is charged to an account only with the phone's proof that it showed the code.
    proofs = credentials.tap_proofs(first.values(), uow)
    rows = [
        stored_row(tap, device.device_id, now, proofs[tap.tap_id].verdict)
        if tap.tap_id in proofs
        else stored_row(tap, device.device_id, now)
        for tap in first.values()
    ]
    stored = _insert_new(session, rows)
    fresh = [tap for tap_id, tap in first.items() if tap_id in stored]
    results = [
        TapResult(r.tap_id, "duplicate")
        if r.status == "accepted" and r.tap_id in first and r.tap_id not in stored
        else r
        for r in results
    ]
    by_card: dict[str, list[Tap]] = defaultdict(list)
    for tap in fresh:
        # A QR tap has no chip purse to follow: its money is the virtual card's account's.
        if tap.medium == "card":
            by_card[tap.card_uid].append(tap)
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
        if any(t.applied_loads or t.loaded for t in card_taps)
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
        if tap.time > now + FUTURE_SLACK:
            _alert(
                uow,
                "device_clock",
                tap.card_uid,
                device,
                now,
                f"tap {tap.tap_id} is dated {tap.time.isoformat()}, in the future",
            )
    # Charges a validator could not settle, and any that a card's taps now prove.
    already = _hold_unsettled(device, list(unknown.values()), now, uow)
    results = [
        TapResult(r.tap_id, "duplicate") if r.status == "accepted" and r.tap_id in already else r
        for r in results
    ]
    touched = {t.card_uid for t in unknown.values()} | {
        t.card_uid for t in fresh if t.medium == "card"
    }
    recovered = _recover_unsettled(touched, now, uow)
    _check_routes(device, fresh, now, uow)  # this device's own taps; a recovered one is another's
    fresh += recovered
    unproven = [t for t in fresh if t.tap_id in proofs and proofs[t.tap_id].verdict == INVALID]
    for tap in unproven:
        # Kept as the validator sent it, but nobody rode on it that the phone can vouch for:
        # no journey, no charge, and an operator looks at the validator.
        _alert(uow, "qr_tap_unproven", tap.card_uid, device, now,
               f"tap {tap.tap_id}: {proofs[tap.tap_id].why}")  # fmt: skip
    refused = {t.tap_id for t in unproven}
    ridden = [t for t in fresh if t.tap_id not in refused]
    journeys.record(uow, ridden, now)
    # A virtual card's taps: the account pays what the backend prices, with all its taps.
    account_taps.settle(ridden, now, uow)
    account_taps.late_chip_taps(ridden, now, uow)
    device.last_seen_at = now
    if backlog is not None:
        device.last_backlog = backlog
    return results


def _hold_unsettled(device: Device, charges: list[Tap], now: datetime, uow: UnitOfWork) -> set[str]:
    """Keep the charges a validator could not settle (`commit` `unknown`) out of every ledger,
    each once; returns the tap ids already stored as taps (a settled copy came first)."""
    if not charges:
        return set()
    session = uow.session
    ids = sorted(t.tap_id for t in charges)
    stored = set(session.scalars(select(TapRecord.tap_id).where(TapRecord.tap_id.in_(ids))))
    held = set(
        session.scalars(select(UnsettledCharge.tap_id).where(UnsettledCharge.tap_id.in_(ids)))
    )
    for tap in charges:
        if tap.tap_id in stored or tap.tap_id in held:
            continue
        if tap.card_tx is None or tap.balance_after is None:
            raise ValueError(f"an unsettled charge names its counter and purse: {tap.tap_id}")
        session.add(
            UnsettledCharge(
                tap_id=tap.tap_id,
                device_id=device.device_id,
                card_uid=tap.card_uid,
                card_tx=tap.card_tx,
                amount=tap.amount,
                balance_after=tap.balance_after,
                body=json.dumps(tap.to_json(), ensure_ascii=False),
                received_at=now,
            )
        )
    session.flush()
    return stored


def _recover_unsettled(cards: set[str], now: datetime, uow: UnitOfWork) -> list[Tap]:
    """The unsettled charges of these cards that the card's own taps now prove, stored as taps
    (`commit` `recovered`); returns them. A charge is proved by the card's next transaction: a
    tap one counter after it, with the purse lower by exactly that tap's fare (it wrote no load
    in between). One whose transaction went to another tap, or whose own copy was since
    uploaded settled, is done with."""
    if not cards:
        return []
    session = uow.session
    pending = list(
        session.scalars(
            select(UnsettledCharge)
            .where(UnsettledCharge.card_uid.in_(sorted(cards)))
            .order_by(UnsettledCharge.card_uid, UnsettledCharge.card_tx)
        )
    )
    recovered: list[Tap] = []
    for charge in pending:
        if session.scalar(select(TapRecord.tap_id).where(TapRecord.tap_id == charge.tap_id)):
            session.delete(charge)  # the validator settled it itself
            continue
        around = {
            row.card_tx: row
            for row in session.execute(
                select(
                    TapRecord.card_tx, TapRecord.result, TapRecord.amount, TapRecord.balance_after
                ).where(
                    TapRecord.card_uid == charge.card_uid,
                    TapRecord.card_tx.in_((charge.card_tx, charge.card_tx + 1)),
                )
            )
        }
        if charge.card_tx in around:
            session.delete(charge)  # another tap was that transaction: this one never happened
            continue
        following = around.get(charge.card_tx + 1)
        if (
            following is None
            or following.result != TapVerdict.ACCEPTED
            or following.balance_after != charge.balance_after - following.amount
        ):
            continue  # not proved yet: it waits for the card's next tap
        drafted = Tap.from_json(json.loads(charge.body))
        tap = replace(drafted, commit="recovered")
        _insert_new(session, [stored_row(tap, charge.device_id, now)])
        _confirm_loads(tap, now, uow)
        session.delete(charge)
        recovered.append(tap)
    return recovered


def _confirm_loads(tap: Tap, now: datetime, uow: UnitOfWork) -> None:
    """The pending loads a recovered charge reports the card holds, confirmed if still pending."""
    seqs = sorted({*tap.applied_loads, *tap.loaded})
    if not seqs:
        return
    for action in uow.session.scalars(
        select(PendingAction).where(
            PendingAction.card_uid == tap.card_uid,
            PendingAction.seq.in_(seqs),
            PendingAction.status == PendingActionStatus.PENDING,
        )
    ):
        action.status = PendingActionStatus.CONFIRMED
        action.confirmed_by_tap = tap.tap_id
        action.changed_version = versions.bump_version(uow)


def _check_routes(device: Device, fresh: list[Tap], now: datetime, uow: UnitOfWork) -> None:
    """A validator that charges on another route than it is registered for: moved to another
    bus without being re-registered, or misconfigured. The taps stay (the riders were charged);
    an operator gets one alert per route and batch, not one per tap."""
    elsewhere: dict[str, list[str]] = defaultdict(list)
    for tap in fresh:
        if tap.route_id and tap.route_id != device.route_id:
            elsewhere[tap.route_id].append(tap.tap_id)
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
    fresh: list[Tap],
    stored: set[str],
    shadows: dict[str, CardShadow],
) -> dict[str, dict[int, TapRecord]]:
    """Accepted taps stored before this batch for the card transactions in it.

    Every stored transaction of a card is at most its shadow's newest, so only taps at or
    below it (late arrivals, or a repeat) can meet one: in-order uploads cost no query.
    """
    pairs = sorted(
        {
            (t.card_uid, t.card_tx)
            for t in fresh
            if t.card_tx is not None
            and t.card_uid in shadows
            and t.card_tx <= shadows[t.card_uid].last_card_tx
        }
    )
    known: dict[str, dict[int, TapRecord]] = defaultdict(dict)
    for start in range(0, len(pairs), 500):
        rows = session.scalars(
            select(TapRecord).where(
                tuple_(TapRecord.card_uid, TapRecord.card_tx).in_(pairs[start : start + 500]),
                TapRecord.result == TapVerdict.ACCEPTED,
            )
        )
        for row in rows:
            if row.card_tx is not None and row.tap_id not in stored:
                known[row.card_uid][row.card_tx] = row
    return known


def stored_row(tap: Tap, device_id: str, received_at: datetime, proof: str = "") -> dict[str, Any]:
    """The taps table's row: the tap's own fields, less the loads it reports, plus the server's
    (when it came, and for an accepted QR tap whether the phone's proof holds)."""
    row = {name: getattr(tap, name) for name in _STORED}
    row.update(device_id=device_id, received_at=received_at, proof=proof)
    return row


def _settle_card(
    card_uid: str,
    taps: list[Tap],
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
    for tap in sorted(taps, key=lambda t: t.time):
        for seq in {*tap.applied_loads, *tap.loaded}:
            action = actions.get(seq)
            if action is not None and action.status == PendingActionStatus.PENDING:
                # Confirmed once, whichever validator reports it first.
                action.status = PendingActionStatus.CONFIRMED
                action.confirmed_by_tap = tap.tap_id
                action.changed_version = versions.bump_version(uow)
    # Accepted taps move the card's counter; so does a refused tap that wrote loads first, and
    # it reports the counter and purse after them (docs/validator-protocol.md).
    charged = sorted(
        (
            (t.card_tx, t)
            for t in taps
            if t.card_tx is not None and (t.result == TapVerdict.ACCEPTED or t.loaded)
        ),
        key=lambda pair: pair[0],
    )
    for card_tx, tap in charged:
        earlier = known.get(card_tx)
        if earlier is not None:
            _repeated_transaction(uow, card_uid, device, now, tap, earlier)
            continue
        known[card_tx] = _as_record(tap, card_tx)
        if shadow is None:
            shadow = CardShadow(card_uid=card_uid, balance=0, last_card_tx=0)
            uow.session.add(shadow)
            _alert(uow, "unknown_card", card_uid, device, now, f"tap {tap.tap_id}")
            _adopt(shadow, tap, card_tx)
            continue
        if card_tx <= shadow.last_card_tx:
            newest = shadow.last_tap_time
            if newest is not None and tap.time > newest + CLOCK_SLACK:
                _suspect_clone(
                    uow,
                    card_uid,
                    device,
                    now,
                    f"transaction {card_tx} at {tap.time.isoformat()} comes after "
                    f"transaction {shadow.last_card_tx} at {newest.isoformat()} "
                    f"(tap {tap.tap_id}): the card was rolled back",
                )
            continue
        loaded = list(tap.loaded)
        charge = 1 if tap.result == TapVerdict.ACCEPTED else 0
        if card_tx == shadow.last_card_tx + len(loaded) + charge and tap.balance_after is not None:
            credited = sum(
                actions[seq].amount
                for seq in loaded
                if seq in actions and actions[seq].kind == PendingActionKind.CREDIT
            )
            unknown = [seq for seq in loaded if seq not in actions]
            expected = shadow.balance + credited - tap.amount
            if unknown:
                _alert(
                    uow,
                    "unknown_load",
                    card_uid,
                    device,
                    now,
                    f"tap {tap.tap_id} applied loads {unknown} that were never issued",
                )
            elif tap.balance_after != expected:
                _alert(
                    uow,
                    "balance_mismatch",
                    card_uid,
                    device,
                    now,
                    f"card says {tap.balance_after} VND, ledger {expected} VND "
                    f"after tap {tap.tap_id}",
                )
        _adopt(shadow, tap, card_tx)


def _adopt(shadow: CardShadow, tap: Tap, card_tx: int) -> None:
    if tap.balance_after is not None:
        shadow.balance = tap.balance_after
    shadow.last_card_tx = card_tx
    shadow.last_tap_id = tap.tap_id
    shadow.last_tap_time = tap.time


def _as_record(tap: Tap, card_tx: int) -> TapRecord:
    return TapRecord(
        tap_id=tap.tap_id,
        time=tap.time,
        route_id=tap.route_id,
        amount=tap.amount,
        balance_after=tap.balance_after,
        card_tx=card_tx,
    )


def _repeated_transaction(
    uow: UnitOfWork,
    card_uid: str,
    device: Device,
    now: datetime,
    tap: Tap,
    earlier: TapRecord,
) -> None:
    same = (
        tap.time == earlier.time
        and tap.route_id == earlier.route_id
        and tap.amount == earlier.amount
        and tap.balance_after == earlier.balance_after
    )
    detail = f"transaction {tap.card_tx} in tap {tap.tap_id} and tap {earlier.tap_id}"
    if same:
        # The same charge under two ids is a validator's fault, not the card's.
        _alert(uow, "duplicate_transaction", card_uid, device, now, detail)
    else:
        _suspect_clone(uow, card_uid, device, now, detail + ", with different content")


def _suspect_clone(
    uow: UnitOfWork, card_uid: str, device: Device, now: datetime, detail: str
) -> None:
    _alert(uow, "suspected_clone", card_uid, device, now, detail)
    denylist.deny(card_uid, BlockReason.SUSPECTED_CLONE, now, uow)


def _alert(
    uow: UnitOfWork, kind: str, card_uid: str | None, device: Device, now: datetime, detail: str
) -> None:
    uow.session.add(
        Alert(
            kind=kind, card_uid=card_uid, device_id=device.device_id, detail=detail, created_at=now
        )
    )
