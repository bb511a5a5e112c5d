"""A month of Hanoi-sized traffic in PostgreSQL: trip history, statements and ingestion at 1 day
and at 30 days of data.

    python bench/scale.py [--days 30] [--boardings 1200000] [--cards 1500000] [--routes 150]
                          [--seconds 15] [--json FILE]

Loads into a private PostgreSQL (the settings below, fsync off) 150 routes, 4,000 stops and
1.5 million issued cards with their ledger rows. 1,000 of the cards belong to riders who
commute four trips a day, every day of the month; their taps are there from the start, so
what a rider's request reads is the same at both sizes and only the size of the table around
it changes. The city's other cards make 1.2 million boardings a day (each rider two), generated
in SQL a day at a time, the newest day first.

At 1 day, and again after the other days are loaded, it measures through gunicorn (4 workers):
  - trip history: 50 clients, each opening a random commuter's trips and paging back by cursor,
    waiting about 1 s between requests (as the trip history bench does);
  - the monthly statement (CSV) of a random commuter's card, one request at a time;
  - ingestion: signed batches of 1,000 new taps from 3 clients, and raw inserts of as many rows.
The taps table is partitioned by month (migration 0010); its indexes are (card_uid, time) for
history and statements and (card_uid, card_tx) for ingestion's checks, in every partition.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import support
from ingest import BATCH
from ingest import measure as measure_ingest
from sqlalchemy import text

from api import create_app
from api.auth import issue_access_token
from transit import partitions
from transit.db import make_engine
from transit.localtime import HANOI
from transit.models import Rider

# A server sized for the data, as an operator would run it (24 GiB machine, 2 cores).
SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "12GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}
COMMUTERS = 1_000
STOPS = 4_000
PAGE = 20
DEPTH = 6  # pages a rider scrolls back, at most
TARGET_P99_MS = 50.0


def commuter_uid(n: int) -> str:
    return f"04{n:012X}"


def setup(url: str, args: argparse.Namespace, days: list[date], now: datetime) -> float:
    """Network, cards, ledger, riders and the commuters' taps; returns seconds taken."""
    began = time.perf_counter()
    engine = make_engine(url)
    first = datetime.combine(days[-1], datetime.min.time(), HANOI)
    with engine.begin() as connection:
        partitions.cover(connection, first, now)
        connection.execute(
            text(
                "INSERT INTO agencies (agency_id, name, url, timezone, lang, updated_at)"
                " VALUES ('HNB', 'Hanoi Bus', 'https://example.vn', 'Asia/Ho_Chi_Minh', 'vi',"
                " :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO routes (route_id, agency_id, short_name, long_name, route_type,"
                " active, updated_at)"
                " SELECT 'R' || lpad(n::text, 3, '0'), 'HNB', n::text, 'Tuyến ' || n, 3, true,"
                " :now FROM generate_series(1, :routes) n"
            ),
            {"now": now, "routes": args.routes},
        )
        connection.execute(
            text(
                "INSERT INTO stops (stop_id, name, lat, lon, location_type, active, updated_at)"
                " SELECT 'S' || lpad(n::text, 4, '0'), 'Điểm dừng ' || n,"
                " 20.95 + (n % 100) * 0.002, 105.75 + (n / 100) * 0.003, 0, true, :now"
                " FROM generate_series(0, :stops - 1) n"
            ),
            {"now": now, "stops": STOPS},
        )
        connection.execute(
            text(
                "INSERT INTO riders (rider_id, phone, password_hash, status, language,"
                " consent_version, consent_at, created_at, verified_at)"
                " SELECT 'rdr_' || lpad(n::text, 8, '0'), '+8490' || lpad(n::text, 7, '0'),"
                " NULL, 'active', 'vi', '2026-11', :now, :now, :now"
                " FROM generate_series(0, :riders - 1) n"
            ),
            {"now": now, "riders": COMMUTERS},
        )
        # Every card issued, its ledger row beside it; the first ones are the commuters'.
        connection.execute(
            text(
                "INSERT INTO cards (card_id, uid, serial, card_number, check_code_hash,"
                " category_id, initial_balance, status, issued_at, rider_id, linked_at)"
                " SELECT 'card_' || lpad(n::text, 8, '0'),"
                " '04' || lpad(upper(to_hex(n)), 12, '0'), n + 1,"
                " '8401' || lpad(n::text, 12, '0'), 'unused', 'adult', 100000, 'active', :now,"
                " CASE WHEN n < :riders THEN 'rdr_' || lpad(n::text, 8, '0') END,"
                " CASE WHEN n < :riders THEN CAST(:now AS timestamptz) END"
                " FROM generate_series(0, :cards - 1) n"
            ),
            {"now": now, "riders": COMMUTERS, "cards": args.cards},
        )
        connection.execute(
            text(
                "INSERT INTO card_shadows (card_uid, balance, last_card_tx)"
                " SELECT uid, 50000, 0 FROM cards"
            )
        )
        # Four trips a day for each commuter, every day of the month.
        for number, day in enumerate(sorted(days)):
            start = datetime.combine(day, datetime.min.time(), HANOI)
            connection.execute(
                text(
                    "INSERT INTO taps (tap_id, device_id, device_seq, time, card_uid, route_id,"
                    " stop_id, result, amount, paid_by, balance_after, card_tx, tariff_version,"
                    " explanation, commit, received_at)"
                    " SELECT 'tap_c' || :d || '_' || c || '_' || k, 'dev_' || (c % 3000),"
                    " :d * 4 + k, t, '04' || lpad(upper(to_hex(c)), 12, '0'),"
                    " 'R' || lpad((1 + (c + k) % :routes)::text, 3, '0'),"
                    " 'S' || lpad(((c * 7 + k) % :stops)::text, 4, '0'), 'accepted',"
                    " CASE WHEN k % 2 = 1 THEN 0 ELSE 7000 END,"
                    " CASE WHEN k % 2 = 1 THEN 'transfer' ELSE 'stored_value' END,"
                    " 50000, :d * 4 + k + 1, 'hanoi-2024-11',"
                    " 'leg rule 2024-11-01/fare_leg_rules.txt:3', 'confirmed',"
                    " t + interval '20 minutes'"
                    " FROM generate_series(0, :riders - 1) c, generate_series(0, 3) k,"
                    " LATERAL (SELECT CAST(:start AS timestamptz) + make_interval(mins =>"
                    " (ARRAY[420, 470, 1020, 1070])[k + 1] + c % 60) AS t) moment"
                ),
                {
                    "d": number,
                    "start": start,
                    "riders": COMMUTERS,
                    "routes": args.routes,
                    "stops": STOPS,
                },
            )
    engine.dispose()
    return time.perf_counter() - began


