"""Taps pair into journeys on the server, in whatever order validators upload them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from api.deps import unit_of_work
from tests.api.test_validator_api import Device, at, card, device
from transit.models import Journey, JourneyStatus

__all__ = ["card", "device"]  # fixtures used here


def journeys(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            (j.route_id, j.origin_stop_id, j.destination_stop_id, j.fare, j.status)
            for j in uow.session.scalars(select(Journey).order_by(Journey.started_at))
        ]


def bus_on(device: Device, minutes: int, stop: str, **fields: Any) -> dict[str, Any]:
    return device.tap(time=at(minutes), stop_id=stop, direction="entry", **fields)


def bus_off(device: Device, minutes: int, stop: str, began: int, **fields: Any) -> dict[str, Any]:
    return device.tap(
        time=at(minutes),
        stop_id=stop,
        direction="exit",
        entry_time=at(began),
        amount=0,
        paid_by="at_entry",
        card_tx=fields.pop("card_tx", 2),
        **fields,
    )


def metro_in(device: Device, minutes: int, stop: str, tx: int) -> dict[str, Any]:
    return device.tap(
        time=at(minutes), route_id="2A", stop_id=stop, amount=0, paid_by="at_exit", card_tx=tx
    )


def metro_out(
    device: Device, minutes: int, stop: str, began: int, amount: int, tx: int
) -> dict[str, Any]:
    return device.tap(
        time=at(minutes),
        route_id="2A",
        stop_id=stop,
        direction="exit",
        entry_time=at(began),
        amount=amount,
        card_tx=tx,
    )


def test_an_entry_and_its_exit_make_one_journey(app: Flask, device: Device, card: str) -> None:
    taps = [
        bus_on(device, 0, "HN0010", card_tx=1, balance_after=40_000),
        bus_off(device, 20, "HN0012", 0, card_tx=2, balance_after=40_000),
        metro_in(device, 40, "M2A01P", 3),
        metro_out(device, 70, "M2A12P", 40, 15_000, 4),
    ]
    assert device.upload(*taps).status_code == 200
    assert journeys(app) == [
        ("32", "HN0010", "HN0012", 10_000, JourneyStatus.COMPLETE),
        ("2A", "M2A01P", "M2A12P", 15_000, JourneyStatus.COMPLETE),
    ]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_halves_pair_whichever_arrives_first(
    app: Flask, device: Device, card: str, order: tuple[int, int]
) -> None:
    halves = [metro_in(device, 0, "M2A01P", 1), metro_out(device, 25, "M2A05P", 0, 11_000, 2)]
    first, second = (halves[i] for i in order)
    device.upload(first)
    assert journeys(app)[0][4] in (JourneyStatus.OPEN, JourneyStatus.NO_ENTRY)
    device.upload(second)
    assert journeys(app) == [("2A", "M2A01P", "M2A05P", 11_000, JourneyStatus.COMPLETE)]


def test_a_journey_never_tapped_off_is_closed_by_the_next_entry(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(bus_on(device, 0, "HN0010", card_tx=1), bus_on(device, 90, "HN0043", card_tx=2))
    assert [(j[1], j[2], j[4]) for j in journeys(app)] == [
        ("HN0010", None, JourneyStatus.NO_TAP_OFF),
        ("HN0043", None, JourneyStatus.OPEN),
    ]


def test_a_late_tap_off_completes_a_journey_a_later_entry_had_closed(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(bus_on(device, 0, "HN0010", card_tx=1), bus_on(device, 90, "HN0043", card_tx=3))
    device.upload(bus_off(device, 20, "HN0012", 0, card_tx=2))  # from a bus offline till now
    assert [(j[1], j[2], j[4]) for j in journeys(app)] == [
        ("HN0010", "HN0012", JourneyStatus.COMPLETE),
        ("HN0043", None, JourneyStatus.OPEN),
    ]


def test_the_line_maximum_charged_for_a_missing_exit_goes_to_that_journey(
    app: Flask, device: Device, card: str
) -> None:
    entry = metro_in(device, 0, "M2A06P", 1)
    penalty = bus_on(
        device, 240, "HN0010", card_tx=2, amount=25_000, unfinished=15_000, balance_after=25_000
    )
    device.upload(entry, penalty)
    assert journeys(app) == [
        ("2A", "M2A06P", None, 15_000, JourneyStatus.NO_EXIT),
        ("32", "HN0010", None, 10_000, JourneyStatus.OPEN),
    ]


def test_the_same_journey_uploaded_twice_is_counted_once(
    app: Flask, device: Device, card: str
) -> None:
    entry = metro_in(device, 0, "M2A01P", 1)
    leave = metro_out(device, 20, "M2A03P", 0, 9_000, 2)
    device.upload(entry, leave)
    device.upload(entry, leave)  # a retry after a lost answer: duplicates, nothing new
    assert journeys(app) == [("2A", "M2A01P", "M2A03P", 9_000, JourneyStatus.COMPLETE)]


def test_an_exit_names_its_entry_by_the_second_the_card_recorded(
    app: Flask, device: Device, card: str
) -> None:
    """The entry's time has a fraction of a second; the card keeps whole seconds."""
    began = datetime.fromisoformat(at(0)).replace(microsecond=654_321).isoformat()
    entry = device.tap(time=began, route_id="2A", stop_id="M2A01P", paid_by="at_exit", amount=0)
    leave = metro_out(device, 20, "M2A02P", 0, 8_000, 2)
    device.upload(entry, leave)
    assert [j[4] for j in journeys(app)] == [JourneyStatus.COMPLETE]


def test_each_journey_keeps_why_it_cost_what_it_did_from_its_taps(
    app: Flask, device: Device, card: str
) -> None:
    """A half that only points at the other ("paid when boarding", "charged at the exit") is
    dropped once both are in; a missing exit's maximum belongs to the journey it closes."""
    device.upload(
        bus_on(device, 0, "HN0010", card_tx=1),
        bus_off(device, 20, "HN0012", 0, card_tx=2),
        metro_in(device, 40, "M2A01P", 3),
        metro_out(device, 70, "M2A12P", 40, 15_000, 4),
        bus_on(device, 100, "HN0043", card_tx=5),
        metro_in(device, 200, "M2A06P", 6),
        bus_on(device, 440, "HN0010", card_tx=7, amount=25_000, unfinished=15_000),
    )
    with app.app_context(), unit_of_work() as uow:
        reasons = [
            (j.status, j.reasons)
            for j in uow.session.scalars(select(Journey).order_by(Journey.started_at))
        ]
    assert reasons == [
        (JourneyStatus.COMPLETE, [{"code": "fare", "route": "32", "charged": 10_000}]),
        (
            JourneyStatus.COMPLETE,
            [{"code": "journey", "route": "2A", "destination": "M2A12P", "charged": 15_000,
              "origin": "M2A01P"}],
        ),
        (
            JourneyStatus.NO_TAP_OFF,
            [{"code": "fare", "route": "32", "charged": 10_000}, {"code": "no_tap_off"}],
        ),
        (
            JourneyStatus.NO_EXIT,
            [{"code": "at_exit", "route": "2A", "stop": "M2A06P"},
             {"code": "no_exit", "amount": 15_000}],
        ),
        (JourneyStatus.OPEN, [{"code": "fare", "route": "32", "charged": 10_000}]),
    ]  # fmt: skip
