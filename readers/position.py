"""Where the validator is: a bus's stop from its GPS receiver, a gate's station from its config.

Every tap records the stop it was made at, and the fare engine needs it to close a journey. A
metro gate never moves, so its station is a setting (`FixedStop`). A bus validator asks
`PositionTracker.current_stop()` at each tap: the stop of its route nearest to the last GPS fix,
if that stop is within a radius (50 m by default) and the fix is fresh (10 s by default), and ""
otherwise, which means "between stops" and is what a tap carries when the bus cannot say where it
is. The tap loop never waits for the GPS: a thread keeps the answer current, and nothing here
raises into the caller.

gpsd owns the receiver. `GpsdClient` speaks gpsd's JSON protocol over TCP with the standard
library alone, so the device needs no gpsd bindings for Python, and the part it uses is small:
send `?WATCH={"enable":true,"json":true}`, then read one JSON object a line and keep the TPV
(time-position-velocity) reports whose `mode` is 2 (2D fix) or 3 (3D fix).

Distances are equirectangular: stops and fixes are projected onto a plane tangent at the route's
mean latitude φ0, x = R·Δλ·cos φ0 and y = R·Δφ. Within ±0.3° of latitude of φ0 (a whole city)
this is within 0.2 % of the great-circle (haversine) distance, 10 cm at a 50 m radius, and it
turns the search into a grid of radius-sized cells: a fix is compared with the few stops in the
3 × 3 cells around it, not with every stop of the route.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeGuard

log = logging.getLogger(__name__)

GPSD_PORT = 2947
RADIUS_M = 50.0
STALE_AFTER_S = 10.0
EARTH_RADIUS_M = 6_371_008.8
WATCH = b'?WATCH={"enable":true,"json":true}\n'
# gpsd's longest reports (SKY with many satellites) are a few kilobytes; a longer run of bytes
# without a newline is not gpsd talking.
MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class Fix:
    """One position from the receiver: degrees, its UTC time if gpsd gave one, mode 2 or 3."""

    lat: float
    lon: float
    time: datetime | None
    mode: int


@dataclass(frozen=True)
class Stop:
    """A stop of the route, as GTFS stops.txt has it."""

    stop_id: str
    name: str
    lat: float
    lon: float


class StopSource(Protocol):
    """What the validator asks at each tap: the stop it is at, or "" between stops."""

    def current_stop(self) -> str: ...


def parse_fix(line: bytes | str) -> Fix | None:
    """The fix in one line from gpsd, or None for other reports, no fix, or a garbled line."""
    try:
        report = json.loads(line)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        return None
    if not isinstance(report, dict) or report.get("class") != "TPV":
        return None
    mode, lat, lon = report.get("mode"), report.get("lat"), report.get("lon")
    if not isinstance(mode, int) or isinstance(mode, bool) or mode < 2:
        return None
    if not (_is_degrees(lat, 90.0) and _is_degrees(lon, 180.0)):
        return None
    return Fix(float(lat), float(lon), _utc(report.get("time")), mode)


def _is_degrees(value: object, limit: float) -> TypeGuard[float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and -limit <= value <= limit
    )


def _utc(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class GpsdClient:
    """Fixes from gpsd over TCP; when gpsd goes away, reconnects with a doubling delay."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = GPSD_PORT,
        *,
        first_retry_s: float = 0.5,
        max_retry_s: float = 30.0,
        timeout_s: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.first_retry_s = first_retry_s
        self.max_retry_s = max_retry_s
        # How long a blocking connect or read may take before `stop` is looked at again.
        self.timeout_s = timeout_s

    def fixes(self, stop: threading.Event) -> Iterator[Fix]:
        """Each fix gpsd reports, until `stop` is set. Network errors are logged, not raised."""
        retry = self.first_retry_s
        while not stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), self.timeout_s) as link:
                    link.settimeout(self.timeout_s)
                    link.sendall(WATCH)
                    log.info("watching gpsd at %s:%d", self.host, self.port)
                    for line in self._lines(link, stop):
                        fix = parse_fix(line)
                        if fix is not None:
                            # Only a link that brings fixes is a working one: a gpsd that
                            # accepts and hangs up at once keeps the delay growing.
                            retry = self.first_retry_s
                            yield fix
                if stop.is_set():
                    return
                log.warning("gpsd at %s:%d closed the connection", self.host, self.port)
            except OSError as error:
                log.warning("gpsd at %s:%d: %s", self.host, self.port, error)
            if stop.wait(retry):
                return
            retry = min(retry * 2, self.max_retry_s)

    @staticmethod
    def _lines(link: socket.socket, stop: threading.Event) -> Iterator[bytes]:
        pending = b""
        while not stop.is_set():
            try:
                chunk = link.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return
            *lines, pending = (pending + chunk).split(b"\n")
            yield from lines
            if len(pending) > MAX_LINE:
                pending = b""


