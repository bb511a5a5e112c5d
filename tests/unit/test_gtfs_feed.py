"""Reading and checking GTFS feeds (transit/gtfs/) and the demo network that ships with us."""

from __future__ import annotations

import csv
import math
import shutil
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest

from transit.gtfs import Feed, FeedError, Problem, read_feed

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo-network"

BASE = {
    "agency": (
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "A1,Transerco,https://transerco.vn,Asia/Ho_Chi_Minh,vi\n"
    ),
    "routes": (
        "route_id,agency_id,route_short_name,route_long_name,route_type,route_color\n"
        "R1,A1,01,BX Gia Lâm - BX Yên Nghĩa,3,E31E24\n"
        "R2,A1,09,,3,\n"
    ),
    "stops": (
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "S1,Kim Mã,21.0318,105.8262,0,\n"
        "S2,Cầu Giấy,21.0333,105.7995,0,\n"
        "S3,BX Mỹ Đình,21.0283,105.7782,0,ST\n"
        "ST,Ga Hà Nội,21.0246,105.8414,1,\n"
    ),
    "shapes": (
        "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled\n"
        "SH1,21.0318,105.8262,1,0\n"
        "SH1,21.0333,105.7995,2,2.8\n"
    ),
    "trips": ("route_id,service_id,trip_id,direction_id,shape_id\nR1,D,T1,0,SH1\nR1,D,T2,1,\n"),
    "stop_times": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,05:00:00,05:00:00,S1,1\n"
        "T1,05:10:00,05:10:00,S2,2\n"
        "T2,06:00:00,06:00:00,S2,1\n"
        "T2,06:10:00,06:10:00,S1,2\n"
    ),
}


def write_feed(folder: Path, **overrides: str | bytes | None) -> Path:
    """A small valid feed in `folder`; an override replaces a file's text, None removes it."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes | None] = {**BASE, **overrides}
    for stem, content in files.items():
        if isinstance(content, bytes):
            (folder / f"{stem}.txt").write_bytes(content)
        elif content is not None:
            (folder / f"{stem}.txt").write_text(content, encoding="utf-8", newline="")
    return folder


def edit(stem: str, old: str, new: str) -> str:
    """The base feed's file with one piece of text changed."""
    assert old in BASE[stem], f"{old!r} is not in {stem}"
    return BASE[stem].replace(old, new, 1)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(FeedError) as caught:
        read_feed(path)
    return [str(problem) for problem in caught.value.problems]


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    dphi, dlambda = phi2 - phi1, math.radians(b[1] - a[1])
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def zip_folder(folder: Path, target: Path, inside: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, inside + file.name)
    return target


# -- the demo network ------------------------------------------------------------------------


BUS_ROUTES = ["01", "09", "32", "34", "86", "107", "BRT01"]
METRO_ROUTES = ["2A", "3.1"]

# Each metro line's stations in the order of its direction 0, as the operator names them.
METRO_STATIONS = {
    "2A": [
        "Cát Linh",
        "La Thành",
        "Thái Hà",
        "Láng",
        "Thượng Đình",
        "Vành Đai 3",
        "Phùng Khoang",
        "Văn Quán",
        "Hà Đông",
        "La Khê",
        "Văn Khê",
        "Yên Nghĩa",
    ],
    "3.1": [
        "Nhổn",
        "Minh Khai",
        "Phú Diễn",
        "Cầu Diễn",
        "Lê Đức Thọ",
        "Đại học Quốc gia",
        "Chùa Hà",
        "Cầu Giấy",
    ],
}


def test_demo_feed_reads_without_problems_and_has_the_bus_and_metro_routes() -> None:
    feed = read_feed(DEMO)

    assert sorted(route.route_id for route in feed.routes) == sorted(BUS_ROUTES + METRO_ROUTES)
    assert all(route.short_name == route.route_id for route in feed.routes)
    types = {route.route_id: (route.agency_id, route.route_type) for route in feed.routes}
    assert {types[route_id] for route_id in BUS_ROUTES} == {("TRANSERCO", 3)}
    assert {types[route_id] for route_id in METRO_ROUTES} == {("HNMETRO", 1)}  # 1: metro
    assert [agency.agency_id for agency in feed.agencies] == ["TRANSERCO", "HNMETRO"]
    assert {agency.timezone for agency in feed.agencies} == {"Asia/Ho_Chi_Minh"}
    assert {agency.lang for agency in feed.agencies} == {"vi"}


