"""Taps per second through the validator API into PostgreSQL, beside raw inserts of the same rows.

    python bench/ingest.py [--batches 40] [--clients 3]

Starts a private PostgreSQL and gunicorn on 127.0.0.1, registers a validator, posts signed
batches of 1,000 taps from several client processes, then inserts the same number of rows
straight into the taps table with one executemany per batch. Prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import support  # noqa: E402
from sqlalchemy import insert  # noqa: E402

import wire  # noqa: E402
from readers.signing import sign  # noqa: E402
from transit.db import make_engine  # noqa: E402
from transit.models import CardShadow, TapRecord  # noqa: E402
from transit.services.taps import stored_row  # noqa: E402

BATCH = 1000
TARGET = 5_000


def taps(batch_no: int, card_base: int = 0, card_tx: int = 1) -> list[wire.Tap]:
    # Yesterday's taps, as a validator uploads them (taps dated in the future raise alerts).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, minutes=batch_no)
    return [
        wire.Tap(
            tap_id="tap_" + uuid.uuid4().hex,
            device_seq=batch_no * BATCH + n + 1,
            time=start + timedelta(seconds=n),
            card_uid=card_uid(card_base + batch_no * BATCH + n),
            route_id="32",
            stop_id="HN0010",
            result="accepted",
            amount=10_000,
            paid_by="stored_value",
            balance_after=40_000,
            card_tx=card_tx,
            tariff_version="hanoi-2024-11",
            explanation="leg rule 2024-11-01/fare_leg_rules.txt:3",
            commit="confirmed",
        )
        for n in range(BATCH)
    ]


def card_uid(number: int) -> str:
    return f"04{number:012X}"


def post_batches(args: tuple[str, str, str, list[int], int, int]) -> int:
    url, device_id, seed_hex, numbers, card_base, card_tx = args
    accepted = 0
    for number in numbers:
        batch = [tap.to_json() for tap in taps(number, card_base, card_tx)]
        body = json.dumps({"taps": batch}).encode()
        path = "/api/v1/validator/taps"
        headers = sign(
            bytes.fromhex(seed_hex), device_id, "POST", path, body, timestamp=int(time.time())
        )
        headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310  loopback
            results = json.loads(response.read())["results"]
        accepted += sum(r["status"] == "accepted" for r in results)
    return accepted


@dataclass
class Rates:
    accepted: int
    api_seconds: float
    rows: int
    raw_seconds: float

    @property
    def api(self) -> float:
        return self.accepted / self.api_seconds

    @property
    def raw(self) -> float:
        return self.rows / self.raw_seconds


def measure(
    url: str,
    env: dict[str, str],
    base: str,
    batches: int,
    clients: int,
    card_base: int = 0,
    card_tx: int = 1,
) -> Rates:
    """Signed batches through the API from `clients` processes, then the same number of rows
    inserted straight into taps; the cards must be known to the ledger."""
    device = json.loads(support.flask(env, "devices", "register", "--route", "32"))
    key = device["private_key"]
    with multiprocessing.Pool(clients) as pool:
        # One batch a client first, on cards of its own, so that every worker has built its app
        # and opened its connections before the clock starts.
        warm = [[2 * batches + i] for i in range(clients)]
        pool.map(post_batches, [(base, device["device_id"], key, w, card_base, 1) for w in warm])
        shares = [list(range(i, batches, clients)) for i in range(clients)]
        work = [(base, device["device_id"], key, share, card_base, card_tx) for share in shares]
        began = time.perf_counter()
        accepted = sum(pool.map(post_batches, work))
        api_seconds = time.perf_counter() - began
    rows = []
    for number in range(batches, 2 * batches):
        for tap in taps(number, card_base, card_tx):
            rows.append(stored_row(tap, device["device_id"], datetime.now(UTC)))
    engine = make_engine(url)
    began = time.perf_counter()
    with engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(TapRecord), rows[start : start + BATCH])
    raw_seconds = time.perf_counter() - began
    engine.dispose()
    return Rates(accepted, api_seconds, len(rows), raw_seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    with support.database() as (_, url):
        # The cards are known to the ledger, as issued cards are: 50,000 VND, no taps yet.
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(
                insert(CardShadow),
                [
                    {"card_uid": card_uid(n), "balance": 50_000, "last_card_tx": 0}
                    for n in range(args.batches * BATCH)
                ],
            )
        engine.dispose()
        port = support.free_port()
        env = support.app_env(url, port)
        with support.gunicorn(env) as base:
            rates = measure(url, env, base, args.batches, args.clients)
    print(support.describe() + "; PostgreSQL private server (fsync off) on the same machine")
    print(
        f"through the API: {rates.accepted:,} taps in {rates.api_seconds:.1f} s = "
        f"{rates.api:,.0f} taps/s ({args.clients} clients, batches of {BATCH})"
    )
    raw = f"{rates.rows:,} rows in {rates.raw_seconds:.1f} s = {rates.raw:,.0f} rows/s"
    print(f"raw inserts:     {raw}")
    print(f"ratio API / raw: {rates.api / rates.raw:.2f} (target through the API: >= {TARGET:,}/s)")
    support.write_figures(
        args.json,
        [
            support.Figure(
                name=f"Taps ingested through the signed validator API ({args.clients} clients, "
                f"batches of {BATCH:,})",
                value=rates.api,
                unit="taps/s",
                shown=f"{rates.api:,.0f} taps/s",
                target=f">= {TARGET:,} taps/s",
                met=rates.api >= TARGET and rates.accepted == args.batches * BATCH,
                baseline=f"raw inserts {rates.raw:,.0f} rows/s (ratio {rates.api / rates.raw:.2f})",
                bench=f"bench/ingest.py --batches {args.batches} --clients {args.clients}",
            )
        ],
    )


if __name__ == "__main__":
    main()
