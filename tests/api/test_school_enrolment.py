"""A school administrator's enrolment (issue 16, finding 7): the operator's one-time link opens
a page where the clerk chooses their own password and sets up their authenticator from a QR
code; `flask schools reset-admin` is the way back from a lost phone or a forgotten password."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from api.deps import unit_of_work
from tests.api.test_school_pages import PASSWORD, csrf, make_school, sign_in
from tests.support.school_admins import earlier_code, enrolment_link, secret_on
from transit.models import AuditEntry, SchoolAdmin

EMAIL = "minh@cva.edu.vn"


@pytest.fixture
def link(app: Flask) -> str:
    """A school with one enrolled administrator, and the link the operator printed for a
    second one, Thầy Minh."""
    make_school(app, "THPT-CVA", "lan@cva.edu.vn")
    made = app.test_cli_runner().invoke(
        args=["schools", "add-admin", "THPT-CVA", EMAIL, "--name", "Thầy Minh"]
    )
    assert made.exit_code == 0, made.output
    return enrolment_link(made.stdout)


def _admin(app: Flask) -> SchoolAdmin:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalars(select(SchoolAdmin).where(SchoolAdmin.email == EMAIL)).one()
        uow.session.expunge(admin)
        return admin


def _finish(client: FlaskClient, page: Any, password: str, again: str, code: str) -> Any:
    return client.post(
        "/school/enrol",
        data={"csrf": csrf(page), "password": password, "password_again": again, "code": code},
    )


def test_the_link_opens_a_page_with_the_qr_code_and_the_key_and_leaves_the_address_bar(
    app: Flask, client: FlaskClient, link: str
) -> None:
    opened = client.get(link)
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/school/enrol"  # the token is not in the address
    page = client.get("/school/enrol")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Chào Thầy Minh" in html
    assert "Trường THPT-CVA" in html
    figure = re.search(r'<figure class="qr-code" role="img" aria-label="[^"]+"><svg [^>]*>', html)
    assert figure, html[:2000]
    assert len(secret_on(html)) == 32
    assert re.search(r'<a href="otpauth://totp/[^"]+secret=[A-Z2-7]{32}', html)
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html
    assert " style=" not in html
    english = client.get("/school/enrol?lang=en").get_data(as_text=True)
    assert "Hello Thầy Minh" in english  # the language changes, the enrolment stays


def test_nobody_signs_in_before_the_enrolment_is_finished(
    app: Flask, client: FlaskClient, link: str
) -> None:
    page = client.get("/school/login")
    for password in ("", PASSWORD):
        refused = client.post(
            "/school/login", data={"csrf": csrf(page), "email": EMAIL, "password": password}
        )
        assert refused.status_code == 401
    assert _admin(app).enrolled_at is None


@pytest.mark.parametrize(
    ("password", "again", "right_code", "says"),
    [
        ("short", "short", True, "Mật khẩu cần ít nhất 12 ký tự."),
        (PASSWORD, PASSWORD + "!", True, "Hai mật khẩu không giống nhau."),
        (PASSWORD, PASSWORD, False, "Mã không đúng."),
    ],
)
def test_a_refused_enrolment_says_why_and_changes_nothing(
    app: Flask,
    client: FlaskClient,
    link: str,
    password: str,
    again: str,
    right_code: bool,
    says: str,
) -> None:
    client.get(link)
    page = client.get("/school/enrol")
    secret = secret_on(page.get_data(as_text=True))
    code = earlier_code(secret) if right_code else "000000"
    refused = _finish(client, page, password, again, code)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(rf'<p class="problem" role="alert" id="problem">{re.escape(says)}', html)
    assert 'aria-invalid="true"' in html
    assert secret_on(html) == secret  # the same key: the app need not be set up again
    admin = _admin(app)
    assert (admin.enrolled_at, admin.password_hash) == (None, "")
    assert client.get("/school/enrol").status_code == 200  # the link still works


def test_an_enrolment_signs_the_clerk_in_and_the_link_then_stops_working(
    app: Flask, client: FlaskClient, link: str
) -> None:
    client.get(link)
    page = client.get("/school/enrol")
    secret = secret_on(page.get_data(as_text=True))
    done = _finish(client, page, PASSWORD, PASSWORD, earlier_code(secret))
    assert done.status_code == 302
    assert done.headers["Location"] == "/school/"
    queue = client.get("/school/").get_data(as_text=True)
    assert "Đã thiết lập xong, bạn đã đăng nhập." in queue
    admin = _admin(app)
    assert admin.enrolled_at is not None
    assert admin.enrol_token_hash is None
    again = app.test_client()
    assert again.get(link).status_code == 302
    used = again.get("/school/enrol")
    assert used.status_code == 404
    assert "Liên kết không còn dùng được" in used.get_data(as_text=True)
    later = app.test_client()
    assert sign_in(later, EMAIL, secret).status_code == 302
    assert later.get("/school/").status_code == 200
    with app.app_context(), unit_of_work() as uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.entry_id)))
    assert actions[-4:] == ["admin_added", "enrolled", "sign_in", "sign_in"]


def test_a_link_older_than_three_days_does_not_work(
    app: Flask, client: FlaskClient, link: str
) -> None:
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(
            update(SchoolAdmin)
            .where(SchoolAdmin.email == EMAIL)
            .values(enrol_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        uow.commit()
    client.get(link)
    expired = client.get("/school/enrol?lang=en")
    assert expired.status_code == 404
    assert "This link no longer works" in expired.get_data(as_text=True)


def test_a_reset_for_a_lost_phone_ends_the_sessions_and_makes_a_new_link(
    app: Flask, client: FlaskClient, link: str
) -> None:
    client.get(link)
    page = client.get("/school/enrol")
    old_secret = secret_on(page.get_data(as_text=True))
    assert _finish(client, page, PASSWORD, PASSWORD, earlier_code(old_secret)).status_code == 302
    assert client.get("/school/").status_code == 200
    reset = app.test_cli_runner().invoke(args=["schools", "reset-admin", EMAIL.upper()])
    assert reset.exit_code == 0, reset.output
    assert client.get("/school/").status_code == 302  # this browser is signed out
    stranger = app.test_client()
    login = stranger.get("/school/login")
    old_password = stranger.post(
        "/school/login", data={"csrf": csrf(login), "email": EMAIL, "password": PASSWORD}
    )
    assert old_password.status_code == 401  # the old password is gone with the old phone
    fresh = app.test_client()
    fresh.get(enrolment_link(reset.stdout))
    new_page = fresh.get("/school/enrol")
    new_secret = secret_on(new_page.get_data(as_text=True))
    assert new_secret != old_secret  # the lost phone's authenticator is of no use
    assert _finish(fresh, new_page, PASSWORD, PASSWORD, earlier_code(new_secret)).status_code == 302
    assert client.get(link).status_code == 302
    assert client.get("/school/enrol").status_code == 404  # the first link stays used
    lan = app.test_client()
    sign_in(lan, "lan@cva.edu.vn", make_secret_of_lan(app))
    audit = lan.get("/school/audit?lang=en").get_data(as_text=True)
    assert "Administrator&#39;s sign-in reset: Thầy Minh" in audit
    assert "The system&#39;s operator" in audit


def make_secret_of_lan(app: Flask) -> str:
    from api.auth import vault

    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalars(
            select(SchoolAdmin).where(SchoolAdmin.email == "lan@cva.edu.vn")
        ).one()
        return vault().decrypt(admin.totp_secret.encode()).decode()


def test_reset_admin_names_an_unknown_address_and_changes_nothing(app: Flask, link: str) -> None:
    unknown = app.test_cli_runner().invoke(args=["schools", "reset-admin", "nobody@x.vn"])
    assert unknown.exit_code == 1
    assert "no administrator nobody@x.vn" in unknown.output


def test_production_will_not_print_a_link_to_this_machine(app: Flask) -> None:
    make_school(app, "THPT-CVA", "lan@cva.edu.vn")
    app.config.update(ENV="production", PUBLIC_URL="")
    refused = app.test_cli_runner().invoke(
        args=["schools", "add-admin", "THPT-CVA", "x@cva.edu.vn", "--name", "X"]
    )
    assert refused.exit_code == 1
    assert "TRANSIT_PUBLIC_URL" in refused.output
    assert "x@cva.edu.vn" not in str(_emails(app))  # nothing was saved
    app.config.update(PUBLIC_URL="https://the.card.hanoi/")
    made = app.test_cli_runner().invoke(
        args=["schools", "add-admin", "THPT-CVA", "x@cva.edu.vn", "--name", "X"]
    )
    assert enrolment_link(made.stdout).startswith("/school/enrol?token=")
    assert '"enrol_url": "https://the.card.hanoi/school/enrol?token=' in made.stdout


def _emails(app: Flask) -> list[str]:
    with app.app_context(), unit_of_work() as uow:
        return list(uow.session.scalars(select(SchoolAdmin.email)))
