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
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from readers.signing import sign  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from transit import migrate  # noqa: E402
from transit.db import make_engine  # noqa: E402
from transit.models import CardShadow, TapRecord  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


def taps(batch_no: int) -> list[dict[str, object]]:
    # Yesterday's taps, as a validator uploads them (taps dated in the future raise alerts).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, minutes=batch_no)
    return [
        {
            "tap_id": "tap_" + uuid.uuid4().hex,
            "device_seq": batch_no * BATCH + n + 1,
            "time": (start + timedelta(seconds=n)).isoformat(),
            "card_uid": f"04{batch_no * BATCH + n:012X}",
            "card_number": None,
            "route_id": "32",
            "stop_id": "HN0010",
            "result": "accepted",
            "reason": None,
            "amount": 10_000,
            "paid_by": "stored_value",
            "balance_after": 40_000,
            "card_tx": 1,
            "applied_loads": [],
            "tariff_version": "hanoi-2024-11",
            "explanation": "leg rule 2024-11-01/fare_leg_rules.txt:3",
            "commit": "confirmed",
        }
        for n in range(BATCH)
    ]


def post_batches(args: tuple[str, str, str, list[int]]) -> int:
    url, device_id, seed_hex, numbers = args
    accepted = 0
    for number in numbers:
        body = json.dumps({"taps": taps(number)}).encode()
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    server = start_postgres()
    gunicorn = None
    try:
        server.execute("CREATE DATABASE bench")
        url = server.url("bench")
        engine = make_engine(url)
        migrate.upgrade(engine)
        # The cards are known to the ledger, as issued cards are: 50,000 VND, no taps yet.
        with engine.begin() as connection:
            connection.execute(
                insert(CardShadow),
                [
                    {"card_uid": f"04{n:012X}", "balance": 50_000, "last_card_tx": 0}
                    for n in range(args.batches * BATCH)
                ],
            )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {
            **os.environ,
            "TRANSIT_DATABASE_URL": url,
            "TRANSIT_BIND": f"127.0.0.1:{port}",
            "TRANSIT_LOG_LEVEL": "WARNING",
        }
        flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
        device = json.loads(
            subprocess.run(
                [*flask, "devices", "register", "--route", "32"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--access-logfile",
                "/dev/null",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        shares = [list(range(i, args.batches, args.clients)) for i in range(args.clients)]
        began = time.perf_counter()
        with multiprocessing.Pool(args.clients) as pool:
            accepted = sum(
                pool.map(
                    post_batches,
                    [(base, device["device_id"], device["private_key"], share) for share in shares],
                )
            )
        api_seconds = time.perf_counter() - began

        rows = []
        for number in range(args.batches, 2 * args.batches):
            for tap in taps(number):
                row = {k: v for k, v in tap.items() if k != "applied_loads"}
                row["time"] = datetime.fromisoformat(str(tap["time"]))
                row.update(device_id=device["device_id"], received_at=datetime.now(UTC))
                rows.append(row)
        began = time.perf_counter()
        with engine.begin() as connection:
            for start in range(0, len(rows), BATCH):
                connection.execute(insert(TapRecord), rows[start : start + BATCH])
        raw_seconds = time.perf_counter() - began
        engine.dispose()
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        server.stop()
    api_rate = accepted / api_seconds
    raw_rate = len(rows) / raw_seconds
    print(
        f"python {platform.python_version()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus; PostgreSQL private server (fsync off) on the same machine"
    )
    print(
        f"through the API: {accepted:,} taps in {api_seconds:.1f} s = {api_rate:,.0f} taps/s "
        f"({args.clients} clients, batches of {BATCH})"
    )
    print(f"raw inserts:     {len(rows):,} rows in {raw_seconds:.1f} s = {raw_rate:,.0f} rows/s")
    print(f"ratio API / raw: {api_rate / raw_rate:.2f}   (target through the API: >= 5,000/s)")


if __name__ == "__main__":
    main()
