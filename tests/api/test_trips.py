"""A card's trips a page at a time, and its monthly statement as a spreadsheet file."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import insert

from api.deps import unit_of_work
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue
from tests.conftest import SmsOutbox
from tests.support.feeds import DEMO_FEED
from transit.models import Route, TapRecord

HANOI = timezone(timedelta(hours=7))
UID = "04A1B2C3D4E5F6"
CSV_HEADER = [
    "Thời gian",
    "Tuyến",
    "Tên tuyến",
    "Điểm dừng",
    "Số tiền (VND)",
    "Thanh toán bằng",
    "Số dư sau",
    "Vì sao",
]


def tap(uid: str, when: datetime, tap_id: str, **changes: Any) -> dict[str, Any]:
    """A tap row as the validator API stores it: an accepted 8,000 VND ride on route 32."""
    return {
        "tap_id": tap_id,
        "device_id": "dev_test",
        "device_seq": 1,
        "time": when,
        "card_uid": uid,
        "card_number": None,
        "route_id": "32",
        "stop_id": "HN0001",
        "result": "accepted",
        "reason": None,
        "amount": 8_000,
        "paid_by": "stored_value",
        "balance_after": 42_000,
        "card_tx": 1,
        "tariff_version": "hanoi-2024-11",
        "explanation": "leg rule 2024-11-01/fare_leg_rules.txt:3",
        "commit": "confirmed",
        "received_at": when,
        **changes,
    }


def store(app: Flask, rows: list[dict[str, Any]]) -> None:
    """The rows in one bulk insert."""
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(insert(TapRecord), rows)
        uow.commit()


def linked_card(
    app: Flask, client: FlaskClient, who: dict[str, str], uid: str = UID
) -> dict[str, Any]:
    number, code = issue(app, uid)
    answer = client.post(
        "/api/v1/cards", json={"card_number": number, "check_code": code}, headers=who
    )
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def import_demo_network(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["network", "import", str(DEMO_FEED)])
    assert result.exit_code == 0, result.output


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HANOI)


@pytest.fixture
def rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms))


@pytest.fixture
def card(app: Flask, client: FlaskClient, rider: dict[str, str]) -> dict[str, Any]:
    return linked_card(app, client, rider)


def trips_url(card: dict[str, Any]) -> str:
    return f"/api/v1/cards/{card['card_id']}/trips"


def statement_url(card: dict[str, Any]) -> str:
    return f"/api/v1/cards/{card['card_id']}/statement"


def test_paging_through_ten_thousand_trips_gives_each_once_newest_first(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Pairs of taps share a time, so the order must fall back on tap_id across page ends.
    rows = [
        tap(UID, start + timedelta(minutes=7 * (n // 2)), f"tap_{n:05d}", card_tx=n + 1)
        for n in range(10_000)
    ]
    store(app, rows)
    expected = [
        r["tap_id"] for r in sorted(rows, key=lambda r: (r["time"], r["tap_id"]), reverse=True)
    ]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 100}
        if cursor is not None:
            query["cursor"] = cursor
        answer = client.get(trips_url(card), query_string=query, headers=rider)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        seen += [trip["tap_id"] for trip in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["data"]) == 100
    assert pages == 100  # the last full page says there is no more: no empty page at the end
    assert seen == expected


def test_a_trip_names_its_route_and_stop_in_hanoi_time(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    import_demo_network(app)
    store(
        app,
        [
            tap(UID, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), "tap_a"),
            tap(UID, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), "tap_b", route_id="99", stop_id="X9"),
        ],
    )
    answer = client.get(trips_url(card), headers=rider)
    assert answer.status_code == 200
    newest, oldest = answer.get_json()["data"]
    assert oldest == {
        "tap_id": "tap_a",
        "time": "2026-03-02T07:30:00+07:00",
        "route_id": "32",
        "route_short_name": "32",
        "route_long_name": "Giáp Bát - Nhổn",
        "stop_id": "HN0001",
        "stop_name": "Bờ Hồ",
        "amount": 8_000,
        "paid_by": "stored_value",
        "explanation": "leg rule 2024-11-01/fare_leg_rules.txt:3",
        "balance_after": 42_000,
        "direction": "entry",
        # Why, for the rider: in Vietnamese unless English is asked for, and as data.
        "why": "Vé lượt tuyến 32: đã trả 8.000 đ",
        "reasons": [{"code": "fare", "route": "32", "charged": 8_000}],
    }
    assert answer.headers["Content-Language"] == "vi"
    assert "Accept-Language" in answer.headers["Vary"]
    english = client.get(trips_url(card), headers={**rider, "Accept-Language": "en"})
    assert english.headers["Content-Language"] == "en"
    assert english.get_json()["data"][1]["why"] == "Single fare, route 32: paid 8.000 đ"
    # A route and a stop the network does not know still show their ids.
    assert (newest["route_id"], newest["route_short_name"], newest["route_long_name"]) == (
        "99",
        None,
        None,
    )
    assert (newest["stop_id"], newest["stop_name"]) == ("X9", None)
    assert answer.get_json()["next_cursor"] is None


def test_from_and_to_are_days_in_hanoi_and_to_is_included(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    store(
        app,
        [
            tap(UID, local("2026-02-28T23:59:59"), "tap_feb"),
            tap(UID, local("2026-03-01T00:00:00"), "tap_mar_first"),
            tap(UID, local("2026-03-15T12:00:00"), "tap_mar_mid"),
            tap(UID, local("2026-03-31T23:59:59"), "tap_mar_last"),
            tap(UID, local("2026-04-01T00:00:00"), "tap_apr"),
        ],
    )

    def listed(**query: Any) -> list[str]:
        answer = client.get(trips_url(card), query_string=query, headers=rider)
        assert answer.status_code == 200, answer.get_json()
        return [trip["tap_id"] for trip in answer.get_json()["data"]]

    march = ["tap_mar_last", "tap_mar_mid", "tap_mar_first"]
    assert listed(**{"from": "2026-03-01", "to": "2026-03-31"}) == march
    assert listed(**{"from": "2026-03-01"}) == ["tap_apr", *march]
    assert listed(to="2026-03-31") == [*march, "tap_feb"]
    assert listed(**{"from": "2026-03-15", "to": "2026-03-15"}) == ["tap_mar_mid"]
    assert listed(**{"from": "2026-05-01"}) == []

    # The filter holds on every page.
    first = client.get(
        trips_url(card),
        query_string={"from": "2026-03-01", "to": "2026-03-31", "limit": 2},
        headers=rider,
    ).get_json()
    assert [t["tap_id"] for t in first["data"]] == march[:2]
    second = client.get(
        trips_url(card),
        query_string={
            "from": "2026-03-01",
            "to": "2026-03-31",
            "limit": 2,
            "cursor": first["next_cursor"],
        },
        headers=rider,
    ).get_json()
    assert ([t["tap_id"] for t in second["data"]], second["next_cursor"]) == (march[2:], None)


def test_denied_taps_are_not_trips(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    store(
        app,
        [
            tap(UID, local("2026-03-02T07:30:00"), "tap_ok"),
            tap(
                UID,
                local("2026-03-02T07:31:00"),
                "tap_denied",
                result="denied",
                reason="insufficient_balance",
                amount=0,
                paid_by="nothing",
                balance_after=None,
            ),
            tap("04FFFFFFFFFFFF", local("2026-03-02T07:32:00"), "tap_other_card"),
        ],
    )
    answer = client.get(trips_url(card), headers=rider)
    assert [trip["tap_id"] for trip in answer.get_json()["data"]] == ["tap_ok"]
    statement = client.get(statement_url(card), query_string={"month": "2026-03"}, headers=rider)
    rows = list(csv.reader(io.StringIO(statement.data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 1 + 1 + 2  # header, one trip, blank, the total and one paid-by row
    assert rows[-2][2] == "1 chuyến"


def forged_cursors(client: FlaskClient, card: dict[str, Any], rider: dict[str, str]) -> list[str]:
    page = client.get(trips_url(card), query_string={"limit": 1}, headers=rider).get_json()
    genuine = page["next_cursor"]
    assert genuine is not None
    raw = base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4))
    payload = json.dumps(["2030-01-01T00:00:00+00:00", "tap_zzz"]).encode()
    flipped = genuine[:-3] + ("A" if genuine[-3] != "A" else "B") + genuine[-2:]
    return [
        "abc",
        "not base64!",
        genuine[:-1] + "=",
        flipped,
        base64.urlsafe_b64encode(payload + raw[-16:]).decode().rstrip("="),  # another position
        base64.urlsafe_b64encode(payload).decode().rstrip("="),  # no tag at all
        "A" * 600,
    ]


def test_a_forged_or_garbled_cursor_is_refused(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    store(app, [tap(UID, local(f"2026-03-0{d}T08:00:00"), f"tap_{d}") for d in range(1, 4)])
    for forged in forged_cursors(client, card, rider):
        answer = client.get(trips_url(card), query_string={"cursor": forged}, headers=rider)
        assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_cursor"), forged
        assert answer.mimetype == "application/problem+json"


def test_a_cursor_works_only_for_the_card_it_came_from(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    second = linked_card(app, client, rider, uid="04A1B2C3D4E5F7")
    store(app, [tap(UID, local(f"2026-03-0{d}T08:00:00"), f"tap_{d}") for d in range(1, 4)])
    cursor = client.get(trips_url(card), query_string={"limit": 1}, headers=rider).get_json()[
        "next_cursor"
    ]
    answer = client.get(trips_url(second), query_string={"cursor": cursor}, headers=rider)
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"page": 2},  # unknown parameters are refused, not ignored
        {"from": "2026-03-32"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "0001-01-01"},
    ],
)
def test_bad_trip_queries_are_refused(
    client: FlaskClient, rider: dict[str, str], card: dict[str, Any], query: dict[str, Any]
) -> None:
    answer = client.get(trips_url(card), query_string=query, headers=rider)
    assert (answer.status_code, answer.get_json()["code"]) == (422, "validation_failed")


@pytest.mark.parametrize("query", [{}, {"month": "2026-13"}, {"month": "2026-3"}, {"m": "x"}])
def test_bad_statement_queries_are_refused(
    client: FlaskClient, rider: dict[str, str], card: dict[str, Any], query: dict[str, Any]
) -> None:
    answer = client.get(statement_url(card), query_string=query, headers=rider)
    assert (answer.status_code, answer.get_json()["code"]) == (422, "validation_failed")


def test_another_riders_card_is_not_found_and_no_token_is_unauthorized(
    client: FlaskClient, sms: SmsOutbox, rider: dict[str, str], card: dict[str, Any]
) -> None:
    other = bearer(signed_up(client, sms, phone="0987 654 321"))
    for path, query in (
        (trips_url(card), {}),
        (statement_url(card), {"month": "2026-03"}),
        ("/api/v1/cards/crd_nosuchcard/trips", {}),
    ):
        answer = client.get(path, query_string=query, headers=other)
        assert (answer.status_code, answer.get_json()["code"]) == (404, "card_not_found"), path
        anonymous = client.get(path, query_string=query)
        assert (anonymous.status_code, anonymous.get_json()["code"]) == (401, "unauthorized")


def test_the_statement_is_a_vietnamese_csv_with_totals_and_no_formulas(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    import_demo_network(app)
    with app.app_context(), unit_of_work() as uow:
        uow.session.add(
            Route(
                route_id="E1",
                agency_id="TRANSERCO",
                short_name="E1",
                long_name='=HYPERLINK("http://evil.example","Bấm vào đây")',
                route_type=3,
                updated_at=datetime.now(UTC),
            )
        )
        uow.commit()
    store(
        app,
        [
            tap(UID, local("2026-02-28T23:59:00"), "tap_feb"),
            tap(UID, local("2026-03-01T00:05:00"), "tap_1", balance_after=42_000),
            tap(
                UID,
                local("2026-03-01T00:40:00"),
                "tap_2",
                route_id="E1",
                stop_id="-1+1",
                amount=0,
                paid_by="transfer",
                balance_after=42_000,
            ),
            tap(
                UID,
                local("2026-03-31T18:00:00"),
                "tap_3",
                amount=9_000,
                balance_after=33_000,
                route_id="01",
                stop_id="HN0003",
            ),
            tap(UID, local("2026-04-01T00:00:00"), "tap_apr"),
        ],
    )
    answer = client.get(statement_url(card), query_string={"month": "2026-03"}, headers=rider)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="statement-{card["card_number"]}-2026-03.csv"'
    )
    assert answer.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8")[1:])))
    assert rows == [
        CSV_HEADER,
        [
            "2026-03-01 00:05:00",
            "32",
            "Giáp Bát - Nhổn",
            "Bờ Hồ",
            "8000",
            "Tiền trong thẻ",
            "42000",
            "Vé lượt tuyến 32: đã trả 8.000 đ",
        ],
        [
            "2026-03-01 00:40:00",
            "E1",
            '\'=HYPERLINK("http://evil.example","Bấm vào đây")',
            "'-1+1",
            "0",
            "Chuyển tuyến",
            "42000",
            "Vé lượt tuyến E1; giá khi chuyển tuyến: 0 đ",
        ],
        [
            "2026-03-31 18:00:00",
            "01",
            "BX Gia Lâm - BX Yên Nghĩa",
            "BX Gia Lâm",
            "9000",
            "Tiền trong thẻ",
            "33000",
            "Vé lượt tuyến 01: đã trả 9.000 đ",
        ],
        [],
        ["Tổng cộng", "", "3 chuyến", "", "17000"],
        ["Theo hình thức", "", "2 chuyến", "", "17000", "Tiền trong thẻ"],
        ["Theo hình thức", "", "1 chuyến", "", "0", "Chuyển tuyến"],
    ]


def test_the_statement_is_in_english_when_the_rider_prefers_it(
    app: Flask, client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    import_demo_network(app)
    store(app, [tap(UID, local("2026-03-01T00:05:00"), "tap_1", balance_after=42_000)])
    answer = client.get(
        statement_url(card),
        query_string={"month": "2026-03"},
        headers={**rider, "Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"},
    )
    assert answer.headers["Content-Language"] == "en"
    assert "Accept-Language" in answer.headers["Vary"]
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows == [
        ["Time", "Route", "Route name", "Stop", "Amount (VND)", "Paid by", "Balance after", "Why"],
        ["2026-03-01 00:05:00", "32", "Giáp Bát - Nhổn", "Bờ Hồ", "8000", "Card balance",
         "42000", "Single fare, route 32: paid 8.000 đ"],
        [],
        ["Total", "", "trips: 1", "", "8000"],
        ["By payment", "", "trips: 1", "", "8000", "Card balance"],
    ]  # fmt: skip


def test_a_month_without_trips_is_a_statement_of_zero(
    client: FlaskClient, rider: dict[str, str], card: dict[str, Any]
) -> None:
    answer = client.get(statement_url(card), query_string={"month": "2026-12"}, headers=rider)
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows == [CSV_HEADER, [], ["Tổng cộng", "", "0 chuyến", "", "0"]]


def test_the_openapi_document_describes_trips_and_the_csv_statement(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    validate(document)
    statement = document["paths"]["/api/v1/cards/{card_id}/statement"]["get"]
    assert list(statement["responses"]["200"]["content"]) == ["text/csv"]
    assert "Content-Disposition" in statement["responses"]["200"]["headers"]
    listing = document["paths"]["/api/v1/cards/{card_id}/trips"]["get"]
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} == {
        "limit",
        "cursor",
        "from",
        "to",
    }