def test_demo_metro_routes_are_named_and_coloured() -> None:
    routes = {route.route_id: route for route in read_feed(DEMO).routes}

    assert routes["2A"].long_name == "Cát Linh - Yên Nghĩa"
    assert routes["3.1"].long_name == "Nhổn - Cầu Giấy"
    for route_id in METRO_ROUTES:
        assert routes[route_id].color is not None
        assert routes[route_id].text_color is not None
    assert routes["2A"].color != routes["3.1"].color


def test_demo_routes_run_both_directions_with_six_to_fifteen_stops() -> None:
    patterns = read_feed(DEMO).route_patterns()

    assert len(patterns) == 2 * len(BUS_ROUTES + METRO_ROUTES)
    for (route_id, direction), stop_ids in patterns.items():
        assert 6 <= len(stop_ids) <= 15, (route_id, direction)
        assert patterns[(route_id, 1 - direction)] == stop_ids[::-1]


def test_demo_routes_share_transfer_stops() -> None:
    feed = read_feed(DEMO)
    names = {stop.stop_id: stop.name for stop in feed.stops}
    routes_at: dict[str, set[str]] = {}
    for (route_id, _), stop_ids in feed.route_patterns().items():
        for stop_id in stop_ids:
            routes_at.setdefault(names[stop_id], set()).add(route_id)

    assert routes_at["Điểm trung chuyển Kim Mã"] >= {"09", "32", "107", "BRT01"}
    assert routes_at["Điểm trung chuyển Cầu Giấy"] >= {"09", "32", "34"}
    assert routes_at["Điểm trung chuyển Long Biên"] >= {"01", "34", "86"}
    assert routes_at["BX Mỹ Đình"] >= {"34"}
    assert routes_at["BX Giáp Bát"] >= {"32"}


def band(length_km: float) -> str:
    for upper, name in ((15, "<15"), (25, "15-25"), (30, "25-30"), (40, "30-40")):
        if length_km < upper:
            return name
    return ">=40"


@pytest.mark.parametrize(
    ("route_id", "expected_band"),
    [
        ("09", "<15"),
        ("BRT01", "<15"),
        ("32", "15-25"),
        ("34", "15-25"),
        ("01", "25-30"),
        ("86", "30-40"),
        ("107", ">=40"),
    ],
)
def test_demo_shape_lengths_fall_in_the_tariff_bands(route_id: str, expected_band: str) -> None:
    feed = read_feed(DEMO)
    shape_ids = {trip.shape_id for trip in feed.trips if trip.route_id == route_id}

    assert len(shape_ids) == 2
    for shape_id in shape_ids:
        assert shape_id is not None
        points = feed.shapes[shape_id]
        length = sum(haversine_km((a.lat, a.lon), (b.lat, b.lon)) for a, b in pairwise(points))
        assert band(length) == expected_band, (shape_id, length)
        last = points[-1].dist_traveled
        assert last is not None
        assert last == pytest.approx(length, abs=0.01)


def test_every_demo_platform_belongs_to_a_station_and_trips_call_only_at_platforms() -> None:
    feed = read_feed(DEMO)
    stops = {stop.stop_id: stop for stop in feed.stops}
    stations = [stop for stop in feed.stops if stop.location_type == 1]
    platforms = [stop for stop in feed.stops if stop.parent_station is not None]

    assert len(stations) == sum(len(names) for names in METRO_STATIONS.values())
    assert len(platforms) == len(stations)  # one platform a station
    for platform in platforms:
        assert platform.location_type == 0
        assert platform.parent_station is not None
        station = stops[platform.parent_station]
        assert station.location_type == 1
        assert station.parent_station is None
        assert platform.name == station.name
        assert haversine_km((platform.lat, platform.lon), (station.lat, station.lon)) < 0.2
    assert {stops[call.stop_id].location_type for call in feed.stop_times} == {0}
    metro_trips = {trip.trip_id for trip in feed.trips if trip.route_id in METRO_ROUTES}
    assert metro_trips
    assert all(
        stops[call.stop_id].parent_station is not None
        for call in feed.stop_times
        if call.trip_id in metro_trips
    )


