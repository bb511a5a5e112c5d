"""The phone as a ticket, on the server (issue 17): the virtual card, its account balance, the
one active medium, and QR credentials a validator checks offline with the snapshot's keys."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.deps import unit_of_work
from cards.application import MasterKeys
from fares import load_hanoi_tariff
from readers.display import GREEN, RED
from readers.journal import Journal
from readers.tickets import TicketGate, issuer_keys
from readers.validator import Validator
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from tests.unit.wire import qr_vector
from transit.models import (
    AccountEntry,
    Card,
    CardShadow,
    PendingAction,
    PendingActionStatus,
    TicketCredential,
)
from transit.services import cards, ledger, sync
from wire import qr


@pytest.fixture
def rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms))


def create(client: FlaskClient, who: dict[str, str]) -> Any:
    return client.post("/api/v1/virtual-cards", headers=who)


def top_up(client: FlaskClient, who: dict[str, str], card_id: str, amount: int) -> Any:
    return client.post(
        f"/api/v1/cards/{card_id}/topups",
        json={"amount": amount},
        headers={**who, "Idempotency-Key": str(uuid.uuid4())},
    )


def phone() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A phone's key pair, and its public key as the app sends it (WebCrypto 'raw', base64url)."""
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def certify(client: FlaskClient, who: dict[str, str], card_id: str, public: str) -> Any:
    return client.post(
        f"/api/v1/cards/{card_id}/credentials", json={"public_key": public}, headers=who
    )


def gate(app: Flask) -> TicketGate:
    """A validator's view: the issuer keys and deny list of a full snapshot."""
    with app.test_request_context():
        from api.auth import ticket_issuer

        issuers = (ticket_issuer().record(),)
    with app.app_context(), unit_of_work() as uow:
        snapshot = sync.snapshot(0, datetime.now(UTC), uow, issuers=issuers)
    return TicketGate(
        issuer_keys({i.kid: i.public_key for i in snapshot.ticket_issuers}),
        denied_cards=frozenset(d.card_uid for d in snapshot.deny),
    )


