"""A bus fleet for the fault tests: gunicorn on a private PostgreSQL, cards issued through the
real register, and validators that decide taps in-process against those cards.

The cards are virtual cards held in memory (tests.support.virtual_card), so a week of taps
takes seconds; everything else is the real code: card issuing, the validator's decisions and
its journal, the signed sync client, and the backend as gunicorn serves it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from cards.application import MasterKeys
from cards.emulator.memory import CardMemory
from fares import load_hanoi_tariff
from readers.journal import Journal
from readers.signing import sign
from readers.sync import SyncClient
from readers.validator import Outcome, Validator
from scripts.postgres import PostgresServer
from tests.e2e.test_bus_day import Backend
from tests.support.virtual_card import Field
from transit.db import make_engine, make_session_factory
from transit.keystore import create_key_file, load_master_keys
from transit.services import cards, denylist, devices, loads
from transit.uow import UnitOfWork

HANOI = load_hanoi_tariff()
ADULT = HANOI.latest.categories["adult"].code
TAPS_PATH = "/api/v1/validator/taps"
# For transit.services.cards._SCRYPT: the fault tests issue hundreds of cards and never check a
# printed check code, so they hash the codes at a cost of microseconds, not 40 ms.
CHEAP_SCRYPT = {"n": 2, "r": 1, "p": 1, "dklen": 32}


class PgBackend(Backend):
    """The e2e tests' gunicorn backend, on a database of its own on a private PostgreSQL."""

    def __init__(self, home: Path, postgres: PostgresServer, database: str) -> None:
        super().__init__(home)
        self.postgres = postgres
        self.database = database
        self.database_url = postgres.url(database)
        self.env["TRANSIT_DATABASE_URL"] = self.database_url
        self._engine = make_engine(self.database_url)
        self._sessions = make_session_factory(self._engine)

    def prepare(self) -> None:
        """Migrate (as an operator would) and make the master keys."""
        self.flask("db", "upgrade")
        create_key_file(self.home / "keys.json")

    def masters(self) -> MasterKeys:
        return load_master_keys(self.home / "keys.json")

    def unit_of_work(self) -> UnitOfWork:
        """For what operators and customer service do with commands: issue, credit, block."""
        return UnitOfWork(self._sessions)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        dsn = (
            f"host=127.0.0.1 port={self.postgres.port} user={self.postgres.user}"
            f" dbname={self.database}"
        )
        with psycopg.connect(dsn, autocommit=True) as connection:
            return connection.execute(sql.encode()).fetchall()

    def close(self) -> None:
        if self.server.poll() is None:
            self.stop()
        self._engine.dispose()

    def uploads(self) -> list[int]:
        """The status of every tap upload gunicorn answered, in order, from its access log."""
        statuses = []
        for line in (self.home / "gunicorn.log").read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "gunicorn.access" and entry["path"] == TAPS_PATH:
                    statuses.append(int(entry["status"]))
        return statuses

    def workers(self) -> set[int]:
        """The process ids of gunicorn's workers (the children of its master process)."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                after_name = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone while we looked
            if int(after_name[1]) == self.server.pid:
                found.add(int(stat.parent.name))
        return found


@dataclass
class RiderCard:
    """A card issued by the register, held in memory between its taps."""

    uid: str
    number: str
    memory: CardMemory
    initial: int


def issue_cards(
    backend: PgBackend, masters: MasterKeys, balances: list[int], *, first_uid: int
) -> list[RiderCard]:
    """Issue one blank virtual card per balance through the card register."""
    now = datetime.now(UTC)
    issued = []
    for n, balance in enumerate(balances):
        uid = (0x04_0000_0000_0000 + first_uid + n).to_bytes(7, "big")
        memory = CardMemory.blank(uid)
        card = cards.issue_card(
            Field(memory),
            masters,
            backend.unit_of_work,
            category_id="adult",
            category_code=ADULT,
            valid_until=None,
            balance=balance,
            prefix="8401",
            now=now,
            today=now.date(),
        )
        issued.append(RiderCard(card.uid, card.card_number, memory, balance))
    return issued


def credit(backend: PgBackend, card: RiderCard, amount: int) -> int:
    """Customer service adds money to a card; returns the load's sequence number."""
    with backend.unit_of_work() as uow:
        action = loads.create_credit(
            card.number, amount, "refund", "fault-test", datetime.now(UTC), uow
        )
        uow.commit()
        return action.seq


def block(backend: PgBackend, card: RiderCard) -> None:
    with backend.unit_of_work() as uow:
        denylist.block_card(card.number, "lost", "fault-test", datetime.now(UTC), uow)
        uow.commit()


@dataclass
class Bus:
    """A validator on a bus: its device identity, its journal, and a clock the test sets."""

    name: str
    route: str
    device_id: str
    seed: bytes
    journal_path: Path
    masters: MasterKeys
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    taps: int = 0

    @contextmanager
    def validator(self) -> Iterator[Validator]:
        with Journal(self.journal_path) as journal:
            yield Validator(
                journal,
                self.masters,
                HANOI,
                device_id=self.device_id,
                route_id=self.route,
                stop_id="HN0001",
                clock=lambda: self.now,
            )

    def tap(self, validator: Validator, card: RiderCard, at: datetime) -> Outcome:
        """The rider holds the card to the reader at `at`."""
        self.now = at
        self.taps += 1
        return validator.tap(Field(card.memory, seed=self.taps))


