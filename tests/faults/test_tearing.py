"""A card torn out of the field at random points, tap after tap: no money appears or vanishes.

A rider rides three bus routes for months with one card. The card is the emulator's, in-process;
each bus is the real validator (`readers.validator`) with its own journal on disk and the real
sync client, whose requests go to the real API (Flask's test client) and its tap ingestion.
The rider tops up now and then (customer service credits a pending load, which reaches the
buses at their next sync and the card at its next tap) and sometimes buys a monthly pass.

On a fraction of presentations the card leaves the field after a random number of APDUs: any
command of the tap, from reading the UID to the commit of a load or of a charge (the card ran
the command and its answer was lost). The validator shows "tap again", and the rider does so
at the same bus, as riders do, until the tap ends green or red.

The card's own log is the truth: every committed transaction adds one record, read from the
card's memory after every presentation. Checked after every ride: the card's purse, its mirror
and initial + loads - charges agree; an accepted boarding is charged exactly once, a refused one
not at all. Checked every hundred rides (250 in the long run) and at the end, once every bus
has synced: each journal and the backend hold exactly the card's charges (transaction numbers
and amounts), the same equation holds in both, every load is on the card once and confirmed
once, the shadow balance is the card's, and no alert was raised. Run with `-s` to see where
the tears fell.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from cards.application import MasterKeys, personalize
from cards.client import DesfireClient
from cards.connection import CardRemoved
from cards.emulator.memory import CardMemory, DataFile, RecordFile, ValueFile
from cards.layout import (
    BOARDING_KIND,
    COUNTERS_SIZE,
    LOAD_KIND,
    LOG,
    PASS_KIND,
    PROFILE_SIZE,
    PURSE,
    TICKET,
    TRANSIT_AID,
    Counters,
    LogRecord,
    Profile,
)
from fares import card_seconds, load_hanoi_tariff
from fares.passes import issue_pass
from readers.display import AMBER, GREEN, RED
from readers.journal import Journal
from readers.signing import sign
from readers.sync import SyncClient
from readers.validator import Outcome, Validator
from tests.support.virtual_card import Field, rng
from transit.models import Alert, Card, CardShadow, DenyEntry, PendingAction, TapRecord
from transit.services import cards, devices, loads

UID = bytes.fromhex("04C0FFEE7A7A01")
UID_HEX = UID.hex().upper()
HANOI = load_hanoi_tariff()
ROUTES = ("32", "09", "107")  # 10,000, 8,000 and 20,000 VND a ride
INITIAL = 100_000
TEAR_CHANCE = 0.25  # of each presentation, the first and every retry alike
# ... of one that writes loads: those are rarer and twice as long, so they get more tears.
TEAR_CHANCE_LOADING = 0.6
# A rider torn this often in a row holds the card still: the validator's "already paid" lasts
# two minutes (RETAP_WINDOW), and a dozen tries could outlast it.
MOST_TEARS_IN_A_ROW = 6
SYNC_CHANCE = 0.15  # that a bus finds signal after a ride
PASS_CHANCE = 0.3  # that the rider buys route 32's monthly pass, on the month's first ride
HANOI_OFFSET = timedelta(hours=7)
COMMANDS = {
    0xCA: "get UID",
    0x5A: "select application",
    0xAA: "authenticate",
    0xAF: "additional frame",
    0xBD: "read data",
    0xBB: "read records",
    0x6C: "get value",
    0xDC: "debit",
    0x0C: "credit",
    0x3D: "write data",
    0x3B: "write record",
    0xC7: "commit",
}


class Pocket(Field):
    """The field of one presentation; remembers the command the card was torn away at."""

    def __init__(self, memory: CardMemory, tear_after: int | None, seed: int) -> None:
        super().__init__(memory, tear_after=tear_after, seed=seed)
        self.torn_at: tuple[int, str] | None = None

    def transmit(self, apdu: bytes) -> bytes:
        try:
            return super().transmit(apdu)
        except CardRemoved:
            if self.torn_at is None:
                self.torn_at = (self.apdus, COMMANDS.get(apdu[1], f"{apdu[1]:02X}"))
            raise


class InProcessSync(SyncClient):
    """The validator's sync client, its signed requests sent through Flask's test client."""

    def __init__(self, client: FlaskClient, device_id: str, seed: bytes, journal: Journal) -> None:
        super().__init__("http://bus.test", device_id, seed, journal, batch_size=200)
        self.client = client

    def _request(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        headers = sign(
            self.private_seed, self.device_id, method, path, body, timestamp=int(self.clock())
        )
        headers.update({"User-Agent": "transit-validator/test", "X-Backlog": "0"})
        answer = self.client.open(
            path,
            method=method,
            data=body or None,
            headers=headers,
            content_type="application/json",
        )
        assert answer.status_code == 200, answer.get_json()
        found: dict[str, Any] = answer.get_json()
        return found

    def sync(self) -> None:
        while self.upload_once():
            pass
        assert self.journal.outbox(1) == [], "the server took not every tap"
        self.refresh_snapshot()


@dataclass
class Bus:
    route: str
    device_id: str
    path: Path
    journal: Journal
    validator: Validator
    link: InProcessSync


@dataclass
class CardLog:
    """What the card committed, from its own memory: every transaction leaves a log record."""

    memory: CardMemory
    transactions: int = 0
    charges: list[tuple[int, int]] = field(default_factory=list)  # (transaction, amount)
    loads: list[int] = field(default_factory=list)  # amounts, in the order applied
    passes: int = 0
    records: list[LogRecord] = field(default_factory=list)  # all of them, oldest first

    def files(self) -> tuple[Counters, int, Profile, list[LogRecord]]:
        app = self.memory.applications[TRANSIT_AID].files
        ticket, purse, log = app[TICKET], app[PURSE], app[LOG]
        assert isinstance(ticket, DataFile)
        assert isinstance(purse, ValueFile)
        assert isinstance(log, RecordFile)
        counters = Counters.unpack(ticket.data[PROFILE_SIZE : PROFILE_SIZE + COUNTERS_SIZE])
        profile = Profile.unpack(ticket.data[:PROFILE_SIZE])
        return counters, purse.value, profile, [LogRecord.unpack(r) for r in log.records]

    def observe(self) -> list[LogRecord]:
        """Take in what the card committed since the last look; returns the new records."""
        counters, purse, _, records = self.files()
        new = counters.transactions - self.transactions
        assert 0 <= new <= len(records), (new, len(records))
        fresh = records[len(records) - new :] if new else []
        assert [r.transaction for r in fresh] == [
            t & 0xFFFF for t in range(self.transactions + 1, counters.transactions + 1)
        ]
        self.records += fresh
        for record in fresh:
            if record.kind == BOARDING_KIND:
                self.charges.append((record.transaction, record.amount))
            elif record.kind == LOAD_KIND:
                self.loads.append(record.amount)
            else:
                assert record.kind == PASS_KIND, record
                self.passes += 1
        self.transactions = counters.transactions
        # The purse, its mirror and the card's own history agree, whatever was torn.
        assert purse == counters.purse == self.balance, (purse, counters, self.balance)
        assert counters.last_load_seq == len(self.loads) + self.passes
        return fresh

    @property
    def balance(self) -> int:
        return INITIAL + sum(self.loads) - sum(amount for _, amount in self.charges)


@dataclass
class Run:
    """Counts of one run, printed at its end."""

    rides: int = 0
    presentations: int = 0
    tears: Counter[int] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    loads: int = 0
    passes: int = 0
    charged: int = 0

    def report(self, seed: int) -> str:
        torn = sum(self.tears.values())
        return "\n".join(
            [
                f"seed {seed}: {self.rides} rides, {self.presentations} presentations, "
                f"{torn} torn; {self.loads} loads and {self.passes} passes written, "
                f"{self.charged:,} VND charged",
                "torn after APDU: " + " ".join(f"{n}:{c}" for n, c in sorted(self.tears.items())),
                "torn at command: "
                + ", ".join(f"{name} {c}" for name, c in self.commands.most_common()),
                "ended: " + ", ".join(f"{code} {c}" for code, c in self.outcomes.most_common()),
            ]
        )


class Tearing:
    """The rider, the card, three buses and the backend; one ride at a time."""

    def __init__(self, app: Flask, folder: Path, seed: int) -> None:
        self.app = app
        self.random = random.Random(seed)
        self.masters = MasterKeys(*(bytes([0x40 + n]) * 16 for n in range(6)))
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=600)
        self.run = Run()
        self.lengths: dict[tuple[int, bool, bool], int] = {}
        self.load_amounts: dict[int, int] = {}
        self.shown_balance = INITIAL
        self.month: tuple[int, int] | None = None
        with app.app_context(), unit_of_work() as uow:
            reservation = cards.reserve_card(
                uow,
                uid=UID,
                category_id="adult",
                valid_until=None,
                balance=INITIAL,
                prefix="8401",
                now=self.now,
            )
            cards.finish_issuing(uow, reservation.card_id, personalized=True)
            registered = [devices.register_device(route, self.now, uow) for route in ROUTES]
            uow.commit()
        self.card_number = reservation.card_number
        self.memory = CardMemory.blank(UID)
        personalize(
            DesfireClient(Field(self.memory), rng=rng(seed)),
            UID,
            self.masters,
            card_number=int(self.card_number),
            category_code=1,
            valid_until=None,
            balance=INITIAL,
            issued=(self.now + HANOI_OFFSET).date(),
        )
        self.card = CardLog(self.memory)
        self.buses: list[Bus] = []
        client = app.test_client()
        for device in registered:
            path = folder / f"journal-{device.route_id}.sqlite3"
            journal = Journal(path)
            validator = Validator(
                journal,
                self.masters,
                HANOI,
                device_id=device.device_id,
                route_id=device.route_id,
                stop_id="HN0010",
                clock=lambda: self.now,
            )
            link = InProcessSync(
                client, device.device_id, bytes.fromhex(device.private_key), journal
            )
            self.buses.append(
                Bus(device.route_id, device.device_id, path, journal, validator, link)
            )
        for bus in self.buses:
            bus.link.sync()

    def close(self) -> None:
        for bus in self.buses:
            bus.journal.close()

    # -- the rider's day ---------------------------------------------------------------------

    def ride(self) -> None:
        self.now += timedelta(minutes=self.random.randint(20, 100))
        self.maybe_buy()
        bus = self.random.choice(self.buses)
        before = len(self.card.charges)
        tries = 0
        while True:
            outcome, torn = self.present(bus, tear=tries < MOST_TEARS_IN_A_ROW)
            if outcome.signal.colour != AMBER:
                break
            assert torn, f"an untorn tap said {outcome.signal}"
            tries += 1
            self.now += timedelta(seconds=self.random.randint(2, 10))
        self.run.rides += 1
        self.run.outcomes[outcome.signal.code] += 1
        charged = len(self.card.charges) - before
        # One charge for a boarding, none for a refusal, however often the card was torn.
        assert charged == (1 if outcome.signal.colour == GREEN else 0), (outcome, charged)
        assert outcome.signal.colour in (GREEN, RED)
        if outcome.signal.code == "already_paid":
            assert tries
        if outcome.signal.balance is not None:
            self.shown_balance = outcome.signal.balance
            assert outcome.signal.balance == self.card.balance
        for other in self.buses:
            if self.random.random() < SYNC_CHANCE:
                other.link.sync()

    def present(self, bus: Bus, *, tear: bool) -> tuple[Outcome, bool]:
        """The card held to the bus's reader once, torn away at a random APDU or not."""
        shape = self.shape(bus)
        tear_after = None
        chance = TEAR_CHANCE_LOADING if shape[0] else TEAR_CHANCE
        if tear and self.random.random() < chance:
            tear_after = self.random.randint(1, self.lengths.get(shape, 40))
        pocket = Pocket(self.memory, tear_after, seed=self.random.randrange(2**32))
        outcome = bus.validator.tap(pocket)
        self.card.observe()
        self.run.presentations += 1
        if pocket.torn_at is not None:
            index, command = pocket.torn_at
            self.run.tears[index] += 1
            self.run.commands[command] += 1
        else:
            self.lengths[shape] = max(self.lengths.get(shape, 0), pocket.apdus)
        return outcome, pocket.torn_at is not None

    def shape(self, bus: Bus) -> tuple[int, bool, bool]:
        """What makes a tap longer: loads to write, a lost commit to settle, passes to read."""
        counters, _, profile, _ = self.card.files()
        fresh = bus.journal.pending_for(UID_HEX, counters.last_load_seq)
        return len(fresh), bus.journal.open_intent(UID_HEX) is not None, profile.pass_count > 0

    def maybe_buy(self) -> None:
        """Top up when the card runs low; now and then a pass for the month."""
        counters, _, _, _ = self.card.files()
        waiting = any(
            self.load_amounts[seq] for seq in self.load_amounts if seq > counters.last_load_seq
        )
        if self.shown_balance < 60_000 and not waiting and self.random.random() < 0.5:
            amount = self.random.choice((20_000, 50_000, 100_000, 200_000))
            with self.app.app_context(), unit_of_work() as uow:
                action = loads.create_credit(
                    self.card_number, amount, "top-up", "test:kiosk", datetime.now(UTC), uow
                )
                uow.commit()
                self.load_amounts[action.seq] = amount
        local = (self.now + HANOI_OFFSET).date()
        if (local.year, local.month) != self.month:
            self.month = (local.year, local.month)
            if self.random.random() < PASS_CHANCE:
                self.buy_pass(local)

    def buy_pass(self, day: date) -> None:
        version = HANOI.version_at(card_seconds(self.now))
        assert version is not None
        entry = issue_pass(version, "pass_one_route", "adult", day, route_id="32")
        with self.app.app_context(), unit_of_work() as uow:
            card = uow.session.scalar(select(Card).where(Card.uid == UID_HEX))
            assert card is not None
            action = loads.add_pass(
                card,
                entry,
                product_id="pass_one_route",
                price=140_000,
                actor="test:kiosk",
                now=datetime.now(UTC),
                uow=uow,
            )
            uow.commit()
            self.load_amounts[action.seq] = 0

    # -- the books -----------------------------------------------------------------------------

    def check(self) -> None:
        """Every bus synced: journals, backend and card tell the same story."""
        for bus in self.buses:
            bus.link.sync()
        charges = sorted(self.card.charges)
        applied = len(self.card.loads) + self.card.passes
        counters, purse, _, _ = self.card.files()
        assert counters.last_load_seq == applied
        assert counters.transactions == len(charges) + applied
        # Loads go onto the card in their order, each once, with its amount.
        loads = [self.load_amounts[seq] for seq in range(1, applied + 1) if self.load_amounts[seq]]
        assert loads == self.card.loads

        journaled: list[dict[str, Any]] = []
        reported: set[int] = set()
        for bus in self.buses:
            with closing(sqlite3.connect(bus.path)) as db:
                (open_intents,) = db.execute(
                    "SELECT COUNT(*) FROM intents WHERE state = 'open'"
                ).fetchone()
                taps = [json.loads(body) for (body,) in db.execute("SELECT body FROM taps")]
                acks = Counter(status for (status,) in db.execute("SELECT status FROM acks"))
            assert open_intents == 0, bus.route  # every "tap again" was tapped again
            assert acks == Counter(accepted=len(taps)), (bus.route, acks)  # all sent, none refused
            journaled += [t for t in taps if t["result"] == "accepted"]
            for tap in taps:
                reported.update(tap["applied_loads"])
        # The journals hold exactly the card's charges: none twice, none missing.
        assert sorted((t["card_tx"], t["amount"]) for t in journaled) == charges
        assert reported == set(range(1, applied + 1))
        credited = sum(self.load_amounts[seq] for seq in reported)
        spent = sum(t["amount"] for t in journaled)
        assert INITIAL + credited - spent == purse

        with self.app.app_context(), unit_of_work() as uow:
            session = uow.session
            stored = session.scalars(
                select(TapRecord).where(
                    TapRecord.card_uid == UID_HEX, TapRecord.result == "accepted"
                )
            ).all()
            assert sorted((t.card_tx or 0, t.amount) for t in stored) == charges
            actions = session.scalars(
                select(PendingAction).where(PendingAction.card_uid == UID_HEX)
            ).all()
            for action in actions:
                on_card = action.seq <= applied
                assert action.status == ("confirmed" if on_card else "pending"), action.seq
                assert (action.confirmed_by_tap is not None) == on_card
            confirmed = sum(a.amount for a in actions if a.kind == "credit" and a.seq <= applied)
            assert INITIAL + confirmed - sum(t.amount for t in stored) == purse
            shadow = session.get(CardShadow, UID_HEX)
            assert shadow is not None
            last = max(stored, key=lambda t: t.card_tx or 0, default=None)
            assert shadow.last_card_tx == (last.card_tx if last else 0)
            # The shadow is the card at its newest charge; loads written after it (by a tap
            # that was then refused) come on top.
            newest = (last.card_tx or 0) if last is not None else 0
            later = sum(
                r.amount
                for r in self.card.records
                if r.kind == LOAD_KIND and r.transaction > newest
            )
            assert shadow.balance + later == purse
            assert session.scalars(select(Alert)).all() == []
            assert session.scalars(select(DenyEntry)).all() == []


