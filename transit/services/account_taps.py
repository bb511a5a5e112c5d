"""The backend prices a virtual card's taps (docs/virtual-card.md): it is the authority.

A validator decides a QR tap offline from what it can know: its own journal and the
credential. The account's taps come from many validators, late and in any order, so the backend
prices them again, in time order, with the same fare engine, from the account's category and
passes: transfers, caps and journeys across validators and gates (a metro journey entered at
one gate and left at another) come out right. Each tap the validator accepted is posted to the
account's ledger once (`fare`, by tap id); when a tap arriving later changes what an earlier
one costs (a transfer it opens, a cap it reaches), the difference is posted as an `adjustment`
with the engine's explanation. Taps a validator refused cost nothing: the rider did not ride.

The window priced again is the Hanoi month of the earliest new tap to now, so monthly caps
count every tap of the month. A bus door validator resolved each tap as boarding or alighting
from its own journal; here a bus tap is taken as `both` again and resolved from the account's
whole history (a rider may board at the front door and alight at the back one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select

from fares import Decision, Direction, FareState, Tap, price_tap, why
from fares.model import CARD_EPOCH
from transit.localtime import month_bounds, service_day
from transit.models import (
    AccountEntry,
    BlockReason,
    Card,
    CardStatus,
    Journey,
    Rider,
    TapRecord,
    TapVerdict,
)
from transit.services import journeys, ledger, loads, tariffs
from transit.uow import UnitOfWork
from wire import Tap as WireTap

FARE, ADJUSTMENT, LATE_CHIP_TAP = "fare", "adjustment", "late_chip_tap"


def settle(taps: Iterable[WireTap], now: datetime, uow: UnitOfWork) -> None:
    """Price the accounts these new QR taps belong to again, and post what changed."""
    earliest: dict[str, datetime] = {}
    for tap in taps:
        if tap.medium == "qr":
            earliest[tap.card_uid] = min(tap.time, earliest.get(tap.card_uid, tap.time))
    for card_uid in sorted(earliest):
        card = uow.session.scalar(select(Card).where(Card.uid == card_uid))
        if card is None or not ledger.is_virtual(card):
            continue  # the tap is kept; an unknown card is the taps service's to report
        reprice(card, _month_start(service_day(earliest[card_uid])), now, uow)


def late_chip_taps(taps: Iterable[WireTap], now: datetime, uow: UnitOfWork) -> None:
    """A chip card's fare uploaded after its holdings moved to the rider's virtual card: the
    chip's balance counted in the move included it, so the account pays it now (once, by the
    tap's id), with the reason. A chip switched away from to another chip is left to the
    operator's alert, as for a replaced card."""
    charged = [t for t in taps if t.medium == "card" and t.result == "accepted" and t.amount > 0]
    if not charged:
        return
    session = uow.session
    moved = {
        card.uid: card
        for card in session.scalars(
            select(Card).where(
                Card.uid.in_(sorted({t.card_uid for t in charged})),
                Card.status == CardStatus.BLOCKED,
                Card.blocked_reason == BlockReason.INACTIVE_MEDIUM,
            )
        )
    }
    for tap in sorted(charged, key=lambda t: (t.time, t.tap_id)):
        chip = moved.get(tap.card_uid)
        if chip is None or chip.rider_id is None:
            continue
        rider = session.get(Rider, chip.rider_id)
        active = session.get(Card, rider.active_card_id) if rider and rider.active_card_id else None
        if active is None or not ledger.is_virtual(active):
            continue
        ledger.post(
            active,
            LATE_CHIP_TAP,
            tap.tap_id,
            -tap.amount,
            f"a ride on card {chip.card_number} on {tap.time.isoformat()}, uploaded after its "
            "balance moved to this account",
            now,
            uow,
            ({"code": LATE_CHIP_TAP, "card": chip.card_number, "at": tap.time.isoformat()},),
        )


def _month_start(day: date) -> datetime:
    return month_bounds(day.replace(day=1))[0]


def reprice(card: Card, since: datetime, now: datetime, uow: UnitOfWork) -> None:
    """Price the card's accepted QR taps from `since` in time order, and post to its ledger what
    differs from what was posted for each."""
    session = uow.session
    taps = list(
        session.scalars(
            select(TapRecord)
            .where(
                TapRecord.card_uid == card.uid,
                TapRecord.medium == "qr",
                TapRecord.result == TapVerdict.ACCEPTED,
                TapRecord.proof != "invalid",  # a code the phone never showed costs nothing
                TapRecord.time >= since,
            )
            .order_by(TapRecord.time, TapRecord.tap_id)
        )
    )
    if not taps:
        return
    posted: dict[str, list[AccountEntry]] = defaultdict(list)
    for entry in session.scalars(
        select(AccountEntry).where(
            AccountEntry.card_id == card.card_id, AccountEntry.kind.in_((FARE, ADJUSTMENT))
        )
    ):
        posted[entry.ref.split("#", 1)[0]].append(entry)
    tariff = tariffs.tariff()
    version = tariff.latest
    state = FareState.new(
        version.categories[card.category_id].code,
        card.valid_until,
        passes=tuple(loads.account_passes(card, uow)),
    )
    priced: list[WireTap] = []
    reasons: dict[str, list[why.Part]] = {}
    for record in taps:
        tap = Tap(
            record.time,
            record.route_id,
            record.stop_id,
            record.device_id,
            # A bus door: boarding or alighting follows from the account's whole history.
            Direction.BOTH if record.vehicle_id else Direction(record.direction),
            record.vehicle_id,
        )
        decision = price_tap(state, tap, tariff)
        parts = why.reasons(decision, tap, state, tariff)
        if decision.accepted:
            state = decision.state
            charge, explanation = decision.amount, decision.explanation
            priced.append(_as_priced(record, decision))
            reasons[record.tap_id] = parts
        else:
            charge, explanation = 0, f"not charged: {decision.explanation}"
        entries = posted.get(record.tap_id, [])
        if not entries:
            ledger.post(card, FARE, record.tap_id, -charge, explanation, now, uow, parts)
            continue
        paid = -sum(entry.amount for entry in entries)
        if paid != charge:
            ledger.post(
                card,
                ADJUSTMENT,
                f"{record.tap_id}#{len(entries)}",
                paid - charge,
                f"priced again with the account's other taps: {explanation}",
                now,
                uow,
                [{"code": "repriced", "was": paid, "now": charge}, *parts],
            )
    # The card's journeys in the window, paired as the backend priced them, not as each
    # validator saw its own half: a metro journey across two gates is one journey.
    session.execute(
        delete(Journey).where(Journey.card_uid == card.uid, Journey.started_at >= since)
    )
    journeys.record(uow, priced, now, reasons)


def _as_priced(record: TapRecord, decision: Decision) -> WireTap:
    """The tap as the backend priced it: what it was taken as, what it cost, which journey an
    exit ends."""
    return WireTap(
        time=record.time,
        card_uid=record.card_uid,
        card_number=record.card_number,
        route_id=record.route_id,
        stop_id=record.stop_id,
        result=TapVerdict.ACCEPTED,
        amount=decision.amount,
        paid_by=str(decision.paid_by),
        explanation=decision.explanation,
        direction=str(decision.direction),
        vehicle_id=record.vehicle_id,
        entry_time=(
            CARD_EPOCH + timedelta(seconds=decision.journey_start)
            if decision.journey_start
            else None
        ),
        unfinished=decision.unfinished,
        medium="qr",
        tap_id=record.tap_id,
    )
