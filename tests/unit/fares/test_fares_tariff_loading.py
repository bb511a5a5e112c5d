"""Loading tariff folders: versions by date, GTFS matching without rule_priority, and every
problem of a bad folder reported as file:line: reason."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fares import Direction, FareState, PaidBy, Tap, TariffError, load_tariff, price_tap
from fares.loader import HANOI_TARIFF_DIR

RIVERTON = Path(__file__).resolve().parent / "tariffs" / "riverton"
LOCAL = timezone(timedelta(hours=7))


def make_tariff_dir(tmp_path: Path, source: Path = RIVERTON, **files: str | None) -> Path:
    """A copy of a tariff folder with some files replaced (text) or removed (None)."""
    folder = tmp_path / "tariff"
    shutil.copytree(source, folder)
    for name, text in files.items():
        path = folder / f"{name}.txt"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(TariffError) as caught:
        load_tariff(folder)
    return caught.value.problems


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "fare_products",
            "fare_product_id,rider_category_id,fare_media_id,amount,currency\n"
            "bus_fare,adult,river_card,8000.50,VND\n",
            "fare_products.txt:2: amount must be whole VND units, not '8000.50'",
        ),
        (
            "fare_leg_rules",
            "leg_group_id,network_id,fare_product_id\nbus,bus,bus_fare\nbus,tram,nothing\n",
            "fare_leg_rules.txt:3: fare_product_id 'nothing' is not in fare_products.txt",
        ),
        (
            "fare_leg_rules",
            "leg_group_id,network_id,fare_product_id\nbus,tram,bus_fare\n",
            "fare_leg_rules.txt:2: network_id 'tram' is not a known network",
        ),
        (
            "fare_transfer_rules",
            "from_leg_group_id,to_leg_group_id,transfer_count,fare_transfer_type\nbus,bus,,0\n",
            "fare_transfer_rules.txt:2: transfer_count is required when from and to leg groups "
            "are the same",
        ),
        (
            "fare_transfer_rules",
            "from_leg_group_id,to_leg_group_id,transfer_count,fare_transfer_type\n"
            "bus,ferry,2,0\n",
            "fare_transfer_rules.txt:2: transfer_count is forbidden when from and to leg groups "
            "differ",
        ),
        (
            "fare_transfer_rules",
            "from_leg_group_id,to_leg_group_id,duration_limit,fare_transfer_type\nbus,ferry,60,0\n",
            "fare_transfer_rules.txt:2: duration_limit and duration_limit_type go together",
        ),
        (
            "fare_transfer_rules",
            "from_leg_group_id,to_leg_group_id,fare_transfer_type\nbus,ferry,3\n",
            "fare_transfer_rules.txt:2: fare_transfer_type must be at most 2, not 3",
        ),
        (
            "rider_categories",
            "rider_category_id,rider_category_name,is_default_fare_category\n"
            "adult,Adult,1\nstudent,Student,1\nsenior,Senior,0\n",
            "rider_categories.txt:3: a second default category; line 2 is one",
        ),
        (
            "timeframes",
            "timeframe_group_id,start_time,end_time,service_id\npeak,19:00:00,07:00:00,\n"
            "night,22:00:00,24:00:00,\n",
            "timeframes.txt:2: end_time must be after start_time (split a frame across midnight)",
        ),
        (
            "tariff_version",
            "tariff_version_id,effective_from,utc_offset,currency\nr,2024-01-01,UTC+7,VND\n",
            "tariff_version.txt:2: utc_offset must be like +07:00, not 'UTC+7'",
        ),
        (
            "fare_caps",
            "cap_id,cap_code,period,amount,pass_product_id\nd,1,day,,\n",
            "fare_caps.txt:2: give exactly one of amount and pass_product_id",
        ),
        (
            "fare_caps",
            "cap_id,cap_code,period,amount\nd,1,fortnight,100\n",
            "fare_caps.txt:2: period must be one of day, week, month, rolling, not 'fortnight'",
        ),
        (
            "fare_caps",
            "cap_id,cap_code,rider_category_id,period,amount\n"
            "a,1,adult,day,1\nb,2,adult,day,2\nc,3,adult,day,3\nd,4,adult,day,4\ne,5,adult,day,5\n",
            "fare_caps.txt:6: category 'adult' has more than 4 caps; a card keeps 4 cap totals",
        ),
        (
            "pass_products",
            "pass_product_id,pass_code,coverage,validity,validity_length\n"
            "monthly_all,1,one_route,calendar_month,1\nroute_30d,1,one_route,days,30\n",
            "pass_products.txt:3: pass_code 1 repeats line 2",
        ),
        (
            "rider_category_attributes",
            None,
            "rider_category_attributes.txt:1: required file is missing",
        ),
        (
            "route_networks",
            "network_id,route_id\nbus,B1\nferry,B1\n",
            "route_networks.txt:3: route_id 'B1' repeats line 2",
        ),
        (
            "fare_leg_rules",
            "leg_group_id,network_id\n",
            "fare_leg_rules.txt:1: missing column fare_product_id",
        ),
    ],
)  # fmt: skip
def test_a_bad_tariff_names_the_file_line_and_reason(
    tmp_path: Path, name: str, text: str | None, problem: str
) -> None:
    assert problem in problems_of(make_tariff_dir(tmp_path, **{name: text}))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = make_tariff_dir(
        tmp_path,
        fare_media="fare_media_id,fare_media_type\nriver_card,9\n",
        networks="network_id\nbus\nbus\n",
        calendar=None,
    )
    problems = problems_of(folder)
    assert "fare_media.txt:2: fare_media_type must be at most 4, not 9" in problems
    assert "networks.txt:3: network_id 'bus' repeats line 2" in problems
    assert "timeframes.txt:2: service_id 'weekdays' is not in calendar.txt" in problems
    assert len(problems) >= 3


def test_a_folder_without_a_version_file_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [
        f"tariff_version.txt:1: missing, in {tmp_path} and in every subfolder: no tariff version"
    ]


def test_the_problems_of_a_version_folder_are_prefixed_with_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "hanoi"
    shutil.copytree(HANOI_TARIFF_DIR, folder)
    (folder / "2024-11-01" / "rider_category_attributes.txt").write_text(
        "rider_category_id,category_code,rides_free\nadult,2,0\nstudent,1,0\nworker,3,0\n"
        "elderly,4,1\nchild,5,1\ndisability,6,1\nmerit,7,1\npoor_household,8,1\ngroup,9,0\n",
        encoding="utf-8",
    )
    problems = problems_of(folder)
    assert (
        "2024-11-01/rider_category_attributes.txt:1: category code 2 is 'adult' here but "
        "'student' in version hanoi-before-2024-11; codes on cards must keep their meaning"
    ) in problems


def test_the_version_in_force_is_chosen_by_the_tap_date(tmp_path: Path) -> None:
    tariff = load_tariff(HANOI_TARIFF_DIR)
    assert [v.effective_from for v in tariff.versions] == [
        date(2020, 1, 1),
        date(2024, 11, 1),
        date(2025, 9, 1),
    ]
    before = datetime(2024, 10, 31, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Hanoi
    after = before + timedelta(seconds=1)
    state = FareState(1)
    assert price_tap(state, Tap(before, "107"), tariff).amount == 9_000
    assert price_tap(state, Tap(after, "107"), tariff).amount == 20_000


EXACT_MATCH_RULES = (
    "leg_group_id,network_id,from_area_id,to_area_id,from_timeframe_group_id,fare_product_id\n"
    "bus,bus,,,,bus_fare\n"
    "airport,bus,airport,airport,,airport_fare\n"
    "bus,bus,,,peak,bus_peak\n"
    "express,,,,,express_fare\n"
)


@pytest.mark.parametrize(
    ("when", "route_id", "stop_id", "expected"),
    [
        ("2024-03-04 10:00", "B1", "S1", 10_000),  # empty area and timeframe: not listed
        ("2024-03-04 10:00", "B1", "AP1", 30_000),  # the airport is listed: empty excluded
        ("2024-03-04 08:00", "B1", "S1", 12_000),  # peak is listed: empty timeframe excluded
        ("2024-03-04 08:00", "B1", "AP1", None),  # both listed: no rule names both, no fare
        ("2024-03-04 10:00", "F1", "S1", 20_000),  # empty network: every network not listed
        ("2024-03-04 10:00", "ZZ", "S1", 20_000),
    ],
)
def test_without_rule_priority_an_empty_field_matches_only_values_not_listed(
    tmp_path: Path, when: str, route_id: str, stop_id: str, expected: int | None
) -> None:
    tariff = load_tariff(
        make_tariff_dir(tmp_path, fare_leg_rules=EXACT_MATCH_RULES, fare_transfer_rules=None)
    )
    moment = datetime.fromisoformat(when).replace(tzinfo=LOCAL)
    decision = price_tap(FareState(1), Tap(moment, route_id, stop_id), tariff)
    if decision.paid_by == PaidBy.AT_EXIT:
        # A rule naming a to_area prices the journey at its exit: leave at the same stop later.
        exit_tap = Tap(moment + timedelta(minutes=30), route_id, stop_id, direction=Direction.EXIT)
        decision = price_tap(decision.state, exit_tap, tariff)
    assert (decision.accepted, decision.fare) == (expected is not None, expected or 0)
