"""Read a GTFS feed (a .zip or a folder) and check it, reporting every problem at once.

Standard library only, so that operators can check a feed before anything touches the database.
Line numbers are the physical line where a CSV record starts: the header is line 1, the first
data row line 2; problems about a whole file are on line 0.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "Agency",
    "Feed",
    "FeedError",
    "Problem",
    "Route",
    "ShapePoint",
    "Stop",
    "StopTime",
    "Trip",
    "read_feed",
]

Progress = Callable[[str, int], None]

PROGRESS_EVERY = 1000
# A zip entry may claim any size; reading stops past this, so a zip bomb cannot fill memory.
MAX_FILE_BYTES = 1 << 30

AGENCY = "agency.txt"
ROUTES = "routes.txt"
STOPS = "stops.txt"
SHAPES = "shapes.txt"
TRIPS = "trips.txt"
STOP_TIMES = "stop_times.txt"

# Problems are listed file by file in the order a reader follows the references.
FILE_ORDER = (AGENCY, ROUTES, STOPS, SHAPES, TRIPS, STOP_TIMES)

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    AGENCY: ("agency_name", "agency_url", "agency_timezone"),
    ROUTES: ("route_id", "route_type"),
    # stop_name and the coordinates are only conditionally required per row, but a feed
    # without the columns cannot describe a single boarding place.
    STOPS: ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    SHAPES: ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    TRIPS: ("route_id", "service_id", "trip_id"),
    STOP_TIMES: ("trip_id", "stop_sequence", "stop_id"),
}

BASIC_ROUTE_TYPES = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 11, 12})
EXTENDED_ROUTE_TYPES = range(100, 1703)

STOP_OR_PLATFORM = 0
STATION = 1
ENTRANCE = 2
GENERIC_NODE = 3
BOARDING_AREA = 4
LOCATION_TYPES = range(STOP_OR_PLATFORM, BOARDING_AREA + 1)

_COLOR = re.compile(r"[0-9A-Fa-f]{6}")
_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a feed, located by file and line."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class FeedError(Exception):
    """The feed cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


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


def read_feed(path: Path, progress: Progress | None = None) -> Feed:
    """Read and check the feed at `path`; raise FeedError listing every problem found."""
    path = Path(path)
    if path.is_dir():
        return _Reader(_FolderSource(path), progress).read()
    if not path.exists():
        raise FeedError([Problem(str(path), 0, "no such file or folder")])
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        reason = "not a zip file" if isinstance(error, zipfile.BadZipFile) else str(error)
        raise FeedError([Problem(str(path), 0, reason)]) from None
    with archive:
        return _Reader(_ZipSource(archive), progress).read()


class _ReadFailed(Exception):
    """A feed file exists but its bytes cannot be had."""


class _FolderSource:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def has(self, name: str) -> bool:
        return (self._folder / name).is_file()

    def read(self, name: str) -> bytes:
        try:
            return (self._folder / name).read_bytes()
        except OSError as error:
            raise _ReadFailed(f"cannot be read: {error.strerror or error}") from None


class _ZipSource:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        members = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        ]
        self._prefix = self._feed_folder(members)
        self._members = set(members)

    @staticmethod
    def _feed_folder(members: list[str]) -> str:
        # Zipping a folder instead of its contents puts every file under one folder.
        txt_folders = {name.rpartition("/")[0] for name in members if name.endswith(".txt")}
        if "" in txt_folders or not txt_folders:
            return ""
        if len(txt_folders) == 1:
            return txt_folders.pop() + "/"
        with_agency = {name.rpartition("/")[0] for name in members if name.endswith("/" + AGENCY)}
        if len(with_agency) == 1:
            return with_agency.pop() + "/"
        return ""

    def has(self, name: str) -> bool:
        return self._prefix + name in self._members

    def read(self, name: str) -> bytes:
        try:
            with self._archive.open(self._prefix + name) as member:
                data = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError) as e:
            raise _ReadFailed(f"cannot be read from the zip: {e}") from None
        if len(data) > MAX_FILE_BYTES:
            raise _ReadFailed(f"is larger than {MAX_FILE_BYTES:,} bytes once unzipped")
        return data


