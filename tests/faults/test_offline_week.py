"""A validator out of signal for a week: every tap waits in its journal, then one sync sends
them all, in bounded batches, once each, and the backend's ledger agrees without an alert."""

from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest

from readers.journal import Journal
from readers.sync import SyncClient, SyncError
from tests.e2e.test_serving import free_port
from tests.faults.fleet import (
    CHEAP_SCRYPT,
    Bus,
    PgBackend,
    RiderCard,
    Uplink,
    assert_ledger_agrees,
    block,
    credit,
    issue_cards,
    journaled,
    register_bus,
    wait_until_sent,
)

HANOI = timedelta(hours=7)


def week_of_boardings(
    count: int, riders: list[RiderCard], end: datetime, seed: int
) -> list[tuple[datetime, RiderCard]]:
    """`count` boardings over the 7 days before `end`, in service hours (05:00–22:00 Hanoi),
    oldest first, no two at the same instant."""
    chance = random.Random(seed)
    start = end - timedelta(days=7)
    moments: set[datetime] = set()
    midnight = (start + HANOI).replace(hour=0, minute=0, second=0, microsecond=0) - HANOI
    while len(moments) < count:
        service = 5 * 3600 + chance.randrange(17 * 3600)
        moment = midnight + timedelta(days=chance.randrange(8), seconds=service)
        if start < moment < end:
            moments.add(moment)
    # Regulars ride most: the first fifth of the cards make a third of the boardings.
    regulars = riders[: len(riders) // 5]
    return [
        (moment, chance.choice(regulars if chance.random() < 1 / 3 else riders))
        for moment in sorted(moments)
    ]


def sync_now(client: SyncClient) -> None:
    """What the sync thread does when it has signal: send everything, then refresh."""
    while client.upload_once() == client.batch_size:
        pass
    client.refresh_snapshot()


@pytest.mark.parametrize(
    "taps",
    [
        pytest.param(5_000, id="5000-taps"),
        pytest.param(20_000, id="20000-taps", marks=pytest.mark.long),
    ],
)
def test_a_week_offline_then_one_sync_sends_every_tap_once(
    pg_backend: PgBackend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    taps: int,
) -> None:
    monkeypatch.setattr("transit.services.cards._SCRYPT", CHEAP_SCRYPT)
    masters = pg_backend.masters()
    chance = random.Random(7)
    # About 20 boardings a card in the week; the regulars carry more money.
    count = taps // 20
    balances = [
        600_000 if n < count // 5 else chance.choice((150_000, 250_000, 400_000))
        for n in range(count)
    ]
    riders = issue_cards(pg_backend, masters, balances, first_uid=0x10_0000)
    # Customer service tops up a quarter of the cards before the week; two of them twice.
    topped = riders[::4]
    for rider in topped:
        credit(pg_backend, rider, 100_000)
    for rider in topped[:2]:
        credit(pg_backend, rider, 50_000)
    # Bus 32 loses signal for the week; bus 09, which the same riders take now and then,
    # keeps it and syncs every evening.
    offline = register_bus(pg_backend, "bus32", "32", masters)
    online = register_bus(pg_backend, "bus09", "09", masters)
    for bus in (offline, online):
        with Journal(bus.journal_path) as journal:
            assert SyncClient(pg_backend.url, bus.device_id, bus.seed, journal).refresh_snapshot()
            assert len(journal.pending_for(topped[0].uid, 0)) == 2
    version_before = snapshot_version(offline)

    end = datetime.now(UTC) - timedelta(minutes=10)
    boardings = week_of_boardings(taps + taps // 8, riders, end, seed=taps)
    on_online = set(chance.sample(range(len(boardings)), taps // 8))
    lost, late = riders[3], riders[5]
    outcomes: dict[str, int] = {}
    late_seq: int | None = None
    no_signal = f"http://127.0.0.1:{free_port()}"
    with ExitStack() as stack:
        validators = {bus.name: stack.enter_context(bus.validator()) for bus in (offline, online)}
        journal = stack.enter_context(Journal(offline.journal_path))
        cut_off = SyncClient(no_signal, offline.device_id, offline.seed, journal, timeout=2)
        evening = stack.enter_context(Journal(online.journal_path))
        signal = SyncClient(pg_backend.url, online.device_id, online.seed, evening)
        day = boardings[0][0].date()
        for n, (moment, rider) in enumerate(boardings):
            if moment.date() != day:  # evening: bus 09 syncs, bus 32 tries and cannot
                day = moment.date()
                sync_now(signal)
                with pytest.raises(SyncError):
                    cut_off.upload_once()
                if n > len(boardings) // 2 and late_seq is None:
                    # Midweek at the office: a card reported lost, another one topped up.
                    block(pg_backend, lost)
                    late_seq = credit(pg_backend, late, 30_000)
            bus = online if n in on_online else offline
            outcome = bus.tap(validators[bus.name], rider, moment)
            assert outcome.tap_id is not None, outcome
            if bus is offline:
                reason = json.loads(outcome.as_json())["reason"]
                outcomes[reason] = outcomes.get(reason, 0) + 1
        sync_now(signal)
        assert journal.backlog() == taps
    assert outcomes.get("paid", 0) > taps * 0.8
    assert set(outcomes) <= {"paid", "passback", "insufficient_balance"}

    started = time.monotonic()  # bus 32 is back in signal: its sync thread sends the week
    with Uplink(pg_backend, offline) as uplink:
        wait_until_sent([offline], timeout=300)
        took = time.monotonic() - started
        deadline = time.monotonic() + 30
        while snapshot_version(offline) == version_before:
            assert time.monotonic() < deadline, "the snapshot was never refreshed"
            time.sleep(0.05)
    batches = uplink.batches
    with capsys.disabled():
        print(
            f"\n  offline week: {taps:,} taps synced in {took:.1f} s "
            f"({len(batches)} batches, {taps / took:,.0f} taps/s)"
        )
    assert max(batches) <= 1_000
    assert sum(batches) >= taps
    assert set(pg_backend.uploads()) == {200}

    # Many of the week's taps reach the backend behind newer ones of the same card from bus 09:
    # history, not a rolled-back card.
    newest = {}
    for tap in journaled(online.journal_path):
        if tap["card_tx"] is not None:
            newest[tap["card_uid"]] = max(newest.get(tap["card_uid"], 0), tap["card_tx"])
    behind = [
        t
        for t in journaled(offline.journal_path)
        if t["card_tx"] is not None and t["card_tx"] < newest.get(t["card_uid"], 0)
    ]
    assert len(behind) > taps // 4
    assert_ledger_agrees(pg_backend, [offline, online], riders)
    assert pg_backend.query(
        f"SELECT COUNT(*) FROM taps WHERE device_id = '{offline.device_id}'"  # noqa: S608
    ) == [(taps,)]

    # The snapshot after a week: the lost card is refused, and the loads waiting are exactly
    # those the backend still holds (the week's confirmed ones withdrawn, the new one there).
    with Journal(offline.journal_path) as journal:
        assert journal.denied(lost.uid) == "lost"
        [(version,)] = pg_backend.query("SELECT version FROM sync_version")
        assert journal.snapshot_version() == version
        waiting = pg_backend.query(
            "SELECT card_uid, seq FROM pending_actions WHERE status = 'pending'"
        )
        held = {(r.uid, p["seq"]) for r in riders for p in journal.pending_for(r.uid, 0)}
        assert held == set(waiting)
    assert (late.uid, late_seq) in set(
        pg_backend.query("SELECT card_uid, seq FROM pending_actions")
    )


def snapshot_version(bus: Bus) -> int:
    with Journal(bus.journal_path) as journal:
        return journal.snapshot_version()