def register_bus(backend: PgBackend, name: str, route: str, masters: MasterKeys) -> Bus:
    with backend.unit_of_work() as uow:
        device = devices.register_device(route, datetime.now(UTC), uow)
        uow.commit()
    return Bus(
        name,
        route,
        device.device_id,
        bytes.fromhex(device.private_key),
        backend.home / f"{name}.sqlite3",
        masters,
    )


class CountingJournal(Journal):
    """The validator's journal, noting how many taps each upload takes from the outbox."""

    def __init__(self, path: Path, batches: list[int]) -> None:
        super().__init__(path)
        self.batches = batches

    def outbox(self, limit: int) -> list[dict[str, Any]]:
        batch = super().outbox(limit)
        if batch:
            self.batches.append(len(batch))
        return batch


class Uplink:
    """A validator's sync thread as the validator runs it: the real client's `run_forever`,
    on a journal of its own (sqlite3 connections stay in their thread)."""

    def __init__(self, backend: PgBackend, bus: Bus, *, batch_size: int = 500) -> None:
        self.backend, self.bus, self.batch_size = backend, bus, batch_size
        self.batches: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"sync-{bus.name}", daemon=True)

    def _run(self) -> None:
        with CountingJournal(self.bus.journal_path, self.batches) as journal:
            client = SyncClient(
                self.backend.url,
                self.bus.device_id,
                self.bus.seed,
                journal,
                batch_size=self.batch_size,
            )
            client.run_forever(self.stop, idle=1.0)

    def __enter__(self) -> Uplink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def backlog(bus: Bus) -> int:
    with Journal(bus.journal_path) as journal:
        return journal.backlog()


def wait_until_sent(buses: list[Bus], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while waiting := {bus.name: n for bus in buses if (n := backlog(bus))}:
        assert time.monotonic() < deadline, f"taps never left: {waiting}"
        time.sleep(0.05)


def journaled(path: Path) -> list[dict[str, Any]]:
    """Every tap a validator journaled, oldest first."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT body FROM taps ORDER BY device_seq")
        return [json.loads(body) for (body,) in rows]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def signed_post(backend: PgBackend, bus: Bus, taps: list[dict[str, Any]]) -> Answer:
    """One tap upload, signed as the validator signs it."""
    body = json.dumps({"taps": taps}).encode()
    headers = sign(bus.seed, bus.device_id, "POST", TAPS_PATH, body, timestamp=int(time.time()))
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310  loopback
        backend.url + TAPS_PATH, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  loopback
            return Answer(response.status, dict(response.headers), json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), json.loads(error.read()))


def assert_ledger_agrees(backend: PgBackend, buses: list[Bus], riders: list[RiderCard]) -> None:
    """Every journaled tap is stored once, every outbox is empty, and the journals, the loads
    and the card shadows tell the same story to the dong, with no alert raised."""
    journal_taps: dict[str, dict[str, Any]] = {}
    for bus in buses:
        with Journal(bus.journal_path) as journal:
            assert journal.outbox(1) == [], f"{bus.name} still has taps to send"
            assert journal.backlog() == 0
        for tap in journaled(bus.journal_path):
            assert tap["tap_id"] not in journal_taps
            journal_taps[tap["tap_id"]] = tap
    stored = backend.query("SELECT tap_id, COUNT(*) FROM taps GROUP BY tap_id")
    lost = set(journal_taps) - {tap_id for tap_id, _ in stored}
    unknown = {tap_id for tap_id, _ in stored} - set(journal_taps)
    assert (len(lost), len(unknown)) == (0, 0), f"lost {sorted(lost)[:5]}, unknown {unknown}"
    assert {count for _, count in stored} == {1}

    loads = {
        (uid, seq): (status, amount, by)
        for uid, seq, status, amount, by in backend.query(
            "SELECT card_uid, seq, status, amount, confirmed_by_tap FROM pending_actions"
        )
    }
    written: set[tuple[str, int]] = set()
    for tap in journal_taps.values():
        for seq in tap["loaded"]:
            # A load reaches its card once, whichever bus wrote it.
            assert (tap["card_uid"], seq) not in written
            written.add((tap["card_uid"], seq))
    assert {key for key, (status, _, _) in loads.items() if status == "confirmed"} == written
    assert all(loads[key][2] in journal_taps for key in written)

    by_card: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tap in journal_taps.values():
        by_card[tap["card_uid"]].append(tap)
    shadows = dict(backend.query("SELECT card_uid, balance FROM card_shadows"))
    for rider in riders:
        # The ledger (issued, plus loads written, minus fares) is what the card said each time.
        balance = shadow = rider.initial
        for tap in sorted(by_card[rider.uid], key=lambda t: datetime.fromisoformat(t["time"])):
            balance += sum(loads[(rider.uid, seq)][1] for seq in tap["loaded"])
            if tap["result"] == "accepted":
                balance -= tap["amount"]
                assert tap["balance_after"] == balance, tap
                shadow = balance
        assert shadows[rider.uid] == shadow, rider.uid
    alerts = backend.query("SELECT kind, detail FROM alerts")
    assert alerts == [], f"{len(alerts)} alerts, first {alerts[:3]}"
