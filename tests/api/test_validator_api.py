"""The validator API: signed requests, snapshots, tap uploads, loads, clones."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from readers.signing import sign
from transit.models import Alert, AuditEntry, CardShadow, PendingAction
from transit.services import cards, devices

UID = "04A1B2C3D4E5F6"
TIME = "2026-12-01T07:30:00+07:00"


class Device:
    def __init__(self, client: FlaskClient, device_id: str, seed: bytes) -> None:
        self.client = client
        self.device_id = device_id
        self.seed = seed
        self.seq = 0

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        skew: int = 0,
        nonce: str | None = None,
        seed: bytes | None = None,
    ) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = sign(
            seed or self.seed,
            self.device_id,
            method,
            path,
            body,
            timestamp=int(datetime.now(UTC).timestamp()) + skew,
            nonce=nonce,
        )
        return self.client.open(
            path, method=method, data=body or None, headers=headers, content_type="application/json"
        )

    def tap(self, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        tap = {
            "tap_id": "tap_" + uuid.uuid4().hex,
            "device_seq": self.seq,
            "time": TIME,
            "card_uid": UID,
            "card_number": "8401000000000017",
            "route_id": "32",
            "stop_id": "HN0010",
            "result": "accepted",
            "reason": None,
            "amount": 10_000,
            "paid_by": "stored_value",
            "balance_after": 40_000,
            "card_tx": 1,
            "applied_loads": [],
            "tariff_version": "hanoi-2024-11",
            "explanation": "",
            "commit": "confirmed",
        }
        tap.update(fields)
        return tap

    def upload(self, *taps: dict[str, Any]) -> Any:
        return self.request("POST", "/api/v1/validator/taps", {"taps": list(taps)})


@pytest.fixture
def device(app: Flask) -> Device:
    with app.app_context(), unit_of_work() as uow:
        registered = devices.register_device("32", datetime.now(UTC), uow)
        uow.commit()
    return Device(app.test_client(), registered.device_id, bytes.fromhex(registered.private_key))


@pytest.fixture
def card(app: Flask) -> str:
    """An issued card with 50,000 VND; returns its number."""
    with app.app_context(), unit_of_work() as uow:
        reservation = cards.reserve_card(
            uow,
            uid=bytes.fromhex(UID),
            category_id="adult",
            valid_until=None,
            balance=50_000,
            prefix="8401",
            now=datetime.now(UTC),
        )
        cards.finish_issuing(uow, reservation.card_id, personalized=True)
        uow.commit()
    return reservation.card_number


def shadow(app: Flask) -> tuple[int, int]:
    """(balance, last card transaction) of the card's shadow ledger."""
    with app.app_context(), unit_of_work() as uow:
        found = uow.session.get(CardShadow, UID)
        assert found is not None
        return found.balance, found.last_card_tx


def alerts(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return [a.kind for a in uow.session.scalars(select(Alert).order_by(Alert.alert_id))]


def test_the_server_verifies_the_protocols_test_vector() -> None:
    message = devices.canonical_request(
        "POST",
        "/api/v1/validator/taps",
        1764300000,
        "000102030405060708090a0b0c0d0e0f",
        b'{"taps":[]}',
    )
    assert message.decode().endswith(
        "dddbcdef320b1c3ccfd75afed3149f3c2311e5384fbd6a0cb286c8488675bbaf"
    )


def test_a_signed_snapshot_request_is_answered(device: Device) -> None:
    response = device.request("GET", "/api/v1/validator/snapshot?since=0")
    assert response.status_code == 200, response.get_json(force=True)
    body = response.get_json()
    assert body["full"] is True
    assert body["tariff_version"] == "hanoi-2024-11"


@pytest.mark.parametrize(
    "spoil",
    ["no headers", "wrong key", "old", "future", "reused nonce", "other body", "unknown device"],
)
def test_every_bad_signature_is_the_same_401(device: Device, spoil: str) -> None:
    path = "/api/v1/validator/snapshot?since=0"
    if spoil == "no headers":
        response = device.client.get(path)
    elif spoil == "wrong key":
        response = device.request("GET", path, seed=bytes([9]) * 32)
    elif spoil == "old":
        response = device.request("GET", path, skew=-305)
    elif spoil == "future":
        response = device.request("GET", path, skew=305)
    elif spoil == "reused nonce":
        assert device.request("GET", path, nonce="ab" * 16).status_code == 200
        response = device.request("GET", path, nonce="ab" * 16)
    elif spoil == "other body":
        headers = sign(
            device.seed,
            device.device_id,
            "POST",
            "/api/v1/validator/taps",
            b'{"taps":[]}',
            timestamp=int(datetime.now(UTC).timestamp()),
        )
        response = device.client.post(
            "/api/v1/validator/taps",
            data=b'{"taps":[1]}',
            headers=headers,
            content_type="application/json",
        )
    else:
        device.device_id = "dev_" + "0" * 24
        response = device.request("GET", path)
    assert response.status_code == 401
    body = response.get_json(force=True)
    assert body["code"] == "device_unauthorized"
    assert body["detail"] == "Chữ ký của yêu cầu không hợp lệ."


def test_a_disabled_device_is_refused_and_raises_an_alert(app: Flask, device: Device) -> None:
    with app.app_context(), unit_of_work() as uow:
        devices.disable_device(device.device_id, uow)
        uow.commit()
    assert device.request("GET", "/api/v1/validator/snapshot").status_code == 401
    assert alerts(app) == ["disabled_device"]


def test_taps_are_stored_once_however_often_they_arrive(
    app: Flask, device: Device, card: str
) -> None:
    first, second = (
        device.tap(card_tx=1, balance_after=40_000),
        device.tap(card_tx=2, balance_after=30_000),
    )
    answer = device.upload(second, first).get_json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "accepted"]
    again = device.upload(first, second, first).get_json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert shadow(app) == (30_000, 2)
    assert alerts(app) == []


