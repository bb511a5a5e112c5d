"""`flask reports od` and `flask reports tides`, on journeys and taps as the server stores them.

The TIDES package is validated offline with frictionless against the TIDES v1.0 profile and
table schemas vendored in tests/data/tides (CC-BY-4.0, see the README there).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from frictionless import Package, system
from sqlalchemy import insert, select

from api.auth import derived_key
from api.deps import unit_of_work
from tests.support.feeds import DEMO_FEED
from transit.models import Card, Journey, JourneyStatus, TapRecord
from transit.services import cards, reports

HANOI = timezone(timedelta(hours=7))
TIDES_SPEC = Path(__file__).resolve().parents[1] / "data" / "tides"
STUDENT = "04A1B2C3D4E5F6"
CLASSMATE = "04A1B2C3D4E5F7"
COMMUTER = "04112233445566"
PASS_HOLDER = "04998877665544"
LATE_RIDER = "04CAFEBABE0001"
UIDS = (STUDENT, CLASSMATE, COMMUTER, PASS_HOLDER, LATE_RIDER)
BUS = "29B-100.01"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of March 2026, Hanoi time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=HANOI)


def tap(tap_id: str, uid: str, when: datetime, **changes: Any) -> dict[str, Any]:
    """An accepted boarding of bus 32, paid from the purse, as the validator API stores it."""
    return {
        "tap_id": tap_id,
        "device_id": "dev_bus_32",
        "device_seq": 1,
        "time": when,
        "card_uid": uid,
        "card_number": None,
        "route_id": "32",
        "stop_id": "HN0010",
        "result": "accepted",
        "reason": None,
        "amount": 8_000,
        "paid_by": "stored_value",
        "balance_after": 42_000,
        "card_tx": 1,
        "tariff_version": "hanoi-2025-09",
        "explanation": "test",
        "commit": "confirmed",
        "direction": "entry",
        "vehicle_id": BUS,
        "entry_time": None,
        "unfinished": 0,
        "received_at": when,
        **changes,
    }


def journey(
    journey_id: str,
    uid: str,
    route_id: str,
    origin: str | None,
    destination: str | None,
    started: datetime,
    status: JourneyStatus,
    **changes: Any,
) -> dict[str, Any]:
    return {
        "journey_id": journey_id,
        "card_uid": uid,
        "route_id": route_id,
        "origin_stop_id": origin,
        "destination_stop_id": destination,
        "started_at": started,
        "ended_at": None,
        "fare": 8_000,
        "status": status,
        "priced_at_exit": False,
        "entry_tap_id": None,
        "exit_tap_id": None,
        "explanation": "",
        "updated_at": started,
        **changes,
    }


TAPS = [
    # A student rides bus 32 from Giáp Bát (HN0010) and taps off at HN0005.
    tap("t_student_on", STUDENT, at(2, 7, 15), amount=0, paid_by="pass", balance_after=20_000),
    tap(
        "t_student_off",
        STUDENT,
        at(2, 7, 40),
        stop_id="HN0005",
        direction="exit",
        amount=0,
        paid_by="at_entry",
        balance_after=20_000,
        entry_time=at(2, 7, 15),
    ),
    # A classmate on the same bus, same stops, a free transfer.
    tap(
        "t_mate_on", CLASSMATE, at(2, 7, 16), paid_by="transfer", amount=0, device_id="dev_bus_32b"
    ),
    tap(
        "t_mate_off",
        CLASSMATE,
        at(2, 7, 41),
        stop_id="HN0005",
        direction="exit",
        amount=0,
        paid_by="at_entry",
        entry_time=at(2, 7, 16),
    ),
    # Metro 2A, Cát Linh to Yên Nghĩa: priced at the exit gate.
    tap(
        "t_metro_in",
        COMMUTER,
        at(2, 8, 5),
        device_id="gate_m2a01_in",
        route_id="2A",
        stop_id="M2A01P",
        vehicle_id="",
        amount=0,
        paid_by="at_exit",
        balance_after=60_000,
    ),
    tap(
        "t_metro_out",
        COMMUTER,
        at(2, 8, 30),
        device_id="gate_m2a12_out",
        route_id="2A",
        stop_id="M2A12P",
        vehicle_id="",
        direction="exit",
        amount=15_000,
        balance_after=45_000,
        entry_time=at(2, 8, 5),
    ),
    # A pass holder boards the same bus at HN0033 and has not tapped off.
    tap("t_pass_on", PASS_HOLDER, at(2, 7, 20), stop_id="HN0033", amount=0, paid_by="pass"),
    # An exit at Yên Nghĩa whose entry never arrived.
    tap(
        "t_lone_exit",
        COMMUTER,
        at(2, 9, 10),
        device_id="gate_m2a12_out",
        route_id="2A",
        stop_id="M2A12P",
        vehicle_id="",
        direction="exit",
        amount=19_000,
        balance_after=26_000,
        entry_time=at(2, 8, 40),
    ),
    # Refused: no journey, no ridership.
    tap("t_denied", LATE_RIDER, at(2, 10), result="denied", reason="no_funds", paid_by="nothing"),
    # The next day's first ride: outside a report on 2 March.
    tap("t_next_day", LATE_RIDER, at(3, 10), amount=8_000),
]

JOURNEYS = [
    journey(
        "j_student",
        STUDENT,
        "32",
        "HN0010",
        "HN0005",
        at(2, 7, 15),
        JourneyStatus.COMPLETE,
        ended_at=at(2, 7, 40),
        entry_tap_id="t_student_on",
        exit_tap_id="t_student_off",
    ),
    journey(
        "j_mate",
        CLASSMATE,
        "32",
        "HN0010",
        "HN0005",
        at(2, 7, 16),
        JourneyStatus.COMPLETE,
        ended_at=at(2, 7, 41),
        entry_tap_id="t_mate_on",
        exit_tap_id="t_mate_off",
    ),
    journey(
        "j_metro",
        COMMUTER,
        "2A",
        "M2A01P",
        "M2A12P",
        at(2, 8, 5),
        JourneyStatus.COMPLETE,
        fare=15_000,
        priced_at_exit=True,
        ended_at=at(2, 8, 30),
        entry_tap_id="t_metro_in",
        exit_tap_id="t_metro_out",
    ),
    journey(
        "j_open",
        PASS_HOLDER,
        "32",
        "HN0033",
        None,
        at(2, 7, 20),
        JourneyStatus.OPEN,
        entry_tap_id="t_pass_on",
    ),
    journey(
        "j_no_entry",
        COMMUTER,
        "2A",
        None,
        "M2A12P",
        at(2, 8, 40),
        JourneyStatus.NO_ENTRY,
        fare=19_000,
        ended_at=at(2, 9, 10),
        exit_tap_id="t_lone_exit",
    ),
    # Just after midnight in Hanoi (17:15 UTC the day before): hour 0 of 2 March.
    journey("j_midnight", LATE_RIDER, "32", "HN0010", None, at(2, 0, 15), JourneyStatus.OPEN),
    # Just before midnight: 1 March, outside the report.
    journey("j_eve", LATE_RIDER, "32", "HN0010", None, at(1, 23, 30), JourneyStatus.NO_TAP_OFF),
    journey("j_next_day", LATE_RIDER, "32", "HN0010", None, at(3, 10), JourneyStatus.OPEN),
]


@pytest.fixture
def ridden(app: Flask) -> Flask:
    """The demo network, the student's card, and a morning's taps and journeys."""
    imported = app.test_cli_runner().invoke(args=["network", "import", str(DEMO_FEED)])
    assert imported.exit_code == 0, imported.output
    with app.app_context(), unit_of_work() as uow:
        reserved = cards.reserve_card(
            uow,
            uid=bytes.fromhex(STUDENT),
            category_id="student",
            valid_until=None,
            balance=20_000,
            prefix="8401",
            now=at(1, 9),
        )
        cards.finish_issuing(uow, reserved.card_id, personalized=True)
        uow.session.execute(insert(TapRecord), TAPS)
        uow.session.execute(insert(Journey), JOURNEYS)
        uow.commit()
    return app


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["reports", *args])


def od_csv(app: Flask, *args: str) -> list[dict[str, str]]:
    result = run(app, "od", *args, "--csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_the_od_matrix_counts_journeys_per_stop_pair_and_hanoi_hour(ridden: Flask) -> None:
    rows = od_csv(ridden, "--from", "2026-03-02", "--to", "2026-03-02")
    counted = {
        (r["route_id"], r["origin_stop_id"], r["destination_stop_id"], r["hour"]): r["journeys"]
        for r in rows
    }
    assert counted == {
        ("2A", "", "M2A12P", "8"): "1",
        ("2A", "M2A01P", "M2A12P", "8"): "1",
        ("32", "HN0010", "", "0"): "1",
        ("32", "HN0010", "HN0005", "7"): "2",
        ("32", "HN0033", "", "7"): "1",
    }
    metro = next(r for r in rows if r["origin_stop_id"] == "M2A01P")
    assert (metro["origin_name"], metro["destination_name"]) == ("Cát Linh", "Yên Nghĩa")


def test_every_journey_of_the_period_is_counted_once(ridden: Flask) -> None:
    rows = od_csv(ridden, "--from", "2026-03-01", "--to", "2026-03-03")
    assert sum(int(r["journeys"]) for r in rows) == len(JOURNEYS)


def test_the_route_filter_keeps_one_routes_journeys(ridden: Flask) -> None:
    rows = od_csv(ridden, "--from", "2026-03-02", "--to", "2026-03-02", "--route", "2A")
    assert {r["route_id"] for r in rows} == {"2A"}
    assert sum(int(r["journeys"]) for r in rows) == 2


def test_the_od_table_names_the_stops(ridden: Flask) -> None:
    result = run(ridden, "od", "--from", "2026-03-02", "--to", "2026-03-02", "--route", "2A")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Route", "From", "To", "Hour", "Journeys"]
    assert any("Cát Linh" in line and "Yên Nghĩa" in line and "08:00" in line for line in lines)
    assert any("(unknown)" in line for line in lines)
    assert lines[-1] == "2 journey(s), 2026-03-02 to 2026-03-02"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--from", "2026-03-32", "--to", "2026-03-02"], 2, "Invalid value for '--from'"),
        (["--from", "2026-03-03", "--to", "2026-03-02"], 1, "Error: the period ends (2026-03-02)"),
        (
            ["--from", "2026-03-02", "--to", "2026-03-02", "--route", "999"],
            1,
            "Error: no route '999' in the network",
        ),
    ],
)
def test_bad_od_input_is_refused_with_a_clear_error(
    ridden: Flask, args: list[str], status: int, message: str
) -> None:
    result = run(ridden, "od", *args)
    assert result.exit_code == status
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_tides_package_for_a_bad_period_writes_nothing(ridden: Flask, tmp_path: Path) -> None:
    out = tmp_path / "tides"
    result = run(ridden, "tides", "--from", "2026-03-03", "--to", "2026-03-02", "--out", str(out))
    assert result.exit_code == 1
    assert "Error: the period ends" in result.stderr
    assert not out.exists()


def tides(app: Flask, out: Path) -> dict[str, list[dict[str, str]]]:
    result = run(app, "tides", "--from", "2026-03-02", "--to", "2026-03-02", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(
        "5 passenger events, 6 fare transactions, 4 devices (2026-03-02 to 2026-03-02)"
    )
    return {
        table: list(csv.DictReader(io.StringIO((out / f"{table}.csv").read_text(encoding="utf-8"))))
        for table in ("passenger_events", "fare_transactions", "devices")
    }


def validate_offline(out: Path) -> Any:
    """Frictionless's report on the package, with TIDES's profile and schemas read from disk."""
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["profile"].endswith("/v1.0/spec/tides-datapackage-profile.json")
    descriptor["profile"] = str(TIDES_SPEC / "tides-datapackage-profile.json")
    for resource in descriptor["resources"]:
        name = resource["name"]
        assert resource["schema"].endswith(f"/v1.0/spec/{name}.schema.json")
        resource["schema"] = str(TIDES_SPEC / f"{name}.schema.json")
    # Trusted: the vendored schemas are absolute paths outside the package's folder.
    with system.use_context(trusted=True):
        return Package(descriptor, basepath=str(out)).validate()


def test_the_tides_package_is_valid_against_the_tides_schemas(
    ridden: Flask, tmp_path: Path
) -> None:
    out = tmp_path / "tides"
    tides(ridden, out)
    report = validate_offline(out)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert [task.name for task in report.tasks] == [
        "passenger_events",
        "fare_transactions",
        "devices",
    ]


def test_a_broken_tides_table_fails_the_same_validation(ridden: Flask, tmp_path: Path) -> None:
    out = tmp_path / "tides"
    tides(ridden, out)
    devices = out / "devices.csv"
    devices.write_text(devices.read_text(encoding="utf-8").replace("Farebox", "Validator"))
    report = validate_offline(out)
    assert not report.valid
    assert {error[0] for error in report.flatten(["type"])} == {"constraint-error"}


def test_the_tides_tables_hold_the_taps(ridden: Flask, tmp_path: Path) -> None:
    tables = tides(ridden, tmp_path / "tides")
    events = {row["passenger_event_id"]: row for row in tables["passenger_events"]}
    # Gates are not on a vehicle, which TIDES passenger events require.
    assert set(events) == {"t_student_on", "t_student_off", "t_mate_on", "t_mate_off", "t_pass_on"}
    boarded = events["t_student_on"]
    assert boarded["event_type"] == "Passenger boarded"
    assert boarded["service_date"] == "2026-03-02"
    assert boarded["event_timestamp"] == "2026-03-02T07:15:00+07:00"
    assert (boarded["vehicle_id"], boarded["device_id"], boarded["stop_id"]) == (
        BUS,
        "dev_bus_32",
        "HN0010",
    )
    assert events["t_student_off"]["event_type"] == "Passenger alighted"
    # The bus's stops in the order it served them: HN0010, HN0033, HN0005.
    assert [
        events[t]["trip_stop_sequence"]
        for t in ("t_student_on", "t_mate_on", "t_pass_on", "t_student_off", "t_mate_off")
    ] == ["1", "1", "2", "3", "3"]

    fares = {row["transaction_id"]: row for row in tables["fare_transactions"]}
    # A tap off paid at entry is no fare transaction; nor is a refused tap, or the next day's.
    assert set(fares) == {
        "t_student_on",
        "t_mate_on",
        "t_pass_on",
        "t_metro_in",
        "t_metro_out",
        "t_lone_exit",
    }
    actions = {tap_id: row["fare_action"] for tap_id, row in fares.items()}
    assert actions["t_student_on"] == "Enter"
    assert actions["t_mate_on"] == "Transfer entrance"
    assert actions["t_metro_in"] == "Enter"
    assert actions["t_metro_out"] == "Exit"
    exit_gate = fares["t_metro_out"]
    assert (exit_gate["amount"], exit_gate["currency_type"], exit_gate["balance"]) == (
        "15000",
        "VND",
        "45000",
    )
    assert (exit_gate["vehicle_id"], exit_gate["stop_id"]) == ("", "M2A12P")
    student = fares["t_student_on"]
    assert student["rider_category"] == "student"
    assert student["fare_product"] == "Pass"
    assert student["fare_media_id"] == "Smart card or ticket"
    assert student["fare_capped"] == "false"
    with ridden.app_context():
        expected = reports.token_id(derived_key("tides-token"), STUDENT)
    assert student["token_id"] == expected
    assert fares["t_metro_in"]["token_id"] == fares["t_lone_exit"]["token_id"] != expected

    devices = {row["device_id"]: row for row in tables["devices"]}
    assert devices["dev_bus_32"]["device_type"] == "Farebox"
    assert (devices["dev_bus_32"]["vehicle_id"], devices["dev_bus_32"]["stop_id"]) == (BUS, "")
    assert devices["gate_m2a01_in"] == {
        "device_id": "gate_m2a01_in",
        "stop_id": "M2A01P",
        "vehicle_id": "",
        "train_car_id": "",
        "device_type": "Fare gate",
        "device_vendor": "",
        "device_model": "",
        "device_location": "Entrance (not located on a vehicle)",
    }
    assert devices["gate_m2a12_out"]["device_location"] == "Exit (not located on a vehicle)"


def test_no_card_uid_or_number_is_written_in_clear(ridden: Flask, tmp_path: Path) -> None:
    out = tmp_path / "tides"
    tides(ridden, out)
    with ridden.app_context(), unit_of_work() as uow:
        numbers = [card.card_number for card in uow.session.scalars(select(Card))]
    written = "\n".join(path.read_text(encoding="utf-8") for path in sorted(out.iterdir()))
    assert sorted(path.name for path in out.iterdir()) == [
        "datapackage.json",
        "devices.csv",
        "fare_transactions.csv",
        "passenger_events.csv",
    ]
    for secret in [*UIDS, *numbers]:
        assert secret.upper() not in written.upper()


def test_a_token_is_a_keyed_hash_not_a_plain_one() -> None:
    key = bytes(range(32))
    assert reports.token_id(key, STUDENT) == reports.token_id(key, STUDENT.lower())
    assert reports.token_id(key, STUDENT) != reports.token_id(bytes(32), STUDENT)
    with pytest.raises(ValueError, match="32 bytes"):
        reports.token_id(b"short", STUDENT)


def test_the_descriptor_names_each_tides_table_by_its_v1_schema(
    ridden: Flask, tmp_path: Path
) -> None:
    out = tmp_path / "tides"
    tides(ridden, out)
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert [(r["name"], r["tides-table"], r["path"]) for r in descriptor["resources"]] == [
        ("passenger_events", "passenger_events", "passenger_events.csv"),
        ("fare_transactions", "fare_transactions", "fare_transactions.csv"),
        ("devices", "devices", "devices.csv"),
    ]
