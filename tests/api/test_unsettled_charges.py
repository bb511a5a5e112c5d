"""A charge whose commit answer bus A lost, and the rider walked to bus B (left from issue 8).

Bus A keeps an intent for the card's next tap there; the rider never comes back, so A reports
the charge as `commit` `unknown`. The server holds it out of every ledger until the card's own
word proves it: B's tap one transaction later, with the purse lower by exactly B's fare."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from api.deps import unit_of_work
from readers.journal import Journal
from readers.sync import LOST_ANSWER_WAIT
from tests.api.test_validator_api import (
    Device,
    alerts,
    at,
    card,
    device,
    registered,
    shadow,
)
from tests.support.virtual_card import Field
from tests.unit.validator.test_validator_taps import MORNING, issued, validator
from transit.models import Journey, TapRecord, UnsettledCharge

__all__ = ["card", "device"]  # fixtures used here


@pytest.fixture
def bus_b(app: Flask) -> Device:
    return registered(app, "09")


def taps_of(app: Flask) -> list[tuple[str, int | None, str, int]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            (t.route_id, t.card_tx, t.commit, t.amount)
            for t in uow.session.scalars(select(TapRecord).order_by(TapRecord.card_tx))
        ]


def held(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return list(uow.session.scalars(select(UnsettledCharge.tap_id)))


def lost_on_a(device: Device) -> dict[str, Any]:
    """Bus A's charge of transaction 2 (40,000 to 30,000), its answer lost."""
    return device.tap(card_tx=2, balance_after=30_000, time=at(10), commit="unknown")


def reported_on_a(device: Device) -> dict[str, Any]:
    """Bus A charges transaction 1, then reports transaction 2 as lost; returns the report."""
    device.upload(device.tap(card_tx=1, balance_after=40_000, time=at(0)))
    report = lost_on_a(device)
    device.upload(report)
    return report


def statuses(answer: Any) -> list[str]:
    return [r["status"] for r in answer.get_json()["results"]]


@pytest.mark.parametrize("a_reports_first", [True, False])
def test_a_lost_charge_is_recovered_from_the_next_bus_s_tap(
    app: Flask, device: Device, bus_b: Device, card: str, a_reports_first: bool
) -> None:
    device.upload(device.tap(card_tx=1, balance_after=40_000, time=at(0)))
    report = lost_on_a(device)
    # On bus B: transaction 3, an 8,000 fare from the 30,000 bus A's charge left.
    on_b = bus_b.tap(route_id="09", card_tx=3, balance_after=22_000, amount=8_000, time=at(30))
    first, second = (device, report), (bus_b, on_b)
    if not a_reports_first:
        first, second = second, first
    assert statuses(first[0].upload(first[1])) == ["accepted"]
    assert statuses(second[0].upload(second[1])) == ["accepted"]
    assert taps_of(app) == [
        ("32", 1, "confirmed", 10_000),
        ("32", 2, "recovered", 10_000),
        ("09", 3, "confirmed", 8_000),
    ]
    assert held(app) == []
    assert shadow(app) == (22_000, 3)
    assert alerts(app) == []  # bus B's own route, and bus A's tap is A's
    with app.app_context(), unit_of_work() as uow:
        journeys = uow.session.execute(
            select(Journey.route_id, Journey.entry_tap_id).order_by(Journey.started_at)
        ).all()
    # The recovered ride is in the rider's history, with bus A's own tap.
    assert [tuple(j) for j in journeys][1:] == [("32", report["tap_id"]), ("09", on_b["tap_id"])]
    # Bus A uploads its report again, and later its own settled copy: each is that one tap.
    assert statuses(device.upload(report)) == ["duplicate"]
    settled = dict(report, commit="recovered")
    assert statuses(device.upload(settled)) == ["duplicate"]
    assert len(taps_of(app)) == 3


def test_a_charge_that_never_happened_stays_out_of_the_ledger(
    app: Flask, device: Device, bus_b: Device, card: str
) -> None:
    reported_on_a(device)
    # The card left bus A before its commit: bus B's tap is transaction 2 itself.
    bus_b.upload(bus_b.tap(route_id="09", card_tx=2, balance_after=32_000, amount=8_000))
    assert taps_of(app) == [("32", 1, "confirmed", 10_000), ("09", 2, "confirmed", 8_000)]
    assert held(app) == []  # another tap was its transaction: done with
    assert shadow(app) == (32_000, 2)