def distance_along_km(points: list[tuple[float, float]], place: tuple[float, float]) -> float:
    """How far along a polyline the point nearest to `place` lies (flat earth: a city)."""
    km_per_lon, km_per_lat = 111.32 * math.cos(math.radians(place[0])), 110.57

    def xy(lat_lon: tuple[float, float]) -> tuple[float, float]:
        return lat_lon[1] * km_per_lon, lat_lon[0] * km_per_lat

    px, py = xy(place)
    nearest, at, along = math.inf, 0.0, 0.0
    for (ax, ay), (bx, by) in pairwise(xy(point) for point in points):
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length**2)) if length else 0.0
        off = math.hypot(ax + t * dx - px, ay + t * dy - py)
        if off < nearest:
            nearest, at = off, along + t * length
        along += length
    assert nearest < 0.1, f"{place} is {nearest:.3f} km from the line"
    return at


@pytest.mark.parametrize("route_id", METRO_ROUTES)
def test_demo_metro_stations_lie_in_order_along_each_direction_s_shape(route_id: str) -> None:
    feed = read_feed(DEMO)
    stops = {stop.stop_id: stop for stop in feed.stops}
    patterns = feed.route_patterns()
    trips = [trip for trip in feed.trips if trip.route_id == route_id]

    assert {trip.shape_id for trip in trips} == {f"{route_id}_0", f"{route_id}_1"}
    for direction in (0, 1):
        expected = METRO_STATIONS[route_id][:: 1 if direction == 0 else -1]
        platforms = [stops[stop_id] for stop_id in patterns[(route_id, direction)]]
        assert [platform.name for platform in platforms] == expected
        assert {trip.shape_id for trip in trips if trip.direction_id == direction} == {
            f"{route_id}_{direction}"
        }
        shape = [(p.lat, p.lon) for p in feed.shapes[f"{route_id}_{direction}"]]
        along = [distance_along_km(shape, (p.lat, p.lon)) for p in platforms]
        assert along == sorted(along)
        assert along[0] == pytest.approx(0, abs=0.05)
        assert all(later - earlier > 0.4 for earlier, later in pairwise(along))


@pytest.mark.parametrize(("route_id", "length_km"), [("2A", 12.5), ("3.1", 7.6)])
def test_demo_metro_shapes_measure_the_line_and_calls_are_two_minutes_apart(
    route_id: str, length_km: float
) -> None:
    feed = read_feed(DEMO)
    trips = {trip.trip_id: trip for trip in feed.trips if trip.route_id == route_id}
    for shape_id in (f"{route_id}_0", f"{route_id}_1"):
        points = feed.shapes[shape_id]
        length = sum(haversine_km((a.lat, a.lon), (b.lat, b.lon)) for a, b in pairwise(points))
        assert length == pytest.approx(length_km, abs=0.5)
        assert points[-1].dist_traveled == pytest.approx(length, abs=0.01)

    def seconds(hms: str | None) -> int:
        assert hms is not None
        hours, minutes, secs = (int(part) for part in hms.split(":"))
        return 3600 * hours + 60 * minutes + secs

    calls: dict[str, list[tuple[int, int, int]]] = {}
    for call in feed.stop_times:
        if call.trip_id in trips:
            calls.setdefault(call.trip_id, []).append(
                (call.stop_sequence, seconds(call.arrival_time), seconds(call.departure_time))
            )
    firsts = sorted(min(trip_calls)[1] for trip_calls in calls.values())
    assert firsts[0] == seconds("05:30:00")
    assert firsts[-1] == seconds("22:00:00")
    assert len(calls) >= 4 * 16  # through the day, both directions: at least hourly
    for trip_calls in calls.values():
        trip_calls.sort()
        assert len(trip_calls) == len(METRO_STATIONS[route_id])
        for (_, _, left), (_, arrive, _) in pairwise(trip_calls):
            assert 60 <= arrive - left <= 180


