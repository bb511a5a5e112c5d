"""Fare engine throughput: price_tap decisions per second on one core.

Run: .venv/bin/python bench/fare_engine.py [--taps N] [--repeat R]
Prices a day of synthetic taps by many cards (random routes, rider categories and passes), carrying
each card's state from tap to tap, as validators would. Reports the median of R runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import support  # noqa: E402

from fares import (  # noqa: E402
    Decision,
    Direction,
    FareState,
    PaidBy,
    Tap,
    Tariff,
    issue_pass,
    load_hanoi_tariff,
    load_tariff,
    price_tap,
)

TARGET = 100_000
LOCAL = timezone(timedelta(hours=7))
RIVERTON = Path(__file__).resolve().parents[1] / "tests" / "unit" / "fares" / "tariffs" / "riverton"


def workload(
    tariff: Tariff, routes: list[str], stops: list[str], categories: dict[str, float], taps: int
) -> tuple[list[FareState], list[tuple[int, Tap]]]:
    """Cards with a category (some with a pass) and their taps over one day, in time order."""
    rng = random.Random(20241101)
    version = tariff.versions[-1]
    start = datetime.combine(version.effective_from + timedelta(days=3), datetime.min.time())
    day = start.replace(tzinfo=LOCAL)
    cards = max(taps // 4, 1)
    names = list(categories)
    weights = list(categories.values())
    states = []
    for _ in range(cards):
        category = rng.choices(names, weights)[0]
        passes = ()
        sellable = [p for p in version.pass_products.values() if category in p.prices]
        if sellable and rng.random() < 0.2:
            product = rng.choice(sellable)
            route = rng.choice(routes) if product.coverage.value == "one_route" else None
            try:
                passes = (
                    issue_pass(version, product.pass_product_id, category, day.date(), route),
                )
            except ValueError:
                passes = ()
        states.append(FareState.new(version.categories[category].code, date(2030, 5, 31), passes))
    moments = sorted(rng.uniform(5 * 3600, 22 * 3600) for _ in range(taps))
    stream = [
        (
            rng.randrange(cards),
            Tap(day + timedelta(seconds=s), rng.choice(routes), rng.choice(stops), "bench"),
        )
        for s in moments
    ]
    return states, stream


def journeys_workload(
    tariff: Tariff, categories: dict[str, float], taps: int
) -> tuple[list[FareState], list[tuple[int, Tap]]]:
    """Tap on and tap off: bus journeys (paid at boarding) and metro journeys on lines 2A and 3.1
    (priced at the exit gate by the station pair), each card's taps in time order."""
    rng = random.Random(20261206)
    version = tariff.versions[-1]
    start = datetime.combine(version.effective_from + timedelta(days=90), datetime.min.time())
    day = start.replace(tzinfo=LOCAL)
    cards = max(taps // 8, 1)
    names = list(categories)
    weights = list(categories.values())
    states = []
    for _ in range(cards):
        category = rng.choices(names, weights)[0]
        passes = ()
        if category in version.pass_products["multimodal_month"].prices and rng.random() < 0.15:
            passes = (issue_pass(version, "multimodal_month", category, day.date()),)
        states.append(FareState.new(version.categories[category].code, date(2030, 5, 31), passes))
    buses = ["09", "BRT01", "32", "34", "01", "86", "107"]
    lines = {
        "2A": [f"M2A{i:02d}P" for i in range(1, 13)],
        "3.1": [f"M31{i:02d}P" for i in range(1, 9)],
    }
    entry, leave = Direction.ENTRY, Direction.EXIT
    stream: list[tuple[float, int, Tap]] = []
    # Each card rides about four journeys a day, each an entry and an exit.
    for card in range(cards):
        at = rng.uniform(5 * 3600, 8 * 3600)
        for _ in range(4):
            if rng.random() < 0.3:
                route = rng.choice(list(lines))
                origin, destination = rng.sample(lines[route], 2)
            else:
                route = rng.choice(buses)
                origin, destination = rng.sample(["S1", "S2", "S3", "S4"], 2)
            ride = rng.uniform(300, 2400)
            for when, stop, direction in ((at, origin, entry), (at + ride, destination, leave)):
                moment = day + timedelta(seconds=when)
                stream.append((when, card, Tap(moment, route, stop, "bench", direction)))
            at += ride + rng.uniform(600, 4 * 3600)
    stream.sort(key=lambda item: item[0])
    return states, [(card, tap) for _, card, tap in stream[:taps]]


def run_once(
    tariff: Tariff,
    states: list[FareState],
    stream: list[tuple[int, Tap]],
    price: Callable[[FareState, Tap, Tariff], Decision] = price_tap,
) -> float:
    cards = list(states)
    began = time.perf_counter()
    for card, tap in stream:
        cards[card] = price(cards[card], tap, tariff).state
    return len(stream) / (time.perf_counter() - began)


def measure(name: str, tariff: Tariff, states: list[FareState], stream: list[tuple[int, Tap]],
            repeat: int) -> float:  # fmt: skip
    rates = [run_once(tariff, states, stream) for _ in range(repeat)]
    median = statistics.median(rates)
    print(
        f"{name:<44} {median:>12,.0f} decisions/s  (min {min(rates):,.0f}, max {max(rates):,.0f}, "
        f"{len(stream):,} taps x {repeat})"
    )
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--taps", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"python {platform.python_version()} ({platform.python_implementation()}) on "
          f"{platform.system()} {platform.machine()}, {platform.processor() or 'cpu unknown'}, "
          f"{os.cpu_count()} cpus, pinned to one core")  # fmt: skip
    cpu = _cpu_model()
    if cpu:
        print(f"cpu: {cpu}")
    hanoi = load_hanoi_tariff()
    hanoi_mix = {"adult": 0.55, "student": 0.2, "worker": 0.05, "elderly": 0.15, "child": 0.05}
    hanoi_routes = ["09", "BRT01", "32", "34", "01", "86", "107"]
    states, stream = workload(hanoi, hanoi_routes, ["S1", "S2", "S3"], hanoi_mix, args.taps)
    boarding = measure(
        "Hanoi, boardings only (bands, passes, free)", hanoi, states, stream, args.repeat
    )
    states, stream = journeys_workload(hanoi, hanoi_mix, args.taps)
    rate = measure("Hanoi, tap on/off, bus and metro", hanoi, states, stream, args.repeat)
    # The loop around the engine, pricing nothing: the ceiling any engine could reach here.
    floor = statistics.median(run_once(hanoi, states, stream, idle) for _ in range(args.repeat))
    print(f"{'the same loop, pricing nothing':<44} {floor:>12,.0f} taps/s")
    other = ""
    if RIVERTON.is_dir():
        riverton = load_tariff(RIVERTON)
        mix = {"adult": 0.7, "student": 0.25, "senior": 0.05}
        routes = ["B1", "B2", "X1", "F1", "F2"]
        states, stream = workload(riverton, routes, ["S1", "S2", "AP1"], mix, args.taps)
        slower = measure(
            "test tariff (transfers, caps, time of day)", riverton, states, stream, args.repeat
        )
        other = f"; test tariff with transfers and caps {slower:,.0f}/s"
    print(f"target {TARGET:,}/s on the Hanoi tariff: {'met' if rate >= TARGET else 'NOT met'}")
    support.write_figures(
        args.json,
        [
            support.Figure(
                name="Fare decisions, Hanoi tariff (tap on and off, bus and metro), one core",
                value=rate,
                unit="decisions/s",
                shown=f"{rate:,.0f} /s",
                target=f">= {TARGET:,} /s",
                met=rate >= TARGET,
                baseline=f"boardings only {boarding:,.0f}/s; the loop alone {floor:,.0f}/s{other}",
                bench=f"bench/fare_engine.py --taps {args.taps} --repeat {args.repeat}",
            )
        ],
    )
    return 0


def idle(state: FareState, tap: Tap, tariff: Tariff) -> Decision:
    """A stand-in for price_tap that decides nothing, for the loop's own cost."""
    return Decision(True, 0, PaidBy.STORED_VALUE, state, "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return ""
    return ""


if __name__ == "__main__":
    sys.exit(main())
