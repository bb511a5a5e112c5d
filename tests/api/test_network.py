"""The rider's read API of the network: routes, one route, stops nearby."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.feeds import DEMO_FEED
from transit.geo import distance_m

HOAN_KIEM = (21.0285, 105.8522)


@pytest.fixture
def demo(app: Flask) -> FlaskClient:
    result = app.test_cli_runner().invoke(args=["network", "import", str(DEMO_FEED)])
    assert result.exit_code == 0, result.output
    return app.test_client()


def test_routes_lists_the_demo_routes_in_number_order(demo: FlaskClient) -> None:
    response = demo.get("/api/v1/routes")
    assert response.status_code == 200
    assert [r["route_id"] for r in response.get_json()] == [
        "01",
        "09",
        "32",
        "34",
        "86",
        "107",
        "2A",
        "3.1",
        "BRT01",
    ]


def test_the_metro_lines_are_listed_with_their_operator_and_route_type(
    demo: FlaskClient,
) -> None:
    routes = {r["route_id"]: r for r in demo.get("/api/v1/routes").get_json()}
    assert routes["2A"]["route_type"] == routes["3.1"]["route_type"] == 1
    assert routes["2A"]["agency_id"] == routes["3.1"]["agency_id"] == "HNMETRO"
    assert routes["32"]["route_type"] == 3
    line = demo.get("/api/v1/routes/3.1").get_json()
    outbound, inbound = line["directions"]
    assert [s["name"] for s in outbound["stops"]][:2] == ["Nhổn", "Minh Khai"]
    assert [s["stop_id"] for s in inbound["stops"]][-1] == "M3101P"  # the platform, not M3101


def test_stops_near_a_metro_station_give_its_platform_not_the_station(
    demo: FlaskClient,
) -> None:
    cat_linh = "21.0286,105.8270"
    stops = demo.get(f"/api/v1/stops?near={cat_linh}&radius=150").get_json()
    by_id = {s["stop_id"]: s for s in stops}
    assert "M2A01" not in by_id  # the station itself (location_type 1) is no boarding place
    assert by_id["M2A01P"]["name"] == "Cát Linh"
    assert by_id["M2A01P"]["route_ids"] == ["2A"]


def test_vietnamese_text_is_sent_as_utf8_not_escapes(demo: FlaskClient) -> None:
    assert "Giáp Bát".encode() in demo.get("/api/v1/routes/32").get_data()


def test_a_route_has_its_stops_in_order_in_each_direction(demo: FlaskClient) -> None:
    route = demo.get("/api/v1/routes/32").get_json()
    assert route["short_name"] == "32"
    assert [d["direction_id"] for d in route["directions"]] == [0, 1]
    outbound, inbound = route["directions"]
    assert len(outbound["stops"]) >= 6
    # The way back serves the same corridor in the other order.
    assert outbound["stops"][0]["name"] == inbound["stops"][-1]["name"]
    assert outbound["length_m"] > 15_000
    assert len(outbound["shape"]) >= 2


def test_a_phone_revalidates_routes_with_an_etag(demo: FlaskClient) -> None:
    first = demo.get("/api/v1/routes")
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = demo.get("/api/v1/routes", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""
    detail = demo.get("/api/v1/routes/01")
    assert detail.headers["ETag"] != first.headers["ETag"]
    assert (
        demo.get("/api/v1/routes/01", headers={"If-None-Match": detail.headers["ETag"]}).status_code
        == 304
    )


def test_an_unknown_route_is_404(demo: FlaskClient) -> None:
    response = demo.get("/api/v1/routes/999")
    assert response.status_code == 404
    assert response.get_json(force=True)["code"] == "route_not_found"


def test_stops_near_a_point_are_nearest_first_within_the_radius(demo: FlaskClient) -> None:
    near = f"{HOAN_KIEM[0]},{HOAN_KIEM[1]}"
    stops = demo.get(f"/api/v1/stops?near={near}&radius=3000").get_json()
    assert stops, "the demo network has stops within 3 km of Hoàn Kiếm"
    distances = [s["distance_m"] for s in stops]
    assert distances == sorted(distances)
    for stop in stops:
        assert stop["distance_m"] <= 3000
        assert abs(distance_m(*HOAN_KIEM, stop["lat"], stop["lon"]) - stop["distance_m"]) <= 1
        assert stop["route_ids"], f"{stop['name']} is served by some route"


def test_stops_near_respects_the_limit(demo: FlaskClient) -> None:
    stops = demo.get("/api/v1/stops?near=21.03,105.80&radius=5000&limit=3").get_json()
    assert len(stops) == 3


def test_no_stops_far_from_hanoi(demo: FlaskClient) -> None:
    assert demo.get("/api/v1/stops?near=10.77,106.70&radius=5000").get_json() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("near=abc", "near"),
        ("near=21.03", "near"),
        ("near=21.03,105.85,1", "near"),
        ("near=91,105.85", "near"),
        ("near=21.03,181", "near"),
        ("near=nan,105.85", "near"),
        ("near=21.03,inf", "near"),
        ("", "near"),
        ("near=21.03,105.85&radius=0", "radius"),
        ("near=21.03,105.85&radius=5001", "radius"),
        ("near=21.03,105.85&radius=ten", "radius"),
        ("near=21.03,105.85&limit=101", "limit"),
    ],
)
def test_a_bad_nearby_query_is_422_naming_the_field(
    demo: FlaskClient, query: str, field: str
) -> None:
    response = demo.get(f"/api/v1/stops?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["code"] == "validation_failed"
    assert field in body["errors"]
