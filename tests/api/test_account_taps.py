"""The backend prices a virtual card's QR taps again, as the authority (issue 17): a metro
journey entered at one gate and left at another, whichever half arrives first; each tap posted
once; every change explained; the ledger adds up to the balance."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.deps import unit_of_work
from readers.tickets import code_signature
from tests.api.test_riders import bearer, signed_up
from tests.api.test_trips import import_demo_network
from tests.api.test_validator_api import Device, registered
from tests.api.test_virtual_cards import certify, create, phone, top_up
from tests.conftest import SmsOutbox
from transit.models import (
    AccountEntry,
    Alert,
    CardShadow,
    Journey,
    TapRecord,
    TicketCredential,
)

START = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


@dataclass(frozen=True)
class Phone:
    """A rider's phone with its key and the credential the backend certified for it."""

    key: ec.EllipticCurvePrivateKey
    credential: bytes
    credential_id: str


PHONES: dict[str, Phone] = {}  # by virtual card number: the phone that shows its codes


def with_phone(client: FlaskClient, rider: dict[str, str], card: dict[str, Any]) -> Phone:
    key, public = phone()
    answer = certify(client, rider, card["card_id"], public)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    issued = base64.urlsafe_b64decode(body["credential"] + "==")
    # The taps here begin two hours ago: the phone had its credential since before then.
    with client.application.app_context(), unit_of_work() as uow:
        row = uow.session.get(TicketCredential, body["credential_id"])
        assert row is not None
        row.issued_at = START - timedelta(hours=1)
        uow.commit()
    PHONES[card["card_number"]] = Phone(key, issued, body["credential_id"])
    return PHONES[card["card_number"]]


@pytest.fixture
def account(client: FlaskClient, sms: SmsOutbox) -> tuple[dict[str, str], dict[str, Any]]:
    rider = bearer(signed_up(client, sms))
    card = create(client, rider).get_json()
    assert top_up(client, rider, card["card_id"], 50_000).status_code == 201
    with_phone(client, rider, card)
    return rider, card


gate = registered  # a bus door or a metro gate: a validator registered for its route


def qr_tap(device: Device, number: str, minutes: int, **fields: Any) -> dict[str, Any]:
    """A QR tap as a validator journals it: no purse, no counter, the code's credential, and
    the phone's signature of the code, which proves it showed it."""
    moment = START + timedelta(minutes=minutes)
    shown = PHONES[number]
    signed_at = moment - timedelta(seconds=3)
    signature = code_signature(shown.credential, int(signed_at.timestamp()), shown.key)
    return device.tap(
        card_uid=number,
        card_number=number,
        time=moment.isoformat(),
        balance_after=None,
        card_tx=None,
        medium="qr",
        credential_id=shown.credential_id,
        code_signed_at=signed_at.isoformat(),
        code_signature=base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
        **fields,
    )


def ledger_of(app: Flask, card_id: str) -> list[tuple[str, int]]:
    with app.app_context(), unit_of_work() as uow:
        rows = uow.session.scalars(
            select(AccountEntry)
            .where(AccountEntry.card_id == card_id)
            .order_by(AccountEntry.entry_id)
        )
        return [(row.kind, row.amount) for row in rows]


