"""Rules of the GTFS-Fares v2 reference the engine follows to the letter: which transfer rule of a
leg-group pair is used, how A, AB and B add up over three legs and more, amounts in the
currency's decimal places, and a tariff folder that holds nothing the loader would skip.

Each tariff here is a few files written by `make_tariff`: one bus network at 10,000 a leg unless
a test says otherwise, so that every amount can be worked out by hand.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fares import Decision, FareState, PaidBy, Tap, Tariff, TariffError, load_tariff, price_tap
from fares.gtfs_csv import MINOR_UNITS, Invalid, currency_amount
from fares.loader import HANOI_TARIFF_DIR

LOCAL = timezone(timedelta(hours=7))
START = datetime(2024, 3, 4, 10, 0, tzinfo=LOCAL)
TRANSFER_HEADER = (
    "from_leg_group_id,to_leg_group_id,transfer_count,duration_limit,duration_limit_type,"
    "fare_transfer_type,fare_product_id\n"
)
SV, TR = PaidBy.STORED_VALUE, PaidBy.TRANSFER


def make_tariff(
    folder: Path,
    *,
    currency: str = "VND",
    products: str = "bus_fare,,10000",
    transfers: str | None = None,
    **files: str,
) -> Path:
    """A one-version tariff: routes B1 and B2 in network bus, leg group bus, product bus_fare.

    `products` are `fare_product_id,rider_category_id,amount` lines in the tariff's currency.
    """
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "tariff_version": "tariff_version_id,effective_from,utc_offset,currency\n"
        f"test-1,2024-01-01,+07:00,{currency}\n",
        "rider_categories": "rider_category_id,rider_category_name,is_default_fare_category\n"
        "adult,Adult,1\n",
        "rider_category_attributes": "rider_category_id,category_code\nadult,1\n",
        "fare_products": "fare_product_id,rider_category_id,amount,currency\n"
        + "".join(f"{line},{currency}\n" for line in products.splitlines()),
        "route_networks": "network_id,route_id\nbus,B1\nbus,B2\n",
        "fare_leg_rules": "leg_group_id,network_id,fare_product_id\nbus,bus,bus_fare\n",
    }
    if transfers is not None:
        texts["fare_transfer_rules"] = TRANSFER_HEADER + transfers
    texts.update(files)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def ride(tariff: Tariff, minutes: list[int]) -> list[Decision]:
    """Boardings at these minutes after 10:00, alternating B1 and B2, carrying the card state."""
    state = FareState(1)
    decisions = []
    for index, minute in enumerate(minutes):
        tap = Tap(START + timedelta(minutes=minute), "B1" if index % 2 == 0 else "B2", "S1")
        decision = price_tap(state, tap, tariff)
        decisions.append(decision)
        state = decision.state
    return decisions


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(TariffError) as caught:
        load_tariff(folder)
    return caught.value.problems


# -- several transfer rules for one leg-group pair ---------------------------------------------

# File order is not the order of choice, and the unlimited rule is the cheaper one.
BY_COUNT = "bus,bus,-1,3600,1,0,\nbus,bus,2,3600,1,0,second_two\n"
BY_COUNT_PRODUCTS = "bus_fare,,10000\nsecond_two,,2000"


def test_the_rule_with_the_smallest_transfer_count_covering_the_transfer_is_used(
    tmp_path: Path,
) -> None:
    tariff = load_tariff(
        make_tariff(tmp_path / "t", products=BY_COUNT_PRODUCTS, transfers=BY_COUNT)
    )
    decisions = ride(tariff, [0, 10, 20, 30])
    # Transfers 1 and 2: the count-2 rule, though the unlimited one is free; then unlimited.
    assert [(d.amount, d.paid_by) for d in decisions] == [
        (10_000, SV), (2_000, SV), (2_000, SV), (0, TR)
    ]  # fmt: skip
    assert [d.transfer_rule for d in decisions[1:]] == [
        "fare_transfer_rules.txt:3",
        "fare_transfer_rules.txt:3",
        "fare_transfer_rules.txt:2",
    ]


def test_changing_to_another_rule_of_the_pair_keeps_the_window_of_the_first_leg(
    tmp_path: Path,
) -> None:
    tariff = load_tariff(
        make_tariff(tmp_path / "t", products=BY_COUNT_PRODUCTS, transfers=BY_COUNT)
    )
    # The fifth boarding is 35 minutes after the fourth but 65 after the first: no transfer.
    decisions = ride(tariff, [0, 10, 20, 30, 65])
    assert [d.amount for d in decisions] == [10_000, 2_000, 2_000, 0, 10_000]
    assert decisions[4].transfer_rule == ""


def test_a_transfer_explanation_names_the_rule_the_transfer_number_and_the_window(
    tmp_path: Path,
) -> None:
    tariff = load_tariff(
        make_tariff(tmp_path / "t", products=BY_COUNT_PRODUCTS, transfers=BY_COUNT)
    )
    third, fourth = ride(tariff, [0, 10, 20, 30])[2:]
    assert (
        "transfer rule fare_transfer_rules.txt:3 (bus to bus, A+AB with second_two 2000, "
        "transfer 2 of 2, 1200 s departure to departure of 3600 s from the first leg of the "
        "transfer, chosen of 2 rules by transfer_count): 2000"
    ) in third.explanation
    assert "fare_transfer_rules.txt:2" in fourth.explanation
    assert "transfer 3 unlimited, 1800 s departure to departure of 3600 s" in fourth.explanation


def test_when_no_rule_covers_the_transfer_count_the_leg_pays_and_starts_anew(
    tmp_path: Path,
) -> None:
    tariff = load_tariff(make_tariff(tmp_path / "t", transfers="bus,bus,1,3600,1,0,\n"))
    assert [d.amount for d in ride(tariff, [0, 5, 10, 15])] == [10_000, 0, 10_000, 0]


# -- fare_transfer_type over three and four legs -----------------------------------------------


@pytest.mark.parametrize(
    ("transfer_type", "between", "expected"),
    [
        # 0: A + AB, then S + BC: each later leg costs the transfer product.
        pytest.param(0, 2_000, [10_000, 2_000, 2_000, 2_000], id="A+AB then S+BC"),
        # 1: A + AB + B, then S + BC + C: the transfer product is added to each leg's fare.
        pytest.param(1, 2_000, [10_000, 12_000, 12_000, 12_000], id="A+AB+B then S+BC+C"),
        pytest.param(1, -4_000, [10_000, 6_000, 6_000, 6_000], id="A+AB+B with a discount"),
        # 2: AB in place of A (less the A paid), then S + BC: each later leg adds BC.
        pytest.param(2, 15_000, [10_000, 5_000, 15_000, 15_000], id="AB then S+BC"),
        pytest.param(2, 8_000, [10_000, 0, 8_000, 8_000], id="AB below A is never credited"),
    ],
)
@pytest.mark.parametrize("legs", [3, 4])
def test_transfer_types_add_up_as_the_reference_table_says(
    tmp_path: Path, transfer_type: int, between: int, expected: list[int], legs: int
) -> None:
    tariff = load_tariff(
        make_tariff(
            tmp_path / "t",
            products=f"bus_fare,,10000\nbetween,,{between}",
            transfers=f"bus,bus,-1,,,{transfer_type},between\n",
        )
    )
    decisions = ride(tariff, [0, 10, 20, 30][:legs])
    assert [d.amount for d in decisions] == expected[:legs]
    assert all(d.transfer_rule == "fare_transfer_rules.txt:2" for d in decisions[1:])


# -- amounts in the currency's decimal places --------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "text", "minor"),
    [
        ("VND", "8000", 8_000),
        ("JPY", "210", 210),
        ("GBP", "1.75", 175),
        ("GBP", "0.05", 5),
        ("USD", "2", 200),  # fewer places than ISO 4217's are exact too
        ("USD", "-0.50", -50),
        ("KWD", "0.250", 250),
        ("CLF", "1.2345", 12_345),
    ],
)
def test_a_currency_amount_is_read_exactly_in_minor_units(
    currency: str, text: str, minor: int
) -> None:
    assert currency_amount(currency, MINOR_UNITS[currency])(text) == minor


@pytest.mark.parametrize(
    ("currency", "digits", "text", "reason"),
    [
        ("VND", 0, "8000.50", "must be whole VND units, not '8000.50'"),
        ("VND", 0, "8000.0", "must be whole VND units, not '8000.0'"),
        ("GBP", 2, "1.755", "must have at most 2 decimal places in GBP (ISO 4217), not '1.755'"),
        ("GBP", 2, "1e3", "must be a decimal number like 8000 or 1.75, not '1e3'"),
        ("GBP", 2, "1,75", "must be a decimal number like 8000 or 1.75, not '1,75'"),
        ("GBP", 2, ".5", "must be a decimal number like 8000 or 1.75, not '.5'"),
        ("GBP", 2, "NaN", "must be a decimal number like 8000 or 1.75, not 'NaN'"),
    ],
)
def test_a_currency_amount_with_too_many_places_or_not_a_number_is_refused(
    currency: str, digits: int, text: str, reason: str
) -> None:
    with pytest.raises(Invalid, match=reason.replace("(", r"\(").replace(")", r"\)")):
        currency_amount(currency, digits)(text)


def test_a_pound_tariff_charges_pence(tmp_path: Path) -> None:
    tariff = load_tariff(
        make_tariff(
            tmp_path / "t",
            currency="GBP",
            products="bus_fare,,1.75\nhop,,-0.25",
            transfers="bus,bus,-1,3600,1,1,hop\n",
        )
    )
    assert [d.amount for d in ride(tariff, [0, 10])] == [175, 150]


def test_a_fare_cap_amount_is_read_in_the_currency_too(tmp_path: Path) -> None:
    folder = make_tariff(
        tmp_path / "t",
        currency="GBP",
        products="bus_fare,,1.75",
        fare_caps="cap_id,cap_code,period,amount\nday,1,day,4.50\n",
    )
    tariff = load_tariff(folder)
    assert tariff.versions[0].caps[0].amounts == {"adult": 450}
    assert [d.amount for d in ride(tariff, [0, 90, 180])] == [175, 175, 100]


@pytest.mark.parametrize(
    ("currency", "products", "problem"),
    [
        ("VND", "bus_fare,,8000.50", "fare_products.txt:2: amount must be whole VND units, not "
         "'8000.50'"),
        ("GBP", "bus_fare,,1.755", "fare_products.txt:2: amount must have at most 2 decimal "
         "places in GBP (ISO 4217), not '1.755'"),
        ("GBP", "bus_fare,,42949672.96", "fare_products.txt:2: amount 42949672.96 is too large"),
        ("XTS", "bus_fare,,1", "tariff_version.txt:2: currency XTS is not in the table of ISO "
         "4217 minor units (fares.gtfs_csv.MINOR_UNITS); add it there with its decimal places"),
        ("VND", "bus_fare,,-1000", "fare_leg_rules.txt:2: fare_product_id 'bus_fare' has a "
         "negative price; a leg cannot"),
    ],
)  # fmt: skip
def test_a_bad_amount_is_a_problem_of_its_file_and_line(
    tmp_path: Path, currency: str, products: str, problem: str
) -> None:
    assert problem in problems_of(make_tariff(tmp_path / "t", currency=currency, products=products))


def test_a_pass_cannot_have_a_negative_price(tmp_path: Path) -> None:
    folder = make_tariff(
        tmp_path / "t",
        products="bus_fare,,10000\nmonthly,adult,-5000",
        pass_products="pass_product_id,pass_code,coverage,validity,validity_length\n"
        "monthly,1,network,days,30\n",
    )
    assert (
        "pass_products.txt:2: pass_product_id 'monthly' has a negative price; a pass cannot"
    ) in problems_of(folder)


# -- nothing in a tariff folder is skipped -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("fare_product.txt", "fare_product.txt:1: not a tariff file (see docs/tariff-format.md "
         "for the files there are)"),
        ("fare_leg_join_rules.txt", "fare_leg_join_rules.txt:1: joined legs are not supported "
         "by this engine"),
        ("fare_rules.txt", "fare_rules.txt:1: GTFS-Fares v1; this engine reads Fares v2 only"),
        ("notes.csv", "notes.csv:1: not a tariff file (see docs/tariff-format.md for the files "
         "there are)"),
    ],
)  # fmt: skip
def test_a_file_the_loader_does_not_read_is_a_problem(
    tmp_path: Path, name: str, problem: str
) -> None:
    folder = make_tariff(tmp_path / "t")
    (folder / name).write_text("a,b\n1,2\n", encoding="utf-8")
    assert problems_of(folder) == [problem]


def test_a_subfolder_of_a_version_is_a_problem(tmp_path: Path) -> None:
    folder = make_tariff(tmp_path / "t")
    (folder / "old").mkdir()
    assert problems_of(folder) == [
        "old:1: a subfolder in a tariff version; a version holds only its files"
    ]


def test_documentation_and_hidden_files_may_sit_beside_the_tariff(tmp_path: Path) -> None:
    folder = tmp_path / "hanoi"
    shutil.copytree(HANOI_TARIFF_DIR, folder)
    (folder / "README.md").write_text("# Hanoi fares\n", encoding="utf-8")
    (folder / "2024-11-01" / "SOURCES.md").write_text("Decision 12/2024\n", encoding="utf-8")
    (folder / "2024-11-01" / ".gitkeep").write_text("", encoding="utf-8")
    assert len(load_tariff(folder).versions) == 3


def test_a_subfolder_of_versions_without_a_version_file_is_a_problem(tmp_path: Path) -> None:
    folder = tmp_path / "hanoi"
    shutil.copytree(HANOI_TARIFF_DIR, folder)
    (folder / "2026-01-01").mkdir()
    (folder / "2026-01-01" / "fare_products.txt").write_text("x\n", encoding="utf-8")
    assert problems_of(folder) == [
        "2026-01-01/tariff_version.txt:1: missing: each subfolder of a folder of versions is a "
        "tariff version"
    ]


def test_a_stray_file_beside_the_versions_is_a_problem(tmp_path: Path) -> None:
    folder = tmp_path / "hanoi"
    shutil.copytree(HANOI_TARIFF_DIR, folder)
    (folder / "prices.xlsx").write_bytes(b"PK")
    assert problems_of(folder) == [
        "prices.xlsx:1: not part of a tariff: a folder of versions holds version subfolders "
        "(and *.md documentation)"
    ]


def test_a_version_folder_without_its_version_file_says_so(tmp_path: Path) -> None:
    folder = make_tariff(tmp_path / "t")
    (folder / "tariff_version.txt").unlink()
    assert "tariff_version.txt:1: required file is missing" in problems_of(folder)
