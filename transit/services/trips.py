"""A card's trips and journeys, newest first a page at a time, and its statement for one month.

A trip is a tap the validator accepted: a boarding or entry, or an alighting or exit. A journey
is an entry and its exit paired (transit.services.journeys). Route and stop names come from the
network as it is now; a route or stop that left the feed (or never was in it) still shows its id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import aliased

from fares import why
from transit.localtime import month_bounds
from transit.models import (
    AccountEntry,
    Card,
    CardKind,
    Journey,
    JourneyStatus,
    Route,
    Stop,
    TapRecord,
    TapVerdict,
)
from transit.uow import UnitOfWork

# GTFS route_type: 0 tram, 1 metro, 2 rail, 12 monorail ride on rails; 3, 11 are buses.
_RAIL_TYPES = frozenset({0, 1, 2, 5, 6, 7, 12})


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
    direction: str = "entry"  # or exit: tapping off, an exit gate
    unfinished: int = 0  # the part of amount charged for an earlier journey left without exit
    entry_time: datetime | None = None  # an exit: when its journey began
    # A virtual card's tap: why, as the backend priced it (the account's ledger), not the
    # validator; None for a card's tap, whose reasons are read from the upload.
    priced: list[why.Part] | None = None

    @property
    def reasons(self) -> list[why.Part]:
        """Why, as data (fares.why): the backend's pricing for a virtual card, else from what
        the validator uploaded."""
        if self.priced is not None:
            return self.priced
        return why.reasons_of_tap(
            result=TapVerdict.ACCEPTED,
            denial=None,
            paid_by=self.paid_by,
            direction=self.direction,
            amount=self.amount,
            unfinished=self.unfinished,
            route_id=self.route_id,
            stop_id=self.stop_id,
            ends_journey=self.entry_time is not None,
        )


@dataclass(frozen=True)
class JourneyItem:
    """A journey as the rider sees it: from where to where, when, on what, for how much."""

    journey_id: str
    route_id: str
    route_short_name: str | None
    route_long_name: str | None
    mode: str  # bus or metro, from the route's GTFS type; "" for a route not in the network
    origin_stop_id: str | None  # None: its entry was not seen
    origin_name: str | None
    destination_stop_id: str | None  # None: no exit (yet)
    destination_name: str | None
    started_at: datetime
    ended_at: datetime | None
    fare: int  # VND, all of it: at entry, at exit, and a maximum charged later for no exit
    status: JourneyStatus
    explanation: str  # the fare engine's, for the operator
    reasons: list[why.Part] = field(default_factory=list)  # why, as data (fares.why)


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
    journeys: list[JourneyItem] = field(default_factory=list)

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
            TapRecord.direction,
            TapRecord.unfinished,
            TapRecord.entry_time,
        )
        .outerjoin(Route, Route.route_id == TapRecord.route_id)
        .outerjoin(Stop, Stop.stop_id == TapRecord.stop_id)
        .where(
            TapRecord.card_uid == card.uid,
            TapRecord.result == TapVerdict.ACCEPTED,
            # A QR tap the phone never signed was nobody's ride (credentials.tap_proofs).
            TapRecord.proof != "invalid",
        )
    )
    if start is not None:
        query = query.where(TapRecord.time >= start)
    if end is not None:
        query = query.where(TapRecord.time < end)
    return query


def _fetch(card: Card, query: Select[*tuple[Any, ...]], uow: UnitOfWork) -> list[Trip]:
    found = [Trip(**row._asdict()) for row in uow.session.execute(query)]
    if card.kind != CardKind.VIRTUAL or not found:
        return found
    return _as_the_account_paid(card, found, uow)


def _as_the_account_paid(card: Card, found: list[Trip], uow: UnitOfWork) -> list[Trip]:
    """A virtual card's trips with what the account paid for each: the backend prices the
    account's taps again (account_taps), and its fare and adjustments are the charge, not what
    each validator took offline. Its reasons are the latest posting's."""
    ids = {trip.tap_id for trip in found}
    paid: dict[str, int] = {}
    reasons: dict[str, list[why.Part]] = {}
    for entry in uow.session.scalars(
        select(AccountEntry)
        .where(
            AccountEntry.card_id == card.card_id,
            or_(
                and_(AccountEntry.kind == "fare", AccountEntry.ref.in_(sorted(ids))),
                # Adjustments are few (a later tap changed an earlier one's price): all of the
                # card's are read, and those of these taps kept.
                AccountEntry.kind == "adjustment",
            ),
        )
        .order_by(AccountEntry.entry_id)
    ):
        tap_id = entry.ref.split("#", 1)[0]
        if tap_id not in ids:
            continue
        paid[tap_id] = paid.get(tap_id, 0) - entry.amount
        reasons[tap_id] = [part for part in entry.reasons if part.get("code") != "repriced"]
    return [
        replace(trip, amount=paid[trip.tap_id], priced=reasons[trip.tap_id])
        if trip.tap_id in paid
        else trip
        for trip in found
    ]


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
    query = _older(_query(card, start, end), TapRecord.time, TapRecord.tap_id, after, limit)
    return _fetch(card, query, uow)


