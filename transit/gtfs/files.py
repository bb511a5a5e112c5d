"""The files of a GTFS feed, declared: their columns, and the rules that make a row a record.

Each file is a `FileSpec` of `fares.gtfs_csv`: the reader checks the header against the columns,
the key (the id other files refer to) for being given and unique, and hands each row to the
file's builder, which reads the values it needs in the order its rules go. What a file leaves for
the files read after it (its ids, where each was first seen) is in its `_Read`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fares.gtfs_csv import (
    Column,
    FileSpec,
    Invalid,
    Problems,
    Reader,
    Row,
    Table,
    coordinate,
    gtfs_time,
    non_negative_int,
    non_negative_number,
)
from transit.gtfs.records import Agency, Feed, Route, ShapePoint, Stop, StopTime, Trip

T = TypeVar("T")

AGENCY = "agency.txt"
ROUTES = "routes.txt"
STOPS = "stops.txt"
SHAPES = "shapes.txt"
TRIPS = "trips.txt"
STOP_TIMES = "stop_times.txt"

# Problems are listed file by file in the order a reader follows the references.
FILE_ORDER = (AGENCY, ROUTES, STOPS, SHAPES, TRIPS, STOP_TIMES)

BASIC_ROUTE_TYPES = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 11, 12})
EXTENDED_ROUTE_TYPES = range(100, 1703)

STOP_OR_PLATFORM = 0
STATION = 1
ENTRANCE = 2
GENERIC_NODE = 3
BOARDING_AREA = 4
LOCATION_TYPES = range(STOP_OR_PLATFORM, BOARDING_AREA + 1)

_COLOR = re.compile(r"[0-9A-Fa-f]{6}")
_SEVERAL_AGENCIES = "agency_id is empty; it is required with several agencies"
_NO_ROWS = "file has no data rows"


# -- values only a network feed has ------------------------------------------------------------


def _route_type(text: str) -> int:
    try:
        route_type = int(text)
    except ValueError:
        raise Invalid(f"{text!r} is not an integer") from None
    if route_type not in BASIC_ROUTE_TYPES and route_type not in EXTENDED_ROUTE_TYPES:
        raise Invalid(f"{route_type} is not a GTFS route type")
    return route_type


def _color(text: str) -> str:
    if not _COLOR.fullmatch(text):
        raise Invalid(f"{text!r} is not 6 hex digits")
    return text


def _location_type(text: str) -> int:
    if not text.isdigit() or not text.isascii() or int(text) not in LOCATION_TYPES:
        raise Invalid(f"{text!r} is not one of 0-4")
    return int(text)


def _direction(text: str) -> int:
    if text not in ("0", "1"):
        raise Invalid(f"{text!r} is not 0 or 1")
    return int(text)


# -- what each file leaves for the next ones ---------------------------------------------------


@dataclass
class _Read(Generic[T]):
    """One file's records, and where each id was first seen (malformed rows too)."""

    items: list[T] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    table: Table | None = None  # once the file could be read

    @property
    def usable(self) -> bool:
        return self.table is not None

    def known(self) -> Container[str] | None:
        """The ids a reference may name; None when the file could not be read."""
        return self.lines if self.usable else None


S = TypeVar("S", bound=_Read[Any])


def read_file(
    reader: Reader,
    spec: FileSpec[Any, S],
    read: S,
    finish: Callable[[S, Table], None] | None = None,
) -> S:
    """Every row of a file through its builder, then `finish` for the rules across rows."""
    table = reader.open(spec)
    if not table.usable:
        return read
    read.table = table
    key = spec.key
    for row in table.rows():
        read.rows += 1
        if key is not None:
            name = row.raw(key.name)
            first = read.lines.setdefault(name, row.line) if name else row.line
            if not row.well_formed:
                continue
            if not name:
                if key.required:
                    row.empty(key)
            elif spec.unique_key and first != row.line:
                template = table.conventions.repeated_key
                row.report(template.format(column=key.name, value=name, first=first))
        elif not row.well_formed:
            continue
        item = spec.build(row, read)
        if item is not None and row.ok:
            read.items.append(item)
    if finish is not None:
        finish(read, table)
    return read


def _no_rows(read: _Read[Any], table: Table) -> None:
    if read.rows == 0:
        table.report_file(_NO_ROWS)


