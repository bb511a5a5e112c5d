"""Card I/O of taps through the real PC/SC stack, with the virtual card.

    python bench/card_io.py [--taps 300]

Needs pcscd with the vpcd driver (started here when run as root). Issues a card in a scratch
state file, then times whole taps on the card in the field: select, authenticate, read, price,
debit, write, log, commit. First bus boardings paid from stored value, then metro journeys of
tap on (line 2A's entry gate: nothing charged, the journey opened) and tap off (the exit gate:
the fare of the station pair). Prints APDUs per tap and wall-time percentiles of each kind.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import support  # noqa: E402

from cards.application import MasterKeys, charge, open_for_tap, personalize, read  # noqa: E402
from cards.client import DesfireClient  # noqa: E402
from cards.emulator.process import start_card_process  # noqa: E402
from fares import Direction, Tap, load_hanoi_tariff, price_tap  # noqa: E402
from readers.pcsc import Card, Pcsc  # noqa: E402
from scripts.pcscd import VPCD_READER, start_pcscd, stop_pcscd  # noqa: E402

UID = bytes.fromhex("04A1B2C3D4E5F6")
# SelectApplication of the PICC level (AID 000000): the cheapest whole command.
SELECT_PICC = bytes.fromhex("905A00000300000000")
TARIFF = load_hanoi_tariff()


def tap_once(
    card: Card,
    masters: MasterKeys,
    when: datetime,
    route: str = "32",
    stop: str = "HN0001",
    direction: Direction = Direction.ENTRY,
) -> int:
    """One whole tap; returns the APDUs it took."""
    client = DesfireClient(card)
    open_for_tap(client, UID, masters)
    state = read(client, UID)
    tap = Tap(when, route, stop, "bench", direction)
    decision = price_tap(state.fare, tap, TARIFF)
    if not decision.accepted:
        raise SystemExit(f"the bench's tap was refused: {decision.explanation}")
    charge(client, state, decision, tap)
    return client.apdus


def timed(count: int, tap: Callable[[int], int]) -> tuple[list[float], set[int]]:
    times: list[float] = []
    apdus: set[int] = set()
    for n in range(count):
        began = time.perf_counter()
        apdus.add(tap(n))
        times.append((time.perf_counter() - began) * 1000)
    return times, apdus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    masters = MasterKeys(*(os.urandom(16) for _ in range(6)))
    daemon = start_pcscd()
    with tempfile.TemporaryDirectory() as scratch, Pcsc() as context:
        reader = context.reader(VPCD_READER)
        state = Path(scratch) / "card.json"
        emulator = start_card_process("cards.emulator", ["--uid", UID.hex(), "--state", str(state)])
        try:
            card = reader.wait_for_card(timeout=10)
            if card is None:
                raise SystemExit("the virtual card did not reach the reader")
            personalize(
                DesfireClient(card),
                UID,
                masters,
                card_number=1,
                category_code=1,
                valid_until=None,
                balance=5_000_000,
                issued=date(2026, 11, 28),
            )
            # The stack's own cost: one APDU that asks the card for almost nothing.
            rounds: list[float] = []
            for _ in range(200):
                began = time.perf_counter()
                if card.transmit(SELECT_PICC)[-2:] != b"\x91\x00":
                    raise SystemExit("the card refused SelectApplication 000000")
                rounds.append((time.perf_counter() - began) * 1000)
            start = datetime(2026, 12, 1, tzinfo=UTC)
            # 300 boardings at 10,000 VND and 150 journeys at 9,000 fit the 5,000,000 purse.
            times, apdus = timed(
                min(args.taps, 300),
                lambda n: tap_once(card, masters, start + timedelta(minutes=10 * n)),
            )
            metro = start + timedelta(days=5)
            journeys = min(args.taps // 2, 150)
            entries: list[float] = []
            exits: list[float] = []
            entry_apdus: set[int] = set()
            exit_apdus: set[int] = set()
            for n in range(journeys):
                began = metro + timedelta(minutes=30 * n)
                for when, stop, direction, spent, used in (
                    (began, "M2A01P", Direction.ENTRY, entries, entry_apdus),
                    (began + timedelta(minutes=12), "M2A03P", Direction.EXIT, exits, exit_apdus),
                ):
                    clock = time.perf_counter()
                    used.add(tap_once(card, masters, when, "2A", stop, direction))
                    spent.append((time.perf_counter() - clock) * 1000)
            card.close()
        finally:
            emulator.terminate()
            emulator.communicate(timeout=10)
            stop_pcscd(daemon)
    cuts = statistics.quantiles(times, n=100)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus;")
    print("path: pyscard -> pcscd -> vpcd -> cards.emulator (separate process), same machine")
    print(f"taps: {len(times)}; APDUs per stored-value tap: {sorted(apdus)} (target <= 10)")
    print(
        f"tap wall time: p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, "
        f"max {max(times):.2f} ms (target p99 < 30 ms)"
    )
    single = statistics.quantiles(rounds, n=100)
    print(f"one APDU round trip: p50 {single[49]:.2f} ms, p99 {single[98]:.2f} ms")
    on_cuts = statistics.quantiles(entries, n=100)
    off_cuts = statistics.quantiles(exits, n=100)
    print(
        f"metro tap on (entry gate): APDUs {sorted(entry_apdus)}, p50 {on_cuts[49]:.2f} ms, "
        f"p99 {on_cuts[98]:.2f} ms; tap off (exit gate, 9,000 VND): APDUs {sorted(exit_apdus)}, "
        f"p50 {off_cuts[49]:.2f} ms, p99 {off_cuts[98]:.2f} ms ({journeys} journeys; "
        f"targets <= 10 APDUs, p99 < 30 ms)"
    )
    most = max(apdus)
    journey_most = max(entry_apdus | exit_apdus)
    journey_p99 = max(on_cuts[98], off_cuts[98])
    support.write_figures(
        args.json,
        [
            support.Figure(
                name="Card APDUs per stored-value tap",
                value=most,
                unit="APDUs",
                shown=", ".join(str(n) for n in sorted(apdus)),
                target="<= 10",
                met=most <= 10,
                baseline="",
                bench=f"bench/card_io.py --taps {args.taps}",
            ),
            support.Figure(
                name="Whole tap through pyscard, pcscd, vpcd and the emulator process",
                value=cuts[98],
                unit="ms",
                shown=f"p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms",
                target="p99 < 30 ms",
                met=cuts[98] < 30,
                baseline=f"one APDU round trip p50 {single[49]:.2f} ms, p99 {single[98]:.2f} ms",
                bench=f"bench/card_io.py --taps {args.taps}",
            ),
            support.Figure(
                name="Card APDUs per metro tap on and tap off",
                value=journey_most,
                unit="APDUs",
                shown=f"on {sorted(entry_apdus)}, off {sorted(exit_apdus)}",
                target="<= 10",
                met=journey_most <= 10,
                baseline="",
                bench=f"bench/card_io.py --taps {args.taps}",
            ),
            support.Figure(
                name="Metro tap on and tap off through pyscard, pcscd, vpcd and the emulator",
                value=journey_p99,
                unit="ms",
                shown=f"on p99 {on_cuts[98]:.1f} ms, off p99 {off_cuts[98]:.1f} ms",
                target="p99 < 30 ms",
                met=journey_p99 < 30,
                baseline="",
                bench=f"bench/card_io.py --taps {args.taps}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
