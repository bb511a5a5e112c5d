"""Where a validator is: stops from GPS fixes, gpsd's JSON reports, a route's stops from GTFS."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readers.position import (
    EARTH_RADIUS_M,
    WATCH,
    Fix,
    FixedStop,
    GpsdClient,
    PositionTracker,
    Stop,
    StopLocator,
    StopSource,
    parse_fix,
    stops_for_route,
)

DEMO = Path(__file__).resolve().parents[3] / "data" / "demo-network"
METRES_PER_DEGREE = math.radians(1) * EARTH_RADIUS_M

GA_HA_NOI = Stop("HN0004", "Ga Hà Nội", 21.0246, 105.8414)
VAN_MIEU = Stop("HN0053", "Văn Miếu", 21.0282, 105.8355)
KIM_MA = Stop("HN0005", "Điểm trung chuyển Kim Mã", 21.0320, 105.8258)


def north_of(stop: Stop, metres: float) -> tuple[float, float]:
    return stop.lat + metres / METRES_PER_DEGREE, stop.lon


def east_of(stop: Stop, metres: float) -> tuple[float, float]:
    return stop.lat, stop.lon + metres / (METRES_PER_DEGREE * math.cos(math.radians(stop.lat)))


def make_locator(radius_m: float = 50.0) -> StopLocator:
    return StopLocator([GA_HA_NOI, VAN_MIEU, KIM_MA], radius_m=radius_m)


def tpv(**fields: object) -> str:
    return json.dumps({"class": "TPV", "device": "/dev/ttyACM0", **fields})


def make_fix(stop: Stop) -> Fix:
    return Fix(stop.lat, stop.lon, datetime(2026, 12, 1, 0, 30, tzinfo=UTC), 3)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# The locator


def test_a_bus_standing_at_a_stop_is_at_that_stop() -> None:
    assert make_locator().locate(GA_HA_NOI.lat, GA_HA_NOI.lon) == "HN0004"


def test_a_bus_a_few_metres_off_the_pole_is_still_at_the_stop() -> None:
    assert make_locator().locate(*east_of(VAN_MIEU, -20)) == "HN0053"


def test_a_bus_between_two_stops_is_at_none() -> None:
    midway = ((GA_HA_NOI.lat + VAN_MIEU.lat) / 2, (GA_HA_NOI.lon + VAN_MIEU.lon) / 2)
    assert make_locator().locate(*midway) is None


@pytest.mark.parametrize(
    ("metres", "expected"),
    [(0.0, "HN0005"), (49.5, "HN0005"), (50.5, None)],
)
def test_the_radius_is_the_edge_of_a_stop(metres: float, expected: str | None) -> None:
    locator = make_locator()
    assert locator.locate(*north_of(KIM_MA, metres)) == expected
    assert locator.locate(*east_of(KIM_MA, -metres)) == expected


def test_the_radius_is_a_parameter() -> None:
    assert make_locator(radius_m=100).locate(*north_of(KIM_MA, 80)) == "HN0005"
    assert make_locator(radius_m=20).locate(*north_of(KIM_MA, 30)) is None


def test_of_two_stops_within_the_radius_the_nearer_one_wins() -> None:
    across_the_road = Stop("HN9999", "Ga Hà Nội (chiều về)", *north_of(GA_HA_NOI, 40))
    locator = StopLocator([GA_HA_NOI, across_the_road], radius_m=50)
    assert locator.locate(*north_of(GA_HA_NOI, 15)) == "HN0004"
    assert locator.locate(*north_of(GA_HA_NOI, 25)) == "HN9999"


def test_the_flat_distance_agrees_with_the_great_circle_across_the_city() -> None:
    locator = StopLocator(stops_for_route(DEMO, "32"))
    # Giáp Bát to Nhổn, the ends of route 32, and two points 50 m apart at one end.
    a, b = (20.9806, 105.8414), (21.0532, 105.7338)
    assert locator.distance_m(*a, *b) == pytest.approx(haversine_m(*a, *b), rel=0.002)
    near = (a[0] + 50 / METRES_PER_DEGREE, a[1])
    assert locator.distance_m(*a, *near) == pytest.approx(50, abs=0.1)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def test_a_route_without_stops_has_no_stop_anywhere() -> None:
    assert StopLocator([]).locate(21.0, 105.8) is None


def test_a_radius_must_be_positive() -> None:
    with pytest.raises(ValueError, match="radius_m"):
        StopLocator([GA_HA_NOI], radius_m=0)


# gpsd's reports


def test_a_3d_fix_gives_position_and_utc_time() -> None:
    fix = parse_fix(tpv(mode=3, time="2026-12-01T00:30:05.000Z", lat=21.0246, lon=105.8414))
    assert fix == Fix(21.0246, 105.8414, datetime(2026, 12, 1, 0, 30, 5, tzinfo=UTC), 3)


def test_a_2d_fix_counts_and_gpsd_lines_may_end_in_cr_lf() -> None:
    line = (tpv(mode=2, time="2026-12-01T00:30:05Z", lat=21, lon=105.8) + "\r").encode()
    fix = parse_fix(line)
    assert fix is not None
    assert (fix.lat, fix.lon, fix.mode) == (21.0, 105.8, 2)
    assert isinstance(fix.lat, float)


def test_a_fix_without_a_usable_time_still_gives_the_position() -> None:
    assert parse_fix(tpv(mode=3, lat=21.0, lon=105.8)) == Fix(21.0, 105.8, None, 3)
    assert parse_fix(tpv(mode=3, lat=21.0, lon=105.8, time="yesterday")) == Fix(
        21.0, 105.8, None, 3
    )


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(tpv(mode=1, time="2026-12-01T00:30:05.000Z"), id="mode 1: no fix"),
        pytest.param(tpv(mode=1, lat=21.0, lon=105.8), id="mode 1 with a stale position"),
        pytest.param(tpv(mode=0), id="mode 0: unknown"),
        pytest.param(tpv(lat=21.0, lon=105.8), id="no mode"),
        pytest.param(tpv(mode=True, lat=21.0, lon=105.8), id="mode as a boolean"),
        pytest.param(tpv(mode=3, lon=105.8), id="no latitude"),
        pytest.param(tpv(mode=3, lat="21.0", lon=105.8), id="latitude as a string"),
        pytest.param(tpv(mode=3, lat=91.0, lon=105.8), id="latitude out of range"),
        pytest.param(tpv(mode=3, lat=21.0, lon=-181.0), id="longitude out of range"),
        pytest.param('{"class":"TPV","mode":3,"lat":NaN,"lon":105.8}', id="NaN"),
        pytest.param('{"class":"SKY","satellites":[]}', id="another report"),
        pytest.param('{"class":"VERSION","release":"3.22","proto_major":3}', id="the greeting"),
        pytest.param('{"class":"TPV","mode":3,"lat":21.0,"lon":', id="cut short"),
        pytest.param("", id="empty"),
        pytest.param("[1, 2, 3]", id="not an object"),
        pytest.param(b"\xff\xfe{garbage", id="not UTF-8"),
        pytest.param("[" * 100_000, id="absurdly nested"),
        pytest.param("$GPRMC,030000.00,V,,,,,,,020625,,,N*7D", id="NMEA"),
    ],
)
def test_lines_without_a_fix_are_ignored(line: str | bytes) -> None:
    assert parse_fix(line) is None


# Staleness and the tracker


def make_tracker(clock: FakeClock, stale_after_s: float = 10.0) -> PositionTracker:
    return PositionTracker(
        make_locator(), GpsdClient("127.0.0.1", 9), stale_after_s=stale_after_s, clock=clock
    )


def test_before_the_first_fix_the_bus_is_nowhere() -> None:
    tracker = make_tracker(FakeClock())
    assert tracker.current_stop() == ""
    assert tracker.last_fix() is None


def test_a_fresh_fix_at_a_stop_gives_the_stop() -> None:
    clock = FakeClock()
    tracker = make_tracker(clock)
    fix = make_fix(VAN_MIEU)
    tracker.record(fix)
    clock.now += 10.0
    assert tracker.current_stop() == "HN0053"
    assert tracker.last_fix() == fix


def test_a_stale_fix_gives_no_stop_but_stays_the_last_fix() -> None:
    clock = FakeClock()
    tracker = make_tracker(clock)
    fix = make_fix(VAN_MIEU)
    tracker.record(fix)
    clock.now += 10.5
    assert tracker.current_stop() == ""
    assert tracker.last_fix() == fix
    tracker.record(make_fix(KIM_MA))
    assert tracker.current_stop() == "HN0005"


def test_a_fix_between_stops_replaces_the_stop() -> None:
    tracker = make_tracker(FakeClock())
    tracker.record(make_fix(GA_HA_NOI))
    lat, lon = north_of(GA_HA_NOI, 200)
    tracker.record(Fix(lat, lon, None, 2))
    assert tracker.current_stop() == ""


def test_a_gate_is_where_its_configuration_says() -> None:
    gate: StopSource = FixedStop("L2A_CAU_GIAY")
    assert gate.current_stop() == "L2A_CAU_GIAY"


# The client against a stand-in for gpsd


class FakeGpsd:
    """A TCP server that expects a WATCH and answers with canned lines, once per connection."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.watches: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            link, _ = self.server.accept()
            with link:
                self.watches.append(link.recv(1024))
                link.sendall(answer)

    def stop(self) -> None:
        self.server.close()


