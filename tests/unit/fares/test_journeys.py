"""Tap on and tap off: journeys paid at boarding (the bus) and priced at the exit (the metro).

The Metroville test tariff (tariffs/metroville): bus B1 at a flat 7,000 VND, free inside the old
town (stops C1, C2) for a journey that starts and ends there; metro M1 with stations S1 to S4
priced by the pair, 8,000 to 12,000 VND; seniors ride free; a metro monthly pass.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cards.layout import pack_fare_state, unpack_fare_state
from fares import (
    Decision,
    Direction,
    FareState,
    Journey,
    PaidBy,
    Tap,
    Tariff,
    issue_pass,
    load_tariff,
    price_tap,
)

LOCAL = timezone(timedelta(hours=7))
START = datetime(2026, 3, 2, 8, 0, tzinfo=LOCAL)
ENTRY, EXIT, BOTH = Direction.ENTRY, Direction.EXIT, Direction.BOTH


@pytest.fixture(scope="module")
def metroville() -> Tariff:
    return load_tariff(Path(__file__).resolve().parent / "tariffs" / "metroville")


def tap(
    minutes: float,
    route: str,
    stop: str,
    direction: Direction = ENTRY,
    vehicle: str = "",
) -> Tap:
    return Tap(START + timedelta(minutes=minutes), route, stop, "", direction, vehicle)


def ride(
    tariff: Tariff, taps: list[Tap], state: FareState | None = None
) -> tuple[list[Decision], FareState]:
    """Each tap in turn, the card's state going through its bytes as on a real card."""
    state = state or FareState(1)
    decisions = []
    for each in taps:
        decision = price_tap(state, each, tariff)
        decisions.append(decision)
        if decision.accepted:
            state = unpack_fare_state(pack_fare_state(decision.state))
            assert state == decision.state
    return decisions, state


def test_a_bus_journey_is_paid_at_boarding_and_closed_at_the_tap_off(metroville: Tariff) -> None:
    (on, off), state = ride(metroville, [tap(0, "B1", "B10", ENTRY), tap(25, "B1", "B20", EXIT)])
    assert (on.amount, on.paid_by, on.direction) == (7_000, PaidBy.STORED_VALUE, ENTRY)
    assert on.state.journey == Journey.CHARGED
    assert (off.amount, off.paid_by, off.direction) == (0, PaidBy.AT_ENTRY, EXIT)
    assert "paid at boarding" in off.explanation
    assert state.journey == Journey.NONE


def test_at_a_bus_door_the_open_journey_on_this_bus_makes_the_tap_an_alighting(
    metroville: Tariff,
) -> None:
    decisions, state = ride(
        metroville,
        [
            tap(0, "B1", "B10", BOTH, vehicle="29B-100.01"),
            tap(20, "B1", "B20", BOTH, vehicle="29B-100.01"),  # the same bus: alighting
            tap(40, "B1", "B20", BOTH, vehicle="29B-100.07"),  # the next bus: boarding
        ],
    )
    assert [(d.direction, d.amount) for d in decisions] == [
        (ENTRY, 7_000),
        (EXIT, 0),
        (ENTRY, 7_000),
    ]
    assert state.journey == Journey.CHARGED


def test_the_same_bus_hours_later_is_a_new_ride(metroville: Tariff) -> None:
    decisions, _ = ride(
        metroville,
        [
            tap(0, "B1", "B10", BOTH, vehicle="29B-100.01"),
            tap(300, "B1", "B10", BOTH, "29B-100.01"),
        ],
    )
    assert [(d.direction, d.amount) for d in decisions] == [(ENTRY, 7_000), (ENTRY, 7_000)]
    assert decisions[1].explanation.startswith("no tap off")


def test_a_bus_journey_never_tapped_off_is_closed_at_the_next_boarding_for_nothing_more(
    metroville: Tariff,
) -> None:
    decisions, _ = ride(metroville, [tap(0, "B1", "B10"), tap(90, "B1", "B30")])
    assert [d.amount for d in decisions] == [7_000, 7_000]
    assert decisions[1].unfinished == 0
    assert decisions[1].explanation.startswith("no tap off after boarding route B1; ")


def test_the_metro_charges_at_the_exit_by_the_pair_of_stations(metroville: Tariff) -> None:
    (entry, leave), state = ride(metroville, [tap(0, "M1", "S1"), tap(12, "M1", "S3", EXIT)])
    assert (entry.amount, entry.paid_by, entry.required) == (0, PaidBy.AT_EXIT, 12_000)
    assert "the dearest fare from here is 12000" in entry.explanation
    assert (leave.amount, leave.paid_by, leave.direction) == (10_000, PaidBy.STORED_VALUE, EXIT)
    assert leave.explanation.startswith("journey from S1 to S3 on route M1")
    assert state.journey == Journey.NONE
    # The leg counts from its entry, for transfers and passback.
    assert state.last_boarding == entry.state.entry_time


