"""The bus network: importing a GTFS feed, and reading routes and stops for the app."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from transit import gtfs
from transit.errors import RouteNotFound
from transit.geo import bounding_box, distance_m, polyline_length_m
from transit.gtfs.files import STOP_OR_PLATFORM
from transit.models import Agency, PatternStop, Route, RoutePattern, Stop
from transit.uow import UnitOfWork

_Row = TypeVar("_Row", Agency, Route, Stop)
_PRIMARY_KEYS: dict[type, str] = {Agency: "agency_id", Route: "route_id", Stop: "stop_id"}


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0


@dataclass
class ImportSummary:
    """What an import changed, per kind of thing."""

    agencies: Counts = field(default_factory=Counts)
    routes: Counts = field(default_factory=Counts)
    stops: Counts = field(default_factory=Counts)
    patterns: int = 0


@dataclass(frozen=True)
class RouteSummary:
    route_id: str
    short_name: str
    long_name: str
    route_type: int
    color: str | None
    text_color: str | None
    agency_id: str
    agency_name: str


@dataclass(frozen=True)
class StopView:
    stop_id: str
    name: str
    code: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class PatternView:
    direction_id: int
    headsign: str | None
    length_m: int | None
    stops: list[StopView]
    shape: list[tuple[float, float]] | None


@dataclass(frozen=True)
class RouteDetail(RouteSummary):
    description: str | None
    directions: list[PatternView]


@dataclass(frozen=True)
class NearbyStop(StopView):
    distance_m: int
    route_ids: list[str]


def import_feed(feed: gtfs.Feed, uow: UnitOfWork, now: datetime) -> ImportSummary:
    """Make the network match `feed`; re-importing the same feed changes nothing."""
    session = uow.session
    summary = ImportSummary()

    agencies = {a.agency_id: a for a in session.scalars(select(Agency))}
    for item in feed.agencies:
        _upsert(
            session,
            agencies,
            Agency,
            item.agency_id,
            summary.agencies,
            now=now,
            name=item.name,
            url=item.url,
            timezone=item.timezone,
            lang=item.lang,
            phone=item.phone,
        )

    stops = {s.stop_id: s for s in session.scalars(select(Stop))}
    for stop in feed.stops:
        _upsert(
            session,
            stops,
            Stop,
            stop.stop_id,
            summary.stops,
            now=now,
            name=stop.name,
            code=stop.code,
            lat=stop.lat,
            lon=stop.lon,
            location_type=stop.location_type,
            parent_station=stop.parent_station,
            active=True,
        )
    _deactivate(stops, {s.stop_id for s in feed.stops}, summary.stops, now)

    routes = {r.route_id: r for r in session.scalars(select(Route))}
    for route in feed.routes:
        _upsert(
            session,
            routes,
            Route,
            route.route_id,
            summary.routes,
            now=now,
            agency_id=route.agency_id,
            short_name=route.short_name,
            long_name=route.long_name,
            route_type=route.route_type,
            color=route.color,
            text_color=route.text_color,
            description=route.desc,
            active=True,
        )
    _deactivate(routes, {r.route_id for r in feed.routes}, summary.routes, now)
    session.flush()

    summary.patterns = _replace_patterns(session, feed)
    return summary


def _upsert(
    session: Session,
    existing: dict[str, _Row],
    model: type[_Row],
    key: str,
    counts: Counts,
    now: datetime,
    **values: object,
) -> None:
    row = existing.get(key)
    if row is None:
        row = model(**{_PRIMARY_KEYS[model]: key}, **values, updated_at=now)
        session.add(row)
        existing[key] = row
        counts.created += 1
        return
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if not changed:
        counts.unchanged += 1
        return
    for name, value in changed.items():
        setattr(row, name, value)
    row.updated_at = now
    counts.updated += 1


def _deactivate(
    existing: dict[str, Route] | dict[str, Stop], kept: set[str], counts: Counts, now: datetime
) -> None:
    for key, row in existing.items():
        if key not in kept and row.active:
            row.active = False
            row.updated_at = now
            counts.deactivated += 1


def _replace_patterns(session: Session, feed: gtfs.Feed) -> int:
    # Patterns are derived data: rebuilding them is simpler than diffing and gives the same rows.
    for pattern in session.scalars(select(RoutePattern)):
        session.delete(pattern)
    session.flush()

    stops_by_trip: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for stop_time in feed.stop_times:
        stops_by_trip[stop_time.trip_id].append((stop_time.stop_sequence, stop_time.stop_id))
    # Each direction is drawn from its trip with the most stops (the lowest trip_id on a tie).
    chosen: dict[tuple[str, int], gtfs.Trip] = {}
    for trip in sorted(feed.trips, key=lambda t: (-len(stops_by_trip[t.trip_id]), t.trip_id)):
        if stops_by_trip[trip.trip_id]:
            chosen.setdefault((trip.route_id, trip.direction_id or 0), trip)

    for (route_id, direction_id), trip in sorted(chosen.items()):
        line = [(p.lat, p.lon) for p in feed.shapes.get(trip.shape_id or "", [])]
        pattern = RoutePattern(
            route_id=route_id,
            direction_id=direction_id,
            headsign=trip.headsign,
            shape=json.dumps([[round(lat, 6), round(lon, 6)] for lat, lon in line])
            if line
            else None,
            length_m=round(polyline_length_m(line)) if line else None,
        )
        pattern.stops = [
            PatternStop(route_id=route_id, direction_id=direction_id, sequence=n, stop_id=stop_id)
            for n, (_, stop_id) in enumerate(sorted(stops_by_trip[trip.trip_id]))
        ]
        session.add(pattern)
    return len(chosen)


def list_routes(uow: UnitOfWork) -> list[RouteSummary]:
    """Every active route, ordered as riders read route numbers (01, 09, 32, 107, BRT01)."""
    routes = uow.session.scalars(select(Route).where(Route.active))
    return sorted((_summary(r) for r in routes), key=lambda r: _route_number_key(r.short_name))


def get_route(route_id: str, uow: UnitOfWork) -> RouteDetail:
    """One active route with its directions, stops in order and drawn line."""
    route = uow.session.get(Route, route_id)
    if route is None or not route.active:
        raise RouteNotFound(route_id=route_id)
    directions = [
        PatternView(
            direction_id=pattern.direction_id,
            headsign=pattern.headsign,
            length_m=pattern.length_m,
            stops=[_stop_view(ps.stop) for ps in pattern.stops],
            shape=[(lat, lon) for lat, lon in json.loads(pattern.shape)] if pattern.shape else None,
        )
        for pattern in route.patterns
    ]
    summary = _summary(route)
    return RouteDetail(**summary.__dict__, description=route.description, directions=directions)


def stops_near(
    lat: float, lon: float, radius_m: float, uow: UnitOfWork, limit: int
) -> list[NearbyStop]:
    """Active stops within `radius_m` of a point, nearest first, with the routes serving them.

    Only places a rider boards at (GTFS location_type 0: a stop, or a station's platform); a
    station itself (location_type 1) is served through its platforms, and entrances and nodes
    are no stops at all.
    """
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    candidates = uow.session.scalars(
        select(Stop).where(
            Stop.active,
            Stop.location_type == STOP_OR_PLATFORM,
            Stop.lat.between(min_lat, max_lat),
            Stop.lon.between(min_lon, max_lon),
        )
    )
    found = sorted(
        (
            (d, stop)
            for stop in candidates
            if (d := distance_m(lat, lon, stop.lat, stop.lon)) <= radius_m
        ),
        key=lambda pair: (pair[0], pair[1].stop_id),
    )[:limit]
    routes_at: dict[str, set[str]] = defaultdict(set)
    if found:
        rows = uow.session.execute(
            select(PatternStop.stop_id, PatternStop.route_id)
            .join(Route, Route.route_id == PatternStop.route_id)
            .where(PatternStop.stop_id.in_([stop.stop_id for _, stop in found]), Route.active)
        )
        for stop_id, route_id in rows:
            routes_at[stop_id].add(route_id)
    return [
        NearbyStop(
            **_stop_view(stop).__dict__,
            distance_m=round(d),
            route_ids=sorted(routes_at[stop.stop_id], key=_route_number_key),
        )
        for d, stop in found
    ]


def _summary(route: Route) -> RouteSummary:
    return RouteSummary(
        route_id=route.route_id,
        short_name=route.short_name,
        long_name=route.long_name,
        route_type=route.route_type,
        color=route.color,
        text_color=route.text_color,
        agency_id=route.agency_id,
        agency_name=route.agency.name,
    )


def _stop_view(stop: Stop) -> StopView:
    return StopView(
        stop_id=stop.stop_id, name=stop.name, code=stop.code, lat=stop.lat, lon=stop.lon
    )


def _route_number_key(name: str) -> tuple[int, int, str]:
    # Numbered routes first by number, then lettered ones (BRT01, CNG02) by name.
    digits = name.lstrip("0") or "0"
    if name.isdigit():
        return (0, int(digits), name)
    return (1, 0, name)