def test_a_balance_the_ledger_does_not_expect_raises_an_alert(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(device.tap(card_tx=1, balance_after=45_000))
    assert alerts(app) == ["balance_mismatch"]
    assert shadow(app)[0] == 45_000


def test_a_repeated_transaction_counter_puts_the_card_on_the_deny_list(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(device.tap(card_tx=1))
    version = device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["version"]
    device.upload(device.tap(card_tx=1, route_id="09"))
    assert "suspected_clone" in alerts(app)
    delta = device.request("GET", f"/api/v1/validator/snapshot?since={version}").get_json()
    assert delta["deny"] == [{"card_uid": UID, "reason": "suspected_clone"}]


def test_a_pending_credit_is_offered_until_a_tap_confirms_it_once(
    app: Flask, device: Device, card: str
) -> None:
    result = app.test_cli_runner().invoke(
        args=["cards", "credit", card, "20000", "--reason", "refund of a double charge"]
    )
    assert result.exit_code == 0, result.output
    pending = device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["pending"]
    assert pending == [
        {"seq": 1, "card_uid": UID, "kind": "credit", "amount": 20_000, "expires": None}
    ]
    # The card got the credit (transaction 1) and paid a fare (transaction 2).
    device.upload(device.tap(card_tx=2, balance_after=60_000, applied_loads=[1]))
    device.upload(device.tap(card_tx=3, balance_after=50_000, applied_loads=[1]))
    assert shadow(app)[0] == 50_000
    assert alerts(app) == []
    assert device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["pending"] == []
    with app.app_context(), unit_of_work() as uow:
        action = uow.session.scalars(select(PendingAction)).one()
        assert action.status == "confirmed"
        [audit] = uow.session.scalars(select(AuditEntry)).all()
        assert (audit.action, audit.subject) == ("credit", card)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0"], "1 to 2,000,000"),
        (["2000001"], "1 to 2,000,000"),
        (["1000", "--reason", " "], "needs a reason"),
    ],
)
def test_a_bad_credit_is_refused(app: Flask, card: str, args: list[str], message: str) -> None:
    if "--reason" not in args:
        args = [*args, "--reason", "test"]
    result = app.test_cli_runner().invoke(args=["cards", "credit", card, *args])
    assert result.exit_code == 1
    assert message in result.output


def test_a_credit_for_an_unknown_card_is_refused(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["cards", "credit", "8401999999999999", "1000", "--reason", "x"]
    )
    assert result.exit_code == 1
    assert "no active card" in result.output


def test_more_than_a_thousand_taps_is_413(device: Device) -> None:
    taps = [device.tap() for _ in range(1001)]
    response = device.upload(*taps)
    assert response.status_code == 413
    assert response.get_json(force=True)["code"] == "batch_too_large"


def test_a_batch_that_is_not_a_batch_is_422(device: Device) -> None:
    response = device.request("POST", "/api/v1/validator/taps", {"taps": [{"tap_id": "x"}]})
    assert response.status_code == 422
    assert response.get_json(force=True)["code"] == "validation_failed"


def test_the_devices_register_command_prints_the_key_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["devices", "register", "--route", "32"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert len(bytes.fromhex(printed["private_key"])) == 32
    with app.app_context(), unit_of_work() as uow:
        from transit.models import Device as DeviceRow

        row = uow.session.get(DeviceRow, printed["device_id"])
        assert row is not None
        assert printed["private_key"] not in row.public_key