def test_a_rider_with_no_card_makes_a_virtual_card_that_rides_at_once(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    made = create(client, rider)
    assert made.status_code == 201, made.get_json()
    card = made.get_json()
    assert (card["kind"], card["active"], card["status"], card["balance"]) == (
        "virtual",
        True,
        "active",
        0,
    )
    assert cards.luhn_valid(card["card_number"])
    assert len(card["card_number"]) == 16
    again = create(client, rider)
    assert (again.status_code, again.get_json()["code"]) == (409, "virtual_card_exists")
    listed = client.get("/api/v1/cards", headers=rider).get_json()["data"]
    assert [c["card_id"] for c in listed] == [card["card_id"]]


def test_a_top_up_is_usable_at_once_and_the_credential_carries_it_to_a_validator_offline(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    card = create(client, rider).get_json()
    paid = top_up(client, rider, card["card_id"], 50_000)
    assert paid.status_code == 201, paid.get_json()
    now = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider).get_json()
    assert (now["balance"], now["pending"]) == (50_000, [])  # no tap needed
    key, public = phone()
    answer = certify(client, rider, card["card_id"], public)
    assert answer.status_code == 201, answer.get_json()
    issued = answer.get_json()
    assert issued["spend_limit"] == 50_000
    credential = base64.urlsafe_b64decode(issued["credential"] + "==")
    signed_at = int(datetime.now(UTC).timestamp())
    text = qr_vector.sign_ticket(credential, signed_at, key)
    ticket = gate(app).check(text, signed_at + 5)
    assert ticket.credential.card_number == card["card_number"]
    assert ticket.credential.limit == 50_000
    assert ticket.credential.credential_id.hex() == issued["credential_id"]
    assert ticket.credential.expires - ticket.credential.not_before == 24 * 3600
    with app.app_context(), unit_of_work() as uow:
        [entry] = uow.session.scalars(select(AccountEntry)).all()
        assert (entry.kind, entry.amount, entry.balance_after) == ("credit", 50_000, 50_000)


def test_a_credential_needs_a_real_key_and_the_rider_s_own_virtual_card(
    app: Flask, client: FlaskClient, rider: dict[str, str], sms: SmsOutbox
) -> None:
    card = create(client, rider).get_json()
    for bad in ("AAAA" * 11, base64.urlsafe_b64encode(b"\x04" + bytes(64)).decode()):
        refused = certify(client, rider, card["card_id"], bad)
        assert refused.status_code == 422, refused.get_json()
    other = bearer(signed_up(client, sms, phone="0987 654 321"))
    _, public = phone()
    assert certify(client, other, card["card_id"], public).status_code == 404
    number, code = issue(app, "04A1B2C3D4E5F6")
    chip = link(client, rider, number, code).get_json()
    assert certify(client, rider, chip["card_id"], public).status_code == 404


def _holdings(app: Flask, rider_cards: list[str]) -> int:
    """All the money a rider's cards hold: chip purses, loads on their way, accounts."""
    with app.app_context(), unit_of_work() as uow:
        uids = [
            c.uid for c in uow.session.scalars(select(Card).where(Card.card_id.in_(rider_cards)))
        ]
        purses = uow.session.scalar(
            select(func.coalesce(func.sum(CardShadow.balance), 0)).where(
                CardShadow.card_uid.in_(uids)
            )
        )
        waiting = uow.session.scalar(
            select(func.coalesce(func.sum(PendingAction.amount), 0)).where(
                PendingAction.card_uid.in_(uids),
                PendingAction.kind == "credit",
                PendingAction.status == PendingActionStatus.PENDING,
            )
        )
    return int(purses or 0) + int(waiting or 0)


def test_switching_the_active_medium_moves_the_money_both_ways_and_never_doubles_it(
    app: Flask, client: FlaskClient, rider: dict[str, str], tmp_path: Path
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6", balance=30_000)
    chip = link(client, rider, number, code).get_json()
    assert top_up(client, rider, chip["card_id"], 20_000).status_code == 201  # for its next tap
    virtual = create(client, rider).get_json()
    assert (virtual["active"], virtual["status"], virtual["blocked_reason"]) == (
        False,
        "blocked",
        "inactive_medium",
    )
    phone_key, public = phone()
    refused = certify(client, rider, virtual["card_id"], public)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "medium_inactive")
    both = [chip["card_id"], virtual["card_id"]]
    assert _holdings(app, both) == 50_000

    switched = client.post(f"/api/v1/cards/{virtual['card_id']}/activate", headers=rider)
    assert switched.status_code == 200, switched.get_json()
    done = switched.get_json()
    assert (done["moved"], done["from_cards"]) == (50_000, [number])
    assert (done["card"]["balance"], done["card"]["active"]) == (50_000, True)
    chip_now = client.get(f"/api/v1/cards/{chip['card_id']}", headers=rider).get_json()
    assert (chip_now["status"], chip_now["blocked_reason"], chip_now["active"]) == (
        "blocked",
        "inactive_medium",
        False,
    )
    # The chip keeps its 30,000 on the chip, refused everywhere; the ledger counts it once.
    assert gate(app).denied_cards >= {chip_now["card_number"] and _uid(app, chip["card_id"])}
    issued = certify(client, rider, virtual["card_id"], public)
    assert issued.status_code == 201
    held = base64.urlsafe_b64decode(issued.get_json()["credential"] + "==")

    back = client.post(f"/api/v1/cards/{chip['card_id']}/activate", headers=rider)
    assert back.status_code == 200, back.get_json()
    # The chip still holds its own 30,000: only the 20,000 that never reached it goes back.
    assert back.get_json()["moved"] == 20_000
    virtual_now = client.get(f"/api/v1/cards/{virtual['card_id']}", headers=rider).get_json()
    assert (virtual_now["balance"], virtual_now["active"]) == (0, False)
    assert virtual["card_number"] in gate(app).denied_cards  # in the next snapshot
    # A validator that takes that snapshot refuses the phone's code, from a credential the
    # phone still holds from before the switch.
    assert refused_at_a_validator(app, held, phone_key, tmp_path) == (RED, "qr_denied")
    chip_back = client.get(f"/api/v1/cards/{chip['card_id']}", headers=rider).get_json()
    assert (chip_back["balance"], chip_back["pending_total"]) == (30_000, 20_000)
    assert _holdings(app, both) == 50_000  # back and forth: the same 50,000, never more
    with app.app_context(), unit_of_work() as uow:
        kinds = [
            e.kind
            for e in uow.session.scalars(select(AccountEntry).order_by(AccountEntry.entry_id))
        ]
    assert kinds == ["credit", "moved_out"]


def refused_at_a_validator(
    app: Flask, credential: bytes, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> tuple[str, str]:
    """A bus validator, with a real journal, takes the server's full snapshot and is shown a
    fresh code from `credential`: (colour, code) of what it says."""
    with app.test_request_context():
        from api.auth import ticket_issuer

        issuers = (ticket_issuer().record(),)
    with app.app_context(), unit_of_work() as uow:
        snapshot = sync.snapshot(0, datetime.now(UTC), uow, issuers=issuers)
    now = datetime.now(UTC)
    tmp_path.mkdir(parents=True, exist_ok=True)
    with Journal(tmp_path / "bus.sqlite3") as journal:
        journal.apply_snapshot(snapshot.to_json())
        bus = Validator(
            journal,
            MasterKeys(*(bytes(16) for _ in range(6))),
            load_hanoi_tariff(),
            device_id="dev_bus",
            route_id="32",
            stop_id="HN0043",
            clock=lambda: now,
        )
        shown = qr_vector.sign_ticket(credential, int(now.timestamp()), key)
        signal = bus.qr_tap(shown).signal
    return signal.colour, signal.code


def _uid(app: Flask, card_id: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        card = uow.session.get(Card, card_id)
        assert card is not None
        return card.uid


def test_an_account_below_zero_is_refused_until_it_is_topped_up(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    card = create(client, rider).get_json()
    paid = top_up(client, rider, card["card_id"], 20_000)
    assert paid.status_code == 201, paid.get_json()
    with app.app_context(), unit_of_work() as uow:
        row = uow.session.get(Card, card["card_id"])
        assert row is not None
        # Three validators, offline, each took a fare on the same 20,000 credential.
        ledger.post(row, "fare", "tap_a", -10_000, "bus 32", datetime.now(UTC), uow)
        ledger.post(row, "fare", "tap_b", -10_000, "bus 32", datetime.now(UTC), uow)
        ledger.post(row, "fare", "tap_c", -10_000, "bus 32", datetime.now(UTC), uow)
        ledger.post(row, "fare", "tap_c", -10_000, "bus 32", datetime.now(UTC), uow)  # once
        uow.commit()
    seen = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider).get_json()
    assert (seen["balance"], seen["blocked_reason"]) == (-10_000, "negative_balance")
    assert card["card_number"] in gate(app).denied_cards
    _, public = phone()
    refused = certify(client, rider, card["card_id"], public)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "negative_balance")
    assert top_up(client, rider, card["card_id"], 20_000).status_code == 201
    seen = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider).get_json()
    assert (seen["balance"], seen["status"]) == (10_000, "active")
    assert card["card_number"] not in gate(app).denied_cards
    assert certify(client, rider, card["card_id"], public).status_code == 201


def test_a_pass_bought_for_the_virtual_card_is_in_the_next_credential(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    card = create(client, rider).get_json()
    bought = client.post(
        f"/api/v1/cards/{card['card_id']}/passes",
        json={"product_id": "pass_all_routes"},
        headers={**rider, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status_code == 201, bought.get_json()
    seen = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider).get_json()
    assert [(p["product_id"], p["on_card"]) for p in seen["passes"]] == [("pass_all_routes", True)]
    key, public = phone()
    issued = certify(client, rider, card["card_id"], public).get_json()
    credential = base64.urlsafe_b64decode(issued["credential"] + "==")
    signed_at = int(datetime.now(UTC).timestamp())
    ticket = gate(app).check(qr_vector.sign_ticket(credential, signed_at, key), signed_at)
    assert len(ticket.credential.passes) == 1
    assert ticket.credential.limit == 0  # the pass rides; there is no money to spend
    assert qr.MAX_AGE < 60


def test_a_lost_phone_s_credentials_are_revoked_and_refused_at_the_next_sync(
    app: Flask, client: FlaskClient, rider: dict[str, str], tmp_path: Path
) -> None:
    card = create(client, rider).get_json()
    assert top_up(client, rider, card["card_id"], 50_000).status_code == 201
    lost_key, lost_public = phone()
    lost = certify(client, rider, card["card_id"], lost_public).get_json()
    held = base64.urlsafe_b64decode(lost["credential"] + "==")
    revoked = client.delete(f"/api/v1/cards/{card['card_id']}/credentials", headers=rider)
    assert (revoked.status_code, revoked.get_json()) == (200, {"revoked": 1})
    again = client.delete(f"/api/v1/cards/{card['card_id']}/credentials", headers=rider)
    assert again.get_json() == {"revoked": 0}
    assert refused_at_a_validator(app, held, lost_key, tmp_path) == (RED, "qr_denied")
    # The phone in hand gets a new credential, which rides.
    new_key, new_public = phone()
    fresh = certify(client, rider, card["card_id"], new_public).get_json()
    renewed = base64.urlsafe_b64decode(fresh["credential"] + "==")
    assert refused_at_a_validator(app, renewed, new_key, tmp_path / "b") == (GREEN, "paid")


def test_a_virtual_card_paid_back_while_the_account_rides_a_chip_card_stays_waiting(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    """Below zero, then the rider switches to a chip card: the debt stays with the virtual
    card, and paying it back does not make it a second medium the account rides with."""
    virtual = create(client, rider).get_json()
    with app.app_context(), unit_of_work() as uow:
        row = uow.session.get(Card, virtual["card_id"])
        assert row is not None
        ledger.post(row, "fare", "tap_x", -8_000, "bus 32", datetime.now(UTC), uow)
        uow.commit()
    number, code = issue(app, "04A1B2C3D4E5F6", balance=30_000)
    chip = link(client, rider, number, code).get_json()
    switched = client.post(f"/api/v1/cards/{chip['card_id']}/activate", headers=rider)
    assert switched.status_code == 200, switched.get_json()
    assert switched.get_json()["moved"] == 0  # a debt does not move
    assert top_up(client, rider, virtual["card_id"], 20_000).status_code == 201
    seen = client.get(f"/api/v1/cards/{virtual['card_id']}", headers=rider).get_json()
    assert (seen["balance"], seen["status"], seen["blocked_reason"], seen["active"]) == (
        12_000,
        "blocked",
        "inactive_medium",
        False,
    )
    assert virtual["card_number"] in gate(app).denied_cards
    listed = client.get("/api/v1/cards", headers=rider).get_json()["data"]
    assert [c["card_id"] for c in listed if c["active"]] == [chip["card_id"]]


def test_back_and_forth_never_doubles_and_a_chip_owed_what_was_spent_waits_for_a_top_up(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6", balance=30_000)
    chip = link(client, rider, number, code).get_json()
    virtual = create(client, rider).get_json()
    both = [chip["card_id"], virtual["card_id"]]
    for _ in range(2):  # chip, virtual, chip, virtual: still 30,000
        for card in (virtual, chip):
            switched = client.post(f"/api/v1/cards/{card['card_id']}/activate", headers=rider)
            assert switched.status_code == 200, switched.get_json()
        assert _holdings(app, both) - _on_frozen_chip(app, chip["card_id"]) == 30_000
    switched = client.post(f"/api/v1/cards/{virtual['card_id']}/activate", headers=rider)
    assert switched.get_json()["card"]["balance"] == 30_000
    with app.app_context(), unit_of_work() as uow:
        row = uow.session.get(Card, virtual["card_id"])
        assert row is not None
        ledger.post(row, "fare", "tap_phone", -10_000, "bus 32", datetime.now(UTC), uow)
        uow.commit()
    # The chip still holds 30,000, of which the phone spent 10,000: it cannot ride again yet.
    refused = client.post(f"/api/v1/cards/{chip['card_id']}/activate", headers=rider)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "switch_needs_top_up")
    assert "10000" in refused.get_json()["detail"]
    listed = client.get("/api/v1/cards", headers=rider).get_json()["data"]
    assert [c["card_id"] for c in listed if c["active"]] == [virtual["card_id"]]  # unchanged
    assert top_up(client, rider, virtual["card_id"], 20_000).status_code == 201
    back = client.post(f"/api/v1/cards/{chip['card_id']}/activate", headers=rider)
    assert back.status_code == 200, back.get_json()
    assert back.get_json()["moved"] == 10_000  # 40,000 on the phone, 30,000 already on the chip


def _on_frozen_chip(app: Flask, card_id: str) -> int:
    """A chip switched away from still holds its moved balance, refused everywhere."""
    with app.app_context(), unit_of_work() as uow:
        card = uow.session.get(Card, card_id)
        assert card is not None
        if card.blocked_reason != "inactive_medium":
            return 0
        shadow = uow.session.get(CardShadow, card.uid)
        return shadow.balance if shadow is not None else 0


def test_credentials_long_expired_are_pruned_and_the_rest_kept(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    rider = bearer(signed_up(client, sms))
    card = create(client, rider).get_json()
    issued = [certify(client, rider, card["card_id"], phone()[1]).get_json() for _ in range(3)]
    now = datetime.now(UTC)
    with app.app_context(), unit_of_work() as uow:
        # One expired 20 days ago, one 13 days ago (still kept for late taps), one is live.
        for answer, days in zip(issued[:2], (20, 13), strict=True):
            row = uow.session.get(TicketCredential, answer["credential_id"])
            assert row is not None
            row.expires_at = now - timedelta(days=days)
        uow.commit()
    pruned = app.test_cli_runner().invoke(args=["db", "prune"])
    assert pruned.exit_code == 0, pruned.output
    assert pruned.output == "1 expired QR credentials deleted\n"
    with app.app_context(), unit_of_work() as uow:
        kept = set(uow.session.scalars(select(TicketCredential.credential_id)))
    assert kept == {issued[1]["credential_id"], issued[2]["credential_id"]}
    shorter = app.test_cli_runner().invoke(args=["db", "prune", "--keep-days", "10"])
    assert shorter.output == "1 expired QR credentials deleted\n"
    refused = app.test_cli_runner().invoke(args=["db", "prune", "--keep-days", "0"])
    assert refused.exit_code == 2