@pytest.fixture
def gpsd_twice() -> Iterator[FakeGpsd]:
    first = (
        b'{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\r\n'
        + tpv(mode=1).encode()
        + b"\r\nnot json\r\n"
        + tpv(mode=3, lat=21.0246, lon=105.8414, time="2026-12-01T00:30:00.000Z").encode()
        + b"\r\n"
        + b'{"class":"TPV","mode":3,"la'
    )
    second = tpv(mode=2, lat=21.0282, lon=105.8355).encode() + b"\n"
    server = FakeGpsd(first, second)
    yield server
    server.stop()


def test_the_client_watches_skips_what_is_not_a_fix_and_reconnects(gpsd_twice: FakeGpsd) -> None:
    client = GpsdClient("127.0.0.1", gpsd_twice.port, first_retry_s=0.01, timeout_s=0.2)
    stop = threading.Event()
    fixes = client.fixes(stop)
    first, second = next(fixes), next(fixes)
    stop.set()
    fixes.close()
    assert (first.lat, first.mode, second.lat, second.mode) == (21.0246, 3, 21.0282, 2)
    assert gpsd_twice.watches == [WATCH, WATCH]


def test_the_client_waits_for_gpsd_and_stops_when_told() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])  # nobody listens here once the probe is closed
    client = GpsdClient("127.0.0.1", port, first_retry_s=0.01, max_retry_s=0.05, timeout_s=0.2)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    assert list(client.fixes(stop)) == []
    timer.join()


