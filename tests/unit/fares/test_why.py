"""Why a tap cost what it did: `fares.why` turns an engine decision into coded parts.

Every expected list below is the whole answer, worked out by hand from the test tariffs:
Metroville (tariffs/metroville: bus B1 7,000 VND, free inside the old town C1-C2, metro M1 priced
at the exit by the pair of stations 8,000 to 12,000, seniors free, the "Metro monthly pass",
bus to metro within an hour 5,000, free days of Tết 2026-02-14..22), Riverton
(tariffs/riverton: adult bus 10,000, night bus 15,000, express 20,000, ferry 5,000; bus-bus
transfers free, bus-express 20,000-5,000; a 30,000 adult day cap, a 12,000 ferry day cap, a
student rolling cap of 30,000 over 3 days) and the shipped Hanoi tariff (bus 32 at 10,000, metro
2A and 3.1 by station pair, Tết 2026 and Quốc khánh A80 free).
"""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import fares.why
from cards.layout import pack_fare_state, unpack_fare_state
from fares import (
    Decision,
    Direction,
    FareState,
    PaidBy,
    Pass,
    Tap,
    Tariff,
    issue_pass,
    load_tariff,
    price_tap,
)
from fares.why import reasons, reasons_of_tap

LOCAL = timezone(timedelta(hours=7))
START = datetime(2026, 3, 2, 8, 0, tzinfo=LOCAL)  # a Monday, no free day
TET = datetime(2026, 2, 16, 9, 0, tzinfo=LOCAL)
ENTRY, EXIT, BOTH = Direction.ENTRY, Direction.EXIT, Direction.BOTH
ADULT, STUDENT, SENIOR = 1, 2, 3


@pytest.fixture(scope="module")
def metroville() -> Tariff:
    return load_tariff(Path(__file__).resolve().parent / "tariffs" / "metroville")


def tap(
    minutes: float, route: str, stop: str, direction: Direction = ENTRY, vehicle: str = ""
) -> Tap:
    return Tap(START + timedelta(minutes=minutes), route, stop, "", direction, vehicle)


def river_tap(local: str, route: str, stop: str = "S1") -> Tap:
    return Tap(datetime.fromisoformat(local).replace(tzinfo=LOCAL), route, stop, "dev-1")


def explain(
    tariff: Tariff, taps: list[Tap], state: FareState | None = None
) -> list[tuple[Decision, list[dict[str, Any]]]]:
    """Each tap priced in turn from the state before it, with the parts that explain it."""
    state = state or FareState(ADULT)
    out = []
    for each in taps:
        decision = price_tap(state, each, tariff)
        out.append((decision, reasons(decision, each, state, tariff)))
        if decision.accepted:
            state = decision.state
    return out


def parts_of(
    tariff: Tariff, taps: list[Tap], state: FareState | None = None
) -> list[list[dict[str, Any]]]:
    return [parts for _, parts in explain(tariff, taps, state)]


def uploaded(decision: Decision, each: Tap) -> dict[str, Any]:
    """What a validator uploads for a tap, as `reasons_of_tap` takes it (strings, not enums)."""
    return {
        "result": "accepted" if decision.accepted else "refused",
        "denial": decision.denial.code if decision.denial else None,
        "paid_by": str(decision.paid_by),
        "direction": str(decision.direction),
        "amount": decision.amount,
        "unfinished": decision.unfinished,
        "route_id": each.route_id,
        "stop_id": each.stop_id,
        "ends_journey": bool(decision.journey_start),
    }


def metro_pass_card(metroville: Tariff) -> FareState:
    held = issue_pass(metroville.versions[0], "metro_month", "adult", date(2026, 3, 1))
    return FareState(ADULT, passes=(held,))


# reasons(): one decision at a time.


def test_a_plain_bus_fare(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "B1", "B10")]) == [
        [{"code": "fare", "route": "B1", "amount": 7_000}]
    ]


def test_a_plain_bus_fare_in_hanoi(hanoi: Tariff) -> None:
    on = Tap(datetime(2026, 12, 1, 7, 30, tzinfo=LOCAL), "32", "", "", ENTRY)
    assert parts_of(hanoi, [on]) == [[{"code": "fare", "route": "32", "amount": 10_000}]]


