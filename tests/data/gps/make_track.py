"""Write route32.nmea: a bus on route 32 through four of its stops, one GPS fix a second.

The track is synthesized from the demo network's shape `32_0` (data/demo-network/shapes.txt),
not recorded on a real bus: a bus that starts 200 m before Lê Duẩn (Khâm Thiên), stops there,
at Ga Hà Nội and at Văn Miếu for about 20 s each, slows to 6 m/s past Kim Mã without stopping,
and ends 150 m after it. Between stops it accelerates and brakes at 1 m/s² up to 14 m/s. The
receiver has no fix for its first three seconds (RMC status V, GGA quality 0), as after power-up.

Each second is a GPRMC and a GPGGA sentence with its checksum, lines ended by CR LF as NMEA 0183
has them. Run it from the repository root after the demo shape changes:

    python tests/data/gps/make_track.py

and check the stops that tests/integration/test_gps_position.py expects.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHAPES = ROOT / "data" / "demo-network" / "shapes.txt"
SHAPE_ID = "32_0"
OUT = Path(__file__).with_name("route32.nmea")

EARTH_RADIUS_M = 6_371_008.8
KNOTS_PER_M_S = 3600 / 1852
START = datetime(2025, 6, 2, 3, 0, 0, tzinfo=UTC)  # 10:00 in Hanoi
NO_FIX_SECONDS = 3
CRUISE_M_S = 14.0
ACCEL_M_S2 = 1.0


@dataclass(frozen=True)
class Halt:
    """A stop on the way, `at` metres along the shape: a dwell, or a slower pass."""

    at: float
    dwell_s: int = 0
    pass_m_s: float = 0.0


# Metres along shape 32_0 (shape_dist_traveled of trip 32_0_0500 in stop_times.txt).
FIRST_M = 4259.0 - 200.0
HALTS = (
    Halt(4259.0, dwell_s=20),  # HN0043 Lê Duẩn (Khâm Thiên)
    Halt(4881.0, dwell_s=20),  # HN0004 Ga Hà Nội
    Halt(5552.0, dwell_s=20),  # HN0053 Văn Miếu
    Halt(6689.0, pass_m_s=6.0),  # HN0005 Điểm trung chuyển Kim Mã
)
LAST_M = 6689.0 + 150.0


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    dlambda = math.radians(b[1] - a[1])
    y = math.sin(dlambda) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlambda)
    return math.degrees(math.atan2(y, x)) % 360


def read_shape() -> list[tuple[float, float]]:
    with SHAPES.open(encoding="utf-8-sig", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["shape_id"] == SHAPE_ID]
    rows.sort(key=lambda row: int(row["shape_pt_sequence"]))
    return [(float(row["shape_pt_lat"]), float(row["shape_pt_lon"])) for row in rows]


def point_at(shape: list[tuple[float, float]], along: float) -> tuple[float, float]:
    """The point `along` metres from the shape's start, on a straight leg between its points."""
    for a, b in zip(shape, shape[1:], strict=False):
        leg = distance_m(a, b)
        if along <= leg:
            f = along / leg if leg else 0.0
            return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
        along -= leg
    return shape[-1]


def drive() -> Iterator[float]:
    """Metres along the shape, one value a second: brake for each halt, dwell, move on."""
    along, speed = FIRST_M, CRUISE_M_S
    ahead = list(HALTS)
    while along < LAST_M:
        yield along
        if ahead and ahead[0].dwell_s and along >= ahead[0].at:
            for _ in range(ahead.pop(0).dwell_s - 1):
                yield along
            speed = 0.0
            continue
        if ahead and not ahead[0].dwell_s and along > ahead[0].at:
            ahead.pop(0)
        limit = CRUISE_M_S
        if ahead:
            gap = max(0.0, ahead[0].at - along)
            limit = min(limit, math.sqrt(ahead[0].pass_m_s ** 2 + 2 * ACCEL_M_S2 * gap))
        # At least 1 m/s, or the bus would creep towards a stop for ever.
        speed = max(1.0, min(speed + ACCEL_M_S2, limit))
        if ahead and ahead[0].dwell_s and along + speed >= ahead[0].at:
            along = ahead[0].at
        else:
            along += speed


def sentence(body: str) -> str:
    checksum = reduce(lambda acc, char: acc ^ ord(char), body, 0)
    return f"${body}*{checksum:02X}\r\n"


def degrees_minutes(value: float, width: int, hemispheres: str) -> tuple[str, str]:
    hemisphere = hemispheres[0] if value >= 0 else hemispheres[1]
    value = abs(value)
    whole = int(value)
    return f"{whole:0{width}d}{(value - whole) * 60:08.5f}", hemisphere


def fix_sentences(
    when: datetime, point: tuple[float, float], speed: float, course: float
) -> list[str]:
    hms = when.strftime("%H%M%S.00")
    dmy = when.strftime("%d%m%y")
    lat, ns = degrees_minutes(point[0], 2, "NS")
    lon, ew = degrees_minutes(point[1], 3, "EW")
    knots = speed * KNOTS_PER_M_S
    return [
        sentence(f"GPRMC,{hms},A,{lat},{ns},{lon},{ew},{knots:.1f},{course:.1f},{dmy},,,A"),
        sentence(f"GPGGA,{hms},{lat},{ns},{lon},{ew},1,09,0.9,15.0,M,-24.0,M,,"),
    ]


def no_fix_sentences(when: datetime) -> list[str]:
    hms = when.strftime("%H%M%S.00")
    return [
        sentence(f"GPRMC,{hms},V,,,,,,,{when.strftime('%d%m%y')},,,N"),
        sentence(f"GPGGA,{hms},,,,,0,00,99.99,,,,,,"),
    ]


def track() -> list[str]:
    shape = read_shape()
    lines = [
        f"# Synthesized by make_track.py from shape {SHAPE_ID} of data/demo-network\r\n",
        "# (not recorded on a real bus): route 32 from Khâm Thiên past Kim Mã.\r\n",
    ]
    when = START
    for _ in range(NO_FIX_SECONDS):
        lines += no_fix_sentences(when)
        when += timedelta(seconds=1)
    previous: float | None = None
    course = 0.0
    for along in drive():
        point = point_at(shape, along)
        speed = CRUISE_M_S if previous is None else along - previous
        if speed > 0:
            course = bearing_deg(point_at(shape, along - speed), point)
        lines += fix_sentences(when, point, speed, course)
        when += timedelta(seconds=1)
        previous = along
    return lines


def main() -> None:
    lines = track()
    OUT.write_text("".join(lines), encoding="utf-8", newline="")
    print(f"wrote {OUT} ({len(lines)} lines)")


if __name__ == "__main__":
    main()
