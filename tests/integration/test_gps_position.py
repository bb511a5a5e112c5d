"""A bus on route 32 knows its stop from a GPS track replayed through a real gpsd (gpsfake).

The track (tests/data/gps/route32.nmea, synthesized by make_track.py from the demo shape) drives
from 200 m before Lê Duẩn (Khâm Thiên), dwells there, at Ga Hà Nội and at Văn Miếu, slows past
Kim Mã and ends 150 m after it: five minutes of fixes, replayed in about twelve seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readers.position import GpsdClient, PositionTracker, StopLocator, stops_for_route
from tests.support.required import program

ROOT = Path(__file__).resolve().parents[2]
TRACK = ROOT / "tests" / "data" / "gps" / "route32.nmea"
DEMO = ROOT / "data" / "demo-network"
# Seconds between sentences: two a fix, so the 300 fixes of the track take about 12 s.
CYCLE_S = 0.02

pytestmark = pytest.mark.slow


@dataclass
class Gpsfake:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gpsfake(tmp_path: Path) -> Iterator[Gpsfake]:
    """gpsfake replaying the track once through its own gpsd, on a free port (never 2947)."""
    binary = program("gpsfake", "gpsd-clients")
    program("gpsd", "gpsd")
    port = free_port()
    log = tmp_path / "gpsfake.log"
    with log.open("wb") as out:
        # -n: gpsd reads the fake receiver at once, rather than from the first client's WATCH
        # on, which loses the start of the track to gpsd's probing.
        process = subprocess.Popen(
            [binary, "-1", "-n", "-q", "-c", str(CYCLE_S), "-P", str(port), str(TRACK)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Gpsfake(process, port, log)
    finally:
        stop_gpsfake(process)


def stop_gpsfake(process: subprocess.Popen[bytes]) -> None:
    """Stop gpsfake by stopping its gpsd, which it notices and then exits; kill it if not.

    gpsfake stays up while its gpsd runs, and its own SIGTERM handler can loop for ever when
    the signal lands while it is polling gpsd.
    """
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    try:
        for child in children.read_text(encoding="ascii").split():
            os.kill(int(child), signal.SIGTERM)
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def end_of(track: Path) -> datetime:
    """The time of the track's last fix, from its last GPRMC sentence."""
    rmc = [line for line in track.read_text(encoding="utf-8").splitlines() if "GPRMC" in line]
    fields = rmc[-1].split(",")
    return datetime.strptime(fields[9] + fields[1], "%d%m%y%H%M%S.%f").replace(tzinfo=UTC)


def test_a_bus_reports_the_stops_of_route_32_in_order_and_nothing_between(
    gpsfake: Gpsfake,
) -> None:
    locator = StopLocator(stops_for_route(DEMO, "32"), radius_m=50)
    client = GpsdClient(
        "127.0.0.1", gpsfake.port, first_retry_s=0.05, max_retry_s=0.2, timeout_s=0.2
    )
    end = end_of(TRACK)
    seen = [""]
    deadline = time.monotonic() + 30
    with PositionTracker(locator, client) as tracker:
        while time.monotonic() < deadline:
            stop_id = tracker.current_stop()
            if stop_id != seen[-1]:
                seen.append(stop_id)
            last = tracker.last_fix()
            if last is not None and last.time == end:
                break
            time.sleep(0.005)
    assert seen == ["", "HN0043", "", "HN0004", "", "HN0053", "", "HN0005", ""], gpsfake.output()
    assert last is not None
    assert last.time == end, "the replay did not reach the end of the track in 30 s"
    kim_ma = next(s for s in locator.stops if s.stop_id == "HN0005")
    assert locator.distance_m(last.lat, last.lon, kim_ma.lat, kim_ma.lon) == pytest.approx(
        150, abs=15
    )