def test_demo_feed_runs_through_2027() -> None:
    def rows(name: str) -> list[dict[str, str]]:
        with (DEMO / name).open(encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))

    [feed_info] = rows("feed_info.txt")
    assert feed_info["feed_end_date"] == "20271231"
    services = {row["service_id"]: row for row in rows("calendar.txt")}
    used = {trip.service_id for trip in read_feed(DEMO).trips}
    assert used <= set(services)
    for service_id in used:
        assert services[service_id]["start_date"] <= feed_info["feed_start_date"]
        assert services[service_id]["end_date"] == "20271231"


# -- reading ---------------------------------------------------------------------------------


def test_small_feed_reads_into_typed_records(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed"))

    route = feed.routes[0]
    assert (route.route_id, route.agency_id, route.route_type, route.color) == (
        "R1",
        "A1",
        3,
        "E31E24",
    )
    assert feed.routes[1].long_name == ""
    assert feed.routes[1].color is None
    stop = feed.stops[2]
    assert (stop.name, stop.lat, stop.lon, stop.parent_station) == (
        "BX Mỹ Đình",
        21.0283,
        105.7782,
        "ST",
    )
    assert feed.trips[1].shape_id is None
    assert feed.trips[1].direction_id == 1
    assert [p.sequence for p in feed.shapes["SH1"]] == [1, 2]
    assert feed.shapes["SH1"][1].dist_traveled == 2.8
    assert feed.stop_times[0].arrival_time == "05:00:00"


def test_route_patterns_follow_the_longest_trip_per_direction_in_sequence_order(
    tmp_path: Path,
) -> None:
    trips = (
        "route_id,service_id,trip_id,direction_id\n"
        "R1,D,T9,0\n"
        "R1,D,T1,\n"
        "R1,D,T5,1\n"
        "R1,D,T3,1\n"
        "R2,D,T7,1\n"
    )
    stop_times = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T9,05:00:00,05:00:00,S1,10\n"
        "T9,05:20:00,05:20:00,S3,30\n"
        "T9,05:10:00,05:10:00,S2,20\n"
        "T1,05:00:00,05:00:00,S1,1\n"
        "T1,05:10:00,05:10:00,S2,2\n"
        "T5,06:00:00,06:00:00,S3,1\n"
        "T5,06:10:00,06:10:00,S2,2\n"
        "T3,06:00:00,06:00:00,S2,1\n"
        "T3,06:10:00,06:10:00,S1,2\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", trips=trips, stop_times=stop_times))

    assert feed.route_patterns() == {
        ("R1", 0): ["S1", "S2", "S3"],  # T9: longest, and sorted by stop_sequence
        ("R1", 1): ["S2", "S1"],  # T3 and T5 tie; T3 is the lower trip_id
        ("R2", 1): [],
    }


