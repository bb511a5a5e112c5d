"""Latency of a rider's trip history under load, beside a trivial endpoint on the same server.

    python bench/api_history.py [--seconds 10] [--clients 50] [--workers 4] [--threads 1]
                                [--think 1.0]

Starts a private PostgreSQL and gunicorn (gunicorn.conf.py) on 127.0.0.1 and loads one rider
with one card of 10,000 trips among 2,000 other cards of 50 taps each. Then 50 client threads,
one http.client connection each, page through the card's trips (first page, then the pages
that follow by cursor) for --seconds; then the same clients call GET /healthz for as long.
Prints p50/p99 latency and requests per second of both, twice: paced (each client waits
--think seconds between requests, as riders do while they read) and saturated (no waiting: the
rate is the server's capacity, and the latency is mostly the queue). Everything shares the
machine's cores, the client threads too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text  # noqa: E402

from tests.support.postgres import start_postgres  # noqa: E402
from transit import migrate  # noqa: E402
from transit.db import make_engine, make_session_factory  # noqa: E402
from transit.models import Route, Stop, TapRecord  # noqa: E402
from transit.services import cards, riders, wallet  # noqa: E402
from transit.uow import UnitOfWork  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHONE = "0912 345 678"
PASSWORD = "bench password 2026"  # noqa: S105  a throwaway rider in a throwaway database
CARD_UID = "04B0000000BE7C"
TRIPS = 10_000
OTHER_CARDS = 2_000
TAPS_PER_OTHER_CARD = 50
PAGE = 20
# A client walks this many pages down the history, then starts again from the newest.
DEPTH = 25
TARGET_P99_MS = 50.0


class Outbox:
    """The SMS gateway of this process: the code is read here, not from the server's log."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append(text)

    def code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.sent[-1])
        if found is None:
            raise RuntimeError(f"no code in the SMS {self.sent[-1]!r}")
        return found.group(1)