class _Table:
    """The header of one file and an iterator over its data rows."""

    def __init__(self, name: str, columns: dict[str, int], width: int) -> None:
        self.name = name
        self.columns = columns
        self.width = width

    def index(self, column: str) -> int:
        return self.columns.get(column, -1)


def _value(fields: list[str], index: int) -> str:
    """The stripped value at `index`, or "" for a column the file does not have."""
    if 0 <= index < len(fields):
        return fields[index].strip()
    return ""


def _finite_float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _non_negative_int(text: str) -> int | None:
    if not text.isdigit() or not text.isascii():
        return None
    return int(text)


class _Reader:
    def __init__(self, source: _FolderSource | _ZipSource, progress: Progress | None) -> None:
        self.source = source
        self.progress = progress
        self.problems: list[Problem] = []

    def problem(self, file: str, line: int, reason: str) -> None:
        self.problems.append(Problem(file, line, reason))

    # -- files ---------------------------------------------------------------------------------

    def open(self, name: str) -> tuple[_Table, Iterator[tuple[int, list[str], bool]]] | None:
        """Header checks for `name`; None when the file is absent or unusable (already reported)."""
        try:
            data = self.source.read(name)
        except _ReadFailed as failure:
            self.problem(name, 0, str(failure))
            return None
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            for number, raw_line in enumerate(data.splitlines(), start=1):
                try:
                    raw_line.decode("utf-8")
                except UnicodeDecodeError:
                    self.problem(name, number, "not valid UTF-8")
            text = data.decode("utf-8", errors="replace")
        del data
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader, None)
        except csv.Error as error:
            self.problem(name, 1, f"cannot parse the header: {error}")
            return None
        if not header or all(not cell.strip() for cell in header):
            self.problem(name, 0, "file is empty")
            return None
        columns: dict[str, int] = {}
        for index, cell in enumerate(header):
            column = cell.strip()
            if column in columns:
                self.problem(name, 1, f"column {column} appears more than once")
            elif column:
                columns[column] = index
        missing = [column for column in REQUIRED_COLUMNS.get(name, ()) if column not in columns]
        for column in missing:
            self.problem(name, 1, f"missing required column {column}")
        if missing:
            return None
        table = _Table(name, columns, len(header))
        return table, self._rows(table, reader)

    def _rows(self, table: _Table, reader: CsvReader) -> Iterator[tuple[int, list[str], bool]]:
        """(line, fields, well_formed) per data row; malformed rows are reported here."""
        name, width, progress = table.name, table.width, self.progress
        line_num = reader.line_num
        count = 0
        while True:
            start = line_num + 1
            try:
                fields = next(reader, None)
            except csv.Error as error:
                line_num = reader.line_num
                self.problem(name, start, f"cannot parse the row: {error}")
                continue
            line_num = reader.line_num
            if fields is None:
                break
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank lines, often at the end of a file
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(name, count)
            if len(fields) != width:
                self.problem(name, start, f"expected {width} fields, found {len(fields)}")
                yield start, fields, False
            else:
                yield start, fields, True
        if progress is not None:
            progress(name, count)

    # -- the feed ------------------------------------------------------------------------------

    def read(self) -> Feed:
        for name in (AGENCY, ROUTES, STOPS):
            if not self.source.has(name):
                self.problem(name, 0, "required file is missing")
        has_trips, has_stop_times = self.source.has(TRIPS), self.source.has(STOP_TIMES)
        if has_trips and not has_stop_times:
            self.problem(STOP_TIMES, 0, f"required file is missing ({TRIPS} is present)")
        if has_stop_times and not has_trips:
            self.problem(TRIPS, 0, f"required file is missing ({STOP_TIMES} is present)")

        agencies = self.read_agencies()
        routes = self.read_routes(agencies)
        stops = self.read_stops()
        shapes = self.read_shapes()
        trips = self.read_trips(routes, shapes)
        stop_times = self.read_stop_times(trips, stops)

        if self.problems:
            order = {name: position for position, name in enumerate(FILE_ORDER)}
            self.problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
            raise FeedError(self.problems)
        return Feed(
            agencies=agencies.items,
            routes=routes.items,
            stops=stops.items,
            shapes=shapes.items,
            trips=trips.items,
            stop_times=stop_times,
        )

    def read_agencies(self) -> _Agencies:
        result = _Agencies()
        opened = self.open(AGENCY) if self.source.has(AGENCY) else None
        if opened is None:
            return result
        table, rows = opened
        result.usable = True
        i_id, i_name, i_url, i_tz = (
            table.index(c) for c in ("agency_id", "agency_name", "agency_url", "agency_timezone")
        )
        i_lang, i_phone = table.index("agency_lang"), table.index("agency_phone")
        without_id: list[int] = []
        rows_seen = 0
        for line, fields, well_formed in rows:
            rows_seen += 1
            agency_id = _value(fields, i_id)
            if not well_formed:
                if agency_id:
                    result.lines.setdefault(agency_id, line)
                continue
            ok = True
            if agency_id:
                first = result.lines.setdefault(agency_id, line)
                if first != line:
                    self.problem(AGENCY, line, f"duplicate agency_id {agency_id} (line {first})")
                    ok = False
            else:
                without_id.append(line)
            values: dict[str, str] = {}
            for column, index in (
                ("agency_name", i_name),
                ("agency_url", i_url),
                ("agency_timezone", i_tz),
            ):
                values[column] = _value(fields, index)
                if not values[column]:
                    self.problem(AGENCY, line, f"{column} is empty")
                    ok = False
            url = values["agency_url"]
            if url and not url.lower().startswith(("http://", "https://")):
                self.problem(AGENCY, line, f"agency_url {url!r} is not an http(s) URL")
                ok = False
            if ok:
                result.items.append(
                    Agency(
                        agency_id=agency_id,
                        name=values["agency_name"],
                        url=url,
                        timezone=values["agency_timezone"],
                        lang=_value(fields, i_lang) or None,
                        phone=_value(fields, i_phone) or None,
                    )
                )
        result.count = rows_seen
        if rows_seen == 0:
            self.problem(AGENCY, 0, "file has no data rows")
        elif rows_seen > 1:
            for line in without_id:
                self.problem(
                    AGENCY, line, "agency_id is empty; it is required with several agencies"
                )
        elif without_id:
            result.lines.setdefault("", without_id[0])
        return result

    def read_routes(self, agencies: _Agencies) -> _Routes:
        result = _Routes()
        opened = self.open(ROUTES) if self.source.has(ROUTES) else None
        if opened is None:
            return result
        table, rows = opened
        result.usable = True
        i_id, i_agency, i_short, i_long, i_type, i_color, i_text, i_desc = (
            table.index(c)
            for c in (
                "route_id",
                "agency_id",
                "route_short_name",
                "route_long_name",
                "route_type",
                "route_color",
                "route_text_color",
                "route_desc",
            )
        )
        single_agency = next(iter(agencies.lines)) if len(agencies.lines) == 1 else None
        rows_seen = 0
        for line, fields, well_formed in rows:
            rows_seen += 1
            route_id = _value(fields, i_id)
            if not well_formed:
                if route_id:
                    result.lines.setdefault(route_id, line)
                continue
            ok = True
            if not route_id:
                self.problem(ROUTES, line, "route_id is empty")
                ok = False
            else:
                first = result.lines.setdefault(route_id, line)
                if first != line:
                    self.problem(ROUTES, line, f"duplicate route_id {route_id} (line {first})")
                    ok = False
            agency_id = _value(fields, i_agency)
            if agency_id:
                if agencies.usable and agency_id not in agencies.lines:
                    self.problem(ROUTES, line, f"agency_id {agency_id} is not in {AGENCY}")
                    ok = False
            elif agencies.count > 1:
                self.problem(
                    ROUTES, line, "agency_id is empty; it is required with several agencies"
                )
                ok = False
            elif single_agency is not None:
                agency_id = single_agency
            short_name, long_name = _value(fields, i_short), _value(fields, i_long)
            if not short_name and not long_name:
                self.problem(ROUTES, line, "route_short_name and route_long_name are both empty")
                ok = False
            route_type = self.route_type(line, _value(fields, i_type))
            colors: list[str | None] = []
            for column, index in (("route_color", i_color), ("route_text_color", i_text)):
                color = _value(fields, index)
                if color and not _COLOR.fullmatch(color):
                    self.problem(ROUTES, line, f"{column} {color!r} is not 6 hex digits")
                    ok = False
                colors.append(color or None)
            if ok and route_type is not None:
                result.items.append(
                    Route(
                        route_id=route_id,
                        agency_id=agency_id,
                        short_name=short_name,
                        long_name=long_name,
                        route_type=route_type,
                        color=colors[0],
                        text_color=colors[1],
                        desc=_value(fields, i_desc) or None,
                    )
                )
        if rows_seen == 0:
            self.problem(ROUTES, 0, "file has no data rows")
        return result

    def route_type(self, line: int, text: str) -> int | None:
        if not text:
            self.problem(ROUTES, line, "route_type is empty")
            return None
        try:
            route_type = int(text)
        except ValueError:
            self.problem(ROUTES, line, f"route_type {text!r} is not an integer")
            return None
        if route_type not in BASIC_ROUTE_TYPES and route_type not in EXTENDED_ROUTE_TYPES:
            self.problem(ROUTES, line, f"route_type {route_type} is not a GTFS route type")
            return None
        return route_type

    def coordinate(
        self, file: str, line: int, column: str, text: str, limit: float
    ) -> float | None:
        """A latitude (limit 90) or longitude (limit 180); problems reported, None if bad."""
        if not text:
            self.problem(file, line, f"{column} is empty")
            return None
        number = _finite_float(text)
        if number is None:
            self.problem(file, line, f"{column} {text!r} is not a number")
            return None
        if not -limit <= number <= limit:
            self.problem(file, line, f"{column} {text} is out of range [-{limit:g}, {limit:g}]")
            return None
        return number

    def read_stops(self) -> _Stops:
        result = _Stops()
        opened = self.open(STOPS) if self.source.has(STOPS) else None
        if opened is None:
            return result
        table, rows = opened
        result.usable = True
        i_id, i_name, i_lat, i_lon, i_code, i_type, i_parent = (
            table.index(c)
            for c in (
                "stop_id",
                "stop_name",
                "stop_lat",
                "stop_lon",
                "stop_code",
                "location_type",
                "parent_station",
            )
        )
        # Built after every row is read: parents may come later in the file, and generic nodes
        # and boarding areas may leave their coordinates to their parent.
        pending: list[tuple[int, str, str, float | None, float | None, str | None, int, str]] = []
        parents: list[tuple[int, str]] = []
        coordinates: dict[str, tuple[float, float]] = {}
        rows_seen = 0
        for line, fields, well_formed in rows:
            rows_seen += 1
            stop_id = _value(fields, i_id)
            if not well_formed:
                if stop_id:
                    result.lines.setdefault(stop_id, line)
                continue
            ok = True
            if not stop_id:
                self.problem(STOPS, line, "stop_id is empty")
                ok = False
            else:
                first = result.lines.setdefault(stop_id, line)
                if first != line:
                    self.problem(STOPS, line, f"duplicate stop_id {stop_id} (line {first})")
                    ok = False
            type_text = _value(fields, i_type)
            location_type = _non_negative_int(type_text) if type_text else STOP_OR_PLATFORM
            if location_type is None or location_type not in LOCATION_TYPES:
                self.problem(STOPS, line, f"location_type {type_text!r} is not one of 0-4")
                ok = False
                location_type = STOP_OR_PLATFORM
            if stop_id:
                result.location_types.setdefault(stop_id, location_type)
            name = _value(fields, i_name)
            placeless = location_type in (GENERIC_NODE, BOARDING_AREA)
            if not name and not placeless:
                self.problem(STOPS, line, "stop_name is empty")
                ok = False
            lat_text, lon_text = _value(fields, i_lat), _value(fields, i_lon)
            lat: float | None = None
            lon: float | None = None
            if lat_text or lon_text or not placeless:
                lat = self.coordinate(STOPS, line, "stop_lat", lat_text, 90)
                lon = self.coordinate(STOPS, line, "stop_lon", lon_text, 180)
                ok = ok and lat is not None and lon is not None
            if lat is not None and lon is not None and stop_id:
                coordinates.setdefault(stop_id, (lat, lon))
            parent = _value(fields, i_parent)
            if parent:
                parents.append((line, parent))
            if location_type == STATION and parent:
                self.problem(
                    STOPS, line, "a station (location_type 1) cannot have a parent_station"
                )
                ok = False
            elif location_type in (ENTRANCE, GENERIC_NODE, BOARDING_AREA) and not parent:
                self.problem(STOPS, line, f"parent_station is empty; location_type {location_type}")
                ok = False
            if ok:
                code = _value(fields, i_code) or None
                pending.append((line, stop_id, name, lat, lon, code, location_type, parent))
        for line, parent in parents:
            if parent not in result.lines:
                self.problem(STOPS, line, f"parent_station {parent} is not in {STOPS}")
        for line, stop_id, name, lat, lon, code, location_type, parent in pending:
            if lat is None or lon is None:
                if parent not in coordinates:
                    if parent in result.lines:
                        self.problem(
                            STOPS, line, "stop_lat and stop_lon are empty, as are the parent's"
                        )
                    continue
                lat, lon = coordinates[parent]
            result.items.append(
                Stop(
                    stop_id=stop_id,
                    name=name,
                    lat=lat,
                    lon=lon,
                    code=code,
                    location_type=location_type,
                    parent_station=parent or None,
                )
            )
        if rows_seen == 0:
            self.problem(STOPS, 0, "file has no data rows")
        return result

    def read_shapes(self) -> _Shapes:
        result = _Shapes()
        if not self.source.has(SHAPES):
            result.present = False
            return result
        opened = self.open(SHAPES)
        if opened is None:
            return result
        table, rows = opened
        result.usable = True
        i_id, i_lat, i_lon, i_seq, i_dist = (
            table.index(c)
            for c in (
                "shape_id",
                "shape_pt_lat",
                "shape_pt_lon",
                "shape_pt_sequence",
                "shape_dist_traveled",
            )
        )
        points: dict[str, list[tuple[int, int, ShapePoint]]] = {}
        sequences: dict[tuple[str, int], int] = {}
        for line, fields, well_formed in rows:
            shape_id = _value(fields, i_id)
            if not well_formed:
                if shape_id:
                    points.setdefault(shape_id, [])
                continue
            ok = True
            if not shape_id:
                self.problem(SHAPES, line, "shape_id is empty")
                ok = False
            else:
                points.setdefault(shape_id, [])
            lat = self.coordinate(SHAPES, line, "shape_pt_lat", _value(fields, i_lat), 90)
            lon = self.coordinate(SHAPES, line, "shape_pt_lon", _value(fields, i_lon), 180)
            seq_text = _value(fields, i_seq)
            sequence = _non_negative_int(seq_text)
            if sequence is None:
                reason = (
                    "is empty" if not seq_text else f"{seq_text!r} is not a non-negative integer"
                )
                self.problem(SHAPES, line, f"shape_pt_sequence {reason}")
                ok = False
            elif shape_id:
                first = sequences.setdefault((shape_id, sequence), line)
                if first != line:
                    self.problem(
                        SHAPES,
                        line,
                        f"shape_pt_sequence {sequence} repeats in shape {shape_id} (line {first})",
                    )
                    ok = False
            dist_text = _value(fields, i_dist)
            dist: float | None = None
            if dist_text:
                dist = _finite_float(dist_text)
                if dist is None or dist < 0:
                    self.problem(
                        SHAPES,
                        line,
                        f"shape_dist_traveled {dist_text!r} is not a non-negative number",
                    )
                    ok = False
            if ok and lat is not None and lon is not None and sequence is not None:
                points[shape_id].append((sequence, line, ShapePoint(lat, lon, sequence, dist)))
        for shape_id, shape_points in points.items():
            shape_points.sort(key=lambda entry: entry[0])
            previous: float | None = None
            for _, line, point in shape_points:
                if point.dist_traveled is None:
                    continue
                if previous is not None and point.dist_traveled < previous:
                    self.problem(
                        SHAPES,
                        line,
                        f"shape_dist_traveled {point.dist_traveled:g} is less than the"
                        f" {previous:g} before it in shape {shape_id}",
                    )
                previous = point.dist_traveled
            result.items[shape_id] = [point for _, _, point in shape_points]
        return result

    def read_trips(self, routes: _Routes, shapes: _Shapes) -> _Trips:
        result = _Trips()
        opened = self.open(TRIPS) if self.source.has(TRIPS) else None
        if opened is None:
            return result
        table, rows = opened
        result.usable = True
        i_id, i_route, i_service, i_headsign, i_direction, i_shape = (
            table.index(c)
            for c in (
                "trip_id",
                "route_id",
                "service_id",
                "trip_headsign",
                "direction_id",
                "shape_id",
            )
        )
        check_shapes = shapes.usable or not shapes.present
        for line, fields, well_formed in rows:
            trip_id = _value(fields, i_id)
            if not well_formed:
                if trip_id:
                    result.lines.setdefault(trip_id, line)
                continue
            ok = True
            if not trip_id:
                self.problem(TRIPS, line, "trip_id is empty")
                ok = False
            else:
                first = result.lines.setdefault(trip_id, line)
                if first != line:
                    self.problem(TRIPS, line, f"duplicate trip_id {trip_id} (line {first})")
                    ok = False
            route_id = _value(fields, i_route)
            if not route_id:
                self.problem(TRIPS, line, "route_id is empty")
                ok = False
            elif routes.usable and route_id not in routes.lines:
                self.problem(TRIPS, line, f"route_id {route_id} is not in {ROUTES}")
                ok = False
            service_id = _value(fields, i_service)
            if not service_id:
                self.problem(TRIPS, line, "service_id is empty")
                ok = False
            shape_id = _value(fields, i_shape)
            if shape_id and check_shapes and shape_id not in shapes.items:
                self.problem(TRIPS, line, f"shape_id {shape_id} is not in {SHAPES}")
                ok = False
            direction_text = _value(fields, i_direction)
            direction_id: int | None = None
            if direction_text:
                if direction_text in ("0", "1"):
                    direction_id = int(direction_text)
                else:
                    self.problem(TRIPS, line, f"direction_id {direction_text!r} is not 0 or 1")
                    ok = False
            if ok:
                result.items.append(
                    Trip(
                        trip_id=trip_id,
                        route_id=route_id,
                        service_id=service_id,
                        headsign=_value(fields, i_headsign) or None,
                        direction_id=direction_id,
                        shape_id=shape_id or None,
                    )
                )
        return result

    def read_stop_times(self, trips: _Trips, stops: _Stops) -> list[StopTime]:
        opened = self.open(STOP_TIMES) if self.source.has(STOP_TIMES) else None
        if opened is None:
            return []
        table, rows = opened
        i_trip, i_seq, i_stop, i_arrival, i_departure = (
            table.index(c)
            for c in ("trip_id", "stop_sequence", "stop_id", "arrival_time", "departure_time")
        )
        problem = self.problem
        trip_lines, check_trips = trips.lines, trips.usable
        location_types, check_stops = stops.location_types, stops.usable
        stop_lines = stops.lines
        # Reusing one string object per id and per time keeps 200k rows light in memory.
        trip_ids: dict[str, str] = {}
        times: dict[str, str | None] = {}
        sequences: dict[str, dict[int, int]] = {}
        # trip_id -> (sequence, line, has both times) of its first and of its last call so far
        firsts: dict[str, tuple[int, int, bool]] = {}
        lasts: dict[str, tuple[int, int, bool]] = {}
        stop_times: list[StopTime] = []
        append = stop_times.append
        for line, fields, well_formed in rows:
            if not well_formed:
                continue
            ok = True
            trip_id = fields[i_trip].strip()
            if not trip_id:
                problem(STOP_TIMES, line, "trip_id is empty")
                ok = False
            else:
                trip_id = trip_ids.setdefault(trip_id, trip_id)
                if check_trips and trip_id not in trip_lines:
                    problem(STOP_TIMES, line, f"trip_id {trip_id} is not in {TRIPS}")
                    ok = False
            stop_id = fields[i_stop].strip()
            if not stop_id:
                problem(STOP_TIMES, line, "stop_id is empty")
                ok = False
            elif check_stops:
                location_type = location_types.get(stop_id)
                if location_type is None:
                    # A malformed stops row still names its stop: reported once, there.
                    if stop_id not in stop_lines:
                        problem(STOP_TIMES, line, f"stop_id {stop_id} is not in {STOPS}")
                    ok = False
                elif location_type != STOP_OR_PLATFORM:
                    problem(
                        STOP_TIMES,
                        line,
                        f"stop_id {stop_id} has location_type {location_type};"
                        " trips can only call at location_type 0",
                    )
                    ok = False
            seq_text = fields[i_seq].strip()
            sequence = _non_negative_int(seq_text)
            if sequence is None:
                reason = (
                    "is empty" if not seq_text else f"{seq_text!r} is not a non-negative integer"
                )
                problem(STOP_TIMES, line, f"stop_sequence {reason}")
                ok = False
            elif trip_id:
                seen = sequences.get(trip_id)
                if seen is None:
                    seen = sequences[trip_id] = {}
                first = seen.setdefault(sequence, line)
                if first != line:
                    problem(
                        STOP_TIMES,
                        line,
                        f"stop_sequence {sequence} repeats in trip {trip_id} (line {first})",
                    )
                    ok = False
            arrival = departure = None
            if i_arrival >= 0:
                raw = fields[i_arrival].strip()
                if raw:
                    arrival = times.get(raw) or self.time(times, line, "arrival_time", raw)
                    ok = ok and arrival is not None
            if i_departure >= 0:
                raw = fields[i_departure].strip()
                if raw:
                    departure = times.get(raw) or self.time(times, line, "departure_time", raw)
                    ok = ok and departure is not None
            if not ok or sequence is None:
                continue
            timed = arrival is not None and departure is not None
            call = (sequence, line, arrival is not None and departure is not None)
            first_call = firsts.get(trip_id)
            if first_call is None or sequence < first_call[0]:
                firsts[trip_id] = call
            last_call = lasts.get(trip_id)
            if last_call is None or sequence > last_call[0]:
                lasts[trip_id] = call
            append(StopTime(trip_id, sequence, stop_id, arrival, departure))
        for which, calls in (("first", firsts), ("last", lasts)):
            for trip_id, (_, call_line, timed) in calls.items():
                if not timed:
                    problem(
                        STOP_TIMES,
                        call_line,
                        f"the {which} stop of trip {trip_id} needs an arrival_time"
                        " and a departure_time",
                    )
        return stop_times

    def time(self, cache: dict[str, str | None], line: int, column: str, raw: str) -> str | None:
        """A GTFS time as HH:MM:SS (hours past 23 allowed); reported and None if malformed."""
        if raw in cache:
            normalized = cache[raw]
        else:
            match = _TIME.fullmatch(raw)
            normalized = None
            if match is not None and raw.isascii():
                hours, minutes, seconds = match.groups()
                normalized = f"{int(hours):02d}:{minutes}:{seconds}"
            cache[raw] = normalized
        if normalized is None:
            self.problem(STOP_TIMES, line, f"{column} {raw!r} is not HH:MM:SS")
        return normalized


class _Agencies:
    def __init__(self) -> None:
        self.items: list[Agency] = []
        self.lines: dict[str, int] = {}
        self.count = 0
        self.usable = False


class _Routes:
    def __init__(self) -> None:
        self.items: list[Route] = []
        self.lines: dict[str, int] = {}
        self.usable = False


class _Stops:
    def __init__(self) -> None:
        self.items: list[Stop] = []
        self.lines: dict[str, int] = {}
        self.location_types: dict[str, int] = {}
        self.usable = False


class _Shapes:
    def __init__(self) -> None:
        self.items: dict[str, list[ShapePoint]] = {}
        self.present = True
        self.usable = False


class _Trips:
    def __init__(self) -> None:
        self.items: list[Trip] = []
        self.lines: dict[str, int] = {}
        self.usable = False
