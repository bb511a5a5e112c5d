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
import re
import secrets
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import support  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from support import Tally, fetch, pause, run_clients  # noqa: E402

import wire  # noqa: E402
from transit.db import make_engine, make_session_factory  # noqa: E402
from transit.models import Route, Stop, TapRecord  # noqa: E402
from transit.services import cards, riders, wallet  # noqa: E402
from transit.services.taps import stored_row  # noqa: E402
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
        rider = riders.verify_phone(PHONE, outbox.code(), PASSWORD, now, uow, codes)
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
        accepted = result == "accepted"
        record = wire.Tap(
            tap_id=f"tap_{uid}_{n:05d}",
            device_seq=n,
            time=when,
            card_uid=uid,
            route_id=route_ids[n % len(route_ids)],
            stop_id=stop_ids[n % len(stop_ids)],
            result=result,
            reason=None if accepted else "insufficient_balance",
            amount=8_000 if accepted else 0,
            paid_by="stored_value" if accepted else "nothing",
            balance_after=42_000 if accepted else None,
            card_tx=n + 1,
            tariff_version="hanoi-2024-11",
            explanation="leg rule 2024-11-01/fare_leg_rules.txt:3",
            commit="confirmed",
        )
        return stored_row(record, "dev_bench", when)

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
    """In milliseconds."""
    return support.percentile(values, share) * 1000


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
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    with support.database() as (_, url):
        port = support.free_port()
        env = support.app_env(url, port, args.workers)
        support.flask(env, "network", "import", str(ROOT / "data" / "demo-network"))
        began = time.perf_counter()
        card_id = load(url)
        load_seconds = time.perf_counter() - began
        worker = ["--worker-class", "gthread", "--threads", str(args.threads)]
        with support.gunicorn(env, *(worker if args.threads > 1 else [])) as base:
            login = urllib.request.Request(
                base + "/api/v1/auth/login",
                data=json.dumps({"phone": PHONE, "password": PASSWORD}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(login, timeout=30) as response:  # noqa: S310  loopback
                token = json.loads(response.read())["access_token"]
            # Every worker builds its app and opens its pool before the clock starts.
            run_clients(port, args.clients, 2, history_walk(card_id, token, 0))
            runs = {}
            for name, think in (("paced", args.think), ("saturated", 0.0)):
                walk = history_walk(card_id, token, think)
                runs[name] = (
                    run_clients(port, args.clients, args.seconds, walk),
                    run_clients(port, args.clients, args.seconds, healthz(think)),
                )
    kind = f"gthread x {args.threads} threads" if args.threads > 1 else "sync"
    taps = TRIPS + OTHER_CARDS * TAPS_PER_OTHER_CARD
    print(support.describe() + "; PostgreSQL private server (fsync off) on the same machine")
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
    (paced, paced_seconds), (paced_health, _) = runs["paced"]
    (busy, busy_seconds), (busy_health, busy_health_seconds) = runs["saturated"]
    p50, p99 = percentile(paced.latencies, 0.50), percentile(paced.latencies, 0.99)
    verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
    print(
        f"\ntarget for trips, paced: p99 <= {TARGET_P99_MS:.0f} ms: {verdict} ({p99:.1f} ms); "
        "saturated, the latencies are the queue, and the rate is the server's capacity"
    )
    errors = len(paced.errors) + len(busy.errors)
    command = f"bench/api_history.py --clients {args.clients} --think {args.think:g}"
    support.write_figures(
        args.json,
        [
            support.Figure(
                name=f"Trip history, {args.clients} clients pacing {args.think:g} s "
                f"({len(paced.latencies) / paced_seconds:,.0f} req/s)",
                value=p99,
                unit="ms",
                shown=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                + (f", {errors} errors" if errors else ""),
                target=f"p99 <= {TARGET_P99_MS:.0f} ms",
                met=p99 <= TARGET_P99_MS and not errors,
                baseline=f"/healthz p50 {percentile(paced_health.latencies, 0.50):.1f} ms, "
                f"p99 {percentile(paced_health.latencies, 0.99):.1f} ms",
                bench=command,
            ),
            support.Figure(
                name="Trip history capacity, no waiting",
                value=len(busy.latencies) / busy_seconds,
                unit="req/s",
                shown=f"{len(busy.latencies) / busy_seconds:,.0f} req/s",
                baseline=f"/healthz {len(busy_health.latencies) / busy_health_seconds:,.0f} req/s",
                bench=command,
            ),
        ],
    )


if __name__ == "__main__":
    main()
