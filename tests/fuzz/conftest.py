"""Who the fuzz tests act as: a rider with cards, a registered validator, a school's administrator.

Each is built through the API or the operator commands, as in tests/api, on the database the
test runs on; the fuzz and hostile-input tests then attack what these principals may reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from api.deps import unit_of_work
from tests.api.test_eligibility import ROSTER, apply
from tests.api.test_riders import bearer, signed_up
from tests.api.test_school_pages import make_school, sign_in
from tests.api.test_validator_api import Device
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from transit import passwords
from transit.services import devices

SCHOOL = "THPT-CVA"
SCHOOL_YEAR = "2026-2027"
ADMIN_EMAIL = "lan@cva.edu.vn"
RIDER_PHONE = "0912 345 678"
APPLICANT_PHONE = "0987 654 321"
CARD_UID = "04A1B2C3D4E5F6"
LOST_CARD_UID = "04A1B2C3D4E5F7"
SPARE_CARD_UID = "04A1B2C3D4E5F8"
BUS_CARD_UID = "04A1B2C3D4E5F9"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: the defaults take a third of a second a hash, and these
    tests sign in, and get passwords wrong, thousands of times."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_DUMMY", hasher.hash("no one's password"))


@dataclass
class Rider:
    """A signed-in rider and what they own; `lost_card_id` is the card fuzzing may block."""

    headers: dict[str, str]
    phone: str
    card_id: str
    lost_card_id: str
    spare_number: str
    spare_code: str
    payment_id: str
    product_ids: list[str] = field(default_factory=list)
    virtual_card_id: str = ""  # waiting: the rider rides with a chip card


@dataclass
class SchoolAdmin:
    """A signed-in school administrator: the client holds the session cookie."""

    client: FlaskClient
    headers: dict[str, str]
    application_id: str


@pytest.fixture
def school(app: Flask, tmp_path: Path) -> str:
    """THPT-CVA with its administrator and roster; returns the administrator's TOTP secret."""
    secret = make_school(app, SCHOOL, ADMIN_EMAIL)
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    loaded = app.test_cli_runner().invoke(
        args=["schools", "import-roster", SCHOOL, str(path), "--year", SCHOOL_YEAR]
    )
    assert loaded.exit_code == 0, loaded.output
    return secret


@pytest.fixture
def rider(app: Flask, client: FlaskClient, sms: SmsOutbox, school: str) -> Rider:
    headers = bearer(signed_up(client, sms, phone=RIDER_PHONE))
    card_ids = []
    for uid in (CARD_UID, LOST_CARD_UID):
        number, code = issue(app, uid, balance=10_000)
        linked = link(client, headers, number, code)
        assert linked.status_code == 201, linked.get_json()
        card_ids.append(str(linked.get_json()["card_id"]))
    spare_number, spare_code = issue(app, SPARE_CARD_UID, balance=0)
    paid = client.post(
        f"/api/v1/cards/{card_ids[0]}/topups",
        json={"amount": 50_000},
        headers={**headers, "Idempotency-Key": "fuzz-setup"},
    )
    assert paid.status_code == 201, paid.get_json()
    products = client.get(f"/api/v1/cards/{card_ids[0]}/products", headers=headers).get_json()
    virtual = client.post("/api/v1/virtual-cards", headers=headers)
    assert virtual.status_code == 201, virtual.get_json()
    return Rider(
        virtual_card_id=str(virtual.get_json()["card_id"]),
        headers=headers,
        phone=RIDER_PHONE,
        card_id=card_ids[0],
        lost_card_id=card_ids[1],
        spare_number=spare_number,
        spare_code=spare_code,
        payment_id=str(paid.get_json()["payment_id"]),
        product_ids=[p["product_id"] for p in products["data"]],
    )


@pytest.fixture
def validator(app: Flask) -> Device:
    """A registered validator on route 32, and a card it may see."""
    with app.app_context(), unit_of_work() as uow:
        registered = devices.register_device("32", datetime.now(UTC), uow)
        uow.commit()
    issue(app, BUS_CARD_UID, balance=50_000)
    return Device(app.test_client(), registered.device_id, bytes.fromhex(registered.private_key))


@pytest.fixture
def school_admin(app: Flask, sms: SmsOutbox, school: str) -> SchoolAdmin:
    """THPT-CVA's administrator, signed in, with one application waiting in the queue."""
    applicant = app.test_client()
    tokens = signed_up(applicant, sms, phone=APPLICANT_PHONE)
    waiting = apply(applicant, bearer(tokens), date_of_birth="2010-05-02")
    assert waiting.get_json()["status"] == "pending", waiting.get_json()
    admin = app.test_client()
    sign_in(admin, ADMIN_EMAIL, school)
    session = admin.get("/school/api/session")
    assert session.status_code == 200, session.get_data(as_text=True)
    return SchoolAdmin(
        client=admin,
        headers={"X-CSRF-Token": session.get_json()["csrf"]},
        application_id=str(waiting.get_json()["application_id"]),
    )