def statement(card: Card, month: date, uow: UnitOfWork) -> Statement:
    """The card's trips in one calendar month, Hanoi time, oldest first, with totals."""
    start, end = month_bounds(month)
    query = _query(card, start, end).order_by(TapRecord.time, TapRecord.tap_id)
    found = _fetch(card, query, uow)
    counts: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    for trip in found:
        counts[trip.paid_by] += 1
        amounts[trip.paid_by] += trip.amount
    journey_query = _journey_query(card, start, end).order_by(
        Journey.started_at, Journey.journey_id
    )
    return Statement(
        card_number=card.card_number,
        month=date(month.year, month.month, 1),
        trips=found,
        by_paid_by=[PaidByTotal(paid_by, counts[paid_by], amounts[paid_by]) for paid_by in counts],
        journeys=_fetch_journeys(journey_query, uow),
    )


def _journey_query(
    card: Card, start: datetime | None, end: datetime | None
) -> Select[*tuple[Any, ...]]:
    origin = aliased(Stop)
    destination = aliased(Stop)
    query = (
        select(
            Journey.journey_id,
            Journey.route_id,
            Route.short_name.label("route_short_name"),
            Route.long_name.label("route_long_name"),
            Route.route_type,
            Journey.origin_stop_id,
            origin.name.label("origin_name"),
            Journey.destination_stop_id,
            destination.name.label("destination_name"),
            Journey.started_at,
            Journey.ended_at,
            Journey.fare,
            Journey.status,
            Journey.explanation,
            Journey.reasons,
        )
        .outerjoin(Route, Route.route_id == Journey.route_id)
        .outerjoin(origin, origin.stop_id == Journey.origin_stop_id)
        .outerjoin(destination, destination.stop_id == Journey.destination_stop_id)
        .where(Journey.card_uid == card.uid)
    )
    if start is not None:
        query = query.where(Journey.started_at >= start)
    if end is not None:
        query = query.where(Journey.started_at < end)
    return query


def _fetch_journeys(query: Select[*tuple[Any, ...]], uow: UnitOfWork) -> list[JourneyItem]:
    found = []
    for row in uow.session.execute(query):
        values = row._asdict()
        route_type = values.pop("route_type")
        mode = "" if route_type is None else "metro" if route_type in _RAIL_TYPES else "bus"
        found.append(JourneyItem(**values, mode=mode))
    return found


def journeys(
    card: Card,
    uow: UnitOfWork,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[JourneyItem]:
    """Up to `limit` journeys of the card, newest first, begun before `after` (time, id)."""
    query = _older(
        _journey_query(card, start, end), Journey.started_at, Journey.journey_id, after, limit
    )
    return _fetch_journeys(query, uow)


def _older(
    query: Select[*tuple[Any, ...]],
    when: Any,
    key: Any,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Select[*tuple[Any, ...]]:
    """Newest first, the rows older than `after` (time, id): paging by key, never OFFSET."""
    if after is not None:
        after_time, after_key = after
        # Written out rather than as a row comparison: `time <= ?` is a range on the index.
        query = query.where(
            when <= after_time,
            or_(when < after_time, and_(when == after_time, key < after_key)),
        )
    return query.order_by(when.desc(), key.desc()).limit(limit)


def names(
    route_ids: Iterable[str], stop_ids: Iterable[str], uow: UnitOfWork
) -> tuple[dict[str, str], dict[str, str]]:
    """Route short names and stop names by id, for those in the network (one query each)."""
    routes: dict[str, str] = {}
    stops: dict[str, str] = {}
    wanted_routes = sorted(set(route_ids))
    wanted_stops = sorted(set(stop_ids))
    if wanted_routes:
        for route_id, short_name, long_name in uow.session.execute(
            select(Route.route_id, Route.short_name, Route.long_name).where(
                Route.route_id.in_(wanted_routes)
            )
        ):
            routes[route_id] = short_name or long_name or route_id
    if wanted_stops:
        for stop_id, name in uow.session.execute(
            select(Stop.stop_id, Stop.name).where(Stop.stop_id.in_(wanted_stops))
        ):
            stops[stop_id] = name or stop_id
    return routes, stops