@pytest.mark.parametrize(
    ("entry", "exit_", "price"),
    [("S1", "S3", 10_000), ("S1", "S4", 12_000), ("S2", "S1", 8_000), ("S1P", "S4", 12_000)],
)
def test_a_metro_entry_waits_for_the_exit_which_names_the_pair_and_its_price(
    metroville: Tariff, entry: str, exit_: str, price: int
) -> None:
    assert parts_of(metroville, [tap(0, "M1", entry), tap(15, "M1", exit_, EXIT)]) == [
        [{"code": "at_exit", "route": "M1", "stop": entry}],
        [
            {
                "code": "journey",
                "route": "M1",
                "origin": entry,  # a platform is named as itself, not as its station
                "destination": exit_,
                "amount": price,
            }
        ],
    ]


def test_a_metro_journey_in_hanoi(hanoi: Tariff) -> None:
    at = datetime(2026, 12, 1, 7, 30, tzinfo=LOCAL)
    taps = [
        Tap(at, "2A", "M2A01P", "", ENTRY),
        Tap(at + timedelta(minutes=30), "2A", "M2A05P", "", EXIT),
    ]
    assert parts_of(hanoi, taps) == [
        [{"code": "at_exit", "route": "2A", "stop": "M2A01P"}],
        [
            {
                "code": "journey",
                "route": "2A",
                "origin": "M2A01P",
                "destination": "M2A05P",
                "amount": 11_000,
            }
        ],
    ]


def test_a_bus_boarding_then_its_tap_off(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "B1", "B10"), tap(25, "B1", "B20", EXIT)]) == [
        [{"code": "fare", "route": "B1", "amount": 7_000}],
        [{"code": "tap_off", "route": "B1", "stop": "B20"}],
    ]


def test_a_bus_door_validator_explains_the_direction_it_resolved(metroville: Tariff) -> None:
    taps = [tap(0, "B1", "B10", BOTH, "29B-100.01"), tap(20, "B1", "B20", BOTH, "29B-100.01")]
    assert parts_of(metroville, taps) == [
        [{"code": "fare", "route": "B1", "amount": 7_000}],
        [{"code": "tap_off", "route": "B1", "stop": "B20"}],
    ]


def test_an_exit_with_no_entry_is_charged_the_lines_dearest_fare(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "M1", "S3", EXIT)]) == [
        [{"code": "no_entry", "route": "M1", "stop": "S3", "amount": 12_000}]
    ]


def test_a_metro_exit_with_a_bus_journey_open_is_an_exit_with_no_entry(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "B1", "B10"), tap(20, "M1", "S2", EXIT)]) == [
        [{"code": "fare", "route": "B1", "amount": 7_000}],
        [{"code": "no_entry", "route": "M1", "stop": "S2", "amount": 12_000}],
    ]


def test_a_missing_metro_exit_is_charged_before_the_next_bus_fare(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "M1", "S2"), tap(180, "B1", "B10")]) == [
        [{"code": "at_exit", "route": "M1", "stop": "S2"}],
        [
            {"code": "unfinished", "route": "M1", "amount": 12_000},
            {"code": "fare", "route": "B1", "amount": 7_000},
        ],
    ]


def test_a_missing_metro_exit_is_charged_at_the_next_metro_entry_which_waits_for_its_exit(
    metroville: Tariff,
) -> None:
    assert parts_of(metroville, [tap(0, "M1", "S2"), tap(60, "M1", "S4")]) == [
        [{"code": "at_exit", "route": "M1", "stop": "S2"}],
        [
            {"code": "unfinished", "route": "M1", "amount": 12_000},
            {"code": "at_exit", "route": "M1", "stop": "S4"},
        ],
    ]


def test_a_missing_exit_then_an_exit_on_another_line_in_hanoi(hanoi: Tariff) -> None:
    at = datetime(2026, 12, 1, 7, 30, tzinfo=LOCAL)
    taps = [
        Tap(at, "2A", "M2A01P", "", ENTRY),
        Tap(at + timedelta(minutes=30), "3.1", "M3108P", "", EXIT),
    ]
    assert parts_of(hanoi, taps) == [
        [{"code": "at_exit", "route": "2A", "stop": "M2A01P"}],
        [
            {"code": "unfinished", "route": "2A", "amount": 15_000},
            {"code": "no_entry", "route": "3.1", "stop": "M3108P", "amount": 14_000},
        ],
    ]


