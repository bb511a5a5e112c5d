"""Student applications: the roster decides what it can, the school's queue gets the rest."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.deps import unit_of_work
from fares.eligibility import school_year_end
from fares.model import card_day
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from tests.support.school_admins import enrol_with_client, enrolment_link
from transit.localtime import service_day
from transit.models import AuditEntry, SchoolAdmin
from transit.services import eligibility, sync

ROSTER = (
    "student_code,full_name,date_of_birth,level,programme,enrolment_end\n"
    "HS-001,Nguyễn Văn An,2010-05-01,Lớp 10,general_school,2031-05-31\n"
    "HS-002,Đặng Thị Ánh,2009-12-31,Lớp 11,general_school,2031-05-31\n"
    "SV-003,Lê Văn Cường,2004-02-29,Năm 3,work_study,2031-06-30\n"
    "HS-004,Phạm Thu Hà,2008-01-15,Lớp 12,general_school,2026-09-30\n"  # left in September
)


@pytest.fixture
def school(app: Flask, tmp_path: Path) -> str:
    runner = app.test_cli_runner()
    made = runner.invoke(args=["schools", "create", "THPT-CVA", "THPT Chu Văn An"])
    assert made.exit_code == 0, made.output
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    loaded = runner.invoke(
        args=["schools", "import-roster", "THPT-CVA", str(path), "--year", "2026-2027"]
    )
    assert loaded.exit_code == 0, loaded.output
    return "THPT-CVA"


@pytest.fixture
def rider(client: FlaskClient, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(client, sms))


def apply(client: FlaskClient, rider: dict[str, str], **changes: str) -> Any:
    body = {
        "school_code": "THPT-CVA",
        "student_code": "HS-001",
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "2010-05-01",
        **changes,
    }
    return client.post("/api/v1/eligibility/applications", json=body, headers=rider)


@pytest.mark.parametrize(
    "typed",
    [
        unicodedata.normalize("NFC", "Nguyễn Văn An"),
        unicodedata.normalize("NFD", "Nguyễn Văn An"),
        "NGUYỄN VĂN AN",
        "  nguyễn   văn  an ",
        "Nguyen Van An",  # no diacritics: accepted only because code and birthday are exact
    ],
)
def test_a_student_on_the_roster_is_approved_at_once(
    client: FlaskClient, rider: dict[str, str], school: str, typed: str
) -> None:
    answer = apply(client, rider, full_name=typed, student_code=" hs-001")
    assert answer.status_code == 201, answer.get_json()
    decided = answer.get_json()
    assert (decided["status"], decided["reason"], decided["valid_until"]) == (
        "approved",
        "on_roster",
        "2031-05-31",
    )
    assert decided["school"] == {"code": "THPT-CVA", "name": "THPT Chu Văn An"}


@pytest.mark.parametrize(
    "changes",
    [
        {"date_of_birth": "2010-05-02"},  # the right code with the wrong birthday
        {"full_name": "Nguyễn Văn Anh"},  # another name
        {"student_code": "HS-009"},
        {"full_name": "Nguyen Van An", "date_of_birth": "2010-01-05"},
    ],
)
def test_anything_the_roster_cannot_confirm_waits_for_the_school(
    client: FlaskClient, rider: dict[str, str], school: str, changes: dict[str, str]
) -> None:
    answer = apply(client, rider, **changes)
    assert answer.status_code == 201
    assert (answer.get_json()["status"], answer.get_json()["reason"]) == ("pending", None)


def test_a_work_study_student_is_refused_with_the_reason(
    client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    answer = apply(
        client, rider, student_code="SV-003", full_name="Lê Văn Cường", date_of_birth="2004-02-29"
    )
    assert (answer.get_json()["status"], answer.get_json()["reason"]) == ("rejected", "work_study")


def test_an_enrolment_that_has_ended_is_refused(
    client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    answer = apply(
        client, rider, student_code="HS-004", full_name="Phạm Thu Hà", date_of_birth="2008-01-15"
    )
    assert (answer.get_json()["status"], answer.get_json()["reason"]) == (
        "rejected",
        "enrolment_ended",
    )


def test_applying_again_returns_the_open_one_or_says_when_it_can_be_renewed(
    client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()
    again = apply(client, rider).get_json()
    assert again["application_id"] == waiting["application_id"]  # still the open one
    listed = client.get("/api/v1/eligibility/applications", headers=rider).get_json()["data"]
    assert [a["application_id"] for a in listed] == [waiting["application_id"]]


def test_an_approved_student_can_reapply_only_near_the_end(
    client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    assert apply(client, rider).get_json()["status"] == "approved"
    again = apply(client, rider)
    assert (again.status_code, again.get_json()["code"]) == (409, "already_eligible")


def test_unknown_schools_and_bad_input_are_refused(
    client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    unknown = apply(client, rider, school_code="NOPE")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "school_not_found")
    future = apply(client, rider, date_of_birth="2999-01-01")
    assert (future.status_code, future.get_json()["code"]) == (422, "invalid_application")
    assert client.post("/api/v1/eligibility/applications", json={}).status_code == 401


def test_the_app_lists_the_schools(client: FlaskClient, school: str) -> None:
    listed = client.get("/api/v1/schools").get_json()["data"]
    assert listed == [{"code": "THPT-CVA", "name": "THPT Chu Văn An"}]


# -- what an approval does, and the school's administrator --------------------------------


def admin_of(app: Flask, school: str, email: str) -> SchoolAdmin:
    result = app.test_cli_runner().invoke(
        args=["schools", "add-admin", school, email, "--name", "Cô Lan"]
    )
    assert result.exit_code == 0, result.output
    enrol_with_client(app.test_client(), enrolment_link(result.stdout), "p" * 16)
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalars(select(SchoolAdmin).where(SchoolAdmin.email == email)).one()
        uow.session.expunge(admin)  # kept as loaded when the unit of work ends
        return admin


def pending_profiles(app: Flask) -> list[tuple[str, int, int]]:
    with app.app_context(), unit_of_work() as uow:
        snapshot = sync.snapshot(0, datetime.now(UTC), uow)
    return [
        (p.card_uid, p.profile.category_code, p.profile.valid_until)
        for p in snapshot.pending
        if p.kind == "profile" and p.profile is not None
    ]


def test_an_approval_puts_the_student_category_on_the_riders_cards(
    app: Flask, client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    number, code = issue(app, "04A1B2C3D4E5F6")
    card_id = link(client, rider, number, code).get_json()["card_id"]
    assert apply(client, rider).get_json()["status"] == "approved"
    assert pending_profiles(app) == [("04A1B2C3D4E5F6", 2, card_day(date(2031, 5, 31)))]
    card = client.get(f"/api/v1/cards/{card_id}", headers=rider).get_json()
    assert (card["category"], card["valid_until"]) == ("student", "2031-05-31")
    assert "pass_all_routes" in {
        p["product_id"]: p["price"]
        for p in client.get(f"/api/v1/cards/{card_id}/products", headers=rider).get_json()["data"]
    }
    # A card linked later becomes a student's card too.
    later_number, later_code = issue(app, "04A1B2C3D4E5F7")
    link(client, rider, later_number, later_code)
    assert [uid for uid, _, _ in pending_profiles(app)] == ["04A1B2C3D4E5F6", "04A1B2C3D4E5F7"]


def test_the_school_decides_what_waits_and_only_its_own(
    app: Flask, client: FlaskClient, rider: dict[str, str], school: str
) -> None:
    other = app.test_cli_runner().invoke(args=["schools", "create", "THCS-X", "THCS X"])
    assert other.exit_code == 0
    ours = admin_of(app, school, "lan@cva.edu.vn")
    theirs = admin_of(app, "THCS-X", "minh@x.edu.vn")
    number, code = issue(app, "04A1B2C3D4E5F6")
    link(client, rider, number, code)
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()
    now = datetime.now(UTC)
    with app.app_context(), unit_of_work() as uow:
        assert eligibility.queue(theirs, "pending", uow) == []
        with pytest.raises(eligibility.ApplicationNotFound):
            eligibility.decide(
                theirs,
                waiting["application_id"],
                approve=True,
                reason="",
                valid_until=None,
                now=now,
                uow=uow,
            )
        with pytest.raises(eligibility.NotDecidable, match="needs a reason"):
            eligibility.decide(
                ours,
                waiting["application_id"],
                approve=False,
                reason="  ",
                valid_until=None,
                now=now,
                uow=uow,
            )
        [queued] = eligibility.queue(ours, "pending", uow)
        assert (queued.full_name, queued.student_code) == ("Nguyễn Văn An", "HS-001")
        decided = eligibility.decide(
            ours,
            waiting["application_id"],
            approve=True,
            reason="",
            valid_until=None,
            now=now,
            uow=uow,
        )
        assert decided.valid_until == school_year_end(service_day(now))
        uow.commit()
        audit = [
            (a.actor, a.action)
            for a in uow.session.scalars(select(AuditEntry).where(AuditEntry.subject == school))
        ]
    assert (f"admin:{ours.admin_id}", "application_approved") in audit
    shown = client.get("/api/v1/eligibility/applications", headers=rider).get_json()["data"]
    assert (shown[0]["status"], shown[0]["reason"]) == ("approved", "confirmed_by_school")
    assert [uid for uid, code, _ in pending_profiles(app) if code == 2] == ["04A1B2C3D4E5F6"]
    with app.app_context(), unit_of_work() as uow:
        eligibility.revoke(ours, waiting["application_id"], "left the school", now, uow)
        uow.commit()
    assert pending_profiles(app)[-1][:2] == ("04A1B2C3D4E5F6", 1)  # back to adult


@pytest.mark.parametrize(
    ("years", "category", "code"),
    [(3, "child", 5), (66, "elderly", 4)],
)
def test_a_verified_birthday_gives_the_free_category_of_its_age(
    app: Flask, years: int, category: str, code: int
) -> None:
    today = service_day(datetime.now(UTC))
    birthday = date(today.year - years, 2, 10)
    born = birthday.isoformat()
    # A child's lasts until the eve of the sixth birthday; an elder's has no end.
    until = (date(birthday.year + 6, 2, 10) - timedelta(days=1)).isoformat() if years < 6 else None
    number, _ = issue(app, "04A1B2C3D4E5F6")
    result = app.test_cli_runner().invoke(
        args=["cards", "verify-age", number, "--born", born, "--evidence", "CCCD seen at counter 3"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"category": category, "valid_until": until}
    [(uid, category_code, _)] = pending_profiles(app)
    assert (uid, category_code) == ("04A1B2C3D4E5F6", code)
    with app.app_context(), unit_of_work() as uow:
        [audit] = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "age_category")
        ).all()
        assert "CCCD seen at counter 3" in audit.detail


def test_an_age_without_a_free_category_is_refused(app: Flask) -> None:
    number, _ = issue(app, "04A1B2C3D4E5F6")
    runner = app.test_cli_runner()
    adult = runner.invoke(
        args=["cards", "verify-age", number, "--born", "1990-05-05", "--evidence", "CCCD"]
    )
    assert (adult.exit_code, "no free category at this age" in adult.output) == (1, True)
    no_evidence = runner.invoke(
        args=["cards", "verify-age", number, "--born", "1950-05-05", "--evidence", " "]
    )
    assert no_evidence.exit_code == 1
    assert pending_profiles(app) == []
