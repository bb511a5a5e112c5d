"""A rider's cards: linking, what a card holds, other riders' cards, losing a card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from tests.api.test_riders import bearer, signed_up
from tests.conftest import SmsOutbox
from transit.models import AuditEntry, PendingAction
from transit.services import cards, sync, versions


def issue(app: Flask, uid: str, balance: int = 50_000) -> tuple[str, str]:
    """An issued card: (card number, check code)."""
    with app.app_context(), unit_of_work() as uow:
        reservation = cards.reserve_card(
            uow,
            uid=bytes.fromhex(uid),
            category_id="adult",
            valid_until=None,
            balance=balance,
            prefix="8401",
            now=datetime.now(UTC),
        )
        cards.finish_issuing(uow, reservation.card_id, personalized=True)
        uow.commit()
    return reservation.card_number, reservation.check_code


@pytest.fixture
def rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms))


@pytest.fixture
def other_rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms, phone="0987 654 321"))


def link(client: FlaskClient, who: dict[str, str], number: str, code: str) -> Any:
    return client.post(
        "/api/v1/cards", json={"card_number": number, "check_code": code}, headers=who
    )


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def test_a_rider_links_a_card_and_sees_what_it_holds(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6")
    answer = link(client, rider, spaced(number), code.lower())
    assert answer.status_code == 201, answer.get_json()
    card = answer.get_json()
    assert (card["card_number"], card["status"], card["balance"]) == (number, "active", 50_000)
    assert (card["category"], card["pending"], card["balance_at"]) == ("adult", [], None)
    assert link(client, rider, number, code).status_code == 201  # a retry changes nothing
    listed = client.get("/api/v1/cards", headers=rider)
    assert [c["card_id"] for c in listed.get_json()["data"]] == [card["card_id"]]
    detail = client.get(f"/api/v1/cards/{card['card_id']}", headers=rider)
    assert detail.get_json() == card
    again = client.get(
        f"/api/v1/cards/{card['card_id']}",
        headers={**rider, "If-None-Match": detail.headers["ETag"]},
    )
    assert again.status_code == 304  # nothing new: no bytes spent on a weak signal


def test_a_wrong_check_code_and_an_unknown_number_look_the_same(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6")
    wrong = link(client, rider, number, "AAAAAAAA")
    unknown = link(client, rider, "8401 9999 9999 9999", code)
    for answer in (wrong, unknown):
        assert (answer.status_code, answer.get_json()["code"]) == (404, "card_not_found")


def test_guessing_check_codes_is_limited_per_rider(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6")
    for _ in range(10):
        assert link(client, rider, number, "AAAAAAAA").status_code == 404
    answer = link(client, rider, number, code)
    assert (answer.status_code, answer.get_json()["code"]) == (429, "too_many_requests")


def test_another_riders_card_is_not_found_at_every_address(
    app: Flask, client: FlaskClient, rider: dict[str, str], other_rider: dict[str, str]
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6")
    card_id = link(client, rider, number, code).get_json()["card_id"]
    taken = link(client, other_rider, number, code)
    assert (taken.status_code, taken.get_json()["code"]) == (409, "card_already_linked")
    spare, spare_code = issue(app, "04A1B2C3D4E5F7")
    for method, path, body in (
        ("GET", f"/api/v1/cards/{card_id}", None),
        ("POST", f"/api/v1/cards/{card_id}/block", {"reason": "lost"}),
        (
            "POST",
            f"/api/v1/cards/{card_id}/replace",
            {"card_number": spare, "check_code": spare_code},
        ),
    ):
        answer = client.open(path, method=method, json=body, headers=other_rider)
        assert (answer.status_code, answer.get_json()["code"]) == (404, "card_not_found"), path
        assert client.open(path, method=method, json=body).status_code == 401
    assert client.get("/api/v1/cards", headers=other_rider).get_json() == {"data": []}
    assert client.get(f"/api/v1/cards/{card_id}", headers=rider).get_json()["status"] == "active"


def test_a_lost_card_is_blocked_and_its_money_moves_to_the_new_card(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    old_number, old_code = issue(app, "04A1B2C3D4E5F6", balance=50_000)
    new_number, new_code = issue(app, "04A1B2C3D4E5F7", balance=0)
    old = link(client, rider, old_number, old_code).get_json()
    result = app.test_cli_runner().invoke(
        args=["cards", "credit", old_number, "20000", "--reason", "top-up at a kiosk"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context(), unit_of_work() as uow:
        version = versions.current_version(uow)
    early = client.post(
        f"/api/v1/cards/{old['card_id']}/replace",
        json={"card_number": new_number, "check_code": new_code},
        headers=rider,
    )
    assert (early.status_code, early.get_json()["code"]) == (409, "card_not_active")

    blocked = client.post(
        f"/api/v1/cards/{old['card_id']}/block", json={"reason": "lost"}, headers=rider
    )
    assert (blocked.get_json()["status"], blocked.get_json()["blocked_reason"]) == (
        "blocked",
        "lost",
    )
    moved = client.post(
        f"/api/v1/cards/{old['card_id']}/replace",
        json={"card_number": new_number, "check_code": new_code},
        headers=rider,
    )
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["moved"] == 70_000  # the balance at its last tap and the load it never got
    assert [(p["kind"], p["amount"]) for p in body["card"]["pending"]] == [("credit", 70_000)]
    assert body["card"]["pending_total"] == 70_000

    with app.app_context(), unit_of_work() as uow:
        delta = sync.snapshot(version, datetime.now(UTC), uow).to_json()
        statuses = {a.amount: a.status for a in uow.session.scalars(select(PendingAction))}
        audit = [(a.action, a.subject) for a in uow.session.scalars(select(AuditEntry))]
    assert {"card_uid": "04A1B2C3D4E5F6", "reason": "lost"} in delta["deny"]
    assert delta["withdrawn"] == [{"card_uid": "04A1B2C3D4E5F6", "seq": 1}]
    assert [(p["card_uid"], p["amount"]) for p in delta["pending"]] == [("04A1B2C3D4E5F7", 70_000)]
    assert statuses == {20_000: "withdrawn", 70_000: "pending"}
    assert ("replace", old_number) in audit

    twice = client.post(
        f"/api/v1/cards/{old['card_id']}/replace",
        json={"card_number": new_number, "check_code": new_code},
        headers=rider,
    )
    assert twice.status_code == 409
    listed = client.get("/api/v1/cards", headers=rider).get_json()["data"]
    assert [c["status"] for c in listed] == ["replaced", "active"]


def test_a_card_waiting_while_the_phone_rides_can_be_reported_lost_and_then_stays_blocked(
    app: Flask, client: FlaskClient, rider: dict[str, str]
) -> None:
    """A chip card on the deny list only because the rider rides with the virtual card
    (inactive_medium) is still theirs: reported lost, it must not ride again by a switch."""
    number, code = issue(app, "04C1D2E3F4A5B6")
    chip = link(client, rider, number, code).get_json()
    virtual = client.post("/api/v1/virtual-cards", headers=rider).get_json()
    assert (
        client.post(f"/api/v1/cards/{virtual['card_id']}/activate", headers=rider).status_code
        == 200
    )
    waiting = client.get(f"/api/v1/cards/{chip['card_id']}", headers=rider).get_json()
    assert (waiting["status"], waiting["blocked_reason"]) == ("blocked", "inactive_medium")

    blocked = client.post(
        f"/api/v1/cards/{chip['card_id']}/block", json={"reason": "lost"}, headers=rider
    )
    assert blocked.status_code == 200
    assert blocked.get_json()["blocked_reason"] == "lost"
    again = client.post(f"/api/v1/cards/{chip['card_id']}/activate", headers=rider)
    assert again.status_code == 409
    assert again.get_json()["code"] == "medium_not_usable"