def test_a_platform_and_its_station_are_the_same_area(metroville: Tariff) -> None:
    (_, leave), _ = ride(metroville, [tap(0, "M1", "S1P"), tap(12, "M1", "S2", EXIT)])
    assert leave.amount == 8_000


def test_an_entry_without_an_exit_pays_the_lines_maximum_at_the_next_entry(
    metroville: Tariff,
) -> None:
    decisions, state = ride(metroville, [tap(0, "M1", "S2"), tap(180, "B1", "B10")])
    penalty = decisions[1]
    assert (penalty.amount, penalty.unfinished) == (12_000 + 7_000, 12_000)
    assert "no exit: the journey from S2 on route M1" in penalty.explanation
    assert "maximum fare" in penalty.explanation
    assert state.journey == Journey.CHARGED  # the bus journey now open


def test_a_second_metro_entry_without_an_exit_also_pays_the_maximum(metroville: Tariff) -> None:
    decisions, state = ride(metroville, [tap(0, "M1", "S2"), tap(60, "M1", "S4")])
    assert (decisions[1].amount, decisions[1].required) == (12_000, 12_000 + 12_000)
    assert state.journey == Journey.AT_EXIT


def test_leaving_at_the_entry_station_within_20_minutes_is_free(metroville: Tariff) -> None:
    soon, _ = ride(metroville, [tap(0, "M1", "S2"), tap(19, "M1", "S2", EXIT)])
    late, _ = ride(metroville, [tap(0, "M1", "S2"), tap(21, "M1", "S2", EXIT)])
    assert (soon[1].amount, late[1].amount) == (0, 8_000)
    assert "within 1200 s" in soon[1].explanation


def test_an_exit_with_no_entry_pays_the_lines_maximum(metroville: Tariff) -> None:
    (leave,), state = ride(metroville, [tap(0, "M1", "S3", EXIT)])
    assert (leave.accepted, leave.amount, leave.direction) == (True, 12_000, EXIT)
    assert "no entry recorded" in leave.explanation
    assert state.journey == Journey.NONE


def test_a_second_entry_at_the_same_gate_is_passback(metroville: Tariff) -> None:
    decisions, _ = ride(metroville, [tap(0, "M1", "S1"), tap(1, "M1", "S1")])
    assert decisions[1].denial is not None
    assert decisions[1].denial.code == "passback"


def test_a_senior_needs_no_balance_at_the_gate_and_pays_nothing(metroville: Tariff) -> None:
    (entry, leave), _ = ride(
        metroville, [tap(0, "M1", "S1"), tap(15, "M1", "S4", EXIT)], FareState(3)
    )
    assert (entry.required, leave.amount, leave.paid_by) == (0, 0, PaidBy.FREE_CATEGORY)


def test_a_metro_pass_covers_the_journey_and_the_missing_exit(metroville: Tariff) -> None:
    version = metroville.versions[0]
    held = issue_pass(version, "metro_month", "adult", date(2026, 3, 1))
    card = FareState(1, passes=(held,))
    (entry, leave, again, bus), _ = ride(
        metroville,
        [tap(0, "M1", "S1"), tap(15, "M1", "S4", EXIT), tap(60, "M1", "S2"), tap(200, "B1", "B1")],
        card,
    )
    assert entry.required == 0
    assert (leave.amount, leave.paid_by) == (0, PaidBy.PASS)
    assert again.required == 0
    assert (bus.amount, bus.unfinished) == (7_000, 0)  # the pass covered the open metro journey
    assert "covers it" in bus.explanation


def test_a_journey_inside_the_free_area_costs_nothing_and_one_leaving_it_the_fare(
    metroville: Tariff,
) -> None:
    inside, _ = ride(metroville, [tap(0, "B1", "C1"), tap(10, "B1", "C2", EXIT)])
    leaving, _ = ride(metroville, [tap(0, "B1", "C1"), tap(10, "B1", "B30", EXIT)])
    outside, _ = ride(metroville, [tap(0, "B1", "B30"), tap(10, "B1", "C1", EXIT)])
    # Boarding inside the area, the fare depends on where the rider alights.
    assert (inside[0].amount, inside[0].paid_by, inside[0].required) == (0, PaidBy.AT_EXIT, 7_000)
    assert (inside[1].amount, inside[1].paid_by) == (0, PaidBy.FREE_FARE)
    assert leaving[1].amount == 7_000
    # Boarding outside, the bus fare is charged at boarding as always.
    assert (outside[0].amount, outside[1].amount) == (7_000, 0)


TET = datetime(2026, 2, 16, 9, 0, tzinfo=LOCAL)