def test_route_patterns_are_empty_without_trips(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", trips=None, stop_times=None))

    assert feed.trips == []
    assert feed.route_patterns() == {}


def test_zip_and_nested_folder_zip_read_the_same_as_the_folder(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed")
    flat = zip_folder(folder, tmp_path / "flat.zip")
    nested = zip_folder(folder, tmp_path / "nested.zip", inside="hanoi-gtfs/")

    expected = read_feed(folder)
    assert read_feed(flat) == expected
    assert read_feed(nested) == expected


def test_demo_feed_reads_the_same_from_a_zip(tmp_path: Path) -> None:
    archive = zip_folder(DEMO, tmp_path / "demo.zip", inside="demo-network/")

    assert read_feed(archive) == read_feed(DEMO)


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    agency = b"\xef\xbb\xbf" + BASE["agency"].encode()
    stops = b"\xef\xbb\xbf" + BASE["stops"].encode()

    feed = read_feed(write_feed(tmp_path / "feed", agency=agency, stops=stops))

    assert feed.agencies[0].agency_id == "A1"
    assert feed.stops[0].stop_id == "S1"


def test_single_agency_may_leave_agency_id_out(tmp_path: Path) -> None:
    agency = (
        "agency_name,agency_url,agency_timezone\nTranserco,https://transerco.vn,Asia/Ho_Chi_Minh\n"
    )
    routes = "route_id,route_short_name,route_type\nR1,01,3\nR2,09,3\n"

    feed = read_feed(write_feed(tmp_path / "feed", agency=agency, routes=routes))

    assert feed.agencies[0].agency_id == ""
    assert [route.agency_id for route in feed.routes] == ["", ""]


def test_times_past_midnight_and_one_digit_hours_are_accepted(tmp_path: Path) -> None:
    stop_times = edit("stop_times", "T2,06:10:00,06:10:00", "T2,25:10:00,25:10:05")
    stop_times = stop_times.replace("T1,05:00:00,05:00:00", "T1,5:00:00,5:00:00")

    feed = read_feed(write_feed(tmp_path / "feed", stop_times=stop_times))

    assert feed.stop_times[0].arrival_time == "05:00:00"
    assert feed.stop_times[3].departure_time == "25:10:05"


def test_extended_route_types_blank_lines_and_unknown_columns_are_accepted(
    tmp_path: Path,
) -> None:
    routes = (
        "route_id,agency_id,route_short_name,route_type,route_sort_order\n"
        "R1,A1,01,700,1\n"
        "\n"
        "R2,A1,09,3,2\n"
        "\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", routes=routes, calendar="service_id\nD\n"))

    assert [route.route_type for route in feed.routes] == [700, 3]


def test_progress_is_reported_every_thousand_rows_and_at_each_file_end(tmp_path: Path) -> None:
    rows = "".join(f"T1,05:00:00,05:00:00,S1,{n}\n" for n in range(2500))
    stop_times = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + rows
    calls: list[tuple[str, int]] = []

    read_feed(
        write_feed(tmp_path / "feed", stop_times=stop_times),
        progress=lambda name, rows: calls.append((name, rows)),
    )

    assert calls == [
        ("agency.txt", 1),
        ("routes.txt", 2),
        ("stops.txt", 4),
        ("shapes.txt", 2),
        ("trips.txt", 2),
        ("stop_times.txt", 1000),
        ("stop_times.txt", 2000),
        ("stop_times.txt", 2500),
    ]


# -- problems --------------------------------------------------------------------------------

TWO_AGENCIES = BASE["agency"] + "A2,Xe buýt Hà Nội,https://example.org,Asia/Ho_Chi_Minh,vi\n"

CASES = [
    pytest.param({"agency": None}, ["agency.txt:0: required file is missing"], id="no-agency"),
    pytest.param({"routes": None}, ["routes.txt:0: required file is missing"], id="no-routes"),
    pytest.param(
        {"stops": None, "stop_times": None, "trips": None},
        ["stops.txt:0: required file is missing"],
        id="no-stops",
    ),
    pytest.param(
        {"stop_times": None},
        ["stop_times.txt:0: required file is missing (trips.txt is present)"],
        id="trips-without-stop-times",
    ),
    pytest.param(
        {"trips": None},
        ["trips.txt:0: required file is missing (stop_times.txt is present)"],
        id="stop-times-without-trips",
    ),
    pytest.param(
        {"routes": "route_id,agency_id,route_short_name\nR1,A1,01\n"},
        ["routes.txt:1: missing required column route_type"],
        id="missing-column",
    ),
    pytest.param({"agency": ""}, ["agency.txt:0: file is empty"], id="empty-file"),
    pytest.param(
        {"routes": "route_id,route_type\n", "trips": None, "stop_times": None},
        ["routes.txt:0: file has no data rows"],
        id="no-rows",
    ),
    pytest.param(
        {"agency": edit("agency", "Transerco", "")},
        ["agency.txt:2: agency_name is empty"],
        id="empty-agency-name",
    ),
    pytest.param(
        {"stops": edit("stops", "Cầu Giấy", "")},
        ["stops.txt:3: stop_name is empty"],
        id="empty-stop-name",
    ),
    pytest.param(
        {"trips": edit("trips", "R1,D,T2", "R1,,T2")},
        ["trips.txt:3: service_id is empty"],
        id="empty-service-id",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1,09", "R1,A1,09")},
        ["routes.txt:3: duplicate route_id R1 (line 2)"],
        id="duplicate-route",
    ),
    pytest.param(
        {"stops": BASE["stops"] + "S2,Cầu Giấy 2,21.0,105.8,0,\n"},
        ["stops.txt:6: duplicate stop_id S2 (line 3)"],
        id="duplicate-stop",
    ),
    pytest.param(
        {"trips": edit("trips", "T2", "T1"), "stop_times": BASE["stop_times"].replace("T2", "T1")},
        [
            "trips.txt:3: duplicate trip_id T1 (line 2)",
            "stop_times.txt:4: stop_sequence 1 repeats in trip T1 (line 2)",
            "stop_times.txt:5: stop_sequence 2 repeats in trip T1 (line 3)",
        ],
        id="duplicate-trip",
    ),
    pytest.param(
        {"agency": TWO_AGENCIES, "routes": edit("routes", "R2,A1", "R2,")},
        ["routes.txt:3: agency_id is empty; it is required with several agencies"],
        id="agency-id-needed-with-two-agencies",
    ),
    pytest.param(
        {"agency": TWO_AGENCIES.replace("A2,", ",")},
        ["agency.txt:3: agency_id is empty; it is required with several agencies"],
        id="agency-without-id-among-two",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1", "R2,A9")},
        ["routes.txt:3: agency_id A9 is not in agency.txt"],
        id="route-to-unknown-agency",
    ),
    pytest.param(
        {"trips": edit("trips", "R1,D,T2", "R7,D,T2")},
        ["trips.txt:3: route_id R7 is not in routes.txt"],
        id="trip-to-unknown-route",
    ),
    pytest.param(
        {"trips": edit("trips", "T2,1,", "T2,1,SH2")},
        ["trips.txt:3: shape_id SH2 is not in shapes.txt"],
        id="trip-to-unknown-shape",
    ),
    pytest.param(
        {"shapes": None},
        ["trips.txt:2: shape_id SH1 is not in shapes.txt"],
        id="trip-to-shape-without-shapes-file",
    ),
    pytest.param(
        {"stop_times": BASE["stop_times"] + "T8,06:00:00,06:00:00,S1,1\n"},
        ["stop_times.txt:6: trip_id T8 is not in trips.txt"],
        id="stop-time-to-unknown-trip",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "S2,2", "S9,2")},
        ["stop_times.txt:3: stop_id S9 is not in stops.txt"],
        id="stop-time-to-unknown-stop",
    ),
    pytest.param(
        {"stops": edit("stops", "0,ST", "0,SX")},
        ["stops.txt:4: parent_station SX is not in stops.txt"],
        id="unknown-parent-station",
    ),
    pytest.param(
        {"stops": edit("stops", "21.0333,105.7995", "90.5,105.7995")},
        ["stops.txt:3: stop_lat 90.5 is out of range [-90, 90]"],
        id="latitude-out-of-range",
    ),
    pytest.param(
        {"stops": edit("stops", "21.0333,105.7995", "21.0333,-180.01")},
        ["stops.txt:3: stop_lon -180.01 is out of range [-180, 180]"],
        id="longitude-out-of-range",
    ),
    pytest.param(
        {"stops": edit("stops", "21.0333,105.7995", "21°02',nan")},
        [
            'stops.txt:3: stop_lat "21°02\'" is not a number',
            "stops.txt:3: stop_lon 'nan' is not a number",
        ],
        id="coordinates-not-numbers",
    ),
    pytest.param(
        {"shapes": edit("shapes", "SH1,21.0333,105.7995", "SH1,-91,105.7995")},
        ["shapes.txt:3: shape_pt_lat -91 is out of range [-90, 90]"],
        id="shape-latitude-out-of-range",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1,09,,3", "R2,A1,09,,9")},
        ["routes.txt:3: route_type 9 is not a GTFS route type"],
        id="route-type-outside-basic-set",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1,09,,3", "R2,A1,09,,1703")},
        ["routes.txt:3: route_type 1703 is not a GTFS route type"],
        id="route-type-outside-extended-set",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1,09,,3", "R2,A1,09,,bus")},
        ["routes.txt:3: route_type 'bus' is not an integer"],
        id="route-type-not-integer",
    ),
    pytest.param(
        {"routes": edit("routes", "R2,A1,09,", "R2,A1,,")},
        ["routes.txt:3: route_short_name and route_long_name are both empty"],
        id="route-without-name",
    ),
    pytest.param(
        {"routes": edit("routes", "E31E24", "red")},
        ["routes.txt:2: route_color 'red' is not 6 hex digits"],
        id="route-color-not-hex",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "T1,05:10:00,05:10:00", "T1,5:10,05:70:00")},
        [
            "stop_times.txt:3: arrival_time '5:10' is not HH:MM:SS",
            "stop_times.txt:3: departure_time '05:70:00' is not HH:MM:SS",
        ],
        id="times-not-hh-mm-ss",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "T1,05:10:00,05:10:00", "T1,,")},
        ["stop_times.txt:3: the last stop of trip T1 needs an arrival_time and a departure_time"],
        id="last-stop-without-times",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "S2,2", "S2,-2").replace("S2,1", "S2,one")},
        [
            "stop_times.txt:3: stop_sequence '-2' is not a non-negative integer",
            "stop_times.txt:4: stop_sequence 'one' is not a non-negative integer",
        ],
        id="stop-sequence-not-non-negative-integer",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "S2,2", "S2,1")},
        ["stop_times.txt:3: stop_sequence 1 repeats in trip T1 (line 2)"],
        id="stop-sequence-repeated",
    ),
    pytest.param(
        {"stop_times": edit("stop_times", "S2,2", "ST,2")},
        [
            "stop_times.txt:3: stop_id ST has location_type 1;"
            " trips can only call at location_type 0"
        ],
        id="stop-time-at-a-station",
    ),
    pytest.param(
        {"stops": edit("stops", "Cầu Giấy,21.0333,105.7995,0,", "Cầu Giấy,21.0333,105.7995,")},
        ["stops.txt:3: expected 6 fields, found 5"],
        id="wrong-field-count",
    ),
    pytest.param(
        {"trips": edit("trips", "T2,1,", "T2,2,")},
        ["trips.txt:3: direction_id '2' is not 0 or 1"],
        id="direction-not-0-or-1",
    ),
    pytest.param(
        {"stops": edit("stops", "1,\n", "7,\n")},
        ["stops.txt:5: location_type '7' is not one of 0-4"],
        id="unknown-location-type",
    ),
    pytest.param(
        {"shapes": BASE["shapes"] + "SH1,21.04,105.79,2,3.0\nSH1,21.05,105.78,3,1.0\n"},
        [
            "shapes.txt:4: shape_pt_sequence 2 repeats in shape SH1 (line 3)",
            "shapes.txt:5: shape_dist_traveled 1 is less than the 2.8 before it in shape SH1",
        ],
        id="shape-sequence-repeated-and-distance-decreasing",
    ),
    pytest.param(
        {"agency": edit("agency", "https://transerco.vn", "transerco.vn")},
        ["agency.txt:2: agency_url 'transerco.vn' is not an http(s) URL"],
        id="agency-url-not-http",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CASES)
