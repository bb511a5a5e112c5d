"""Tap on and tap off at the validator: entry and exit gates, a bus door, the card's bytes.

A virtual card in-process, a real journal on disk, and the Metroville test tariff (metro M1
priced by the pair of stations at the exit, bus B1 paid at boarding).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cards.application import MasterKeys, open_for_tap, personalize, read
from cards.client import DesfireClient
from cards.emulator.memory import CardMemory
from cards.layout import ALIGHTING_KIND, BOARDING_KIND
from fares import Direction, Journey, load_tariff
from readers.display import GREEN, RED
from readers.journal import Journal
from readers.position import Fix, GpsdClient, PositionTracker, StopLocator, stops_for_route
from readers.validator import Validator
from tests.support.virtual_card import Field, rng

UID = bytes.fromhex("04A1B2C3D4E5F6")
MASTERS = MasterKeys(*(bytes([0x40 + n]) * 16 for n in range(6)))
METROVILLE = load_tariff(Path(__file__).resolve().parents[1] / "fares" / "tariffs" / "metroville")
MORNING = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Metroville


def issued(balance: int) -> CardMemory:
    memory = CardMemory.blank(UID)
    personalize(
        DesfireClient(Field(memory), rng=rng(2)),
        UID,
        MASTERS,
        card_number=8401_0000_0000_0017,
        category_code=1,
        valid_until=None,
        balance=balance,
        issued=date(2026, 1, 5),
    )
    return memory


def card(memory: CardMemory) -> Any:
    client = DesfireClient(Field(memory), rng=rng(3))
    open_for_tap(client, UID, MASTERS)
    return read(client, UID, with_log=True, verify_purse=True)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def gate(
    journal: Journal,
    route: str,
    stop: str,
    direction: Direction,
    minutes: int,
    vehicle: str = "",
) -> Validator:
    return Validator(
        journal,
        MASTERS,
        METROVILLE,
        device_id="dev_gate",
        route_id=route,
        stop_id=stop,
        direction=direction,
        vehicle_id=vehicle,
        clock=lambda: MORNING + timedelta(minutes=minutes),
    )


def test_the_entry_gate_opens_the_journey_and_the_exit_gate_charges_the_pair(
    journal: Journal,
) -> None:
    memory = issued(50_000)
    entered = gate(journal, "M1", "S1", Direction.ENTRY, 0).tap(Field(memory))
    assert (entered.signal.colour, entered.signal.code, entered.signal.amount) == (
        GREEN,
        "entered",
        0,
    )
    assert card(memory).fare.journey == Journey.AT_EXIT
    left = gate(journal, "M1", "S3", Direction.EXIT, 14).tap(Field(memory))
    assert (left.signal.colour, left.signal.amount, left.signal.balance) == (GREEN, 10_000, 40_000)
    after = card(memory)
    assert (after.balance, after.fare.journey) == (40_000, Journey.NONE)
    assert [r.kind for r in after.log[:2]] == [ALIGHTING_KIND, BOARDING_KIND]  # newest first
    entry, exit_ = journal.outbox(10)
    assert (entry["direction"], entry["paid_by"], entry["amount"]) == ("entry", "at_exit", 0)
    assert (exit_["direction"], exit_["amount"]) == ("exit", 10_000)
    assert exit_["entry_time"] == entry["time"]


def test_the_entry_gate_refuses_a_card_that_could_not_pay_the_dearest_fare(
    journal: Journal,
) -> None:
    memory = issued(11_000)  # the dearest fare from S1 is 12,000
    outcome = gate(journal, "M1", "S1", Direction.ENTRY, 0).tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code, outcome.signal.amount) == (
        RED,
        "insufficient_balance",
        12_000,
    )
    assert card(memory).fare.journey == Journey.NONE  # nothing written
    [denied] = journal.outbox(10)
    assert denied["reason"] == "insufficient_balance"
    assert denied["explanation"].startswith("needs 12000, holds 11000")


def test_a_bus_door_takes_the_second_tap_on_the_same_bus_as_alighting(journal: Journal) -> None:
    memory = issued(50_000)
    door = Direction.BOTH
    on = gate(journal, "B1", "B10", door, 0, vehicle="29B-100.01").tap(Field(memory))
    off = gate(journal, "B1", "B20", door, 25, vehicle="29B-100.01").tap(Field(memory))
    assert (on.signal.code, on.signal.amount) == ("paid", 7_000)
    assert (off.signal.colour, off.signal.code, off.signal.amount) == (GREEN, "tapped_off", 0)
    assert card(memory).balance == 43_000
    taps = journal.outbox(10)
    assert [(t["direction"], t["vehicle_id"], t["stop_id"]) for t in taps] == [
        ("entry", "29B-100.01", "B10"),
        ("exit", "29B-100.01", "B20"),
    ]


def test_a_bus_validator_records_the_stop_its_gps_puts_it_at(journal: Journal) -> None:
    """The stop of each tap comes from the position tracker: at a stop, or between stops."""
    gtfs = Path(__file__).resolve().parents[3] / "data" / "demo-network"
    locator = StopLocator(stops_for_route(gtfs, "32"), radius_m=50)
    first, second = locator.stops[0], locator.stops[3]
    tracker = PositionTracker(locator, GpsdClient("127.0.0.1", 1))  # never started: fed by hand
    memory = issued(50_000)

    def door(minutes: int) -> Validator:
        return Validator(
            journal,
            MASTERS,
            METROVILLE,
            device_id="dev_bus",
            route_id="B1",
            stop_id="",
            direction=Direction.BOTH,
            vehicle_id="29B-100.01",
            stops=tracker,
            clock=lambda: MORNING + timedelta(minutes=minutes),
        )

    tracker.record(Fix(first.lat, first.lon, None, 3))
    door(0).tap(Field(memory))
    tracker.record(Fix((first.lat + second.lat) / 2 + 0.01, first.lon, None, 3))
    assert tracker.current_stop() == ""  # between stops
    tracker.record(Fix(second.lat, second.lon, None, 3))
    door(20).tap(Field(memory))
    taps = journal.outbox(10)
    assert [(t["direction"], t["stop_id"]) for t in taps] == [
        ("entry", first.stop_id),
        ("exit", second.stop_id),
    ]