def test_a_pass_covers_the_journey_and_is_named(metroville: Tariff) -> None:
    taps = [
        tap(0, "M1", "S1"),
        tap(15, "M1", "S4", EXIT),
        tap(60, "M1", "S2"),
        tap(200, "B1", "B1"),
    ]
    assert parts_of(metroville, taps, metro_pass_card(metroville)) == [
        [{"code": "at_exit", "route": "M1", "stop": "S1"}],
        [
            {
                "code": "journey",
                "route": "M1",
                "origin": "S1",
                "destination": "S4",
                "amount": 12_000,
            },
            {"code": "pass", "name": "Metro monthly pass"},
        ],
        [{"code": "at_exit", "route": "M1", "stop": "S2"}],
        # The pass covered the metro journey left open: nothing unfinished, the bus is paid.
        [{"code": "fare", "route": "B1", "amount": 7_000}],
    ]


def test_a_pass_covers_a_boarding_at_the_legs_own_price(riverton: Tariff) -> None:
    held = issue_pass(riverton.versions[0], "monthly_all", "adult", date(2024, 3, 1))
    taps = [river_tap("2024-03-04 10:00", "B1"), river_tap("2024-03-04 10:30", "X1")]
    assert parts_of(riverton, taps, FareState(ADULT, passes=(held,))) == [
        [
            {"code": "fare", "route": "B1", "amount": 10_000},
            {"code": "pass", "name": "Monthly pass"},
        ],
        [
            {"code": "fare", "route": "X1", "amount": 20_000},
            {"code": "pass", "name": "Monthly pass"},
        ],
    ]


def test_a_senior_rides_free_and_the_category_is_named(metroville: Tariff) -> None:
    taps = [tap(0, "M1", "S1"), tap(15, "M1", "S4", EXIT), tap(30, "B1", "B10")]
    # A free category has no price of its own: the leg is named without one.
    assert parts_of(metroville, taps, FareState(SENIOR)) == [
        [{"code": "at_exit", "route": "M1", "stop": "S1"}],
        [
            {"code": "journey", "route": "M1", "origin": "S1", "destination": "S4"},
            {"code": "free_category", "name": "Senior"},
        ],
        [
            {"code": "fare", "route": "B1"},
            {"code": "free_category", "name": "Senior"},
        ],
    ]


def test_a_journey_inside_the_free_area_is_a_free_fare(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "B1", "C1"), tap(10, "B1", "C2", EXIT)]) == [
        [{"code": "at_exit", "route": "B1", "stop": "C1"}],
        [
            {"code": "journey", "route": "B1", "origin": "C1", "destination": "C2", "amount": 0},
            {"code": "free_fare"},
        ],
    ]


def test_leaving_where_one_entered_soon_after_is_a_free_fare(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "M1", "S2"), tap(19, "M1", "S2", EXIT)]) == [
        [{"code": "at_exit", "route": "M1", "stop": "S2"}],
        [
            {"code": "journey", "route": "M1", "origin": "S2", "destination": "S2", "amount": 0},
            {"code": "free_fare"},
        ],
    ]


def test_a_free_bus_to_bus_transfer_in_riverton(riverton: Tariff) -> None:
    taps = [river_tap("2024-03-04 10:00", "B1"), river_tap("2024-03-04 10:30", "B2")]
    explained = explain(riverton, taps)
    assert [parts for _, parts in explained] == [
        [{"code": "fare", "route": "B1", "amount": 10_000}],
        [{"code": "fare", "route": "B2", "amount": 10_000}, {"code": "transfer", "amount": 0}],
    ]
    second = explained[1][0]
    assert (second.paid_by, second.fare) == (PaidBy.TRANSFER, 0)


def test_a_discounted_bus_to_express_transfer_in_riverton(riverton: Tariff) -> None:
    """The express costs 20,000; after a bus within 90 minutes, 20,000 - 5,000."""
    taps = [river_tap("2024-03-04 10:00", "B1"), river_tap("2024-03-04 11:10", "X1")]
    explained = explain(riverton, taps)
    assert [parts for _, parts in explained] == [
        [{"code": "fare", "route": "B1", "amount": 10_000}],
        [{"code": "fare", "route": "X1", "amount": 20_000}, {"code": "transfer", "amount": 15_000}],
    ]
    assert explained[1][0].fare == explained[1][0].amount == 15_000