class StopLocator:
    """The route's stop at a position: the nearest one within `radius_m` metres, if any."""

    def __init__(self, stops: Iterable[Stop], radius_m: float = RADIUS_M) -> None:
        if not radius_m > 0:
            raise ValueError(f"radius_m must be positive, not {radius_m!r}")
        self.stops = tuple(stops)
        self.radius_m = radius_m
        if self.stops:
            self._lat0 = sum(s.lat for s in self.stops) / len(self.stops)
            self._lon0 = sum(s.lon for s in self.stops) / len(self.stops)
        else:
            self._lat0 = self._lon0 = 0.0
        self._cos_lat0 = math.cos(math.radians(self._lat0))
        self._cells: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
        for stop in self.stops:
            x, y = self._plane(stop.lat, stop.lon)
            self._cells[self._cell(x, y)].append((x, y, stop.stop_id))

    def locate(self, lat: float, lon: float) -> str | None:
        """The id of the nearest stop within the radius, or None: the bus is between stops."""
        x, y = self._plane(lat, lon)
        cx, cy = self._cell(x, y)
        best: str | None = None
        best_d2 = self.radius_m**2
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for sx, sy, stop_id in self._cells.get((cx + dx, cy + dy), ()):
                    d2 = (sx - x) ** 2 + (sy - y) ** 2
                    if d2 <= best_d2:
                        best, best_d2 = stop_id, d2
        return best

    def distance_m(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        """The equirectangular distance the locator measures with."""
        x1, y1 = self._plane(lat1, lon1)
        x2, y2 = self._plane(lat2, lon2)
        return math.hypot(x2 - x1, y2 - y1)

    def _plane(self, lat: float, lon: float) -> tuple[float, float]:
        x = math.radians(lon - self._lon0) * self._cos_lat0 * EARTH_RADIUS_M
        y = math.radians(lat - self._lat0) * EARTH_RADIUS_M
        return x, y

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / self.radius_m), math.floor(y / self.radius_m)


class PositionTracker:
    """A bus's current stop, kept up to date from gpsd by a daemon thread once started."""

    def __init__(
        self,
        locator: StopLocator,
        client: GpsdClient,
        *,
        stale_after_s: float = STALE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.locator = locator
        self.client = client
        self.stale_after_s = stale_after_s
        # Freshness is judged by when a fix arrived on this device's monotonic clock, not by the
        # receiver's time: a wall clock that is wrong or steps must not make fixes stale.
        self.clock = clock
        self._lock = threading.Lock()
        self._fix: Fix | None = None
        self._stop_id = ""
        self._received = -math.inf
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start following gpsd in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="gps", daemon=True)
            self._thread.start()
        return self

    def record(self, fix: Fix) -> None:
        """Take a new fix (the thread calls this for each one gpsd reports)."""
        stop_id = self.locator.locate(fix.lat, fix.lon) or ""
        with self._lock:
            self._fix, self._stop_id, self._received = fix, stop_id, self.clock()

    def current_stop(self) -> str:
        """The stop id, or "" between stops, before the first fix, or once the fix is stale."""
        with self._lock:
            if self.clock() - self._received > self.stale_after_s:
                return ""
            return self._stop_id

    def last_fix(self) -> Fix | None:
        """The newest fix, however old (its `time` says when), or None before the first."""
        with self._lock:
            return self._fix

    def close(self) -> None:
        """Stop the thread; it finishes within the client's timeout."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.timeout_s + 1.0)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                for fix in self.client.fixes(self._stopping):
                    self.record(fix)
            except Exception:
                # A bug here must not end the bus's positions for the rest of the day.
                log.exception("following gpsd failed; starting again")
                self._stopping.wait(self.client.max_retry_s)


class FixedStop:
    """A metro gate's station, or any validator whose place is a setting, not a fix."""

    def __init__(self, stop_id: str) -> None:
        self.stop_id = stop_id

    def current_stop(self) -> str:
        return self.stop_id

    def close(self) -> None:
        """Nothing to stop; here so that a validator can close either kind."""


def stops_for_route(gtfs_dir: Path, route_id: str) -> list[Stop]:
    """The stops of the route's trips in both directions, in the order its trips call at them."""
    directions = {
        row["trip_id"]: row.get("direction_id") or "0"
        for row in _rows(gtfs_dir / "trips.txt")
        if row["route_id"] == route_id
    }
    if not directions:
        raise ValueError(f"{gtfs_dir}: route {route_id!r} has no trips")
    calls: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in _rows(gtfs_dir / "stop_times.txt"):
        if row["trip_id"] in directions:
            calls[row["trip_id"]].append((int(row["stop_sequence"]), row["stop_id"]))
    # The longest trip of each direction sets the order; short workings only add to it.
    trips = sorted(calls, key=lambda trip: (directions[trip], -len(calls[trip]), trip))
    order = dict.fromkeys(stop_id for trip in trips for _, stop_id in sorted(calls[trip]))
    found = {
        row["stop_id"]: Stop(
            row["stop_id"], row["stop_name"], float(row["stop_lat"]), float(row["stop_lon"])
        )
        for row in _rows(gtfs_dir / "stops.txt")
        if row["stop_id"] in order
    }
    unknown = [stop_id for stop_id in order if stop_id not in found]
    if unknown:
        raise ValueError(f"{gtfs_dir}: stop_times.txt calls at unknown stops {unknown}")
    return [found[stop_id] for stop_id in order]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    # utf-8-sig: feeds exported from spreadsheets often start with a byte order mark.
    with path.open(encoding="utf-8-sig", newline="") as file:
        yield from csv.DictReader(file)
