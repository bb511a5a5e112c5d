"""What must hold for any taps: never negative, caps never exceeded, the state is sufficient,
and a valid pass on its route always pays."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cards.layout import pack_fare_state, unpack_fare_state
from fares import (
    CapSlot,
    Decision,
    FareState,
    PaidBy,
    Pass,
    Tap,
    Tariff,
    card_day,
    issue_pass,
    price_tap,
)
from fares.model import MAX_AMOUNT, MAX_CAP_SLOTS, MAX_RUN_TRANSFERS, Journey
from fares.tariff import CapPeriod

LOCAL = timezone(timedelta(hours=7))
START = datetime(2024, 1, 1, tzinfo=LOCAL)
RIVERTON_ROUTES = ["B1", "B2", "X1", "F1", "F2", "Z9"]
HANOI_ROUTES = ["09", "BRT01", "32", "34", "01", "86", "107"]
FEW = settings(max_examples=60, deadline=None)

gaps = st.one_of(st.integers(0, 15 * 60), st.integers(0, 3 * 3600), st.integers(0, 3 * 86_400))
rider_taps = st.lists(
    st.tuples(gaps, st.sampled_from(RIVERTON_ROUTES), st.sampled_from(["S1", "S2", "AP1"])),
    min_size=1,
    max_size=40,
)
riverton_states = st.builds(
    FareState.new,
    st.sampled_from([1, 2, 3, 9]),
    st.one_of(st.none(), st.dates(date(2024, 1, 1), date(2024, 12, 31))),
)


def make_taps(start_day: int, steps: list[tuple[int, str, str]]) -> list[Tap]:
    moment = START + timedelta(days=start_day)
    taps = []
    for gap, route_id, stop_id in steps:
        moment += timedelta(seconds=gap)
        taps.append(Tap(moment, route_id, stop_id, "dev-1"))
    return taps


def price_all(state: FareState, taps: list[Tap], tariff: Tariff) -> list[Decision]:
    decisions = []
    for tap in taps:
        decision = price_tap(state, tap, tariff)
        decisions.append(decision)
        state = decision.state
    return decisions


@FEW
@given(state=riverton_states, start_day=st.integers(0, 300), steps=rider_taps)
def test_amounts_are_never_negative_nor_above_the_fare(
    riverton: Tariff, state: FareState, start_day: int, steps: list[tuple[int, str, str]]
) -> None:
    for decision in price_all(state, make_taps(start_day, steps), riverton):
        assert 0 <= decision.amount <= max(decision.fare, 0)
        assert decision.accepted or decision.amount == 0


def service_date(tap: Tap) -> date:
    """Riverton's service day: local time (+07:00) less four hours."""
    return (tap.time.astimezone(LOCAL) - timedelta(hours=4)).date()


def period_of(period: CapPeriod, day: date) -> tuple[int, ...]:
    if period is CapPeriod.DAY:
        return (day.toordinal(),)
    if period is CapPeriod.WEEK:
        return day.isocalendar()[:2]
    return (day.year, day.month)


@FEW
@given(state=riverton_states, start_day=st.integers(0, 300), steps=rider_taps)
def test_no_period_total_ever_exceeds_its_cap(
    riverton: Tariff, state: FareState, start_day: int, steps: list[tuple[int, str, str]]
) -> None:
    taps = make_taps(start_day, steps)
    decisions = price_all(state, taps, riverton)
    version = riverton.versions[0]
    for cap in version.caps:
        totals: dict[tuple[int, ...], int] = defaultdict(int)
        window_start: date | None = None
        for tap, decision in zip(taps, decisions, strict=True):
            in_scope = decision.category_id in cap.amounts and cap.network_id in (
                "",
                version.route_networks.get(tap.route_id),
            )
            if not (in_scope and decision.amount):
                continue
            day = service_date(tap)
            if cap.period is CapPeriod.ROLLING:
                if window_start is None or day >= window_start + timedelta(days=cap.period_days):
                    window_start = day
                key: tuple[int, ...] = (window_start.toordinal(),)
            else:
                key = period_of(cap.period, day)
            totals[key] += decision.amount
            assert totals[key] <= cap.amounts[decision.category_id], (cap.cap_id, key)


@FEW
@given(
    state=riverton_states,
    start_day=st.integers(0, 300),
    steps=rider_taps,
    split=st.integers(0, 40),
)
def test_pricing_split_at_any_point_with_the_card_state_gives_the_same_charges(
    riverton: Tariff,
    state: FareState,
    start_day: int,
    steps: list[tuple[int, str, str]],
    split: int,
) -> None:
    taps = make_taps(start_day, steps)
    at = min(split, len(taps))
    whole = price_all(state, taps, riverton)
    first = price_all(state, taps[:at], riverton)
    carried = unpack_fare_state(pack_fare_state(first[-1].state if first else state))
    second = price_all(carried, taps[at:], riverton)
    assert first + second == whole


@FEW
@given(
    category=st.sampled_from(["adult", "student", "worker"]),
    month=st.dates(date(2024, 1, 1), date(2025, 12, 1)),
    route_id=st.sampled_from(HANOI_ROUTES),
    all_routes=st.booleans(),
    days_and_minutes=st.lists(
        st.tuples(st.integers(0, 27), st.integers(0, 24 * 60 - 1)), min_size=1, max_size=20
    ),
)
def test_a_valid_pass_on_its_route_always_gives_zero(
    hanoi: Tariff,
    category: str,
    month: date,
    route_id: str,
    all_routes: bool,
    days_and_minutes: list[tuple[int, int]],
) -> None:
    first = month.replace(day=1)
    version = hanoi.version_at(card_day(first) * 86_400)
    assert version is not None
    product = "pass_all_routes" if all_routes else "pass_one_route"
    held = issue_pass(version, product, category, first, None if all_routes else route_id)
    state = FareState.new(version.categories[category].code, passes=(held,))
    moments = sorted(
        datetime(first.year, first.month, 1 + day, tzinfo=LOCAL) + timedelta(minutes=minute)
        for day, minute in days_and_minutes
    )
    for decision in price_all(state, [Tap(m, route_id, "S1") for m in moments], hanoi):
        assert decision.amount == 0
        # On a free day (Tết, National Day) the day pays, not the pass.
        assert decision.paid_by in (PaidBy.PASS, PaidBy.NOTHING, PaidBy.FREE_DAY)


amounts = st.integers(0, MAX_AMOUNT)  # what a card stores: 3 bytes
cap_slots = st.builds(CapSlot, st.integers(1, 255), st.integers(0, 0xFFFF), amounts)
passes = st.builds(
    Pass,
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
)
u32 = st.integers(0, 2**32 - 1)
fare_states = st.builds(
    FareState,
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    u32,
    u32,
    u32,
    amounts,
    u32,
    u32,
    st.integers(0, MAX_RUN_TRANSFERS),
    amounts,
    st.lists(cap_slots, max_size=MAX_CAP_SLOTS).map(tuple),
    st.lists(passes, max_size=4).map(tuple),
    st.sampled_from(list(Journey)).map(int),
    u32,
    st.integers(0, 0xFF_FFFF),  # the entry stop's 24-bit key
    st.integers(0, 0xFFFF),  # the vehicle's 16-bit key
)


@settings(max_examples=200, deadline=None)
@given(state=fare_states)
def test_any_fare_state_round_trips_through_its_record(state: FareState) -> None:
    assert unpack_fare_state(pack_fare_state(state)) == state