def test_a_started_tracker_follows_gpsd_and_closes(gpsd_twice: FakeGpsd) -> None:
    client = GpsdClient("127.0.0.1", gpsd_twice.port, first_retry_s=0.01, timeout_s=0.2)
    with PositionTracker(make_locator(), client) as tracker:
        for _ in range(200):
            if tracker.current_stop() == "HN0053":
                break
            threading.Event().wait(0.01)
        assert tracker.current_stop() == "HN0053"
    assert tracker.last_fix() == Fix(21.0282, 105.8355, None, 2)


# A route's stops from GTFS


def test_route_32_has_its_twelve_stops_in_order_from_giap_bat() -> None:
    stops = stops_for_route(DEMO, "32")
    assert [s.stop_id for s in stops] == [
        "HN0010",
        "HN0033",
        "HN0043",
        "HN0004",
        "HN0053",
        "HN0005",
        "HN0041",
        "HN0006",
        "HN0007",
        "HN0020",
        "HN0054",
        "HN0009",
    ]
    assert stops[0].name == "BX Giáp Bát"
    assert stops[3] == Stop("HN0004", "Ga Hà Nội", 21.0246, 105.8414)


def test_a_route_with_no_trips_is_an_error() -> None:
    with pytest.raises(ValueError, match="route '999' has no trips"):
        stops_for_route(DEMO, "999")


def test_both_directions_count_and_the_longest_trip_sets_the_order(tmp_path: Path) -> None:
    (tmp_path / "trips.txt").write_text(
        "route_id,service_id,trip_id,direction_id\n"
        "R,S,a_short,0\nR,S,b_long,0\nR,S,c_back,1\nOTHER,S,x,0\n",
        encoding="utf-8",
    )
    (tmp_path / "stop_times.txt").write_text(
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "a_short,05:00:00,05:00:00,B,1\na_short,05:05:00,05:05:00,C,2\n"
        "b_long,06:00:00,06:00:00,C,12\nb_long,06:05:00,06:05:00,A,1\n"
        "b_long,06:03:00,06:03:00,B,5\n"
        "c_back,07:00:00,07:00:00,C,1\nc_back,07:05:00,07:05:00,D,2\n"
        "x,07:00:00,07:00:00,Z,1\n",
        encoding="utf-8",
    )
    (tmp_path / "stops.txt").write_text(
        "\ufeffstop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{s},Stop {s},21.0{n},105.8\n" for n, s in enumerate("ABCDZ")),
        encoding="utf-8",
    )
    assert [s.stop_id for s in stops_for_route(tmp_path, "R")] == ["A", "B", "C", "D"]
