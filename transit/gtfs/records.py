"""The records of a GTFS feed that passed every check, and the feed itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Agency:
    """An operator (agency.txt)."""

    agency_id: str
    name: str
    url: str
    timezone: str
    lang: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """A route as riders know it (routes.txt)."""

    route_id: str
    agency_id: str
    short_name: str
    long_name: str
    route_type: int
    color: str | None
    text_color: str | None
    desc: str | None


@dataclass(frozen=True, slots=True)
class Stop:
    """A boarding place, station, entrance or node (stops.txt)."""

    stop_id: str
    name: str
    lat: float
    lon: float
    code: str | None
    location_type: int
    parent_station: str | None


@dataclass(frozen=True, slots=True)
class ShapePoint:
    """One vertex of a route's drawn path (shapes.txt)."""

    lat: float
    lon: float
    sequence: int
    dist_traveled: float | None


@dataclass(frozen=True, slots=True)
class Trip:
    """One journey of a vehicle along a route (trips.txt)."""

    trip_id: str
    route_id: str
    service_id: str
    headsign: str | None
    direction_id: int | None
    shape_id: str | None


@dataclass(frozen=True, slots=True)
class StopTime:
    """A trip's call at a stop; times as HH:MM:SS (stop_times.txt)."""

    trip_id: str
    stop_sequence: int
    stop_id: str
    arrival_time: str | None
    departure_time: str | None


@dataclass(frozen=True)
class Feed:
    """A feed that passed every check; stop_times keep the order of the file."""

    agencies: list[Agency]
    routes: list[Route]
    stops: list[Stop]
    shapes: dict[str, list[ShapePoint]]
    trips: list[Trip]
    stop_times: list[StopTime]

    def route_patterns(self) -> dict[tuple[str, int], list[str]]:
        """(route_id, direction_id or 0) -> stop_ids of the direction's longest trip."""
        calls: dict[str, list[tuple[int, str]]] = {}
        for stop_time in self.stop_times:
            calls.setdefault(stop_time.trip_id, []).append(
                (stop_time.stop_sequence, stop_time.stop_id)
            )
        best: dict[tuple[str, int], tuple[int, str]] = {}
        for trip in self.trips:
            key = (trip.route_id, trip.direction_id or 0)
            length = len(calls.get(trip.trip_id, ()))
            current = best.get(key)
            if (
                current is None
                or length > current[0]
                or (length == current[0] and trip.trip_id < current[1])
            ):
                best[key] = (length, trip.trip_id)
        return {
            key: [stop_id for _, stop_id in sorted(calls.get(trip_id, []))]
            for key, (_, trip_id) in best.items()
        }
