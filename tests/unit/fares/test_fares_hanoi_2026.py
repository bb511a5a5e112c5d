"""Hanoi as it runs now (from 2025-09-01): bus and metro on one card, tap on and tap off, free days.

The metro's station-pair prices follow the assumed rule of docs/tariff-format.md (8,000 VND for
one station, 1,000 more per station, at most 15,000); the monthly products are as reported on
2025-07-08 (cand.com.vn), priority riders at half price.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from fares import Direction, FareState, Journey, PaidBy, Tap, Tariff, issue_pass, pass_price
from fares import price_tap as price

HANOI_TIME = timezone(timedelta(hours=7))
STUDENT, ADULT, GROUP = 2, 1, 9
WEEKDAY = datetime(2026, 12, 1, 7, 30, tzinfo=HANOI_TIME)
ENTRY, EXIT = Direction.ENTRY, Direction.EXIT


def tap(minutes: int, route: str, stop: str, direction: Direction = ENTRY) -> Tap:
    return Tap(WEEKDAY + timedelta(minutes=minutes), route, stop, "", direction)


def ride(hanoi: Tariff, taps: list[Tap], state: FareState) -> tuple[list[int], FareState]:
    amounts = []
    for each in taps:
        decision = price(state, each, hanoi)
        assert decision.accepted, decision.explanation
        amounts.append(decision.amount)
        state = decision.state
    return amounts, state


@pytest.mark.parametrize(
    ("entry", "exit_", "fare"),
    [
        ("M2A01P", "M2A02P", 8_000),  # Cát Linh - La Thành, one station
        ("M2A01P", "M2A05P", 11_000),  # four stations
        ("M2A01P", "M2A12P", 15_000),  # Cát Linh - Yên Nghĩa, the whole line: the most
        ("M2A12", "M2A01", 15_000),  # a station's own id works as its platform's
        ("M3101P", "M3108P", 14_000),  # Nhổn - Cầu Giấy, seven stations
    ],
)
def test_a_metro_journey_is_priced_by_its_two_stations(
    hanoi: Tariff, entry: str, exit_: str, fare: int
) -> None:
    line = "2A" if entry.startswith("M2A") else "3.1"
    amounts, state = ride(hanoi, [tap(0, line, entry), tap(30, line, exit_, EXIT)], FareState(1))
    assert amounts == [0, fare]
    assert state.journey == Journey.NONE


def test_the_student_day_of_the_issue_bus_32_then_line_2a(hanoi: Tariff) -> None:
    """Boards bus 32, alights two stops on, enters 2A at Cát Linh, leaves at Yên Nghĩa."""
    card = FareState(STUDENT, date(2027, 5, 31).toordinal() - date(2020, 1, 1).toordinal())
    amounts, state = ride(
        hanoi,
        [
            tap(0, "32", "HN0010"),
            tap(20, "32", "HN0012", EXIT),
            tap(45, "2A", "M2A01P"),
            tap(75, "2A", "M2A12P", EXIT),
        ],
        card,
    )
    assert amounts == [10_000, 0, 0, 15_000]  # students pay singles at the full fare
    assert state.journey == Journey.NONE


def test_the_entry_gate_asks_for_the_dearest_fare_from_the_station(hanoi: Tariff) -> None:
    middle = price(FareState(ADULT), tap(0, "2A", "M2A06P"), hanoi)
    end = price(FareState(ADULT), tap(0, "2A", "M2A01P"), hanoi)
    assert (middle.required, end.required) == (13_000, 15_000)


def test_an_entry_with_no_exit_pays_the_lines_maximum_at_the_next_boarding(hanoi: Tariff) -> None:
    amounts, _ = ride(hanoi, [tap(0, "3.1", "M3104P"), tap(240, "32", "HN0010")], FareState(1))
    assert amounts == [0, 14_000 + 10_000]


def test_the_multimodal_pass_covers_bus_and_metro_and_the_bus_pass_only_the_bus(
    hanoi: Tariff,
) -> None:
    version = hanoi.versions[-1]
    both = issue_pass(version, "multimodal_month", "student", date(2026, 12, 1))
    bus = issue_pass(version, "pass_all_routes", "student", date(2026, 12, 1))
    journey = [tap(0, "32", "HN0010"), tap(40, "2A", "M2A01P"), tap(70, "2A", "M2A12P", EXIT)]
    with_both, _ = ride(hanoi, journey, FareState(STUDENT, passes=(both,)))
    with_bus, _ = ride(hanoi, journey, FareState(STUDENT, passes=(bus,)))
    assert with_both == [0, 0, 0]
    assert with_bus == [0, 0, 15_000]


@pytest.mark.parametrize(
    ("product", "category", "price_vnd"),
    [
        ("multimodal_month", "adult", 500_000),
        ("multimodal_month", "student", 250_000),
        ("metro_2a_month", "adult", 280_000),
        ("metro_31_month", "worker", 140_000),
        ("metro_day", "adult", 30_000),
        ("pass_one_route", "group", 100_000),
        ("pass_all_routes", "group", 200_000),
    ],
)
def test_the_monthly_and_day_products_have_their_published_prices(
    hanoi: Tariff, product: str, category: str, price_vnd: int
) -> None:
    assert pass_price(hanoi.versions[-1], product, category) == price_vnd


def test_a_metro_day_ticket_covers_both_lines_for_its_day_only(hanoi: Tariff) -> None:
    version = hanoi.versions[-1]
    day = issue_pass(version, "metro_day", "adult", date(2026, 12, 1))
    card = FareState(ADULT, passes=(day,))
    today, _ = ride(hanoi, [tap(0, "3.1", "M3101P"), tap(20, "3.1", "M3108P", EXIT)], card)
    tomorrow = [tap(24 * 60, "2A", "M2A01P"), tap(24 * 60 + 20, "2A", "M2A03P", EXIT)]
    next_day, _ = ride(hanoi, tomorrow, card)
    assert (today, next_day) == ([0, 0], [0, 9_000])


@pytest.mark.parametrize(
    ("when", "name"),
    [
        (datetime(2026, 2, 17, 8, 0, tzinfo=HANOI_TIME), "Tết Bính Ngọ"),
        (datetime(2025, 8, 31, 8, 0, tzinfo=HANOI_TIME), "Quốc khánh A80"),  # the 2024 tariff
        (datetime(2025, 9, 2, 21, 0, tzinfo=HANOI_TIME), "Quốc khánh A80"),
    ],
)
def test_every_ride_on_a_free_day_is_accepted_at_nothing_and_says_why(
    hanoi: Tariff, when: datetime, name: str
) -> None:
    decision = price(FareState(ADULT), Tap(when, "107", "HN0001"), hanoi)
    assert (decision.accepted, decision.amount, decision.paid_by) == (True, 0, PaidBy.FREE_DAY)
    assert f"free day {name}" in decision.explanation


def test_the_day_after_tet_is_charged(hanoi: Tariff) -> None:
    after = datetime(2026, 2, 23, 8, 0, tzinfo=HANOI_TIME)
    assert price(FareState(ADULT), Tap(after, "107", "HN0001"), hanoi).amount == 20_000


def test_the_group_purchase_category_pays_bus_singles_at_the_full_fare(hanoi: Tariff) -> None:
    decision = price(FareState(GROUP), tap(0, "32", "HN0010"), hanoi)
    assert (decision.amount, decision.category_id) == (10_000, "group")