# -- agency.txt --------------------------------------------------------------------------------


@dataclass
class _Agencies(_Read[Agency]):
    without_id: list[int] = field(default_factory=list)


AGENCY_ID = Column("agency_id", str)
AGENCY_NAME = Column("agency_name", str, required=True)
AGENCY_URL = Column("agency_url", str, required=True)
AGENCY_TIMEZONE = Column("agency_timezone", str, required=True)
AGENCY_LANG = Column("agency_lang", str)
AGENCY_PHONE = Column("agency_phone", str)


def _agency(row: Row, read: _Agencies) -> Agency:
    agency_id = row.raw(AGENCY_ID.name)
    if not agency_id:
        read.without_id.append(row.line)
    name = row.text(AGENCY_NAME)
    url = row.text(AGENCY_URL)
    timezone = row.text(AGENCY_TIMEZONE)
    if url and not url.lower().startswith(("http://", "https://")):
        row.report(f"agency_url {url!r} is not an http(s) URL")
    return Agency(
        agency_id=agency_id,
        name=name,
        url=url,
        timezone=timezone,
        lang=row.text(AGENCY_LANG) or None,
        phone=row.text(AGENCY_PHONE) or None,
    )


AGENCY_FILE = FileSpec(
    AGENCY,
    (AGENCY_ID, AGENCY_NAME, AGENCY_URL, AGENCY_TIMEZONE, AGENCY_LANG, AGENCY_PHONE),
    _agency,
    key=AGENCY_ID,
    required=True,
)


def _finish_agencies(read: _Agencies, table: Table) -> None:
    _no_rows(read, table)
    if read.rows > 1:
        for line in read.without_id:
            table.report(line, _SEVERAL_AGENCIES)
    elif read.without_id:
        read.lines.setdefault("", read.without_id[0])


# -- routes.txt --------------------------------------------------------------------------------


@dataclass
class _Routes(_Read[Route]):
    agencies: _Agencies = field(default_factory=_Agencies)

    @property
    def single_agency(self) -> str | None:
        return next(iter(self.agencies.lines)) if len(self.agencies.lines) == 1 else None


ROUTE_ID = Column("route_id", str, required=True)
ROUTE_AGENCY_ID = Column("agency_id", str)
ROUTE_SHORT_NAME = Column("route_short_name", str)
ROUTE_LONG_NAME = Column("route_long_name", str)
ROUTE_TYPE = Column("route_type", _route_type, required=True)
ROUTE_COLOR = Column("route_color", _color)
ROUTE_TEXT_COLOR = Column("route_text_color", _color)
ROUTE_DESC = Column("route_desc", str)


def _route(row: Row, read: _Routes) -> Route | None:
    agencies = read.agencies
    agency_id = row.reference(ROUTE_AGENCY_ID, agencies.known(), AGENCY)
    if not agency_id:
        if agencies.rows > 1:
            row.report(_SEVERAL_AGENCIES)
        agency_id = read.single_agency or ""
    short_name, long_name = row.text(ROUTE_SHORT_NAME), row.text(ROUTE_LONG_NAME)
    if not short_name and not long_name:
        row.report("route_short_name and route_long_name are both empty")
    route_type = row.value(ROUTE_TYPE)
    color, text_color = row.value(ROUTE_COLOR), row.value(ROUTE_TEXT_COLOR)
    if route_type is None:
        return None
    return Route(
        route_id=row.raw(ROUTE_ID.name),
        agency_id=agency_id,
        short_name=short_name,
        long_name=long_name,
        route_type=route_type,
        color=color,
        text_color=text_color,
        desc=row.text(ROUTE_DESC) or None,
    )


ROUTES_FILE = FileSpec(
    ROUTES,
    (
        ROUTE_ID,
        ROUTE_AGENCY_ID,
        ROUTE_SHORT_NAME,
        ROUTE_LONG_NAME,
        ROUTE_TYPE,
        ROUTE_COLOR,
        ROUTE_TEXT_COLOR,
        ROUTE_DESC,
    ),
    _route,
    key=ROUTE_ID,
    required=True,
)


