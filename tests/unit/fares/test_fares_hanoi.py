"""Hanoi's tariff as shipped: length bands, both sides of 2024-11-01, free groups, passes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from fares import (
    NO_FARE_RULE,
    NO_TARIFF,
    PASSBACK,
    FareState,
    PaidBy,
    Pass,
    Tap,
    Tariff,
    card_day,
    issue_pass,
    pass_price,
    price_tap,
)

HANOI_TIME = timezone(timedelta(hours=7))
CATEGORY_CODES = {
    "adult": 1,
    "student": 2,
    "worker": 3,
    "elderly": 4,
    "child": 5,
    "disability": 6,
    "merit": 7,
    "poor_household": 8,
}
BANDS = {  # demo network route -> (price before 2024-11-01, price from 2024-11-01)
    "09": (7_000, 8_000),
    "BRT01": (7_000, 8_000),
    "32": (7_000, 10_000),
    "34": (7_000, 10_000),
    "01": (8_000, 12_000),
    "86": (9_000, 15_000),
    "107": (9_000, 20_000),
}
LAST_OLD_MINUTE = "2024-10-31 23:59"
FIRST_NEW_MINUTE = "2024-11-01 00:00"


def at(local: str) -> datetime:
    """A Hanoi local time, written as 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(local).replace(tzinfo=HANOI_TIME)


def make_tap(local: str, route_id: str, stop_id: str = "stop-1") -> Tap:
    return Tap(at(local), route_id, stop_id, "bus-29B-001")


def make_state(
    category: str = "adult", valid_until: date | None = None, passes: tuple[Pass, ...] = ()
) -> FareState:
    return FareState.new(CATEGORY_CODES[category], valid_until, passes)


def make_pass(
    tariff: Tariff, product: str, category: str, month: str, route_id: str | None = None
) -> Pass:
    start = date.fromisoformat(f"{month}-01")
    version = tariff.version_at(card_day(start) * 86_400)
    assert version is not None
    return issue_pass(version, product, category, start, route_id)


@pytest.mark.parametrize(("route_id", "before", "after"), [(r, *p) for r, p in BANDS.items()])
@pytest.mark.parametrize("category", ["adult", "student", "worker"])
def test_single_ride_costs_the_band_price_of_the_route_on_each_side_of_1_november_2024(
    hanoi: Tariff, route_id: str, before: int, after: int, category: str
) -> None:
    state = make_state(category)
    old = price_tap(state, make_tap(LAST_OLD_MINUTE, route_id), hanoi)
    new = price_tap(state, make_tap(FIRST_NEW_MINUTE, route_id), hanoi)
    assert (old.amount, new.amount) == (before, after)
    assert old.paid_by is new.paid_by is PaidBy.STORED_VALUE
    assert (old.tariff_version_id, new.tariff_version_id) == (
        "hanoi-before-2024-11",
        "hanoi-2024-11",
    )


@pytest.mark.parametrize("route_id", ["09", "32", "01", "86", "107"])
def test_the_explanation_names_the_leg_rule_of_the_band(hanoi: Tariff, route_id: str) -> None:
    decision = price_tap(make_state(), make_tap("2024-11-04 08:00", route_id), hanoi)
    assert decision.leg_rule.startswith("2024-11-01/fare_leg_rules.txt:")
    assert decision.leg_rule in decision.explanation
    assert f"charged {BANDS[route_id][1]}" in decision.explanation


@pytest.mark.parametrize("category", ["elderly", "child", "disability", "merit", "poor_household"])
@pytest.mark.parametrize("when", [LAST_OLD_MINUTE, FIRST_NEW_MINUTE])
@pytest.mark.parametrize("route_id", list(BANDS))
def test_free_groups_ride_every_route_free(
    hanoi: Tariff, category: str, when: str, route_id: str
) -> None:
    decision = price_tap(make_state(category), make_tap(when, route_id), hanoi)
    assert decision.accepted
    assert (decision.amount, decision.paid_by) == (0, PaidBy.FREE_CATEGORY)
    assert f"rider category {category} rides free" in decision.explanation


@pytest.mark.parametrize(
    ("product", "category", "before", "after"),
    [
        ("pass_one_route", "student", 55_000, 70_000),
        ("pass_all_routes", "student", 100_000, 140_000),
        ("pass_one_route", "worker", 55_000, 70_000),
        ("pass_all_routes", "worker", 100_000, 140_000),
        ("pass_one_route", "adult", 100_000, 140_000),
        ("pass_all_routes", "adult", 200_000, 280_000),
    ],
)
def test_monthly_pass_prices_for_students_and_others(
    hanoi: Tariff, product: str, category: str, before: int, after: int
) -> None:
    old, new, metro = hanoi.versions
    assert (pass_price(old, product, category), pass_price(new, product, category)) == (
        before,
        after,
    )
    assert pass_price(metro, product, category) == after  # the bus passes kept their prices


@pytest.mark.parametrize("category", ["elderly", "child", "merit"])
def test_free_groups_cannot_buy_a_pass(hanoi: Tariff, category: str) -> None:
    with pytest.raises(ValueError, match="may not buy"):
        pass_price(hanoi.versions[1], "pass_one_route", category)


@pytest.mark.parametrize("category", ["student", "adult"])
@pytest.mark.parametrize("month", ["2024-10", "2024-11"])
def test_one_route_pass_rides_its_route_free(hanoi: Tariff, category: str, month: str) -> None:
    held = make_pass(hanoi, "pass_one_route", category, month, "32")
    decision = price_tap(
        make_state(category, passes=(held,)), make_tap(f"{month}-15 07:30", "32"), hanoi
    )
    assert (decision.amount, decision.paid_by) == (0, PaidBy.PASS)
    assert decision.pass_product_id == "pass_one_route"


