"""The Riverton test tariff: transfers of every kind, time of day, areas, and caps together.

Every expected amount below is worked out by hand from the files in tariffs/riverton. Reminders:
adult bus 10,000 (peak 12,000, night 15,000), student bus 5,000, express 20,000, ferry 5,000,
airport stop 30,000 for adults only; arrivals are taken as boarding + 20 minutes
(assumed_leg_seconds=1200); a service day starts at 04:00; 2024-03-04 is a Monday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from fares import CATEGORY_NOT_ELIGIBLE, Decision, FareState, PaidBy, Pass, Tap, Tariff, price_tap
from fares.passes import issue_pass

LOCAL = timezone(timedelta(hours=7))
CODES = {"adult": 1, "student": 2, "senior": 3}
SV, TR, CAP, PASS, FREE = (
    PaidBy.STORED_VALUE,
    PaidBy.TRANSFER,
    PaidBy.CAP,
    PaidBy.PASS,
    PaidBy.FREE_CATEGORY,
)


def make_tap(local: str, route_id: str, stop_id: str = "S1") -> Tap:
    return Tap(datetime.fromisoformat(local).replace(tzinfo=LOCAL), route_id, stop_id, "dev-1")


def make_state(
    category: str = "adult", valid_until: date | None = None, passes: tuple[Pass, ...] = ()
) -> FareState:
    return FareState.new(CODES[category], valid_until, passes)


def ride(
    tariff: Tariff, taps: list[tuple[str, str]], state: FareState | None = None
) -> list[Decision]:
    """Price (local time, route) taps in order, carrying the state."""
    current = state or make_state()
    decisions = []
    for when, route_id in taps:
        route, _, stop = route_id.partition("@")
        decision = price_tap(current, make_tap(when, route, stop or "S1"), tariff)
        decisions.append(decision)
        current = decision.state
    return decisions


def charges(decisions: list[Decision]) -> list[tuple[int, PaidBy]]:
    return [(d.amount, d.paid_by) for d in decisions]


@pytest.mark.parametrize(
    ("taps", "expected"),
    [
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 10:30", "B2"),
             ("2024-03-04 10:55", "B1"), ("2024-03-04 11:01", "B2")],
            [(10_000, SV), (0, TR), (0, TR), (10_000, SV)],
            id="bus-bus free for 60 min departure to departure, unlimited, from the first leg",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 11:10", "X1")],
            [(10_000, SV), (15_000, SV)],
            id="bus-express A+AB+B: 20000-5000, departure to arrival 70+20 min within 90",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 11:11", "X1")],
            [(10_000, SV), (20_000, SV)],
            id="bus-express one minute late: 71+20 min is over 90, full express fare",
        ),
        pytest.param(
            [("2024-03-04 10:00", "X1"), ("2024-03-04 11:05", "B1")],
            [(20_000, SV), (0, TR)],
            id="express-bus A+AB free, arrival to departure 65-20 min within 45",
        ),
        pytest.param(
            [("2024-03-04 10:00", "X1"), ("2024-03-04 11:06", "B1")],
            [(20_000, SV), (10_000, SV)],
            id="express-bus one minute late: 66-20 min is over 45",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 11:59", "F1")],
            [(10_000, SV), (2_000, SV)],
            id="bus-ferry AB: 12000 together, less the 10000 paid, arrival to arrival 119 min",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 12:01", "F1")],
            [(10_000, SV), (5_000, SV)],
            id="bus-ferry after 121 min: the ferry fare",
        ),
        pytest.param(
            [("2024-03-04 10:00", "F1"), ("2024-03-04 10:10", "F2"),
             ("2024-03-04 10:20", "F1"), ("2024-03-04 10:40", "F2")],
            [(5_000, SV), (0, TR), (5_000, SV), (0, TR)],
            id="ferry-ferry transfer_count 1: the second transfer pays, then a new run",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 10:20", "X1"), ("2024-03-04 10:50", "B2")],
            [(10_000, SV), (15_000, SV), (0, TR)],
            id="bus-express-bus: each transfer rule measured from its own first leg",
        ),
        pytest.param(
            [("2024-03-04 10:00", "B1"), ("2024-03-04 10:20", "B2"), ("2024-03-04 10:40", "F1")],
            [(10_000, SV), (0, TR), (12_000, SV)],
            id="bus-bus-ferry: after a transfer, AB adds to what was paid (S + BC), ferry or not",
        ),
    ],
)  # fmt: skip
def test_transfers(
    riverton: Tariff, taps: list[tuple[str, str]], expected: list[tuple[int, PaidBy]]
) -> None:
    assert charges(ride(riverton, taps)) == expected


def test_a_transfer_explanation_names_the_transfer_rule_and_its_window(riverton: Tariff) -> None:
    decisions = ride(riverton, [("2024-03-04 10:00", "B1"), ("2024-03-04 11:10", "X1")])
    second = decisions[1]
    assert second.transfer_rule == "fare_transfer_rules.txt:3"
    assert "A+AB+B with express_upgrade -5000" in second.explanation
    assert "5400 s departure to arrival of 5400 s" in second.explanation


@pytest.mark.parametrize(
    ("when", "route_id", "category", "expected"),
    [
        ("2024-03-04 08:00", "B1", "adult", 12_000),  # Monday morning peak
        ("2024-03-04 10:00", "B1", "adult", 10_000),
        ("2024-03-04 18:59:59", "B1", "adult", 12_000),
        ("2024-03-04 19:00", "B1", "adult", 10_000),  # end_time is not in the frame
        ("2024-03-09 08:00", "B1", "adult", 10_000),  # Saturday: no peak on weekends
        ("2024-03-04 23:00", "B1", "adult", 15_000),  # night
        ("2024-03-05 02:00", "B1", "adult", 15_000),
        ("2024-03-04 08:00", "B1", "student", 6_000),
        ("2024-03-04 23:00", "B1", "student", 15_000),  # the night price is for every rider
        ("2024-03-04 08:00", "X1", "adult", 20_000),  # express has no peak rule
    ],
)
def test_time_of_day_picks_the_highest_priority_leg_rule(
    riverton: Tariff, when: str, route_id: str, category: str, expected: int
) -> None:
    decision = price_tap(make_state(category), make_tap(when, route_id), riverton)
    assert decision.fare == expected


def test_a_student_night_ride_is_charged_up_to_the_student_daily_cap(riverton: Tariff) -> None:
    decision = price_tap(make_state("student"), make_tap("2024-03-04 23:00", "B1"), riverton)
    assert (decision.fare, decision.amount, decision.cap_id) == (15_000, 12_000, "student_day")


def test_an_airport_stop_outranks_the_peak_rule(riverton: Tariff) -> None:
    decision = price_tap(make_state(), make_tap("2024-03-04 08:00", "B1", "AP1"), riverton)
    assert (decision.amount, decision.leg_rule) == (30_000, "fare_leg_rules.txt:5")


def test_a_student_cannot_pay_the_adult_only_airport_fare(riverton: Tariff) -> None:
    decision = price_tap(make_state("student"), make_tap("2024-03-04 10:00", "B1", "AP1"), riverton)
    assert (decision.accepted, decision.denial) == (False, CATEGORY_NOT_ELIGIBLE)


def test_a_senior_rides_free_and_still_meets_the_passback_rule(riverton: Tariff) -> None:
    decisions = ride(
        riverton, [("2024-03-04 10:00", "B1"), ("2024-03-04 10:01", "B1")], make_state("senior")
    )
    assert charges(decisions) == [(0, FREE), (0, PaidBy.NOTHING)]
    assert decisions[1].denial is not None
    assert decisions[1].denial.code == "passback"


def day_of_rides(day: str, count: int) -> list[tuple[str, str]]:
    """Rides 90 minutes apart from 10:00, alternating routes: never a transfer or passback."""
    start = datetime.fromisoformat(f"{day} 10:00")
    return [
        ((start + timedelta(minutes=90 * i)).isoformat(sep=" "), ("B1", "B2")[i % 2])
        for i in range(count)
    ]


def test_daily_and_weekly_caps_apply_together(riverton: Tariff) -> None:
    week = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-11"]
    taps = [tap for day in week for tap in day_of_rides(day, 4)]
    amounts = [d.amount for d in ride(riverton, taps)]
    assert amounts == [
        10_000, 10_000, 10_000, 0,  # Monday: the daily cap of 30,000
        10_000, 10_000, 10_000, 0,
        10_000, 10_000, 10_000, 0,  # 90,000 this week
        10_000, 0, 0, 0,  # Thursday: the weekly cap of 100,000 binds before the daily one
        10_000, 10_000, 10_000, 0,  # next Monday: a new week
    ]  # fmt: skip


def test_a_capped_ride_says_which_cap_paid(riverton: Tariff) -> None:
    decisions = ride(riverton, day_of_rides("2024-03-04", 4))
    last = decisions[-1]
    assert (last.amount, last.paid_by, last.cap_id) == (0, CAP, "adult_day")
    assert "cap adult_day (day from 2024-03-04): 30000 of 30000 paid" in last.explanation


def test_the_service_day_starts_at_four_in_the_morning(riverton: Tariff) -> None:
    taps = [*day_of_rides("2024-03-04", 3), ("2024-03-05 02:50", "B2"), ("2024-03-05 04:00", "B1")]
    assert [d.amount for d in ride(riverton, taps)] == [10_000, 10_000, 10_000, 0, 15_000]


def test_a_part_of_the_fare_is_charged_up_to_the_cap(riverton: Tariff) -> None:
    taps = [("2024-03-04 10:00", "B1"), ("2024-03-04 11:30", "B2"), ("2024-03-04 23:00", "B1")]
    decisions = ride(riverton, taps)
    assert [d.amount for d in decisions] == [10_000, 10_000, 10_000]
    assert decisions[2].fare == 15_000
    assert decisions[2].cap_id == "adult_day"


def test_a_network_cap_counts_only_that_network(riverton: Tariff) -> None:
    taps = [("2024-03-04 10:00", "F1"), ("2024-03-04 11:00", "F2"), ("2024-03-04 12:00", "F1"),
            ("2024-03-04 13:00", "B1")]  # fmt: skip
    assert charges(ride(riverton, taps)) == [(5_000, SV), (5_000, SV), (2_000, SV), (10_000, SV)]


def test_the_monthly_cap_is_the_price_of_the_monthly_pass(riverton: Tariff) -> None:
    days = [date(2024, 3, 1) + timedelta(days=i) for i in range(31)]
    taps = [tap for day in days for tap in day_of_rides(day.isoformat(), 4)]
    decisions = ride(riverton, taps)
    paid = [d.amount for d in decisions if d.amount]
    assert sum(d.amount for d in decisions) == 300_000
    # 1-3 March: 90,000; 4-10 and 11-17 March: 100,000 each; 18 March: the last 10,000.
    last_paid = max(i for i, decision in enumerate(decisions) if decision.amount > 0)
    assert decisions[last_paid].amount == 10_000
    assert taps[last_paid][0] == "2024-03-18 10:00:00"
    assert decisions[last_paid + 1].cap_id == "adult_month"
    assert len(paid) == 9 + 10 + 10 + 1


def test_a_student_rolling_cap_runs_three_service_days_from_the_first_charge(
    riverton: Tariff,
) -> None:
    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    taps = [tap for day in days for tap in day_of_rides(day, 3)]
    amounts = [d.amount for d in ride(riverton, taps, make_state("student"))]
    assert amounts == [
        5_000, 5_000, 2_000,  # student daily cap 12,000
        5_000, 5_000, 2_000,
        5_000, 1_000, 0,  # the rolling three-day cap of 30,000
        5_000, 5_000, 2_000,  # a new three-day window
    ]  # fmt: skip


def test_an_expired_student_pays_as_an_adult(riverton: Tariff) -> None:
    state = make_state("student", valid_until=date(2024, 5, 31))
    before = price_tap(state, make_tap("2024-05-31 10:00", "B1"), riverton)
    after = price_tap(state, make_tap("2024-06-01 10:00", "B1"), riverton)
    assert (before.amount, before.category_id) == (5_000, "student")
    assert (after.amount, after.category_id) == (10_000, "adult")


def test_a_one_route_bus_pass_covers_its_route_only(riverton: Tariff) -> None:
    version = riverton.versions[0]
    held = issue_pass(version, "route_30d", "adult", date(2024, 3, 4), "B1")
    state = make_state(passes=(held,))
    taps = [("2024-03-04 10:00", "B1"), ("2024-03-04 11:30", "B2"), ("2024-04-02 10:00", "B1"),
            ("2024-04-03 10:00", "B1")]  # fmt: skip
    # B2 is a transfer from the pass ride: free. 2 April is day 30; 3 April is past the pass.
    assert charges(ride(riverton, taps, state)) == [(0, PASS), (10_000, SV), (0, PASS),
                                                    (10_000, SV)]  # fmt: skip


def test_a_one_route_pass_cannot_be_sold_for_a_route_outside_its_network(riverton: Tariff) -> None:
    with pytest.raises(ValueError, match="not in network 'bus'"):
        issue_pass(riverton.versions[0], "route_30d", "adult", date(2024, 3, 4), "X1")


def test_the_card_medium_price_is_used_not_the_paper_one(riverton: Tariff) -> None:
    assert price_tap(make_state(), make_tap("2024-03-04 10:00", "B1"), riverton).amount == 10_000