# -- stops.txt ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PendingStop:
    """A stop whose coordinates may come from its parent, known once every row is read."""

    line: int
    stop_id: str
    name: str
    lat: float | None
    lon: float | None
    code: str | None
    location_type: int
    parent: str


@dataclass
class _Stops(_Read[_PendingStop]):
    location_types: dict[str, int] = field(default_factory=dict)
    coordinates: dict[str, tuple[float, float]] = field(default_factory=dict)
    parents: list[tuple[int, str]] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)


STOP_ID = Column("stop_id", str, required=True)
# stop_name and the coordinates are only conditionally required per row, but a feed without the
# columns cannot describe a single boarding place.
STOP_NAME = Column("stop_name", str, in_header=True)
STOP_LAT = Column("stop_lat", coordinate(90), in_header=True)
STOP_LON = Column("stop_lon", coordinate(180), in_header=True)
STOP_CODE = Column("stop_code", str)
LOCATION_TYPE = Column("location_type", _location_type, default=STOP_OR_PLATFORM)
PARENT_STATION = Column("parent_station", str)


def _stop(row: Row, read: _Stops) -> _PendingStop:
    stop_id = row.raw(STOP_ID.name)
    location_type = row.value(LOCATION_TYPE)
    if location_type is None:
        location_type = STOP_OR_PLATFORM
    if stop_id:
        read.location_types.setdefault(stop_id, location_type)
    placeless = location_type in (GENERIC_NODE, BOARDING_AREA)
    name = row.text(STOP_NAME, required=not placeless)
    lat: float | None = None
    lon: float | None = None
    if row.raw(STOP_LAT.name) or row.raw(STOP_LON.name) or not placeless:
        lat = row.value(STOP_LAT, required=True)
        lon = row.value(STOP_LON, required=True)
    if lat is not None and lon is not None and stop_id:
        read.coordinates.setdefault(stop_id, (lat, lon))
    parent = row.text(PARENT_STATION)
    if parent:
        read.parents.append((row.line, parent))
    if location_type == STATION and parent:
        row.report("a station (location_type 1) cannot have a parent_station")
    elif location_type in (ENTRANCE, GENERIC_NODE, BOARDING_AREA) and not parent:
        row.report(f"parent_station is empty; location_type {location_type}")
    code = row.text(STOP_CODE) or None
    return _PendingStop(row.line, stop_id, name, lat, lon, code, location_type, parent)


STOPS_FILE = FileSpec(
    STOPS,
    (STOP_ID, STOP_NAME, STOP_LAT, STOP_LON, STOP_CODE, LOCATION_TYPE, PARENT_STATION),
    _stop,
    key=STOP_ID,
    required=True,
)


def _finish_stops(read: _Stops, table: Table) -> None:
    # Parents may come later in the file, and generic nodes and boarding areas may leave their
    # coordinates to their parent: both are settled once every row is read.
    for line, parent in read.parents:
        if parent not in read.lines:
            table.report(line, f"parent_station {parent} is not in {STOPS}")
    for pending in read.items:
        lat, lon, parent = pending.lat, pending.lon, pending.parent
        if lat is None or lon is None:
            if parent not in read.coordinates:
                if parent in read.lines:
                    table.report(
                        pending.line, "stop_lat and stop_lon are empty, as are the parent's"
                    )
                continue
            lat, lon = read.coordinates[parent]
        read.stops.append(
            Stop(
                stop_id=pending.stop_id,
                name=pending.name,
                lat=lat,
                lon=lon,
                code=pending.code,
                location_type=pending.location_type,
                parent_station=parent or None,
            )
        )
    _no_rows(read, table)


# -- shapes.txt --------------------------------------------------------------------------------


@dataclass
class _Shapes(_Read[tuple[str, int, ShapePoint]]):
    present: bool = True
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)
    shapes: dict[str, list[ShapePoint]] = field(default_factory=dict)

    def known(self) -> Container[str] | None:
        # Without shapes.txt no shape_id can be right; with one that cannot be read, any may be.
        return self.lines if self.usable or not self.present else None


SHAPE_ID = Column("shape_id", str, required=True)
SHAPE_PT_LAT = Column("shape_pt_lat", coordinate(90), required=True)
SHAPE_PT_LON = Column("shape_pt_lon", coordinate(180), required=True)
SHAPE_PT_SEQUENCE = Column("shape_pt_sequence", non_negative_int, required=True)
SHAPE_DIST_TRAVELED = Column("shape_dist_traveled", non_negative_number)