def test_a_bus_to_metro_transfer_is_explained_at_the_metro_exit(metroville: Tariff) -> None:
    taps = [
        tap(0, "B1", "B10"),
        tap(20, "B1", "B20", EXIT),
        tap(50, "M1", "S1"),
        tap(75, "M1", "S3", EXIT),
    ]
    assert parts_of(metroville, taps) == [
        [{"code": "fare", "route": "B1", "amount": 7_000}],
        [{"code": "tap_off", "route": "B1", "stop": "B20"}],
        [{"code": "at_exit", "route": "M1", "stop": "S1"}],
        [
            {
                "code": "journey",
                "route": "M1",
                "origin": "S1",
                "destination": "S3",
                "amount": 10_000,
            },
            {"code": "transfer", "amount": 5_000},
        ],
    ]


def test_the_day_cap_reached_in_riverton(riverton: Tariff) -> None:
    taps = [
        river_tap("2024-03-04 10:00", "B1"),
        river_tap("2024-03-04 11:30", "B2"),
        river_tap("2024-03-04 13:00", "B1"),
        river_tap("2024-03-04 14:30", "B2"),
    ]
    assert parts_of(riverton, taps) == [
        [{"code": "fare", "route": "B1", "amount": 10_000}],
        [{"code": "fare", "route": "B2", "amount": 10_000}],
        [{"code": "fare", "route": "B1", "amount": 10_000}],
        [
            {"code": "fare", "route": "B2", "amount": 10_000},
            {"code": "cap", "period": "day", "amount": 0},
        ],
    ]


def test_a_fare_charged_only_up_to_the_day_cap(riverton: Tariff) -> None:
    """A night bus (15,000) after 20,000 paid today: 10,000 more reaches the 30,000 cap."""
    taps = [
        river_tap("2024-03-04 10:00", "B1"),
        river_tap("2024-03-04 11:30", "B2"),
        river_tap("2024-03-04 23:00", "B1"),
    ]
    assert parts_of(riverton, taps)[2] == [
        {"code": "fare", "route": "B1", "amount": 15_000},
        {"code": "cap", "period": "day", "amount": 10_000},
    ]


def test_a_network_cap_in_riverton(riverton: Tariff) -> None:
    taps = [
        river_tap("2024-03-04 10:00", "F1"),
        river_tap("2024-03-04 11:00", "F2"),
        river_tap("2024-03-04 12:00", "F1"),
    ]
    assert parts_of(riverton, taps)[2] == [
        {"code": "fare", "route": "F1", "amount": 5_000},
        {"code": "cap", "period": "day", "amount": 2_000},
    ]


def test_a_rolling_cap_says_how_many_days_it_runs(riverton: Tariff) -> None:
    """A student: 5,000 a bus, 12,000 a day, 30,000 over three service days."""
    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    taps = [river_tap(f"{day} {hour}", route) for day in days
            for hour, route in (("10:00", "B1"), ("11:30", "B2"), ("13:00", "B1"))]  # fmt: skip
    taps.append(river_tap("2024-03-06 14:30", "B2"))
    parts = parts_of(riverton, taps, FareState(STUDENT))
    assert parts[2] == [
        {"code": "fare", "route": "B1", "amount": 5_000},
        {"code": "cap", "period": "day", "amount": 2_000},
    ]
    assert parts[7:] == [
        [
            {"code": "fare", "route": "B2", "amount": 5_000},
            {"code": "cap", "period": "rolling", "amount": 1_000, "days": 3},
        ],
        [
            {"code": "fare", "route": "B1", "amount": 5_000},
            {"code": "cap", "period": "rolling", "amount": 0, "days": 3},
        ],
        [
            {"code": "fare", "route": "B2", "amount": 5_000},
            {"code": "cap", "period": "rolling", "amount": 0, "days": 3},
        ],
    ]


