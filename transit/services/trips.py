"""A card's trips, newest first a page at a time, and its statement for one month.

A trip is a tap the validator accepted. Route and stop names come from the network as it is
now; a route or stop that left the feed (or never was in it) still shows its id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

from transit.localtime import month_bounds
from transit.models import Card, Route, Stop, TapRecord, TapVerdict
from transit.uow import UnitOfWork


@dataclass(frozen=True)
class Trip:
    tap_id: str
    time: datetime  # aware, as stored (UTC)
    route_id: str
    route_short_name: str | None  # None when the route is not in the network
    route_long_name: str | None
    stop_id: str
    stop_name: str | None
    amount: int  # VND
    paid_by: str
    explanation: str
    balance_after: int | None


@dataclass(frozen=True)
class PaidByTotal:
    paid_by: str
    trips: int
    amount: int


@dataclass(frozen=True)
class Statement:
    """One calendar month of a card's trips (Hanoi time), oldest first, with totals."""

    card_number: str
    month: date  # the first day of the month
    trips: list[Trip]
    by_paid_by: list[PaidByTotal] = field(default_factory=list)

    @property
    def trip_count(self) -> int:
        return len(self.trips)

    @property
    def total_amount(self) -> int:
        return sum(trip.amount for trip in self.trips)


def _query(card: Card, start: datetime | None, end: datetime | None) -> Select[*tuple[Any, ...]]:
    # card_uid = ? and a time range: the index ix_taps_card_uid_time serves both and the order.
    query = (
        select(
            TapRecord.tap_id,
            TapRecord.time,
            TapRecord.route_id,
            Route.short_name.label("route_short_name"),
            Route.long_name.label("route_long_name"),
            TapRecord.stop_id,
            Stop.name.label("stop_name"),
            TapRecord.amount,
            TapRecord.paid_by,
            TapRecord.explanation,
            TapRecord.balance_after,
        )
        .outerjoin(Route, Route.route_id == TapRecord.route_id)
        .outerjoin(Stop, Stop.stop_id == TapRecord.stop_id)
        .where(TapRecord.card_uid == card.uid, TapRecord.result == TapVerdict.ACCEPTED)
    )
    if start is not None:
        query = query.where(TapRecord.time >= start)
    if end is not None:
        query = query.where(TapRecord.time < end)
    return query


def _fetch(query: Select[*tuple[Any, ...]], uow: UnitOfWork) -> list[Trip]:
    return [Trip(**row._asdict()) for row in uow.session.execute(query)]


def trips(
    card: Card,
    uow: UnitOfWork,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Trip]:
    """Up to `limit` trips of the card, newest first, older than `after` (time, tap_id).

    `start` is inclusive and `end` exclusive. Paging is by key, never OFFSET: a page costs
    the same deep in the history as on top, and taps arriving meanwhile shift nothing.
    """
    query = _query(card, start, end)
    if after is not None:
        after_time, after_tap = after
        # Written out rather than as a row comparison: `time <= ?` is a range on the index.
        query = query.where(
            TapRecord.time <= after_time,
            or_(
                TapRecord.time < after_time,
                and_(TapRecord.time == after_time, TapRecord.tap_id < after_tap),
            ),
        )
    query = query.order_by(TapRecord.time.desc(), TapRecord.tap_id.desc()).limit(limit)
    return _fetch(query, uow)


def statement(card: Card, month: date, uow: UnitOfWork) -> Statement:
    """The card's trips in one calendar month, Hanoi time, oldest first, with totals."""
    start, end = month_bounds(month)
    query = _query(card, start, end).order_by(TapRecord.time, TapRecord.tap_id)
    found = _fetch(query, uow)
    counts: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    for trip in found:
        counts[trip.paid_by] += 1
        amounts[trip.paid_by] += trip.amount
    return Statement(
        card_number=card.card_number,
        month=date(month.year, month.month, 1),
        trips=found,
        by_paid_by=[PaidByTotal(paid_by, counts[paid_by], amounts[paid_by]) for paid_by in counts],
    )
