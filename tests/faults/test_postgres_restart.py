"""PostgreSQL restarted while buses upload: the API answers 503 while it is away, the
validators keep their taps and retry, and in the end every tap is stored once and every
card's shadow agrees with what the card said, without a gunicorn worker being restarted."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest

from readers import sync as reader_sync
from readers.journal import Journal
from readers.sync import SyncClient
from tests.e2e.test_serving import get
from tests.faults.fleet import (
    CHEAP_SCRYPT,
    Bus,
    PgBackend,
    Uplink,
    assert_ledger_agrees,
    credit,
    issue_cards,
    journaled,
    register_bus,
    signed_post,
    wait_until_sent,
)

ROUTES = ("32", "09", "01", "86")


def stored(backend: PgBackend) -> int:
    return int(backend.query("SELECT COUNT(*) FROM taps")[0][0])


@pytest.mark.parametrize(
    ("buses", "taps", "restarts"),
    [
        pytest.param(4, 4_000, ("fast", "immediate"), id="4000-taps"),
        pytest.param(
            8,
            20_000,
            ("fast", "immediate", "fast", "immediate"),
            id="20000-taps",
            marks=pytest.mark.long,
        ),
    ],
)
def test_postgres_restarted_mid_ingestion_loses_and_doubles_nothing(
    pg_backend: PgBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    buses: int,
    taps: int,
    restarts: tuple[str, ...],
) -> None:
    monkeypatch.setattr("transit.services.cards._SCRYPT", CHEAP_SCRYPT)
    # A bus at the depot retries within seconds: the same backoff, with a lower ceiling.
    monkeypatch.setattr(reader_sync, "MAX_BACKOFF", 2.0)
    masters = pg_backend.masters()
    chance = random.Random(taps)
    riders = issue_cards(pg_backend, masters, [300_000] * (taps // 20), first_uid=0x20_0000)
    for rider in riders[::5]:
        credit(pg_backend, rider, 50_000)
    fleet = [
        register_bus(pg_backend, f"bus{n}", ROUTES[n % len(ROUTES)], masters) for n in range(buses)
    ]
    for bus in fleet:
        with Journal(bus.journal_path) as journal:
            assert SyncClient(pg_backend.url, bus.device_id, bus.seed, journal).refresh_snapshot()

    # The morning's taps, cards going from bus to bus, journaled before anything is sent:
    # six hours of them, ending an hour ago.
    moment = datetime.now(UTC) - timedelta(hours=7)
    step = 6 * 3600 / taps
    with ExitStack() as stack:
        validators = [stack.enter_context(bus.validator()) for bus in fleet]
        for _ in range(taps):
            moment += timedelta(seconds=chance.uniform(0.1, 1.9) * step)
            n = chance.randrange(buses)
            fleet[n].tap(validators[n], chance.choice(riders), moment)
    assert sum(len(journaled(bus.journal_path)) for bus in fleet) == taps

    workers = pg_backend.workers()
    assert len(workers) == 2
    with ExitStack() as stack:
        for bus in fleet:
            stack.enter_context(Uplink(pg_backend, bus, batch_size=100))
        for n, mode in enumerate(restarts):
            threshold = taps * (n + 1) // (len(restarts) + 1)
            deadline = time.monotonic() + 120
            while (before := stored(pg_backend)) < threshold:
                assert time.monotonic() < deadline, f"{before} taps stored, not {threshold}"
                time.sleep(0.02)
            pg_backend.postgres.halt(mode)
            try:
                assert_outage_answers_503(pg_backend, fleet[0])
                time.sleep(1.0)  # long enough for every bus to meet the outage
            finally:
                pg_backend.postgres.resume()
            assert before < taps, "the restart came after the uploads: it tested nothing"
        wait_until_sent(fleet, timeout=180)

    assert_ledger_agrees(pg_backend, fleet, riders)
    assert stored(pg_backend) == taps
    uploads = pg_backend.uploads()
    assert uploads.count(503) > len(restarts)  # not only the probes: the buses met the outage
    assert 500 not in uploads
    retried = [r for r in caplog.records if r.name == "readers.sync" and "503" in r.getMessage()]
    assert retried
    # The same workers serve on: each found its dead connections and made new ones.
    assert pg_backend.server.poll() is None
    assert pg_backend.workers() == workers
    assert get(pg_backend.url + "/readyz")[0] == 200


def assert_outage_answers_503(backend: PgBackend, bus: Bus) -> None:
    """While the database is down, an upload and the readiness probe get a clean 503: a
    problem a validator retries, not an internal error."""
    answer = signed_post(backend, bus, journaled(bus.journal_path)[:1])
    assert answer.status == 503, answer
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    assert (answer.body["code"], answer.body["status"]) == ("service_unavailable", 503)
    assert get(backend.url + "/readyz")[0] == 503