def _shape_point(row: Row, read: _Shapes) -> tuple[str, int, ShapePoint] | None:
    shape_id = row.raw(SHAPE_ID.name)
    lat, lon = row.value(SHAPE_PT_LAT), row.value(SHAPE_PT_LON)
    sequence = row.value(SHAPE_PT_SEQUENCE)
    if sequence is not None and shape_id:
        first = read.sequences.setdefault((shape_id, sequence), row.line)
        if first != row.line:
            row.report(f"shape_pt_sequence {sequence} repeats in shape {shape_id} (line {first})")
    dist = row.value(SHAPE_DIST_TRAVELED)
    if lat is None or lon is None or sequence is None:
        return None
    return shape_id, row.line, ShapePoint(lat, lon, sequence, dist)


SHAPES_FILE = FileSpec(
    SHAPES,
    (SHAPE_ID, SHAPE_PT_LAT, SHAPE_PT_LON, SHAPE_PT_SEQUENCE, SHAPE_DIST_TRAVELED),
    _shape_point,
    key=SHAPE_ID,
    unique_key=False,
)


def _finish_shapes(read: _Shapes, table: Table) -> None:
    points: dict[str, list[tuple[int, ShapePoint]]] = {}
    for shape_id, line, point in read.items:
        points.setdefault(shape_id, []).append((line, point))
    for shape_id, shape_points in points.items():
        shape_points.sort(key=lambda entry: entry[1].sequence)
        previous: float | None = None
        for line, point in shape_points:
            if point.dist_traveled is None:
                continue
            if previous is not None and point.dist_traveled < previous:
                table.report(
                    line,
                    f"shape_dist_traveled {point.dist_traveled:g} is less than the"
                    f" {previous:g} before it in shape {shape_id}",
                )
            previous = point.dist_traveled
        read.shapes[shape_id] = [point for _, point in shape_points]


# -- trips.txt ---------------------------------------------------------------------------------


@dataclass
class _Trips(_Read[Trip]):
    routes: _Routes = field(default_factory=_Routes)
    shapes: _Shapes = field(default_factory=_Shapes)


TRIP_ID = Column("trip_id", str, required=True)
TRIP_ROUTE_ID = Column("route_id", str, required=True)
SERVICE_ID = Column("service_id", str, required=True)
TRIP_HEADSIGN = Column("trip_headsign", str)
DIRECTION_ID = Column("direction_id", _direction)
TRIP_SHAPE_ID = Column("shape_id", str)


def _trip(row: Row, read: _Trips) -> Trip:
    route_id = row.reference(TRIP_ROUTE_ID, read.routes.known(), ROUTES)
    service_id = row.text(SERVICE_ID)
    shape_id = row.reference(TRIP_SHAPE_ID, read.shapes.known(), SHAPES)
    direction_id = row.value(DIRECTION_ID)
    return Trip(
        trip_id=row.raw(TRIP_ID.name),
        route_id=route_id,
        service_id=service_id,
        headsign=row.text(TRIP_HEADSIGN) or None,
        direction_id=direction_id,
        shape_id=shape_id or None,
    )


TRIPS_FILE = FileSpec(
    TRIPS,
    (TRIP_ROUTE_ID, SERVICE_ID, TRIP_ID, TRIP_HEADSIGN, DIRECTION_ID, TRIP_SHAPE_ID),
    _trip,
    key=TRIP_ID,
)


# -- stop_times.txt ----------------------------------------------------------------------------


