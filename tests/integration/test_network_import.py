"""`flask network import`: a GTFS feed into the database, idempotent, all or nothing."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from api.deps import unit_of_work
from tests.support.feeds import BASE, DEMO_FEED, write_feed
from transit.models import PatternStop, Route, RoutePattern, Stop


def run_import(app: Flask, path: Path):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["network", "import", str(path)])


def count(app: Flask, model: type) -> int:
    with app.app_context(), unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def snapshot(app: Flask) -> dict[str, list[tuple[object, ...]]]:
    with app.app_context(), unit_of_work() as uow:
        s = uow.session
        return {
            "routes": [
                (r.route_id, r.short_name, r.long_name, r.active, r.updated_at)
                for r in s.scalars(select(Route).order_by(Route.route_id))
            ],
            "stops": [
                (x.stop_id, x.name, x.lat, x.lon, x.active, x.updated_at)
                for x in s.scalars(select(Stop).order_by(Stop.stop_id))
            ],
            "pattern_stops": [
                (p.route_id, p.direction_id, p.sequence, p.stop_id)
                for p in s.scalars(
                    select(PatternStop).order_by(
                        PatternStop.route_id, PatternStop.direction_id, PatternStop.sequence
                    )
                )
            ],
        }


def test_the_demo_feed_imports(app: Flask) -> None:
    result = run_import(app, DEMO_FEED)
    assert result.exit_code == 0, result.output
    # Seven bus routes and the two metro lines, 2A and 3.1, each both ways.
    assert "agencies: 2 new, 0 updated, 0 unchanged, 0 withdrawn" in result.output
    assert "routes: 9 new, 0 updated, 0 unchanged, 0 withdrawn" in result.output
    assert count(app, Route) == 9
    assert count(app, RoutePattern) == 18
    with app.app_context(), unit_of_work() as uow:
        platform = uow.session.get(Stop, "M2A01P")
        station = uow.session.get(Stop, "M2A01")
        assert platform is not None
        assert station is not None
        assert (platform.location_type, platform.parent_station) == (0, "M2A01")
        assert (station.location_type, station.parent_station) == (1, None)


def test_importing_the_same_feed_again_changes_nothing(app: Flask, tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed")
    assert run_import(app, feed).exit_code == 0
    before = snapshot(app)
    again = run_import(app, feed)
    assert again.exit_code == 0, again.output
    assert "routes: 0 new, 0 updated, 2 unchanged, 0 withdrawn" in again.output
    assert "stops: 0 new, 0 updated, 4 unchanged, 0 withdrawn" in again.output
    assert snapshot(app) == before


def test_a_changed_feed_updates_in_place(app: Flask, tmp_path: Path) -> None:
    assert run_import(app, write_feed(tmp_path / "v1")).exit_code == 0
    renamed = BASE["stops.txt"].replace("S2,Tràng Thi", "S2,Tràng Thi (Thư viện Quốc gia)")
    without_32 = (
        "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "09,HNB,09,Bờ Hồ - Cầu Giấy,3\n"
    )
    trips = "route_id,service_id,trip_id,trip_headsign,direction_id\n09,ALL,T09a,Cầu Giấy,0\n"
    stop_times = "\n".join(BASE["stop_times.txt"].splitlines()[:4]) + "\n"
    result = run_import(
        app,
        write_feed(
            tmp_path / "v2",
            stops_txt=renamed,
            routes_txt=without_32,
            trips_txt=trips,
            stop_times_txt=stop_times,
        ),
    )
    assert result.exit_code == 0, result.output
    assert "routes: 0 new, 0 updated, 1 unchanged, 1 withdrawn" in result.output
    assert "stops: 0 new, 1 updated, 3 unchanged, 0 withdrawn" in result.output
    assert count(app, Route) == 2  # route 32 is kept, inactive, for the trips that named it
    assert count(app, Stop) == 4
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.get(Stop, "S2").name == "Tràng Thi (Thư viện Quốc gia)"  # type: ignore[union-attr]
        assert uow.session.get(Route, "32").active is False  # type: ignore[union-attr]


def test_a_bad_feed_lists_every_problem_and_changes_nothing(app: Flask, tmp_path: Path) -> None:
    assert run_import(app, write_feed(tmp_path / "good")).exit_code == 0
    before = snapshot(app)
    bad_stops = BASE["stops.txt"] + "S5,Mỹ Đình,north,105.77\nS6,Kim Mã,21.03,999\n"
    bad_routes = BASE["routes.txt"] + "34,NOAGENCY,34,BX Mỹ Đình - BX Gia Lâm,3\n"
    result = run_import(
        app, write_feed(tmp_path / "bad", stops_txt=bad_stops, routes_txt=bad_routes)
    )
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    lines = result.output.splitlines()
    assert any(line.startswith("stops.txt:6: ") for line in lines), result.output
    assert any(line.startswith("stops.txt:7: ") for line in lines), result.output
    assert any(line.startswith("routes.txt:4: ") for line in lines), result.output
    assert snapshot(app) == before


def test_a_missing_path_is_a_clear_error(app: Flask, tmp_path: Path) -> None:
    result = run_import(app, tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert count(app, Route) == 0