def load(url: str) -> str:
    """The rider, their card and the taps; returns the card's id."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    outbox = Outbox()
    codes = riders.Codes(key=secrets.token_bytes(32), sms=outbox)
    with UnitOfWork(make_session_factory(engine)) as uow:
        riders.request_registration(
            PHONE, PASSWORD, consent=True, language="vi", now=now, uow=uow, codes=codes
        )
        rider = riders.verify_phone(PHONE, outbox.code(), now, uow, codes)
        reservation = cards.reserve_card(
            uow,
            uid=bytes.fromhex(CARD_UID),
            category_id="adult",
            valid_until=None,
            balance=50_000,
            prefix="8401",
            now=now,
        )
        cards.finish_issuing(uow, reservation.card_id, personalized=True)
        wallet.link_card(rider, reservation.card_number, reservation.check_code, now, uow)
        route_ids = list(uow.session.scalars(select(Route.route_id).order_by(Route.route_id)))
        stop_ids = list(uow.session.scalars(select(Stop.stop_id).order_by(Stop.stop_id)))
        uow.commit()

    def tap(uid: str, n: int, when: datetime, result: str = "accepted") -> dict[str, object]:
        return {
            "tap_id": f"tap_{uid}_{n:05d}",
            "device_id": "dev_bench",
            "device_seq": n,
            "time": when,
            "card_uid": uid,
            "card_number": None,
            "route_id": route_ids[n % len(route_ids)],
            "stop_id": stop_ids[n % len(stop_ids)],
            "result": result,
            "reason": None if result == "accepted" else "insufficient_balance",
            "amount": 8_000 if result == "accepted" else 0,
            "paid_by": "stored_value" if result == "accepted" else "nothing",
            "balance_after": 42_000 if result == "accepted" else None,
            "card_tx": n + 1,
            "tariff_version": "hanoi-2024-11",
            "explanation": "leg rule 2024-11-01/fare_leg_rules.txt:3",
            "commit": "confirmed",
            "received_at": when,
        }

    # Four trips a day for the bench card; the others ride at other hours, some refused.
    first = now - timedelta(hours=6 * TRIPS)
    rows = [tap(CARD_UID, n, first + timedelta(hours=6 * n)) for n in range(TRIPS)]
    for card_no in range(OTHER_CARDS):
        uid = f"04C{card_no:011X}"
        rows += [
            tap(
                uid,
                n,
                first + timedelta(hours=6 * TRIPS * n / TAPS_PER_OTHER_CARD, minutes=card_no),
                "accepted" if n % 10 else "denied",
            )
            for n in range(TAPS_PER_OTHER_CARD)
        ]
    with engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(TapRecord), rows[start : start + 10_000])
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return reservation.card_id


@dataclass
class Tally:
    """What the client threads measured: latencies in seconds, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    first_pages: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_clients(
    port: int,
    clients: int,
    seconds: float,
    work: Callable[[http.client.HTTPConnection, Tally, float], None],
) -> tuple[Tally, float]:
    tally = Tally()
    ready = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ready.wait()
        try:
            work(connection, tally, deadline[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline.append(began + seconds)
    ready.wait()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def fetch(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str], tally: Tally
) -> tuple[float, int, bytes]:
    """One GET on the client's connection; a server that closed it is connected to again."""
    reconnect = connection.sock is None
    began = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - began
    if reconnect:
        with tally.lock:
            tally.connects += 1
    return elapsed, response.status, body


def pause(think: float) -> None:
    """A rider reading the screen before the next tap on it: `think` seconds on average."""
    if think > 0:
        time.sleep(random.uniform(0.5, 1.5) * think)  # noqa: S311  not for secrets


def history_walk(card_id: str, token: str, think: float) -> Callable[..., None]:
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/cards/{card_id}/trips?limit={PAGE}"

    def work(connection: http.client.HTTPConnection, tally: Tally, deadline: float) -> None:
        pause(think)  # riders do not all open the app in the same millisecond
        cursor: str | None = None
        depth = 0
        mine: list[float] = []
        firsts: list[float] = []
        while time.perf_counter() < deadline:
            path = base if cursor is None else f"{base}&cursor={cursor}"
            elapsed, status, body = fetch(connection, path, headers, tally)
            if status != 200:
                with tally.lock:
                    tally.errors.append(f"{status} {body[:200]!r}")
                cursor, depth = None, 0
                continue
            (firsts if cursor is None else mine).append(elapsed)
            page = json.loads(body)
            if len(page["data"]) != PAGE:
                with tally.lock:
                    tally.errors.append(f"a page of {len(page['data'])} trips")
            depth += 1
            cursor = page["next_cursor"] if depth < DEPTH else None
            if cursor is None:
                depth = 0
            pause(think)
        with tally.lock:
            tally.latencies += mine + firsts
            tally.first_pages += firsts

    return work


def healthz(think: float) -> Callable[..., None]:
    def work(connection: http.client.HTTPConnection, tally: Tally, deadline: float) -> None:
        pause(think)
        mine: list[float] = []
        while time.perf_counter() < deadline:
            elapsed, status, body = fetch(connection, "/healthz", {}, tally)
            if status != 200:
                with tally.lock:
                    tally.errors.append(f"{status} {body[:200]!r}")
                continue
            mine.append(elapsed)
            pause(think)
        with tally.lock:
            tally.latencies += mine

    return work


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000


def report(label: str, tally: Tally, seconds: float) -> str:
    count = len(tally.latencies)
    line = (
        f"{label}: {count:,} requests in {seconds:.1f} s = {count / seconds:,.0f} req/s; "
        f"p50 {percentile(tally.latencies, 0.50):.1f} ms, "
        f"p99 {percentile(tally.latencies, 0.99):.1f} ms, "
        f"mean {statistics.fmean(tally.latencies) * 1000:.1f} ms; "
        f"{tally.connects:,} connects, {len(tally.errors)} errors"
    )
    if tally.first_pages:
        line += (
            f"\n    first pages only: {len(tally.first_pages):,}, "
            f"p50 {percentile(tally.first_pages, 0.50):.1f} ms, "
            f"p99 {percentile(tally.first_pages, 0.99):.1f} ms"
        )
    if tally.errors:
        line += f"\n    first error: {tally.errors[0]}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="WEB_CONCURRENCY")
    parser.add_argument(
        "--threads", type=int, default=1, help="more than 1 runs gthread workers (keep-alive)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds a client waits between requests, on average, in the paced run",
    )
    args = parser.parse_args()
    server = start_postgres()
    gunicorn = None
    try:
        server.execute("CREATE DATABASE bench")
        url = server.url("bench")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {
            **os.environ,
            "TRANSIT_DATABASE_URL": url,
            "TRANSIT_BIND": f"127.0.0.1:{port}",
            "TRANSIT_LOG_LEVEL": "WARNING",
            # Every worker must sign and check tokens with the same key.
            "TRANSIT_SECRET_KEY": secrets.token_hex(32),
            "WEB_CONCURRENCY": str(args.workers),
        }
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
        subprocess.run(
            [*flask, "network", "import", str(ROOT / "data" / "demo-network")],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        began = time.perf_counter()
        card_id = load(url)
        load_seconds = time.perf_counter() - began
        worker = ["--worker-class", "gthread", "--threads", str(args.threads)]
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--access-logfile",
                "/dev/null",
                *(worker if args.threads > 1 else []),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        login = urllib.request.Request(
            base + "/api/v1/auth/login",
            data=json.dumps({"phone": PHONE, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        # Every worker builds its app and opens its pool before the clock starts.
        run_clients(port, args.clients, 2, history_walk(card_id, token, 0))
        runs = {}
        for name, think in (("paced", args.think), ("saturated", 0.0)):
            runs[name] = (
                run_clients(port, args.clients, args.seconds, history_walk(card_id, token, think)),
                run_clients(port, args.clients, args.seconds, healthz(think)),
            )
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        server.stop()
    kind = f"gthread x {args.threads} threads" if args.threads > 1 else "sync"
    taps = TRIPS + OTHER_CARDS * TAPS_PER_OTHER_CARD
    print(
        f"python {platform.python_version()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus; PostgreSQL private server (fsync off) on the same machine"
    )
    print(
        f"gunicorn {args.workers} {kind} workers (WEB_CONCURRENCY={args.workers}); "
        f"{args.clients} client threads in one process on the same cores, one http.client "
        "connection each"
        + ("" if args.threads > 1 else " (sync workers close it after every answer)")
    )
    print(
        f"data: 1 card with {TRIPS:,} trips, {OTHER_CARDS:,} other cards with "
        f"{TAPS_PER_OTHER_CARD} taps each ({taps:,} taps, loaded in {load_seconds:.1f} s)"
    )
    for name, ((history, history_seconds), (health, health_seconds)) in runs.items():
        if name == "paced":
            print(
                f"\npaced: each client waits {args.think:g} s on average between requests "
                f"(about {args.clients / args.think:,.0f} requests/s offered)"
            )
        else:
            print("\nsaturated: no waiting, every client sends its next request at once")
        label = f"GET trips?limit={PAGE} (first page + {DEPTH - 1} by cursor)"
        print(report(label, history, history_seconds))
        print(report("GET /healthz", health, health_seconds))
    p99 = percentile(runs["paced"][0][0].latencies, 0.99)
    verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
    print(
        f"\ntarget for trips, paced: p99 <= {TARGET_P99_MS:.0f} ms: {verdict} ({p99:.1f} ms); "
        "saturated, the latencies are the queue, and the rate is the server's capacity"
    )


if __name__ == "__main__":
    main()