def test_every_tap_on_a_free_day_is_accepted_at_nothing_and_names_the_day(
    metroville: Tariff,
) -> None:
    taps = [
        Tap(TET, "B1", "B10", "", ENTRY),
        Tap(TET + timedelta(minutes=20), "B1", "B20", "", EXIT),
        Tap(TET + timedelta(minutes=40), "M1", "S1", "", ENTRY),
        Tap(TET + timedelta(minutes=55), "M1", "S4", "", EXIT),
    ]
    decisions, state = ride(metroville, taps)
    assert [d.amount for d in decisions] == [0, 0, 0, 0]
    assert [d.accepted for d in decisions] == [True] * 4
    assert decisions[0].paid_by == PaidBy.FREE_DAY
    assert "free day Tết Bính Ngọ 2026 (fare_free_periods.txt:2, 2026-02-14 to 2026-02-22)" in (
        decisions[0].explanation
    )
    assert decisions[2].required == 0  # nothing to hold at the gate
    assert state.journey == Journey.NONE


def test_a_journey_begun_on_a_free_day_costs_nothing_when_its_exit_is_missing(
    metroville: Tariff,
) -> None:
    last_free = datetime(2026, 2, 22, 23, 30, tzinfo=LOCAL)
    decisions, _ = ride(
        metroville,
        [Tap(last_free, "M1", "S1", "", ENTRY), Tap(last_free + timedelta(hours=9), "B1", "B1")],
    )
    assert [d.amount for d in decisions] == [0, 7_000]
    assert decisions[1].unfinished == 0


def test_the_day_after_the_free_days_is_charged_again(metroville: Tariff) -> None:
    after = datetime(2026, 2, 23, 9, 0, tzinfo=LOCAL)
    decision = price_tap(FareState(1), Tap(after, "B1", "B10"), metroville)
    assert (decision.amount, decision.paid_by) == (7_000, PaidBy.STORED_VALUE)


def test_a_transfer_from_bus_to_metro_is_priced_at_the_exit_from_the_entry_time(
    metroville: Tariff,
) -> None:
    """bus -> metro within an hour, departure to departure: the metro leg costs 5,000 (A+AB)."""
    in_time, _ = ride(
        metroville,
        [tap(0, "B1", "B10"), tap(20, "B1", "B20", EXIT), tap(50, "M1", "S1"),
         tap(75, "M1", "S3", EXIT)],  # the exit is 75 min after boarding; the entry 50
    )  # fmt: skip
    too_late, _ = ride(
        metroville,
        [tap(0, "B1", "B10"), tap(20, "B1", "B20", EXIT), tap(65, "M1", "S1"),
         tap(80, "M1", "S3", EXIT)],
    )  # fmt: skip
    assert [d.amount for d in in_time] == [7_000, 0, 0, 5_000]
    assert "transfer rule fare_transfer_rules.txt:2" in in_time[3].explanation
    assert [d.amount for d in too_late] == [7_000, 0, 0, 10_000]


def test_an_exit_names_the_start_of_the_journey_it_ends_and_no_other(metroville: Tariff) -> None:
    ended, _ = ride(metroville, [tap(0, "M1", "S1"), tap(20, "M1", "S2", EXIT)])
    bus, _ = ride(metroville, [tap(0, "B1", "B10"), tap(20, "B1", "B20", EXIT)])
    stray, _ = ride(metroville, [tap(0, "B1", "B10"), tap(20, "M1", "S2", EXIT)])
    assert ended[1].journey_start == ended[0].state.entry_time != 0
    assert bus[1].journey_start == bus[0].state.entry_time
    # A metro exit with a bus journey open: that journey is not the one this exit ends.
    assert stray[1].journey_start == 0


def test_tapping_twice_at_a_bus_door_is_not_alighting(metroville: Tariff) -> None:
    """Seconds after boarding, the same card at the same door is a second tap: refused, free."""
    decisions, state = ride(
        metroville,
        [tap(0, "B1", "B10", BOTH, vehicle="29B-100.01"),
         tap(0.5, "B1", "B10", BOTH, vehicle="29B-100.01")],
    )  # fmt: skip
    again = decisions[1]
    assert (again.accepted, again.amount, again.direction) == (False, 0, ENTRY)
    assert again.denial is not None
    assert again.denial.code == "passback"
    assert state.journey == Journey.CHARGED  # the ride goes on


def test_a_quick_tap_at_the_next_stop_is_alighting(metroville: Tariff) -> None:
    """A short hop: 40 seconds after boarding, but at another stop, the tap is an exit."""
    decisions, state = ride(
        metroville,
        [tap(0, "B1", "B10", BOTH, vehicle="29B-100.01"),
         tap(40 / 60, "B1", "B11", BOTH, vehicle="29B-100.01")],
    )  # fmt: skip
    assert [(d.direction, d.amount) for d in decisions] == [(ENTRY, 7_000), (EXIT, 0)]
    assert state.journey == Journey.NONE