@pytest.mark.parametrize(("route_id", "fare"), [("34", 10_000), ("09", 8_000), ("107", 20_000)])
def test_one_route_pass_on_a_route_it_does_not_cover_pays_the_single_fare(
    hanoi: Tariff, route_id: str, fare: int
) -> None:
    held = make_pass(hanoi, "pass_one_route", "student", "2024-11", "32")
    decision = price_tap(
        make_state("student", passes=(held,)), make_tap("2024-11-15 07:30", route_id), hanoi
    )
    assert (decision.amount, decision.paid_by) == (fare, PaidBy.STORED_VALUE)


@pytest.mark.parametrize("route_id", list(BANDS))
def test_all_routes_pass_rides_every_route_free(hanoi: Tariff, route_id: str) -> None:
    held = make_pass(hanoi, "pass_all_routes", "adult", "2024-11")
    decision = price_tap(make_state(passes=(held,)), make_tap("2024-11-30 21:00", route_id), hanoi)
    assert (decision.amount, decision.paid_by) == (0, PaidBy.PASS)


@pytest.mark.parametrize("when", ["2024-10-31 18:00", "2024-12-01 06:00"])
def test_a_monthly_pass_outside_its_month_does_not_pay(hanoi: Tariff, when: str) -> None:
    held = make_pass(hanoi, "pass_all_routes", "adult", "2024-11")
    decision = price_tap(make_state(passes=(held,)), make_tap(when, "09"), hanoi)
    assert decision.paid_by is PaidBy.STORED_VALUE
    assert decision.amount > 0


def test_a_one_route_pass_needs_a_route(hanoi: Tariff) -> None:
    with pytest.raises(ValueError, match="name the route"):
        issue_pass(hanoi.versions[1], "pass_one_route", "student", date(2024, 11, 1))


def test_a_child_card_past_the_sixth_birthday_pays_the_adult_fare(hanoi: Tariff) -> None:
    state = make_state("child", valid_until=date(2024, 11, 19))
    last_free = price_tap(state, make_tap("2024-11-19 17:00", "09"), hanoi)
    first_paid = price_tap(state, make_tap("2024-11-20 07:00", "09"), hanoi)
    assert (last_free.amount, last_free.paid_by) == (0, PaidBy.FREE_CATEGORY)
    assert (first_paid.amount, first_paid.category_id) == (8_000, "adult")
    assert "category child ended 2024-11-19, priced as adult" in first_paid.explanation


def test_hanoi_has_no_transfer_discount(hanoi: Tariff) -> None:
    first = price_tap(make_state(), make_tap("2024-11-04 07:00", "09"), hanoi)
    second = price_tap(first.state, make_tap("2024-11-04 07:10", "32"), hanoi)
    assert (first.amount, second.amount) == (8_000, 10_000)
    assert second.transfer_rule == ""


def test_the_same_card_on_the_same_route_within_five_minutes_is_refused(hanoi: Tariff) -> None:
    first = price_tap(make_state("elderly"), make_tap("2024-11-04 07:00", "09"), hanoi)
    again = price_tap(first.state, make_tap("2024-11-04 07:04", "09"), hanoi)
    assert not again.accepted
    assert again.denial == PASSBACK
    assert again.denial.text_vi == "Thẻ vừa được quẹt trên tuyến này"
    assert again.state == first.state


@pytest.mark.parametrize(
    ("when", "route_id"), [("2024-11-04 07:05", "09"), ("2024-11-04 07:01", "32")]
)
def test_after_five_minutes_or_on_another_route_the_card_boards_again(
    hanoi: Tariff, when: str, route_id: str
) -> None:
    first = price_tap(make_state(), make_tap("2024-11-04 07:00", "09"), hanoi)
    assert price_tap(first.state, make_tap(when, route_id), hanoi).accepted


def test_a_route_outside_the_tariff_is_refused_with_no_fare_rule(hanoi: Tariff) -> None:
    decision = price_tap(make_state(), make_tap("2024-11-04 07:00", "999"), hanoi)
    assert (decision.accepted, decision.denial) == (False, NO_FARE_RULE)
    assert decision.denial.text_en == "There is no fare for this route"


def test_a_tap_before_the_first_tariff_version_is_refused(hanoi: Tariff) -> None:
    decision = price_tap(make_state(), make_tap("2019-12-31 12:00", "09"), hanoi)
    assert decision.denial == NO_TARIFF


def test_an_unknown_category_code_is_priced_as_the_default_category(hanoi: Tariff) -> None:
    decision = price_tap(FareState(200), make_tap("2024-11-04 07:00", "01"), hanoi)
    assert (decision.amount, decision.category_id) == (12_000, "adult")
    assert "code 200 is unknown" in decision.explanation


def test_every_demo_route_is_in_exactly_one_length_band(hanoi: Tariff) -> None:
    metro = {"2A": "hn_metro_2a", "3.1": "hn_metro_31"}  # from 2025-09-01, on the same card
    for version in hanoi.versions:
        buses = {r: n for r, n in version.route_networks.items() if r not in metro}
        assert buses == {
            "09": "hn_lt15",
            "BRT01": "hn_lt15",
            "32": "hn_15_25",
            "34": "hn_15_25",
            "01": "hn_25_30",
            "86": "hn_30_40",
            "107": "hn_ge40",
        }