def test_each_rule_reports_file_line_and_reason(
    tmp_path: Path, overrides: dict[str, str | None], expected: list[str]
) -> None:
    assert problems_of(write_feed(tmp_path / "feed", **overrides)) == expected


def test_non_utf8_bytes_are_reported_with_their_line(tmp_path: Path) -> None:
    # Latin-1 bytes, as a spreadsheet export on an old Windows machine would write them.
    stops = BASE["stops"].encode().replace("Cầu Giấy".encode(), b"C\xe2u Gi\xe2y")
    stops += b"S4,Nh\xf4n,21.0532,105.7338,0,\n"

    assert problems_of(write_feed(tmp_path / "feed", stops=stops)) == [
        "stops.txt:3: not valid UTF-8",
        "stops.txt:6: not valid UTF-8",
    ]


def test_every_problem_is_reported_together_in_file_order(tmp_path: Path) -> None:
    feed = write_feed(
        tmp_path / "feed",
        routes=edit("routes", "R2,A1,09,,3", "R2,A9,09,,42"),
        stops=edit("stops", "21.0318,105.8262", "121.0318,105.8262"),
        trips=edit("trips", "R1,D,T2,1,", "R5,D,T2,1,SH5"),
        stop_times=BASE["stop_times"] + "T1,06:00:00,6am,S9,1\n",
        agency=edit("agency", "Asia/Ho_Chi_Minh", ""),
    )

    assert problems_of(feed) == [
        "agency.txt:2: agency_timezone is empty",
        "routes.txt:3: agency_id A9 is not in agency.txt",
        "routes.txt:3: route_type 42 is not a GTFS route type",
        "stops.txt:2: stop_lat 121.0318 is out of range [-90, 90]",
        "trips.txt:3: route_id R5 is not in routes.txt",
        "trips.txt:3: shape_id SH5 is not in shapes.txt",
        "stop_times.txt:6: stop_id S9 is not in stops.txt",
        "stop_times.txt:6: stop_sequence 1 repeats in trip T1 (line 2)",
        "stop_times.txt:6: departure_time '6am' is not HH:MM:SS",
    ]