def test_a_purse_that_does_not_match_proves_nothing_and_the_charge_waits(
    app: Flask, device: Device, bus_b: Device, card: str
) -> None:
    report = reported_on_a(device)
    # Transaction 3 on bus B, but the purse is not 30,000 less 8,000: something else happened.
    bus_b.upload(bus_b.tap(route_id="09", card_tx=3, balance_after=25_000, amount=8_000))
    assert [t[1] for t in taps_of(app)] == [1, 3]
    assert held(app) == [report["tap_id"]]
    # Bus A settles it from the card itself (the card came back): it is a tap, held no more.
    assert statuses(device.upload(dict(report, commit="recovered"))) == ["accepted"]
    assert [t[1:3] for t in taps_of(app)] == [(1, "confirmed"), (2, "recovered"), (3, "confirmed")]
    assert held(app) == []


@pytest.mark.parametrize(
    "changes",
    [{"result": "denied", "reason": "passback"}, {"card_tx": None}, {"balance_after": None}],
)
def test_an_unknown_commit_must_be_a_charge_its_next_tap_can_prove(
    device: Device, card: str, changes: dict[str, Any]
) -> None:
    answer = device.upload(dict(lost_on_a(device), **changes))
    [result] = answer.get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "invalid: commit")


def test_two_real_validators_and_the_server_recover_the_charge_bus_a_never_heard_back(
    app: Flask, device: Device, bus_b: Device, card: str, tmp_path: Path
) -> None:
    """The card (in-process) commits bus A's charge and leaves before answering; the rider
    boards bus B. Ten minutes on, A reports the charge as unknown; B's upload proves it. When the
    card comes back to A an hour later, A settles the charge from the card's log, and the
    settled copy is the same tap on the server."""
    memory = issued(50_000)
    with Journal(tmp_path / "a.sqlite3") as on_a, Journal(tmp_path / "b.sqlite3") as on_b:
        torn = validator(on_a).tap(Field(memory, tear_after=11))
        assert torn.signal.code == "tap_again"
        boarded = validator(on_b, route="09", at=MORNING + timedelta(minutes=1)).tap(Field(memory))
        assert boarded.signal.code == "paid"
        # What A's sync loop does: five minutes on the card may yet come back; at fifteen, not.
        for minutes, reported in ((5, 0), (15, 1), (20, 0)):  # and a charge is reported once
            cutoff = MORNING + timedelta(minutes=minutes) - LOST_ANSWER_WAIT
            assert on_a.report_lingering(cutoff) == reported
        [report] = on_a.outbox(10)
        assert (report["commit"], report["card_tx"], report["balance_after"]) == (
            "unknown", 1, 40_000
        )  # fmt: skip
        for bus, journal in ((device, on_a), (bus_b, on_b)):
            sent = journal.outbox(10)
            assert statuses(bus.upload(*sent)) == ["accepted"] * len(sent)
            journal.acknowledge(t["tap_id"] for t in sent)
        assert taps_of(app) == [("32", 1, "recovered", 10_000), ("09", 2, "confirmed", 8_000)]
        assert held(app) == []
        assert alerts(app) == []
        # The card comes back to bus A: the card's log settles the charge, which replaces the
        # report in A's outbox; A also charges the new boarding.
        back = validator(on_a, at=MORNING + timedelta(hours=1)).tap(Field(memory))
        assert back.signal.code == "paid"
        again = on_a.outbox(10)
        assert [(t["tap_id"], t["commit"]) for t in again] == [
            (report["tap_id"], "recovered"),
            (back.tap_id, "confirmed"),
        ]
        assert statuses(device.upload(*again)) == ["duplicate", "accepted"]
    assert [t[1:] for t in taps_of(app)] == [
        (1, "recovered", 10_000), (2, "confirmed", 8_000), (3, "confirmed", 10_000)
    ]  # fmt: skip
    assert shadow(app) == (22_000, 3)
