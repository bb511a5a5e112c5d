"""The rider sees journeys: from where to where, on what, when, and all it cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from api.deps import unit_of_work
from tests.api.test_trips import UID, card, import_demo_network, rider, statement_url
from transit.models import Journey, JourneyStatus

__all__ = ["card", "rider"]  # fixtures used here

MORNING = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 07:30 in Hanoi


def journey(number: int, **changes: Any) -> Journey:
    values: dict[str, Any] = {
        "journey_id": f"jny_{number:024d}",
        "card_uid": UID,
        "route_id": "2A",
        "origin_stop_id": "M2A01P",
        "destination_stop_id": "M2A12P",
        "started_at": MORNING + timedelta(hours=number),
        "ended_at": MORNING + timedelta(hours=number, minutes=30),
        "fare": 15_000,
        "status": JourneyStatus.COMPLETE,
        "priced_at_exit": True,
        "entry_tap_id": f"tap_in{number}",
        "exit_tap_id": f"tap_out{number}",
        "explanation": "journey from M2A01P to M2A12P on route 2A: ...",
        "reasons": [
            {
                "code": "journey",
                "route": "2A",
                "origin": "M2A01P",
                "destination": "M2A12P",
                "amount": 15_000,
            },
        ],
        "updated_at": MORNING,
    }
    values.update(changes)
    return Journey(**values)


def keep(app: Flask, *journeys: Journey) -> None:
    with app.app_context(), unit_of_work() as uow:
        uow.session.add_all(journeys)
        uow.commit()


def journeys_url(card: dict[str, Any]) -> str:
    return f"/api/v1/cards/{card['card_id']}/journeys"


def test_a_journey_shows_its_stations_its_mode_and_its_fare_in_hanoi_time(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    import_demo_network(app)
    keep(app, journey(0))
    answer = client.get(journeys_url(card), headers=rider)
    assert answer.status_code == 200
    [only] = answer.get_json()["data"]
    assert only == {
        "journey_id": "jny_000000000000000000000000",
        "route_id": "2A",
        "route_short_name": "2A",
        "route_long_name": "Cát Linh - Yên Nghĩa",
        "mode": "metro",
        "origin_stop_id": "M2A01P",
        "origin_name": "Cát Linh",
        "destination_stop_id": "M2A12P",
        "destination_name": "Yên Nghĩa",
        "started_at": "2026-03-02T07:30:00+07:00",
        "ended_at": "2026-03-02T08:00:00+07:00",
        "fare": 15_000,
        "status": "complete",
        "explanation": "journey from M2A01P to M2A12P on route 2A: ...",
        "why": "Từ Cát Linh đến Yên Nghĩa, tuyến 2A: 15.000 đ",
        "reasons": [
            {
                "code": "journey",
                "route": "2A",
                "origin": "M2A01P",
                "destination": "M2A12P",
                "amount": 15_000,
            },
        ],
    }
    english = client.get(journeys_url(card), headers={**rider, "Accept-Language": "en"})
    assert english.get_json()["data"][0]["why"] == ("From Cát Linh to Yên Nghĩa, line 2A: 15.000 đ")


def test_journeys_come_newest_first_a_page_at_a_time(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    keep(app, *(journey(n) for n in range(5)))
    seen = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        body = client.get(journeys_url(card) + query, headers=rider).get_json()
        seen += [j["journey_id"][-1] for j in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["4", "3", "2", "1", "0"]


def test_a_trip_cursor_does_not_page_journeys(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    keep(app, *(journey(n) for n in range(3)))
    body = client.get(journeys_url(card) + "?limit=1", headers=rider).get_json()
    trips_url = journeys_url(card).replace("/journeys", "/trips")
    answer = client.get(f"{trips_url}?cursor={body['next_cursor']}", headers=rider)
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_cursor")


def test_the_statement_lists_the_months_journeys_after_its_taps(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    import_demo_network(app)
    keep(
        app,
        journey(0),
        journey(3, route_id="32", origin_stop_id="HN0010", destination_stop_id=None, fare=10_000,
                status=JourneyStatus.NO_TAP_OFF, priced_at_exit=False, ended_at=None,
                reasons=[{"code": "fare", "route": "32", "amount": 10_000},
                         {"code": "no_tap_off"}]),
    )  # fmt: skip
    answer = client.get(statement_url(card) + "?month=2026-03", headers=rider)
    assert answer.status_code == 200
    lines = answer.data.decode("utf-8-sig").splitlines()
    start = lines.index("Hành trình")
    assert lines[start + 1] == "Bắt đầu,Tuyến,Từ,Đến,Kết thúc,Giá (VND),Tình trạng,Vì sao"
    assert lines[start + 2] == (
        "2026-03-02 07:30:00,2A,Cát Linh,Yên Nghĩa,08:00:00,15000,Hoàn thành,"
        '"Từ Cát Linh đến Yên Nghĩa, tuyến 2A: 15.000 đ"'
    )
    assert lines[start + 3] == (
        "2026-03-02 10:30:00,32,BX Giáp Bát,?,,10000,Không chạm thẻ khi xuống,"
        "Vé lượt tuyến 32: 10.000 đ; không chạm thẻ khi xuống xe: không thu thêm"
    )