def test_a_metro_journey_across_two_gates_is_charged_its_station_pair_fare_in_any_order(
    app: Flask, client: FlaskClient, account: tuple[dict[str, str], dict[str, Any]]
) -> None:
    rider, card = account
    number = card["card_number"]
    import_demo_network(app)  # stations by name in the rider's words
    entry_gate, exit_gate = gate(app, "2A"), gate(app, "2A")
    entry = qr_tap(entry_gate, number, 0, route_id="2A", stop_id="M2A01P", direction="entry",
                   amount=0, paid_by="at_exit")  # fmt: skip
    # The exit gate never saw the entry: offline, it charged the line's dearest fare.
    leave = qr_tap(exit_gate, number, 20, route_id="2A", stop_id="M2A03P", direction="exit",
                   amount=15_000, paid_by="stored_value")  # fmt: skip
    assert exit_gate.upload(leave).status_code == 200
    assert ledger_of(app, card["card_id"])[-1] == ("fare", -15_000)
    assert entry_gate.upload(entry).status_code == 200
    assert ledger_of(app, card["card_id"])[1:] == [
        ("fare", -15_000),
        ("fare", 0),
        ("adjustment", 6_000),  # the journey from M2A01P to M2A03P is 9,000
    ]
    for device, tap in ((entry_gate, entry), (exit_gate, leave)):  # uploaded again: nothing
        assert device.upload(tap).status_code == 200
    assert len(ledger_of(app, card["card_id"])) == 4
    seen = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider).get_json()
    assert seen["balance"] == 50_000 - 9_000
    account = client.get(f"/api/v1/cards/{card['card_id']}/account", headers=rider).get_json()
    assert account["balance"] == 41_000
    newest = account["data"][0]
    assert (newest["kind"], newest["amount"], newest["ref"]) == (
        "adjustment",
        6_000,
        leave["tap_id"] + "#1",
    )
    assert newest["explanation"].startswith("priced again with the account's other taps")
    # Each entry says why in the rider's language, and as data.
    assert [e["why"] for e in account["data"]] == [
        "Tính lại cùng các chuyến khác của bạn: trước 15.000 đ, nay 9.000 đ; "
        "Từ Cát Linh đến Thái Hà, tuyến 2A: 9.000 đ",
        "Vào ga Cát Linh, tuyến 2A: giá vé tính khi ra ga",
        "Ra tại Thái Hà, tuyến 2A, không có lượt vào: thu giá cao nhất của tuyến, 15.000 đ",
        "Nạp tiền trực tuyến",
    ]
    english = client.get(
        f"/api/v1/cards/{card['card_id']}/account",
        headers={**rider, "Accept-Language": "en"},
    ).get_json()
    assert [e["why"] for e in english["data"]] == [
        "Priced again with your other rides: was 15.000 đ, now 9.000 đ; "
        "From Cát Linh to Thái Hà, line 2A: 9.000 đ",
        "Entered at Cát Linh, line 2A: the fare is charged when you leave",
        "Left at Thái Hà, line 2A, with no entry: the line's highest fare, 15.000 đ",
        "Online top-up",
    ]
    assert newest["reasons"] == [
        {"code": "repriced", "was": 15_000, "now": 9_000},
        {
            "code": "journey",
            "route": "2A",
            "origin": "M2A01P",
            "destination": "M2A03P",
            "amount": 9_000,
        },
    ]
    with app.app_context(), unit_of_work() as uow:
        total = uow.session.scalar(
            select(func.sum(AccountEntry.amount)).where(AccountEntry.card_id == card["card_id"])
        )
        shadow = uow.session.get(CardShadow, number)
        assert shadow is not None
        assert total == shadow.balance == 41_000  # the ledger adds up to the balance
        [adjustment] = uow.session.scalars(
            select(AccountEntry).where(AccountEntry.kind == "adjustment")
        ).all()
        assert "journey from M2A01P to M2A03P" in adjustment.explanation
    # One journey in the rider's history, as the backend priced it, not two halves.
    journeys = client.get(f"/api/v1/cards/{card['card_id']}/journeys", headers=rider).get_json()
    assert [
        (j["origin_stop_id"], j["destination_stop_id"], j["fare"], j["status"])
        for j in journeys["data"]
    ] == [("M2A01P", "M2A03P", 9_000, "complete")]
    assert [j["why"] for j in journeys["data"]] == ["Từ Cát Linh đến Thái Hà, tuyến 2A: 9.000 đ"]
    # Its taps, one line each, show what the account paid, not what each gate took offline.
    trips = client.get(f"/api/v1/cards/{card['card_id']}/trips", headers=rider).get_json()
    assert [(t["tap_id"], t["amount"], t["why"]) for t in trips["data"]] == [
        (leave["tap_id"], 9_000, "Từ Cát Linh đến Thái Hà, tuyến 2A: 9.000 đ"),
        (entry["tap_id"], 0, "Vào ga Cát Linh, tuyến 2A: giá vé tính khi ra ga"),
    ]