def load_day(url: str, number: int, day: date, args: argparse.Namespace) -> None:
    """One day of the city's boardings: each rider of the day taps twice, morning and evening."""
    riders_a_day = args.boardings // 2
    span = args.cards - COMMUTERS
    start = datetime.combine(day, datetime.min.time(), HANOI)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO taps (tap_id, device_id, device_seq, time, card_uid, route_id,"
                " stop_id, result, reason, amount, paid_by, balance_after, card_tx,"
                " tariff_version, explanation, commit, received_at)"
                " SELECT 'tap_d' || :d || '_' || n, 'dev_' || (n % 3000), n, t,"
                " '04' || lpad(upper(to_hex(c)), 12, '0'),"
                " 'R' || lpad((1 + (n / 2 * 31) % :routes)::text, 3, '0'),"
                " 'S' || lpad(((n * 7907) % :stops)::text, 4, '0'),"
                " CASE WHEN n % 50 = 0 THEN 'denied' ELSE 'accepted' END,"
                " CASE WHEN n % 50 = 0 THEN 'insufficient_balance' END,"
                " CASE WHEN n % 50 = 0 THEN 0 ELSE 7000 END,"
                " CASE WHEN n % 50 = 0 THEN 'nothing' ELSE 'stored_value' END,"
                " 50000 - 7000 * (n % 7), :d * 2 + n % 2 + 1, 'hanoi-2024-11',"
                " 'leg rule 2024-11-01/fare_leg_rules.txt:3', 'confirmed',"
                " t + interval '20 minutes'"
                " FROM generate_series(CAST(0 AS bigint), :boardings - 1) n,"
                " LATERAL (SELECT :first + (n / 2 + :d * :per_day) % :span AS c,"
                " CAST(:start AS timestamptz) + make_interval(secs => CASE WHEN n % 2 = 0"
                " THEN 18000 + n * 7919 % 18000 ELSE 54000 + n * 104729 % 21600 END) AS t) g"
            ),
            {
                "d": number,
                "start": start,
                "boardings": args.boardings,
                "first": COMMUTERS,
                "per_day": riders_a_day,
                "span": span,
                "routes": args.routes,
                "stops": STOPS,
            },
        )
    engine.dispose()


