"""The extension files of tap on, tap off: free days, passes over several networks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fares import FareState, PaidBy, Tap, issue_pass, load_tariff, price_tap
from tests.unit.fares.test_fares_tariff_loading import RIVERTON, make_tariff_dir, problems_of

LOCAL = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "fare_free_periods",
            "free_period_id,free_period_name,start_date,end_date\nx,Holiday,20240305,20240301\n",
            "fare_free_periods.txt:2: end_date 2024-03-01 is before start_date 2024-03-05",
        ),
        (
            "fare_free_periods",
            "free_period_id,free_period_name,start_date,end_date\n"
            "a,Holiday,20240301,20240305\nb,Festival,20240305,20240306\n",
            "fare_free_periods.txt:3: free period 'b' overlaps 'a' (fare_free_periods.txt:2)",
        ),
        (
            "fare_free_periods",
            "free_period_id,free_period_name,start_date,end_date\nx,Holiday,20240301,soon\n",
            "fare_free_periods.txt:2: end_date must be a date",
        ),
        (
            "pass_networks",
            "pass_product_id,network_id\nroute_30d,bus\n",
            "pass_networks.txt:2: pass 'route_30d' covers one route",
        ),
        (
            "pass_networks",
            "pass_product_id,network_id\nmonthly_all,tram\n",
            "pass_networks.txt:2: network_id 'tram'",
        ),
    ],
)
def test_a_bad_extension_row_is_a_problem_naming_its_line(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    problems = [str(p) for p in problems_of(make_tariff_dir(tmp_path, **{name: text}))]
    assert any(p.startswith(problem) for p in problems), problems


def test_a_pass_listing_networks_covers_those_and_no_other(tmp_path: Path) -> None:
    folder = make_tariff_dir(
        tmp_path, pass_networks="pass_product_id,network_id\nmonthly_all,bus\nmonthly_all,ferry\n"
    )
    tariff = load_tariff(folder)
    held = issue_pass(tariff.versions[0], "monthly_all", "adult", date(2024, 3, 1))
    card = FareState(1, passes=(held,))
    at = datetime(2024, 3, 4, 10, 0, tzinfo=LOCAL)
    covered = [price_tap(card, Tap(at, route), tariff).paid_by for route in ("B1", "F1", "X1")]
    assert covered == [PaidBy.PASS, PaidBy.PASS, PaidBy.STORED_VALUE]


def test_the_riverton_tariff_still_loads_without_the_extensions() -> None:
    assert load_tariff(RIVERTON).versions[0].free_periods == ()