def ride_with_tears(app: Flask, folder: Path, rides: int, seed: int, check_every: int) -> Run:
    world = Tearing(app, folder, seed)
    print(f"tearing run, seed {seed}")
    try:
        for n in range(1, rides + 1):
            world.ride()
            if n % check_every == 0 or n == rides:
                world.check()
    finally:
        world.close()
    world.run.loads, world.run.passes = len(world.card.loads), world.card.passes
    world.run.charged = sum(amount for _, amount in world.card.charges)
    print(world.run.report(seed))
    return world.run


def test_a_thousand_rides_with_random_tears_keep_every_dong_on_the_card_and_in_the_books(
    app: Flask, tmp_path: Path
) -> None:
    run = ride_with_tears(app, tmp_path, 1_000, seed=20261128, check_every=100)
    covered(run)


@pytest.mark.long
def test_ten_thousand_rides_with_random_tears_keep_every_dong_on_the_card_and_in_the_books(
    app: Flask, tmp_path: Path
) -> None:
    seed = random.SystemRandom().randrange(2**32)  # printed: a failure can be run again
    run = ride_with_tears(app, tmp_path, 10_000, seed=seed, check_every=250)
    covered(run)


def covered(run: Run) -> None:
    """The tears fell all over the tap: every APDU of a plain tap, and every kind of command."""
    assert set(range(1, 12)) <= set(run.tears), run.tears
    assert {"get UID", "authenticate", "read data", "debit", "write data", "commit"} <= set(
        run.commands
    ), run.commands
    assert "credit" in run.commands, run.commands