def load_days(url: str, days: list[tuple[int, date]], args: argparse.Namespace) -> float:
    """Load the days on two connections at once (the machine's two cores); returns seconds."""
    began = time.perf_counter()
    queue = list(days)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                number, day = queue.pop(0)
            try:
                load_day(url, number, day, args)
            except BaseException as error:  # noqa: BLE001  reported after the join
                with lock:
                    failures.append(error)
                return

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE taps"))
    engine.dispose()
    return time.perf_counter() - began


def tokens(url: str, secret: str, now: datetime) -> dict[str, str]:
    """An access token for each commuter, minted as the app mints them: {card_id: token}."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret, "INSTANCE_PATH": instance})
        with app.app_context():
            minted = {}
            for n in range(COMMUTERS):
                rider = Rider(rider_id=f"rdr_{n:08d}", password_changed_at=None)
                minted[f"card_{n:08d}"] = issue_access_token(rider, now)[0]
        app.extensions["transit"].engine.dispose()
    return minted


def history_walk(minted: dict[str, str], think: float) -> Callable[..., None]:
    cards = sorted(minted)

    def work(connection: http.client.HTTPConnection, tally: support.Tally, deadline: float) -> None:
        support.pause(think)
        mine: list[float] = []
        while time.perf_counter() < deadline:
            card_id = random.choice(cards)  # noqa: S311  not for secrets
            headers = {"Authorization": f"Bearer {minted[card_id]}"}
            base = f"/api/v1/cards/{card_id}/trips?limit={PAGE}"
            cursor = None
            for _ in range(random.randint(1, DEPTH)):  # noqa: S311
                path = base if cursor is None else f"{base}&cursor={cursor}"
                elapsed, status, body = support.fetch(connection, path, headers, tally)
                if status != 200:
                    with tally.lock:
                        tally.errors.append(f"{status} {body[:200]!r}")
                    break
                mine.append(elapsed)
                cursor = json.loads(body)["next_cursor"]
                support.pause(think)
                if cursor is None or time.perf_counter() >= deadline:
                    break
        with tally.lock:
            tally.latencies += mine

    return work


def statements(
    port: int, minted: dict[str, str], month: str, count: int
) -> tuple[list[float], int]:
    """`count` statements of random commuters' cards, one at a time: (latencies, rows seen)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    tally = support.Tally()
    latencies = []
    rows = 0
    cards = sorted(minted)
    for _ in range(count):
        card_id = random.choice(cards)  # noqa: S311  not for secrets
        path = f"/api/v1/cards/{card_id}/statement?month={month}"
        headers = {"Authorization": f"Bearer {minted[card_id]}"}
        elapsed, status, body = support.fetch(connection, path, headers, tally)
        if status != 200:
            raise SystemExit(f"statement: {status} {body[:300]!r}")
        latencies.append(elapsed)
        rows = body.count(b"\n")
    connection.close()
    return latencies, rows


def measure(
    url: str, args: argparse.Namespace, stage: int, month: str, now: datetime
) -> dict[str, Any]:
    port = support.free_port()
    env = support.app_env(url, port, workers=4)
    minted = tokens(url, env["TRANSIT_SECRET_KEY"], now)
    engine = make_engine(url)
    with engine.connect() as connection:
        taps = connection.scalar(text("SELECT count(*) FROM taps"))
        size = connection.scalar(text("SELECT pg_total_relation_size('taps')"))
        for child in partitions.existing(connection):
            size += connection.scalar(
                text("SELECT pg_total_relation_size(CAST(:name AS regclass))"),
                {"name": child.name},
            )
        size += connection.scalar(
            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"),
            {"name": partitions.DEFAULT},
        )
    engine.dispose()
    with support.gunicorn(env) as base:
        support.run_clients(port, args.clients, 2, history_walk(minted, 0))  # warm the workers
        history, seconds = support.run_clients(
            port, args.clients, args.seconds, history_walk(minted, args.think)
        )
        statement, rows = statements(port, minted, month, args.statements)
        # New taps of yesterday for cards that already have a month of history.
        rates = measure_ingest(
            url,
            env,
            base,
            args.batches,
            3,
            card_base=COMMUTERS + stage * 3 * args.batches * BATCH,
            card_tx=1_000_000 + stage,
        )
    return {
        "taps": taps,
        "bytes": size,
        "history": history,
        "history_rate": len(history.latencies) / seconds,
        "statement": statement,
        "statement_rows": rows,
        "ingest": rates,
    }