def test_feed_error_lists_one_problem_per_line(tmp_path: Path) -> None:
    with pytest.raises(FeedError) as caught:
        read_feed(write_feed(tmp_path / "feed", agency=None, routes=None))

    assert caught.value.problems == [
        Problem("agency.txt", 0, "required file is missing"),
        Problem("routes.txt", 0, "required file is missing"),
    ]
    assert str(caught.value) == (
        "agency.txt:0: required file is missing\nroutes.txt:0: required file is missing"
    )


def test_a_file_that_is_not_a_zip_is_one_problem(tmp_path: Path) -> None:
    not_a_zip = tmp_path / "feed.zip"
    not_a_zip.write_text("agency_id,agency_name\n", encoding="utf-8")

    assert problems_of(not_a_zip) == [f"{not_a_zip}:0: not a zip file"]


def test_a_path_that_does_not_exist_is_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.zip"

    assert problems_of(missing) == [f"{missing}:0: no such file or folder"]


def test_a_zip_missing_a_required_file_is_reported_like_a_folder(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", agency=None)
    archive = zip_folder(folder, tmp_path / "feed.zip", inside="gtfs/")

    assert problems_of(archive) == ["agency.txt:0: required file is missing"]


def test_a_broken_feed_never_yields_a_partial_feed(tmp_path: Path) -> None:
    shutil.copytree(DEMO, tmp_path / "demo")
    stop_times = tmp_path / "demo" / "stop_times.txt"
    stop_times.write_text(
        stop_times.read_text(encoding="utf-8") + "86_0_0500,07:00:00,07:00:00,HN9999,11,\n",
        encoding="utf-8",
    )
    result: Feed | None = None

    with pytest.raises(FeedError) as caught:
        result = read_feed(tmp_path / "demo")

    assert result is None
    assert [str(p) for p in caught.value.problems] == [
        f"stop_times.txt:{len(stop_times.read_text(encoding='utf-8').splitlines())}:"
        " stop_id HN9999 is not in stops.txt"
    ]


def test_a_zip_entry_that_unzips_past_the_limit_is_refused_without_reading_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_feed(tmp_path / "feed")
    (folder / "stop_times.txt").write_text(BASE["stop_times"] + "\n" * 5000, encoding="utf-8")
    archive = zip_folder(folder, tmp_path / "feed.zip")
    monkeypatch.setattr("transit.gtfs.MAX_FILE_BYTES", 4096)

    assert problems_of(archive) == ["stop_times.txt:0: is larger than 4,096 bytes once unzipped"]
