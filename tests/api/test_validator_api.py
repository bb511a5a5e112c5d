"""The validator API: signed requests, snapshots, tap uploads, loads, clones."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from cards.layout import MAX_BALANCE
from readers.signing import sign
from transit.models import Alert, AuditEntry, CardShadow, PendingAction, TapRecord
from transit.models import Device as DeviceRow
from transit.services import cards, devices
from wire.signing import canonical_request

UID = "04A1B2C3D4E5F6"
HANOI = timezone(timedelta(hours=7))
# An hour ago: taps are uploaded after they happen (a tap dated in the future raises an alert).
TIME = (datetime.now(UTC) - timedelta(hours=1)).astimezone(HANOI).isoformat(timespec="seconds")


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


def registered(app: Flask, route: str) -> Device:
    """A validator registered for `route`, with its keys, talking to the app."""
    with app.app_context(), unit_of_work() as uow:
        made = devices.register_device(route, datetime.now(UTC), uow)
        uow.commit()
    return Device(app.test_client(), made.device_id, bytes.fromhex(made.private_key))


@pytest.fixture
def device(app: Flask) -> Device:
    return registered(app, "32")


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


def at(minutes: int) -> str:
    """TIME plus some minutes, as a validator writes it."""
    return (datetime.fromisoformat(TIME) + timedelta(minutes=minutes)).isoformat()


def stored_taps(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return list(uow.session.scalars(select(TapRecord.tap_id).order_by(TapRecord.device_seq)))


def denied(device: Device) -> list[dict[str, str]]:
    return list(device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["deny"])


def credit(app: Flask, card: str, amount: int) -> None:
    result = app.test_cli_runner().invoke(
        args=["cards", "credit", card, str(amount), "--reason", "goodwill"]
    )
    assert result.exit_code == 0, result.output


def alerts(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return [a.kind for a in uow.session.scalars(select(Alert).order_by(Alert.alert_id))]


def test_the_server_verifies_the_protocols_test_vector(app: Flask) -> None:
    nonce = "000102030405060708090a0b0c0d0e0f"
    message = canonical_request("POST", "/api/v1/validator/taps", 1764300000, nonce, b'{"taps":[]}')
    assert message.decode().endswith(
        "dddbcdef320b1c3ccfd75afed3149f3c2311e5384fbd6a0cb286c8488675bbaf"
    )
    # The seed of docs/validator-protocol.md (32 bytes of 0x01), as a registered device.
    public = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = (
        "TVPfyHw73Q6H7eGwczWsF27BpP66wiQu2P0boxfTS+zRbi1jA/+Pc7LPsM8aqt/re9Cb43UShj9bak411OCQDA=="
    )
    at = datetime.fromtimestamp(1764300000, UTC)
    with app.app_context(), unit_of_work() as uow:
        uow.session.add(
            DeviceRow(
                device_id="dev_vector",
                route_id="32",
                public_key=raw.hex(),
                status="active",
                created_at=at,
            )
        )
        uow.session.flush()

        def verify(body: bytes, nonce: str) -> DeviceRow:
            return devices.verify_request(
                uow,
                device_id="dev_vector",
                method="POST",
                path_with_query="/api/v1/validator/taps",
                timestamp="1764300000",
                nonce=nonce,
                signature=signature,
                body=body,
                user_agent=None,
                now=at,
            )

        with pytest.raises(devices.DeviceUnauthorized):
            verify(b'{"taps":[{}]}', "f" * 32)
        assert verify(b'{"taps":[]}', nonce).device_id == "dev_vector"


def test_a_signed_snapshot_request_is_answered(device: Device) -> None:
    response = device.request("GET", "/api/v1/validator/snapshot?since=0")
    assert response.status_code == 200, response.get_json(force=True)
    body = response.get_json()
    assert body["full"] is True
    assert body["tariff_version"] == "hanoi-2025-09"


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


def test_three_copies_of_one_counter_in_one_batch_deny_the_card_once(
    app: Flask, device: Device, card: str
) -> None:
    # Found by the partitioning test: the second suspicion in a batch added a second deny row.
    response = device.upload(*(device.tap(card_tx=1, time=at(m)) for m in (0, 5, 10)))
    assert response.status_code == 200
    assert alerts(app) == ["suspected_clone", "suspected_clone"]
    assert denied(device) == [{"card_uid": UID, "reason": "suspected_clone"}]


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
    device.upload(device.tap(card_tx=2, balance_after=60_000, applied_loads=[1], loaded=[1]))
    device.upload(device.tap(card_tx=3, balance_after=50_000, applied_loads=[1], time=at(30)))
    assert shadow(app)[0] == 50_000
    assert alerts(app) == []
    assert device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["pending"] == []
    with app.app_context(), unit_of_work() as uow:
        action = uow.session.scalars(select(PendingAction)).one()
        assert action.status == "confirmed"
        [audit] = uow.session.scalars(select(AuditEntry)).all()
        assert (audit.action, audit.subject) == ("credit", card)


def test_a_credit_written_on_a_refused_tap_moves_the_ledger_and_the_next_tap_is_checked(
    app: Flask, device: Device, card: str
) -> None:
    credit(app, card, 20_000)
    # Transaction 1 is the credit; the tap is then refused (passback), charging nothing.
    refused = device.tap(
        result="denied",
        reason="passback",
        amount=0,
        paid_by="nothing",
        card_tx=1,
        balance_after=70_000,
        applied_loads=[1],
        loaded=[1],
    )
    device.upload(refused)
    assert shadow(app) == (70_000, 1)
    # The next tap follows the credit directly, so its balance is checked, not taken on trust.
    device.upload(device.tap(card_tx=2, balance_after=61_000, time=at(30)))
    assert alerts(app) == ["balance_mismatch"]


def test_a_blocked_card_reaches_the_deny_list_with_its_reason_and_is_audited(
    app: Flask, device: Device, card: str
) -> None:
    version = device.request("GET", "/api/v1/validator/snapshot?since=0").get_json()["version"]
    result = app.test_cli_runner().invoke(args=["cards", "block", card, "--reason", "lost"])
    assert result.exit_code == 0, result.output
    delta = device.request("GET", f"/api/v1/validator/snapshot?since={version}").get_json()
    assert delta["deny"] == [{"card_uid": UID, "reason": "lost"}]
    with app.app_context(), unit_of_work() as uow:
        audit = uow.session.scalars(select(AuditEntry)).one()
        assert (audit.action, audit.subject, audit.detail) == ("block", card, "lost")
    refused = app.test_cli_runner().invoke(args=["cards", "block", card, "--reason", "bored"])
    assert refused.exit_code == 2
    assert "bored" in refused.output


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


def test_a_credit_the_purse_cannot_take_is_refused_and_changes_nothing(
    app: Flask, card: str
) -> None:
    # The card holds 50,000 VND; with 3,000,000 waiting, only what is left below the purse's
    # limit can still be credited.
    credit(app, card, 2_000_000)
    credit(app, card, 1_000_000)
    room = MAX_BALANCE - 50_000 - 3_000_000
    refused = app.test_cli_runner().invoke(
        args=["cards", "credit", card, str(room + 1), "--reason", "goodwill"]
    )
    assert refused.exit_code == 1
    assert f"at most {room:,} VND more" in refused.output
    with app.app_context(), unit_of_work() as uow:
        assert len(list(uow.session.scalars(select(PendingAction)))) == 2
    credit(app, card, room)


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


@pytest.mark.parametrize("payload", [{"taps": "x"}, {"taps": []}, {}, [], "taps"])
def test_a_batch_that_is_not_a_batch_is_422(device: Device, payload: Any) -> None:
    response = device.request("POST", "/api/v1/validator/taps", payload)
    assert response.status_code == 422
    assert response.get_json(force=True)["code"] == "validation_failed"


def test_one_unreadable_tap_is_rejected_and_the_rest_go_in(
    app: Flask, device: Device, card: str
) -> None:
    good = device.tap(card_tx=1, balance_after=40_000)
    bad = device.tap(card_tx=2, amount=-5, balance_after=None, time="yesterday")
    later = device.tap(card_tx=2, balance_after=30_000, time=at(1))
    answer = device.upload(good, bad, later)
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1] == {
        "tap_id": bad["tap_id"],
        "status": "rejected",
        "reason": "invalid: amount, time",
    }
    assert shadow(app) == (30_000, 2)
    assert stored_taps(app) == [good["tap_id"], later["tap_id"]]


def test_the_same_tap_twice_in_one_batch_is_stored_once(
    app: Flask, device: Device, card: str
) -> None:
    tap = device.tap(card_tx=1, balance_after=40_000)
    statuses = [r["status"] for r in device.upload(tap, tap).get_json()["results"]]
    assert statuses == ["accepted", "duplicate"]
    assert shadow(app) == (40_000, 1)
    assert alerts(app) == []


def test_taps_from_three_buses_arriving_in_any_order_raise_no_alarm(
    app: Flask, device: Device, card: str
) -> None:
    one = device.tap(card_tx=1, balance_after=40_000, time=at(0))
    two = device.tap(card_tx=2, balance_after=30_000, time=at(20))
    three = device.tap(card_tx=3, balance_after=20_000, time=at(45))
    device.upload(three)
    device.upload(one)
    device.upload(two)
    assert alerts(app) == []
    assert shadow(app) == (20_000, 3)


def test_a_gap_is_taken_on_the_cards_word_and_checked_when_it_directly_follows(
    app: Flask, device: Device, card: str
) -> None:
    # Transaction 2 is still on a bus without signal; 3 cannot be checked, 4 can.
    device.upload(device.tap(card_tx=1, balance_after=40_000, time=at(0)))
    device.upload(device.tap(card_tx=3, balance_after=22_000, time=at(30)))
    assert alerts(app) == []
    assert shadow(app) == (22_000, 3)
    device.upload(device.tap(card_tx=4, balance_after=15_000, time=at(40)))
    assert alerts(app) == ["balance_mismatch"]  # 22,000 - 10,000 is 12,000, not 15,000
    device.upload(device.tap(card_tx=2, balance_after=32_000, amount=8_000, time=at(10)))
    assert alerts(app) == ["balance_mismatch"]
    assert shadow(app) == (15_000, 4)


def test_a_counter_that_goes_back_in_time_is_a_rolled_back_card(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(device.tap(card_tx=5, balance_after=40_000, time=at(0)))
    device.upload(device.tap(card_tx=3, balance_after=45_000, time=at(50)))
    assert alerts(app) == ["suspected_clone"]
    assert denied(device) == [{"card_uid": UID, "reason": "suspected_clone"}]


def test_the_same_charge_under_two_tap_ids_is_flagged_but_not_denied(
    app: Flask, device: Device, card: str
) -> None:
    device.upload(device.tap(card_tx=1, balance_after=40_000))
    device.upload(device.tap(card_tx=1, balance_after=40_000))
    assert alerts(app) == ["duplicate_transaction"]
    assert denied(device) == []
    assert shadow(app) == (40_000, 1)


def test_a_load_applied_in_a_tap_is_part_of_the_check(
    app: Flask, device: Device, card: str
) -> None:
    credit(app, card, 20_000)
    # The credit is transaction 1 and the fare transaction 2, both in this tap.
    device.upload(device.tap(card_tx=2, balance_after=60_000, applied_loads=[1], loaded=[1]))
    assert alerts(app) == []
    credit(app, card, 5_000)
    device.upload(
        device.tap(card_tx=4, balance_after=70_000, applied_loads=[1, 2], loaded=[2], time=at(30))
    )
    assert alerts(app) == ["balance_mismatch"]  # 60,000 + 5,000 - 10,000 is 55,000
    assert shadow(app) == (70_000, 4)


def test_a_tap_dated_in_the_future_is_kept_and_the_clock_reported(
    app: Flask, device: Device, card: str
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=3)).astimezone(HANOI).isoformat()
    answer = device.upload(device.tap(card_tx=1, balance_after=40_000, time=future))
    assert answer.get_json()["results"][0]["status"] == "accepted"
    assert alerts(app) == ["device_clock"]


def test_taps_on_a_route_the_validator_is_not_registered_for_are_kept_and_reported_once(
    app: Flask, device: Device, card: str
) -> None:
    moved = [
        device.tap(card_tx=1, balance_after=40_000, route_id="09", time=at(0)),
        device.tap(card_tx=2, balance_after=30_000, route_id="09", time=at(20)),
    ]
    answer = device.upload(*moved, device.tap(card_tx=3, balance_after=20_000, time=at(40)))
    assert [r["status"] for r in answer.get_json()["results"]] == ["accepted"] * 3
    assert len(stored_taps(app)) == 3  # the riders were charged: the taps are history
    with app.app_context(), unit_of_work() as uow:
        [alert] = uow.session.scalars(select(Alert))
        assert (alert.kind, alert.device_id, alert.card_uid) == (
            "route_mismatch",
            device.device_id,
            None,
        )
        assert "2 taps on route 09, registered for route 32" in alert.detail


def test_an_unknown_card_is_accepted_and_reported(app: Flask, device: Device) -> None:
    # docs/validator-protocol.md: the validator already charged it; the server keeps the tap.
    answer = device.upload(device.tap(card_tx=1, balance_after=40_000))
    assert answer.get_json()["results"][0]["status"] == "accepted"
    assert alerts(app) == ["unknown_card"]
    assert len(stored_taps(app)) == 1


def test_two_uploads_of_the_same_batch_at_once_store_each_tap_once(
    app: Flask, device: Device, card: str
) -> None:
    batch = [
        device.tap(card_tx=n, balance_after=50_000 - 1_000 * n, amount=1_000, time=at(n))
        for n in range(1, 51)
    ]
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def upload() -> None:
        barrier.wait()
        answers.append(device.upload(*batch))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [200, 200]
    statuses = [
        sorted(r["status"] for r in pair)
        for pair in zip(*(a.get_json()["results"] for a in answers), strict=True)
    ]
    assert statuses == [["accepted", "duplicate"]] * 50
    assert len(stored_taps(app)) == 50
    assert shadow(app) == (0, 50)
    assert alerts(app) == []


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


def test_a_qr_tap_must_name_its_virtual_card_and_code_and_a_card_tap_has_neither(
    app: Flask, device: Device, card: str
) -> None:
    qr = {"medium": "qr", "card_uid": "8401000000000017", "card_number": "8401000000000017",
          "balance_after": None, "card_tx": None}  # fmt: skip
    code = {"credential_id": "0102030405060708", "code_signed_at": at(0),
            "code_signature": "A" * 86}  # fmt: skip
    bad = [
        device.tap(**qr),  # no code
        device.tap(**{**qr, **code, "code_signature": ""}),  # no proof the phone showed it
        device.tap(**{**qr, **code, "code_signature": "A" * 85}),  # not 64 bytes
        device.tap(**{**qr, **code, "card_uid": UID}),  # a chip's UID for a virtual card
        device.tap(card_tx=1, **code),  # a card tap with a code's fields
    ]
    # Well formed, so kept; whether the phone signed it is the account's business
    # (tests/api/test_account_taps.py).
    good = device.tap(**qr, **code)
    results = device.upload(*bad, good).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 5 + ["accepted"]
    assert [r.get("reason") for r in results[:5]] == [
        "invalid: credential_id",
        "invalid: credential_id",
        "invalid: code_signature",
        "invalid: card_uid",
        "invalid: medium",
    ]
    assert stored_taps(app) == [good["tap_id"]]