def test_a_bus_rider_who_boards_at_one_door_and_alights_at_another_pays_once(
    app: Flask, account: tuple[dict[str, str], dict[str, Any]]
) -> None:
    _, card = account
    number = card["card_number"]
    front, back = gate(app, "32"), gate(app, "32")
    # Each door decided alone: the back door took the alighting as a second boarding.
    board = qr_tap(front, number, 0, route_id="32", stop_id="HN0043", vehicle_id="29B-100.01",
                   direction="entry", amount=10_000)  # fmt: skip
    alight = qr_tap(back, number, 12, route_id="32", stop_id="HN0053",
                    vehicle_id="29B-100.01", direction="entry", amount=10_000)  # fmt: skip
    front.upload(board)
    back.upload(alight)
    assert ledger_of(app, card["card_id"])[1:] == [("fare", -10_000), ("fare", 0)]
    with app.app_context(), unit_of_work() as uow:
        rows = uow.session.scalars(select(Journey).where(Journey.card_uid == number)).all()
        assert [(j.origin_stop_id, j.destination_stop_id, j.fare, j.status) for j in rows] == [
            ("HN0043", "HN0053", 10_000, "complete")
        ]


def test_a_tap_the_validator_refused_costs_nothing_and_cards_are_untouched(
    app: Flask, account: tuple[dict[str, str], dict[str, Any]]
) -> None:
    _, card = account
    bus = gate(app, "32")
    refused = qr_tap(bus, card["card_number"], 0, result="denied", reason="qr_limit",
                     amount=0, paid_by="nothing")  # fmt: skip
    assert bus.upload(refused).status_code == 200
    assert ledger_of(app, card["card_id"]) == [("credit", 50_000)]


def test_uploads_racing_for_one_account_post_each_tap_once(
    app: Flask, account: tuple[dict[str, str], dict[str, Any]]
) -> None:
    _, card = account
    bus = gate(app, "32")
    taps = [qr_tap(bus, card["card_number"], 90 * i, route_id="32", stop_id="HN0043",
                   amount=10_000) for i in range(3)]  # fmt: skip
    for _ in range(2):
        assert bus.upload(*taps).status_code == 200
    fares = [amount for kind, amount in ledger_of(app, card["card_id"]) if kind == "fare"]
    assert fares == [-10_000, -10_000, -10_000]
    assert uuid.UUID(taps[0]["tap_id"][4:])  # real tap ids, as validators make them