@pytest.mark.parametrize(
    ("when", "route", "name"),
    [
        (datetime(2026, 2, 17, 8, 0, tzinfo=LOCAL), "32", "Tết Bính Ngọ (Lunar New Year)"),
        (datetime(2026, 2, 14, 0, 5, tzinfo=LOCAL), "32", "Tết Bính Ngọ (Lunar New Year)"),
        (datetime(2026, 2, 22, 23, 55, tzinfo=LOCAL), "2A", "Tết Bính Ngọ (Lunar New Year)"),
        # The 2024 tariff, still in force on 31 August 2025.
        (
            datetime(2025, 8, 31, 8, 0, tzinfo=LOCAL),
            "32",
            "Quốc khánh A80 (National Day 80th anniversary)",
        ),
    ],
)
def test_a_hanoi_free_day_is_named(hanoi: Tariff, when: datetime, route: str, name: str) -> None:
    stop = "M2A01P" if route == "2A" else ""
    assert parts_of(hanoi, [Tap(when, route, stop, "", ENTRY)]) == [
        [{"code": "free_day", "name": name}]
    ]


def test_the_day_after_tet_is_a_fare_again(hanoi: Tariff) -> None:
    after = Tap(datetime(2026, 2, 23, 0, 5, tzinfo=LOCAL), "32", "", "", ENTRY)
    assert parts_of(hanoi, [after]) == [[{"code": "fare", "route": "32", "amount": 10_000}]]


def test_every_tap_on_a_free_day_is_the_free_day(metroville: Tariff) -> None:
    taps = [
        Tap(TET, "B1", "B10", "", ENTRY),
        Tap(TET + timedelta(minutes=20), "B1", "B20", "", EXIT),
        Tap(TET + timedelta(minutes=40), "M1", "S1", "", ENTRY),
    ]
    name = "Tết Bính Ngọ 2026"
    assert parts_of(metroville, taps) == [
        [{"code": "free_day", "name": name}],
        [{"code": "tap_off", "route": "B1", "stop": "B20"}],  # a free-day journey closes as paid
        [{"code": "free_day", "name": name}],
    ]


def test_an_exit_with_no_entry_on_a_free_day_names_the_free_day(metroville: Tariff) -> None:
    assert parts_of(metroville, [Tap(TET, "M1", "S3", "", EXIT)]) == [
        [{"code": "free_day", "name": "Tết Bính Ngọ 2026"}]
    ]


def test_a_passback_is_refused(metroville: Tariff) -> None:
    assert parts_of(metroville, [tap(0, "M1", "S1"), tap(1, "M1", "S1")]) == [
        [{"code": "at_exit", "route": "M1", "stop": "S1"}],
        [{"code": "refused", "denial": "passback"}],
    ]


def test_a_tap_before_any_tariff_is_refused(metroville: Tariff) -> None:
    early = Tap(datetime(2025, 6, 1, 8, 0, tzinfo=LOCAL), "B1", "B10", "", ENTRY)
    assert parts_of(metroville, [early]) == [[{"code": "refused", "denial": "no_tariff"}]]


def test_a_category_that_cannot_pay_is_refused(riverton: Tariff) -> None:
    """The airport bus has a price for adults only."""
    on = river_tap("2024-03-04 10:00", "B1", "AP1")
    assert parts_of(riverton, [on], FareState(STUDENT)) == [
        [{"code": "refused", "denial": "category_not_eligible"}]
    ]


def test_an_accepted_decision_with_no_tariff_at_its_time_is_the_callers_mistake(
    metroville: Tariff,
) -> None:
    on = tap(0, "B1", "B10")
    decision = price_tap(FareState(ADULT), on, metroville)
    moved = on._replace(time=datetime(2025, 6, 1, 8, 0, tzinfo=LOCAL))
    with pytest.raises(ValueError, match="no tariff version"):
        reasons(decision, moved, FareState(ADULT), metroville)


# reasons_of_tap(): only what a validator uploaded.


