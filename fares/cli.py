"""`python -m fares price`: price a file of taps with a tariff, as an operator checks a tariff.

The fare state it prints and reads back is the card's fare record, so this command line, alone
in fares/, packs it with `cards.layout`; the engine itself never sees bytes.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from cards.layout import RecordError, pack_fare_state, unpack_fare_state
from fares.engine import price_tap
from fares.loader import HANOI_TARIFF_DIR, load_tariff
from fares.model import (
    SECONDS_PER_DAY,
    Direction,
    FareState,
    Pass,
    Tap,
    card_day_or_none,
    card_seconds,
    date_of_card_day,
)
from fares.passes import issue_pass
from fares.tariff import Tariff, TariffError

TAP_COLUMNS = ("time", "route_id", "stop_id")
OUTPUT_COLUMNS = (
    "time",
    "route_id",
    "stop_id",
    "direction",
    "result",
    "amount",
    "paid_by",
    "explanation",
)


class InputError(Exception):
    """Problems in the command's inputs, each as `file:line: reason`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    stdout = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        tariff = load_tariff(args.tariff)
        taps = read_taps(args.taps)
        state = _initial_state(args, tariff, taps)
    except (TariffError, InputError) as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    writer = csv.writer(stdout, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    for tap in taps:
        decision = price_tap(state, tap, tariff)
        state = decision.state
        result = (
            "accept" if decision.accepted else f"deny:{decision.denial and decision.denial.code}"
        )
        writer.writerow(
            (
                tap.time.isoformat(),
                tap.route_id,
                tap.stop_id,
                decision.direction.value,
                result,
                decision.amount,
                decision.paid_by.value,
                decision.explanation,
            )
        )
    encoded = pack_fare_state(state).hex()
    print(f"state: {encoded}", file=stdout)
    if args.state is not None:
        args.state.write_text(encoded + "\n", encoding="ascii")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fares", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    price = commands.add_parser("price", help="price the taps of a CSV file, one row per tap")
    price.add_argument(
        "--tariff",
        type=Path,
        default=HANOI_TARIFF_DIR,
        help="tariff folder (default: the shipped Hanoi tariff)",
    )
    price.add_argument(
        "--taps",
        type=Path,
        required=True,
        help="CSV with time (ISO 8601 with offset), route_id, stop_id; optional direction "
        "(entry, exit or both), vehicle_id, device_id",
    )
    price.add_argument("--category", help="rider category id (default: the tariff's default)")
    price.add_argument(
        "--valid-until", type=date.fromisoformat, help="last day of the category (YYYY-MM-DD)"
    )
    price.add_argument(
        "--pass",
        dest="passes",
        action="append",
        default=[],
        metavar="PRODUCT[@ROUTE]",
        help="put a pass on the card, starting on the first tap's service day (repeatable)",
    )
    price.add_argument(
        "--state",
        type=Path,
        help="fare state as hex: read if the file exists, written back after the last tap",
    )
    return parser


def read_taps(path: Path) -> list[Tap]:
    """Taps from a CSV file; every problem is reported as `file:line: reason`."""
    problems: list[str] = []
    taps: list[Tap] = []
    name = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or ()]
            missing = [c for c in TAP_COLUMNS if c not in columns]
            if missing:
                raise InputError([f"{name}:1: missing column {', '.join(missing)}"])
            for row in reader:
                values = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                where = f"{name}:{reader.line_num}"
                tap = _tap(values, where, problems)
                if tap is not None:
                    taps.append(tap)
    except OSError as error:
        raise InputError([f"{name}:1: cannot read: {error.strerror}"]) from error
    except UnicodeDecodeError as error:
        raise InputError([f"{name}:1: not UTF-8 text: {error.reason}"]) from error
    if problems:
        raise InputError(problems)
    return taps


def _tap(values: dict[str, str], where: str, problems: list[str]) -> Tap | None:
    try:
        moment = datetime.fromisoformat(values["time"])
    except ValueError:
        problems.append(f"{where}: time must be ISO 8601, not {values['time']!r}")
        return None
    if moment.tzinfo is None:
        problems.append(f"{where}: time {values['time']!r} needs a UTC offset like +07:00")
        return None
    try:
        card_seconds(moment)
    except ValueError as error:
        problems.append(f"{where}: {error}")
        return None
    if not values["route_id"]:
        problems.append(f"{where}: route_id is required")
        return None
    given = (values.get("direction") or "entry").strip()
    try:
        direction = Direction(given)
    except ValueError:
        problems.append(f"{where}: direction must be entry, exit or both, not {given!r}")
        return None
    return Tap(
        moment,
        values["route_id"],
        values["stop_id"],
        values.get("device_id") or "",
        direction,
        values.get("vehicle_id") or "",
    )


def _initial_state(args: argparse.Namespace, tariff: Tariff, taps: list[Tap]) -> FareState:
    latest = tariff.versions[-1]
    state = FareState(latest.default_category.code)
    state_path: Path | None = args.state
    if state_path is not None and state_path.exists():
        try:
            state = unpack_fare_state(bytes.fromhex(state_path.read_text(encoding="ascii")))
        except (ValueError, RecordError) as error:
            raise InputError([f"{state_path}:1: not a fare state in hex: {error}"]) from error
    if args.category is not None:
        category = latest.categories.get(args.category)
        if category is None:
            known = ", ".join(latest.categories)
            raise InputError([f"--category:1: unknown rider category {args.category!r} ({known})"])
        state = state._replace(category_code=category.code)
    if args.valid_until is not None:
        state = state._replace(category_valid_until=card_day_or_none(args.valid_until))
    if args.passes:
        state = state._replace(passes=state.passes + _passes(args, tariff, taps, state))
    return state


def _passes(
    args: argparse.Namespace, tariff: Tariff, taps: list[Tap], state: FareState
) -> tuple[Pass, ...]:
    if not taps:
        raise InputError(["--pass:1: a pass starts on the first tap's day; there are no taps"])
    first = card_seconds(taps[0].time)
    version = tariff.version_at(first)
    if version is None:
        raise InputError(["--pass:1: no tariff version is in force at the first tap"])
    start = date_of_card_day((first + version.utc_offset - version.day_start) // SECONDS_PER_DAY)
    category = next(
        (c for c in version.categories.values() if c.code == state.category_code),
        version.default_category,
    )
    issued = []
    for spec in args.passes:
        product, _, route = str(spec).partition("@")
        try:
            issued.append(issue_pass(version, product, category.category_id, start, route or None))
        except ValueError as error:
            raise InputError([f"--pass:1: {error}"]) from error
    return tuple(issued)