def test_a_chip_fare_uploaded_after_the_switch_is_taken_from_the_account_it_moved_to(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    """The move counted the chip's balance as the server last knew it; a ride taken just before
    the switch (or on a bus that had not synced the deny list) spent part of it."""
    from tests.api.test_validator_api import UID, shadow
    from tests.api.test_wallet import issue, link

    rider = bearer(signed_up(client, sms))
    number, code = issue(app, UID, balance=30_000)
    chip = link(client, rider, number, code).get_json()
    virtual = create(client, rider).get_json()
    switched = client.post(f"/api/v1/cards/{virtual['card_id']}/activate", headers=rider)
    assert switched.get_json()["moved"] == 30_000
    bus = gate(app, "32")
    late = bus.tap(time=START.isoformat(), amount=10_000, balance_after=20_000, card_tx=1,
                   card_number=number)  # fmt: skip
    for _ in range(2):  # uploaded again: taken once
        assert bus.upload(late).status_code == 200
    assert shadow(app) == (20_000, 1)  # the chip's own ledger follows the chip
    assert ledger_of(app, virtual["card_id"]) == [("credit", 30_000), ("late_chip_tap", -10_000)]
    account = client.get(f"/api/v1/cards/{virtual['card_id']}/account", headers=rider).get_json()
    assert account["balance"] == 20_000
    assert f"a ride on card {number}" in account["data"][0]["explanation"]
    late_why, moved_why = (e["why"] for e in account["data"])
    assert late_why.startswith(f"Chuyến đi bằng thẻ {number} lúc ")
    assert late_why.endswith(", gửi về sau khi số dư đã chuyển sang tài khoản này")
    assert moved_why == f"Chuyển từ thẻ {number}"
    assert chip["card_id"] != virtual["card_id"]


def alerts(app: Flask) -> list[tuple[str, str | None, str]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            (a.kind, a.card_uid, a.detail)
            for a in uow.session.scalars(select(Alert).order_by(Alert.alert_id))
        ]


def proofs(app: Flask) -> dict[str, str]:
    with app.app_context(), unit_of_work() as uow:
        return {t.tap_id: t.proof for t in uow.session.scalars(select(TapRecord))}


@pytest.mark.parametrize(
    "forgery",
    ["another phone's key", "a credential never issued", "another card's credential",
     "a code from long before the tap", "no signature at all"],
)  # fmt: skip
def test_a_qr_tap_the_phone_never_signed_costs_the_account_nothing(
    app: Flask,
    client: FlaskClient,
    sms: SmsOutbox,
    account: tuple[dict[str, str], dict[str, Any]],
    forgery: str,
) -> None:
    """A validator (compromised, or faulty) uploads a charge for a code the phone never showed:
    the tap is kept as sent, marked invalid, charged to nobody, and an operator is alerted."""
    rider, card = account
    number = card["card_number"]
    bus = gate(app, "32")
    honest = qr_tap(bus, number, 0, route_id="32", stop_id="HN0043", amount=10_000)
    forged = qr_tap(bus, number, 90, route_id="32", stop_id="HN0043", amount=10_000)
    if forgery == "another phone's key":
        stranger = ec.generate_private_key(ec.SECP256R1())
        signed_at = datetime.fromisoformat(forged["code_signed_at"])
        made = code_signature(PHONES[number].credential, int(signed_at.timestamp()), stranger)
        forged["code_signature"] = base64.urlsafe_b64encode(made).rstrip(b"=").decode()
    elif forgery == "a credential never issued":
        forged["credential_id"] = "0102030405060708"
    elif forgery == "another card's credential":
        other_rider = bearer(signed_up(client, sms, phone="0912000111"))
        other = create(client, other_rider).get_json()
        forged["credential_id"] = with_phone(client, other_rider, other).credential_id
    elif forgery == "a code from long before the tap":
        forged["time"] = (START + timedelta(minutes=95)).isoformat()  # signed 5 minutes before
    else:
        forged["code_signature"] = base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()
    assert bus.upload(honest, forged).status_code == 200
    assert ledger_of(app, card["card_id"]) == [("credit", 50_000), ("fare", -10_000)]
    assert proofs(app) == {honest["tap_id"]: "valid", forged["tap_id"]: "invalid"}
    [alert] = alerts(app)
    assert alert[:2] == ("qr_tap_unproven", number)
    assert alert[2].startswith(f"tap {forged['tap_id']}: ")
    with app.app_context(), unit_of_work() as uow:
        rows = uow.session.scalars(select(Journey).where(Journey.card_uid == number)).all()
        assert [j.entry_tap_id for j in rows] == [honest["tap_id"]]  # no journey for it
    trips = client.get(f"/api/v1/cards/{card['card_id']}/trips", headers=rider).get_json()
    assert [t["tap_id"] for t in trips["data"]] == [honest["tap_id"]]  # nor a trip