def of_tap(**fields: Any) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "result": "accepted",
        "denial": None,
        "paid_by": "stored_value",
        "direction": "entry",
        "amount": 0,
        "unfinished": 0,
        "route_id": "B1",
        "stop_id": "B10",
        "ends_journey": False,
    }
    return reasons_of_tap(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"result": "refused", "denial": "passback", "paid_by": "nothing"},
            [{"code": "refused", "denial": "passback"}],
            id="refused",
        ),
        pytest.param(
            {"result": "refused", "denial": None, "paid_by": "nothing"},
            [{"code": "refused", "denial": ""}],
            id="refused-without-a-denial-code",
        ),
        pytest.param(
            {"amount": 7_000},
            [{"code": "fare", "route": "B1", "charged": 7_000}],
            id="stored-value-entry",
        ),
        pytest.param(
            {"direction": "exit", "amount": 10_000, "route_id": "M1", "stop_id": "S3",
             "ends_journey": True},
            [{"code": "journey", "route": "M1", "destination": "S3", "charged": 10_000}],
            id="exit-ending-a-journey",
        ),
        pytest.param(
            {"direction": "exit", "amount": 12_000, "route_id": "M1", "stop_id": "S3"},
            [{"code": "no_entry", "route": "M1", "stop": "S3", "amount": 12_000}],
            id="exit-without-a-journey",
        ),
        pytest.param(
            {"paid_by": "pass"},
            [{"code": "fare", "route": "B1"}, {"code": "pass"}],
            id="pass",
        ),
        pytest.param(
            {"paid_by": "pass", "direction": "exit", "route_id": "M1", "stop_id": "S4",
             "ends_journey": True},
            [{"code": "journey", "route": "M1", "destination": "S4"}, {"code": "pass"}],
            id="pass-at-an-exit",
        ),
        pytest.param(
            {"paid_by": "cap", "route_id": "B2"},
            [{"code": "fare", "route": "B2"}, {"code": "cap", "amount": 0}],
            id="cap",
        ),
        pytest.param(
            {"paid_by": "transfer", "route_id": "B2"},
            [{"code": "fare", "route": "B2"}, {"code": "transfer", "amount": 0}],
            id="transfer",
        ),
        pytest.param(
            {"paid_by": "free_category"},
            [{"code": "fare", "route": "B1"}, {"code": "free_category"}],
            id="free-category",
        ),
        pytest.param(
            {"paid_by": "free_fare", "direction": "exit", "stop_id": "C2", "ends_journey": True},
            [{"code": "journey", "route": "B1", "destination": "C2"}, {"code": "free_fare"}],
            id="free-fare",
        ),
        pytest.param(
            {"paid_by": "at_exit", "route_id": "M1", "stop_id": "S1"},
            [{"code": "at_exit", "route": "M1", "stop": "S1"}],
            id="at-exit",
        ),
        pytest.param(
            {"paid_by": "at_entry", "direction": "exit", "stop_id": "B20", "ends_journey": True},
            [{"code": "tap_off", "route": "B1", "stop": "B20"}],
            id="at-entry",
        ),
        pytest.param(
            {"paid_by": "free_day"},
            [{"code": "free_day"}],
            id="free-day",
        ),
        pytest.param(
            {"amount": 19_000, "unfinished": 12_000},
            [{"code": "unfinished", "amount": 12_000},
             {"code": "fare", "route": "B1", "charged": 7_000}],
            id="unfinished-then-a-bus",
        ),
        pytest.param(
            {"direction": "exit", "amount": 29_000, "unfinished": 15_000, "route_id": "3.1",
             "stop_id": "M3108P"},
            [{"code": "unfinished", "amount": 15_000},
             {"code": "no_entry", "route": "3.1", "stop": "M3108P", "amount": 14_000}],
            id="unfinished-then-an-exit-on-another-line",
        ),
    ],
)  # fmt: skip
def test_reasons_of_tap(fields: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert of_tap(**fields) == expected


def test_reasons_of_tap_takes_the_enums_as_well_as_their_strings() -> None:
    assert of_tap(paid_by=PaidBy.CAP, direction=Direction.ENTRY, route_id="B2") == [
        {"code": "fare", "route": "B2"},
        {"code": "cap", "amount": 0},
    ]
    assert of_tap(paid_by=PaidBy.AT_ENTRY, direction=Direction.EXIT, stop_id="B20") == [
        {"code": "tap_off", "route": "B1", "stop": "B20"}
    ]


def _says_no_other(less: list[dict[str, Any]], full: list[dict[str, Any]]) -> bool:
    """Each part of `less` is a part of `full`, in order, with some of its values; a leg's
    `charged` is what `full` says the purse paid for it (after a transfer or a cap)."""
    rest = iter(full)
    for part in less:
        values = {k: v for k, v in part.items() if k != "charged"}
        whole = next((w for w in rest if w["code"] == part["code"]), None)
        if whole is None or not values.items() <= whole.items():
            return False
        if "charged" in part and part["charged"] != _leg_charge(full):
            return False
    return True


def _leg_charge(full: list[dict[str, Any]]) -> int:
    """What the purse paid for the tap's own leg, as `reasons` tells it."""
    charged = [p["amount"] for p in full if p["code"] in ("fare", "journey", "transfer", "cap")]
    return int(charged[-1])


def _uploaded_and_full(
    tariff: Tariff, taps: list[Tap], state: FareState | None = None
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """For each tap, (reasons_of_tap from its uploaded fields, reasons from its decision)."""
    state = state or FareState(ADULT)
    out = []
    for each in taps:
        decision = price_tap(state, each, tariff)
        out.append(
            (reasons_of_tap(**uploaded(decision, each)), reasons(decision, each, state, tariff))
        )
        if decision.accepted:
            state = decision.state
    return out


def test_reasons_of_tap_says_less_than_reasons_and_never_other(metroville: Tariff) -> None:
    """The docstring's promise, over taps where the purse paid a leg's whole fare or nothing."""
    rides = [
        [tap(0, "B1", "B10"), tap(25, "B1", "B20", EXIT)],
        [tap(0, "M1", "S1"), tap(15, "M1", "S3", EXIT)],
        [tap(0, "M1", "S3", EXIT)],
        [tap(0, "M1", "S2"), tap(180, "B1", "B10")],
        [tap(0, "B1", "C1"), tap(10, "B1", "C2", EXIT)],
        [tap(0, "M1", "S1"), tap(1, "M1", "S1")],
        [Tap(TET, "B1", "B10", "", ENTRY)],
    ]
    pairs = [pair for taps in rides for pair in _uploaded_and_full(metroville, taps)]
    pairs += _uploaded_and_full(
        metroville, [tap(0, "M1", "S1"), tap(15, "M1", "S4", EXIT)], metro_pass_card(metroville)
    )
    pairs += _uploaded_and_full(metroville, [tap(0, "B1", "B10")], FareState(SENIOR))
    assert len(pairs) == 15
    assert [less for less, full in pairs if not _says_no_other(less, full)] == []
    # And from the stored values, the exit-ended journey is recognised as one.
    assert pairs[3] == (
        [{"code": "journey", "route": "M1", "destination": "S3", "charged": 10_000}],
        [{"code": "journey", "route": "M1", "origin": "S1", "destination": "S3", "amount": 10_000}],
    )


def test_reasons_of_tap_for_caps_and_free_transfers_says_no_other(riverton: Tariff) -> None:
    taps = [
        river_tap("2024-03-04 10:00", "B1"),
        river_tap("2024-03-04 10:30", "B2"),  # a free transfer
        river_tap("2024-03-04 12:00", "B1"),
        river_tap("2024-03-04 13:30", "B2"),
        river_tap("2024-03-04 15:00", "B1"),  # the day cap: nothing
    ]
    pairs = _uploaded_and_full(riverton, taps)
    assert [less for less, _ in pairs] == [
        [{"code": "fare", "route": "B1", "charged": 10_000}],
        [{"code": "fare", "route": "B2"}, {"code": "transfer", "amount": 0}],
        [{"code": "fare", "route": "B1", "charged": 10_000}],
        [{"code": "fare", "route": "B2", "charged": 10_000}],
        [{"code": "fare", "route": "B1"}, {"code": "cap", "amount": 0}],
    ]
    assert all(_says_no_other(less, full) for less, full in pairs)


@pytest.mark.parametrize(
    "case",
    ["bus-to-express transfer", "partly capped night bus", "bus-to-metro transfer"],
)
def test_reasons_of_tap_says_no_other_when_the_purse_paid_part_of_a_leg(
    metroville: Tariff, riverton: Tariff, case: str
) -> None:
    if case == "bus-to-express transfer":  # reasons: fare 20,000, transfer 15,000
        pairs = _uploaded_and_full(
            riverton, [river_tap("2024-03-04 10:00", "B1"), river_tap("2024-03-04 11:10", "X1")]
        )
    elif case == "partly capped night bus":  # reasons: fare 15,000, cap 10,000
        pairs = _uploaded_and_full(
            riverton,
            [river_tap("2024-03-04 10:00", "B1"), river_tap("2024-03-04 11:30", "B2"),
             river_tap("2024-03-04 23:00", "B1")],
        )  # fmt: skip
    else:  # reasons: journey 10,000, transfer 5,000
        pairs = _uploaded_and_full(
            metroville,
            [tap(0, "B1", "B10"), tap(20, "B1", "B20", EXIT), tap(50, "M1", "S1"),
             tap(75, "M1", "S3", EXIT)],
        )  # fmt: skip
    less, full = pairs[-1]
    assert _says_no_other(less, full), (less, full)


# Over a long mixed ride: every part documented and JSON-ready.

_DOC_CODES = frozenset(re.findall(r"^- `(\w+)`", fares.why.__doc__ or "", re.MULTILINE))
_CHARGING = ("fare", "journey", "no_entry", "transfer", "cap")
_PAID_OTHERWISE = frozenset(
    {"pass", "free_category", "free_fare", "free_day", "at_exit", "tap_off"}
)


def test_the_documented_codes_are_read_from_the_docstring() -> None:
    documented = {
        "fare", "journey", "transfer", "cap", "pass", "free_category", "free_fare", "free_day",
        "at_exit", "tap_off", "no_entry", "unfinished", "refused",
    }  # fmt: skip
    assert documented == _DOC_CODES


def _mixed_taps(rng: random.Random, count: int) -> list[Tap]:
    """Bus and metro taps a few seconds to half a day apart, from before Tết into March."""
    when = datetime(2026, 2, 10, 6, 0, tzinfo=LOCAL)
    taps = []
    for _ in range(count):
        when += timedelta(seconds=rng.choice([30, 90, 600, 1_500, 3_000, 5_000, 20_000, 45_000]))
        if rng.random() < 0.5:
            stop = rng.choice(["B10", "B11", "B20", "B30", "C1", "C2"])
            direction = rng.choice([ENTRY, EXIT, BOTH])
            vehicle = rng.choice(["29B-100.01", "29B-100.07"]) if direction is BOTH else ""
            taps.append(Tap(when, "B1", stop, "", direction, vehicle))
        else:
            stop = rng.choice(["S1", "S1P", "S2", "S3", "S4"])
            taps.append(Tap(when, "M1", stop, "", rng.choice([ENTRY, EXIT])))
    return taps


@pytest.mark.parametrize("card", ["adult", "senior", "metro pass"])
def test_every_part_over_a_long_mixed_ride_is_documented_and_json_ready(
    metroville: Tariff, card: str
) -> None:
    passes: tuple[Pass, ...] = ()
    if card == "metro pass":
        passes = (issue_pass(metroville.versions[0], "metro_month", "adult", date(2026, 2, 1)),)
    state = FareState(SENIOR if card == "senior" else ADULT, passes=passes)
    seen: set[str] = set()
    accepted = 0
    for each in _mixed_taps(random.Random(f"why-{card}"), 600):
        decision = price_tap(state, each, metroville)
        full = reasons(decision, each, state, metroville)
        less = reasons_of_tap(**uploaded(decision, each))
        for parts in (full, less):
            assert parts, (each, decision.explanation)
            assert {part["code"] for part in parts} <= _DOC_CODES, parts
            for part in parts:
                assert all(type(value) in (str, int) for value in part.values()), part
            assert json.loads(json.dumps(parts, ensure_ascii=False)) == parts
        seen.update(part["code"] for part in full)
        if not decision.accepted:
            assert decision.denial is not None
            assert full == less == [{"code": "refused", "denial": decision.denial.code}]
            continue
        accepted += 1
        # What the parts say was charged is what was charged: the unfinished journey's amount,
        # and the last charging part's amount unless something else paid the leg.
        unfinished = sum(part["amount"] for part in full if part["code"] == "unfinished")
        assert unfinished == decision.unfinished
        codes = {part["code"] for part in full}
        own = 0
        if not codes & _PAID_OTHERWISE:
            own = [part["amount"] for part in full if part["code"] in _CHARGING][-1]
        assert unfinished + own == decision.amount, (full, decision.explanation)
        state = unpack_fare_state(pack_fare_state(decision.state))
    # The sequence is mixed enough to be worth its length.
    assert accepted > 300
    assert {"fare", "journey", "at_exit", "tap_off", "no_entry", "free_day", "refused"} <= seen
    if card == "adult":
        assert {"unfinished", "free_fare", "transfer"} <= seen
    elif card == "senior":
        assert "free_category" in seen
    else:
        assert "pass" in seen