@dataclass
class _StopTimes(_Read[StopTime]):
    trips: _Trips = field(default_factory=_Trips)
    stops: _Stops = field(default_factory=_Stops)
    trip_ids: Container[str] | None = field(init=False)
    location_types: dict[str, int] | None = field(init=False)
    sequences: dict[str, dict[int, int]] = field(default_factory=dict)
    # trip_id -> (sequence, line, has both times) of its first and of its last call so far
    firsts: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    lasts: dict[str, tuple[int, int, bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.trip_ids = self.trips.known()
        self.location_types = self.stops.location_types if self.stops.usable else None


# Shared values keep one string object per id and per time, which keeps 200k rows light.
CALL_TRIP_ID = Column("trip_id", str, required=True, shared=True)
STOP_SEQUENCE = Column("stop_sequence", non_negative_int, required=True)
CALL_STOP_ID = Column("stop_id", str, required=True, shared=True)
ARRIVAL_TIME = Column("arrival_time", gtfs_time, shared=True)
DEPARTURE_TIME = Column("departure_time", gtfs_time, shared=True)


def _stop_time(row: Row, read: _StopTimes) -> StopTime | None:
    trip_id = row.reference(CALL_TRIP_ID, read.trip_ids, TRIPS)
    stop_id = row.text(CALL_STOP_ID)
    if stop_id and read.location_types is not None:
        location_type = read.location_types.get(stop_id)
        if location_type is None:
            # A malformed stops row still names its stop: reported once, there.
            if stop_id not in read.stops.lines:
                row.report(f"stop_id {stop_id} is not in {STOPS}")
            row.ok = False
        elif location_type != STOP_OR_PLATFORM:
            row.report(
                f"stop_id {stop_id} has location_type {location_type};"
                " trips can only call at location_type 0"
            )
    sequence = row.value(STOP_SEQUENCE)
    if sequence is not None and trip_id:
        seen = read.sequences.get(trip_id)
        if seen is None:
            seen = read.sequences[trip_id] = {}
        first = seen.setdefault(sequence, row.line)
        if first != row.line:
            row.report(f"stop_sequence {sequence} repeats in trip {trip_id} (line {first})")
    arrival = row.value(ARRIVAL_TIME)
    departure = row.value(DEPARTURE_TIME)
    if not row.ok or sequence is None:
        return None
    call = (sequence, row.line, arrival is not None and departure is not None)
    first_call = read.firsts.get(trip_id)
    if first_call is None or sequence < first_call[0]:
        read.firsts[trip_id] = call
    last_call = read.lasts.get(trip_id)
    if last_call is None or sequence > last_call[0]:
        read.lasts[trip_id] = call
    return StopTime(trip_id, sequence, stop_id, arrival, departure)


STOP_TIMES_FILE = FileSpec(
    STOP_TIMES,
    (CALL_TRIP_ID, STOP_SEQUENCE, CALL_STOP_ID, ARRIVAL_TIME, DEPARTURE_TIME),
    _stop_time,
)


def _finish_stop_times(read: _StopTimes, table: Table) -> None:
    for which, calls in (("first", read.firsts), ("last", read.lasts)):
        for trip_id, (_, line, timed) in calls.items():
            if not timed:
                table.report(
                    line,
                    f"the {which} stop of trip {trip_id} needs an arrival_time"
                    " and a departure_time",
                )


# -- the feed ----------------------------------------------------------------------------------


def read_files(reader: Reader) -> Feed | None:
    """Every file of the feed, in the order of their references; None if any has a problem."""
    problems: Problems = reader.problems
    source = reader.source
    has_trips, has_stop_times = source.has(TRIPS), source.has(STOP_TIMES)
    if has_trips and not has_stop_times:
        problems.add(STOP_TIMES, 0, f"required file is missing ({TRIPS} is present)")
    if has_stop_times and not has_trips:
        problems.add(TRIPS, 0, f"required file is missing ({STOP_TIMES} is present)")

    agencies = read_file(reader, AGENCY_FILE, _Agencies(), _finish_agencies)
    routes = read_file(reader, ROUTES_FILE, _Routes(agencies=agencies), _no_rows)
    stops = read_file(reader, STOPS_FILE, _Stops(), _finish_stops)
    shapes = read_file(reader, SHAPES_FILE, _Shapes(present=source.has(SHAPES)), _finish_shapes)
    trips = read_file(reader, TRIPS_FILE, _Trips(routes=routes, shapes=shapes))
    stop_times = read_file(
        reader, STOP_TIMES_FILE, _StopTimes(trips=trips, stops=stops), _finish_stop_times
    )

    if problems:
        return None
    return Feed(
        agencies=agencies.items,
        routes=routes.items,
        stops=stops.stops,
        shapes=shapes.shapes,
        trips=trips.items,
        stop_times=stop_times.items,
    )