def ms(values: list[float], share: float) -> float:
    return support.percentile(values, share) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--boardings", type=int, default=1_200_000, help="a day, city-wide")
    parser.add_argument("--cards", type=int, default=1_500_000)
    parser.add_argument("--routes", type=int, default=150)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--batches", type=int, default=20, help="of 1,000 taps, per stage")
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    today = now.astimezone(HANOI).date()
    days = [today - timedelta(days=n) for n in range(1, args.days + 1)]  # newest first
    # The statement of the month that holds most of the data.
    middle = days[len(days) // 2]
    month = f"{middle:%Y-%m}"
    results = {}
    with support.database(SETTINGS) as (_, url):
        setup_seconds = setup(url, args, days, now)
        print(
            f"setup: {args.routes} routes, {STOPS:,} stops, {args.cards:,} cards and ledger rows,"
            f" {COMMUTERS:,} commuters with {4 * args.days} trips each, in {setup_seconds:.0f} s",
            flush=True,
        )
        seconds = load_days(url, [(0, days[0])], args)
        print(f"day 1: {args.boardings:,} boardings loaded in {seconds:.0f} s", flush=True)
        results[1] = measure(url, args, 1, month, now)
        rest = list(enumerate(days))[1:]
        seconds = load_days(url, rest, args)
        print(
            f"days 2-{args.days}: {args.boardings * len(rest):,} boardings loaded in "
            f"{seconds:.0f} s ({args.boardings * len(rest) / seconds:,.0f} rows/s)",
            flush=True,
        )
        results[args.days] = measure(url, args, 2, month, now)
    print(support.describe() + "; PostgreSQL private server on the same machine:")
    print("  " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()))
    print(f"{'':28}{'1 day':>24}{f'{args.days} days':>24}")
    one, many = results[1], results[args.days]

    def row(label: str, shown: Callable[[dict[str, Any]], str]) -> None:
        print(f"{label:28}{shown(one):>24}{shown(many):>24}")

    row("taps in the table", lambda r: f"{r['taps']:,}")
    row("taps table with indexes", lambda r: f"{r['bytes'] / 2**30:.1f} GiB")
    row("history p50 / p99", lambda r: f"{ms(r['history'].latencies, 0.5):.1f} / "
        f"{ms(r['history'].latencies, 0.99):.1f} ms")  # fmt: skip
    row("history requests", lambda r: f"{len(r['history'].latencies):,} "
        f"({r['history_rate']:.0f}/s, {len(r['history'].errors)} err)")  # fmt: skip
    row("statement p50 / p99", lambda r: f"{ms(r['statement'], 0.5):.1f} / "
        f"{ms(r['statement'], 0.99):.1f} ms")  # fmt: skip
    row("statement lines", lambda r: f"{r['statement_rows']}")
    row("ingest API", lambda r: f"{r['ingest'].api:,.0f} taps/s")
    row("raw inserts", lambda r: f"{r['ingest'].raw:,.0f} rows/s")
    command = f"bench/scale.py --days {args.days} --boardings {args.boardings}"
    figures = []
    for key in ("history", "statement"):
        first = one[key].latencies if key == "history" else one[key]
        last = many[key].latencies if key == "history" else many[key]
        p99 = ms(last, 0.99)
        figures.append(
            support.Figure(
                name=f"{'Trip history page' if key == 'history' else 'Monthly statement (CSV)'}"
                f" at {args.days} days ({many['taps'] / 1e6:.0f}M taps, {args.cards / 1e6:.1f}M"
                " cards)",
                value=p99,
                unit="ms",
                shown=f"p50 {ms(last, 0.5):.1f} ms, p99 {p99:.1f} ms",
                target=f"p99 <= {TARGET_P99_MS:.0f} ms" if key == "history" else "",
                met=p99 <= TARGET_P99_MS if key == "history" else None,
                baseline=f"at 1 day ({one['taps'] / 1e6:.1f}M taps): p50 {ms(first, 0.5):.1f} ms,"
                f" p99 {ms(first, 0.99):.1f} ms",
                bench=command,
            )
        )
    figures.append(
        support.Figure(
            name=f"Taps ingested through the API at {args.days} days",
            value=many["ingest"].api,
            unit="taps/s",
            shown=f"{many['ingest'].api:,.0f} taps/s (raw {many['ingest'].raw:,.0f} rows/s)",
            target=">= 5,000 taps/s",
            met=many["ingest"].api >= 5_000,
            baseline=f"at 1 day: {one['ingest'].api:,.0f} taps/s "
            f"(raw {one['ingest'].raw:,.0f} rows/s)",
            bench=command,
        )
    )
    support.write_figures(args.json, figures)


if __name__ == "__main__":
    main()
