"""`flask demo seed`: the demo rider, two cards and a week of journeys, seen through the API."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.deps import unit_of_work
from tests.api.test_trips import HANOI, import_demo_network
from tests.conftest import PRODUCTION, SmsOutbox, build_app
from transit.models import Alert, Card, CardShadow, Device, Rider, TapRecord
from transit.services.demo import DEMO_PASSWORD, DEMO_PHONE, INITIAL_BALANCE

# Hanoi's single-ride fares since 2024-11-01 by route length (data/demo-network/README.md).
FARE_OF_ROUTE = {
    "09": 8_000,
    "BRT01": 8_000,
    "32": 10_000,
    "34": 10_000,
    "01": 12_000,
    "86": 15_000,
    "107": 20_000,
}


def seed(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    return result.output


def printed(output: str) -> dict[str, Any]:
    """The cards as the command prints them: linked first, then the one to link."""
    numbers = re.findall(r"card number\s+(\d+)", output)
    balances = re.findall(r"issued, ([\d,]+) đ after (\d+) journeys", output)
    [code] = re.findall(r"check code\s+(\S+)", output)
    assert len(numbers) == len(balances) == 2, output
    return {
        "linked": numbers[0],
        "other": numbers[1],
        "check_code": code,
        "balances": [int(amount.replace(",", "")) for amount, _ in balances],
        "journeys": [int(count) for _, count in balances],
    }


def sign_in(client: FlaskClient) -> dict[str, str]:
    answer = client.post(
        "/api/v1/auth/login", json={"phone": DEMO_PHONE, "password": DEMO_PASSWORD}
    )
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def all_trips(client: FlaskClient, card_id: str, who: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 100}
    while True:
        answer = client.get(f"/api/v1/cards/{card_id}/trips", query_string=query, headers=who)
        assert answer.status_code == 200, answer.get_json()
        found += answer.get_json()["data"]
        if answer.get_json()["next_cursor"] is None:
            return found
        query["cursor"] = answer.get_json()["next_cursor"]


def counts(app: Flask) -> dict[str, int]:
    with app.app_context(), unit_of_work() as uow:
        return {
            model.__name__: uow.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Rider, Card, Device, TapRecord, Alert)
        }


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    import_demo_network(app)
    return printed(seed(app))


def test_the_demo_rider_signs_in_and_sees_a_week_of_priced_journeys_on_the_linked_card(
    client: FlaskClient, seeded: dict[str, Any]
) -> None:
    who = sign_in(client)
    [card] = client.get("/api/v1/cards", headers=who).get_json()["data"]
    assert card["card_number"] == seeded["linked"]

    trips = all_trips(client, card["card_id"], who)
    assert len(trips) == seeded["journeys"][0]
    for trip in trips:
        assert trip["amount"] == FARE_OF_ROUTE[trip["route_id"]], trip
        assert trip["paid_by"] == "stored_value"
        assert "leg rule" in trip["explanation"]
        assert trip["route_short_name"]  # on the demo network
        assert trip["stop_name"]
    assert card["balance"] == INITIAL_BALANCE - sum(trip["amount"] for trip in trips)
    assert card["balance"] == seeded["balances"][0] == trips[0]["balance_after"]
    # The 7 days before today, Hanoi time, each with a few rides at hours people ride.
    today = datetime.now(HANOI).date()
    times = [datetime.fromisoformat(trip["time"]) for trip in trips]
    assert {t.date() for t in times} == {today - timedelta(days=n) for n in range(1, 8)}
    assert all(6 <= t.hour <= 19 and t.utcoffset() == timedelta(hours=7) for t in times)
    per_day: dict[Any, int] = defaultdict(int)
    for t in times:
        per_day[t.date()] += 1
    assert all(2 <= rides <= 4 for rides in per_day.values())


def test_the_other_card_links_with_its_printed_number_and_check_code(
    client: FlaskClient, seeded: dict[str, Any]
) -> None:
    who = sign_in(client)
    answer = client.post(
        "/api/v1/cards",
        json={"card_number": seeded["other"], "check_code": seeded["check_code"]},
        headers=who,
    )
    assert answer.status_code == 201, answer.get_json()
    card = answer.get_json()
    trips = all_trips(client, card["card_id"], who)
    assert len(trips) == seeded["journeys"][1]
    assert card["balance"] == seeded["balances"][1]
    assert card["balance"] == INITIAL_BALANCE - sum(trip["amount"] for trip in trips)


def test_the_taps_came_signed_through_the_validator_api_as_validators_journal_them(
    app: Flask, seeded: dict[str, Any]
) -> None:
    with app.app_context(), unit_of_work() as uow:
        session = uow.session
        assert session.scalars(select(Alert)).all() == []  # no mismatch, no clone, no clock
        validators = {d.device_id: d for d in session.scalars(select(Device))}
        assert {d.version for d in validators.values()} == {"demo-seed"}  # seen, signed
        taps = list(session.scalars(select(TapRecord).order_by(TapRecord.time)))
        by_card: dict[str, list[TapRecord]] = defaultdict(list)
        by_device: dict[str, list[TapRecord]] = defaultdict(list)
        for tap in taps:
            by_card[tap.card_uid].append(tap)
            by_device[tap.device_id].append(tap)
        assert len(by_card) == 2
        for card_uid, card_taps in by_card.items():
            balance = INITIAL_BALANCE
            for number, tap in enumerate(card_taps, start=1):
                balance -= tap.amount
                assert (tap.card_tx, tap.balance_after) == (number, balance)
                assert tap.commit == "confirmed"
                assert tap.tariff_version == "hanoi-2025-09"
            shadow = session.get(CardShadow, card_uid)
            assert shadow is not None
            assert (shadow.balance, shadow.last_card_tx) == (balance, len(card_taps))
        for device_id, device_taps in by_device.items():
            assert {tap.route_id for tap in device_taps} == {validators[device_id].route_id}
            assert [tap.device_seq for tap in device_taps] == list(range(1, len(device_taps) + 1))


def test_seeding_again_changes_nothing(app: Flask, seeded: dict[str, Any]) -> None:
    before = counts(app)
    output = seed(app)
    assert "exists already, nothing changed" in output
    assert counts(app) == before


def test_without_the_demo_network_nothing_is_seeded(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 1
    assert "network import data/demo-network" in result.output
    assert counts(app) == {"Rider": 0, "Card": 0, "Device": 0, "TapRecord": 0, "Alert": 0}


def test_seeding_is_refused_in_production(tmp_path: Path, sms: SmsOutbox) -> None:
    database = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    app = build_app(database, tmp_path / "instance", sms, **PRODUCTION)
    try:
        result = app.test_cli_runner().invoke(args=["demo", "seed"])
    finally:
        app.extensions["transit"].engine.dispose()
    assert result.exit_code == 1
    assert "demo seed: refused in production" in result.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # the database was never touched
