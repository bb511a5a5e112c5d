"""The school's web pages through the test client: sign-in with TOTP, CSRF, sessions, scope."""

from __future__ import annotations

import gc
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from api.deps import unit_of_work
from tests.api.test_eligibility import ROSTER, apply
from tests.api.test_riders import bearer, signed_up
from tests.conftest import SmsOutbox
from tests.support.school_admins import enrol_with_client, enrolment_link
from transit.models import Application, AuditEntry, SchoolAdmin, SchoolSession
from transit.services import school_auth

PASSWORD = "a long enough secret"


def csrf(page: Any) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


def make_school(app: Flask, code: str, email: str) -> str:
    """A school and its administrator, enrolled with PASSWORD; returns their TOTP secret."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["schools", "create", code, f"Trường {code}"]).exit_code == 0
    made = runner.invoke(args=["schools", "add-admin", code, email, "--name", "Cô Lan"])
    assert made.exit_code == 0, made.output
    return enrol_with_client(app.test_client(), enrolment_link(made.stdout), PASSWORD)


def code_at(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator's code now, or `steps_ahead` 30-second steps from now."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps_ahead)


def wrong_code(secret: str) -> str:
    """A code that no step the server accepts now (the previous, this, the next) produces."""
    near = {code_at(secret, steps) for steps in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in near)


def password_step(client: FlaskClient, email: str) -> str:
    """The password given; returns the CSRF token of the code page that follows."""
    page = client.get("/school/login")
    client.post("/school/login", data={"csrf": csrf(page), "email": email, "password": PASSWORD})
    return csrf(client.get("/school/login/code"))


def sign_in(client: FlaskClient, email: str, secret: str, code: str | None = None) -> Any:
    """Both steps; each code is accepted once, so a second sign-in in the same 30 seconds
    passes `code=code_at(secret, 1)`."""
    token = password_step(client, email)
    return client.post("/school/login/code", data={"csrf": token, "code": code or code_at(secret)})


def admin_id(app: Flask, email: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        found = uow.session.scalar(select(SchoolAdmin.admin_id).where(SchoolAdmin.email == email))
    assert found is not None
    return found


def move_sessions_back(app: Flask, email: str, *, started: timedelta, seen: timedelta) -> None:
    """Make the administrator's sessions older on the server: the cookie stays as it was."""
    now = datetime.now(UTC)
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(
            update(SchoolSession)
            .where(SchoolSession.admin_id == admin_id(app, email))
            .values(started_at=now - started, seen_at=now - seen)
        )
        uow.commit()


@pytest.fixture
def schools(app: Flask, tmp_path: Path) -> dict[str, str]:
    ours = make_school(app, "THPT-CVA", "lan@cva.edu.vn")
    theirs = make_school(app, "THCS-X", "minh@x.edu.vn")
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    loaded = app.test_cli_runner().invoke(
        args=["schools", "import-roster", "THPT-CVA", str(path), "--year", "2026-2027"]
    )
    assert loaded.exit_code == 0, loaded.output
    return {"ours": ours, "theirs": theirs}


def test_signing_in_takes_the_password_and_then_the_authenticator_code(
    app: Flask, client: FlaskClient, schools: dict[str, str]
) -> None:
    page = client.get("/school/login")
    assert page.status_code == 200
    assert "Đăng nhập" in page.get_data(as_text=True)
    wrong = client.post(
        "/school/login",
        data={"csrf": csrf(page), "email": "lan@cva.edu.vn", "password": "not it at all!"},
    )
    assert wrong.status_code == 401
    assert client.get("/school/").status_code == 302  # still signed out
    client.post(
        "/school/login",
        data={"csrf": csrf(page), "email": "lan@cva.edu.vn", "password": PASSWORD},
    )
    code_page = client.get("/school/login/code")
    bad = client.post("/school/login/code", data={"csrf": csrf(code_page), "code": "000000"})
    assert bad.status_code == 401
    assert client.get("/school/").status_code == 302  # the password alone is not enough
    good = client.post(
        "/school/login/code",
        data={"csrf": csrf(code_page), "code": pyotp.TOTP(schools["ours"]).now()},
    )
    assert good.status_code == 302
    cookie = good.headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/school"):
        assert flag in cookie
    queue = client.get("/school/")
    assert queue.status_code == 200
    assert "default-src 'self'" in queue.headers["Content-Security-Policy"]
    assert queue.headers["Cache-Control"] == "no-store"


def test_a_form_without_its_csrf_token_is_refused(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    assert client.post("/school/logout", data={}).status_code == 400
    assert client.post("/school/logout", data={"csrf": "forged"}).status_code == 400
    assert client.get("/school/").status_code == 200  # still signed in


def test_an_idle_session_ends_on_the_server(
    app: Flask, client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    move_sessions_back(app, "lan@cva.edu.vn", started=timedelta(minutes=29), seen=timedelta(0))
    assert client.get("/school/").status_code == 200  # busy for 29 minutes: still in
    move_sessions_back(
        app, "lan@cva.edu.vn", started=timedelta(minutes=40), seen=timedelta(minutes=31)
    )
    answer = client.get("/school/")
    assert answer.status_code == 302
    assert "expired=1" in answer.headers["Location"]
    assert client.get("/school/api/session").status_code == 401


def test_a_session_ends_after_eight_hours_however_busy(
    app: Flask, client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    move_sessions_back(
        app, "lan@cva.edu.vn", started=timedelta(hours=8, minutes=1), seen=timedelta(0)
    )
    answer = client.get("/school/")
    assert answer.status_code == 302
    assert "expired=1" in answer.headers["Location"]


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    token = client.get("/school/api/session").get_json()["csrf"]
    saved = client.get_cookie("school_session", path="/school")
    assert saved is not None
    out = client.post("/school/logout", data={"csrf": token})
    assert (out.status_code, out.headers["Location"]) == (302, "/school/login")

    copy = FlaskClient(client.application, use_cookies=True)
    copy.set_cookie("school_session", saved.value, path="/school")
    assert copy.get("/school/api/session").status_code == 401
    page = copy.get("/school/")
    assert (page.status_code, page.headers["Location"]) == (302, "/school/login")
    assert client.get("/school/").status_code == 302


def test_ending_an_administrators_sessions_signs_out_every_browser(
    app: Flask, client: FlaskClient, schools: dict[str, str]
) -> None:
    other = FlaskClient(client.application, use_cookies=True)
    assert sign_in(client, "lan@cva.edu.vn", schools["ours"]).status_code == 302
    assert (
        sign_in(other, "lan@cva.edu.vn", schools["ours"], code_at(schools["ours"], 1)).status_code
        == 302
    )
    with app.app_context(), unit_of_work() as uow:
        school_auth.end_sessions(admin_id(app, "lan@cva.edu.vn"), datetime.now(UTC), uow)
        uow.commit()
    assert client.get("/school/api/session").status_code == 401
    assert other.get("/school/api/session").status_code == 401


def test_an_authenticator_code_is_accepted_once(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    secret = schools["ours"]
    used = code_at(secret)
    assert sign_in(client, "lan@cva.edu.vn", secret, used).status_code == 302
    client.post(
        "/school/logout", data={"csrf": client.get("/school/api/session").get_json()["csrf"]}
    )

    token = password_step(client, "lan@cva.edu.vn")
    again = client.post("/school/login/code", data={"csrf": token, "code": used})
    assert again.status_code == 401
    assert "Mã xác thực không đúng" in again.get_data(as_text=True)
    assert client.get("/school/").status_code == 302
    # The next step's code is new: the authenticator shows it within 30 seconds.
    fresh = client.post("/school/login/code", data={"csrf": token, "code": code_at(secret, 1)})
    assert (fresh.status_code, fresh.headers["Location"]) == (302, "/school/")
    assert client.get("/school/").status_code == 200


def test_wrong_codes_lock_the_accounts_second_factor_for_a_while(
    app: Flask, client: FlaskClient, schools: dict[str, str]
) -> None:
    secret = schools["ours"]
    token = password_step(client, "lan@cva.edu.vn")
    for _ in range(4):
        wrong = client.post("/school/login/code", data={"csrf": token, "code": wrong_code(secret)})
        assert wrong.status_code == 401
    locked = client.post("/school/login/code", data={"csrf": token, "code": wrong_code(secret)})
    assert locked.status_code == 429
    assert "quá nhiều lần" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 14 * 60
    right = client.post(
        "/school/login/code",
        data={"csrf": token, "code": code_at(secret)},
        headers={"Accept-Language": "en"},
    )
    assert right.status_code == 429  # the right code too, while the lock lasts
    assert "Too many wrong authenticator codes" in right.get_data(as_text=True)
    assert client.get("/school/").status_code == 302
    # Even after a new password step, from another browser.
    elsewhere = FlaskClient(client.application, use_cookies=True)
    assert sign_in(elsewhere, "lan@cva.edu.vn", secret, code_at(secret, 1)).status_code == 429

    other = FlaskClient(client.application, use_cookies=True)
    assert sign_in(other, "minh@x.edu.vn", schools["theirs"]).status_code == 302  # not locked

    with app.app_context(), unit_of_work() as uow:
        audited = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "second_factor_locked")
        ).all()
        assert [(a.actor, a.subject) for a in audited] == [
            (f"admin:{admin_id(app, 'lan@cva.edu.vn')}", "THPT-CVA")
        ]
        uow.session.execute(
            update(SchoolAdmin)
            .where(SchoolAdmin.email == "lan@cva.edu.vn")
            .values(code_locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        uow.commit()
    unlocked = client.post("/school/login/code", data={"csrf": token, "code": code_at(secret)})
    assert (unlocked.status_code, unlocked.headers["Location"]) == (302, "/school/")
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalar(select(SchoolAdmin).where(SchoolAdmin.email == "lan@cva.edu.vn"))
        assert admin is not None
        assert (admin.code_failures, admin.code_locked_until) == (0, None)


def test_the_administrator_decides_for_their_school_only(
    client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    rider = bearer(signed_up(client, sms))
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()
    other = FlaskClient(client.application, use_cookies=True)
    sign_in(other, "minh@x.edu.vn", schools["theirs"])
    assert other.get(f"/school/applications/{waiting['application_id']}").status_code == 404
    assert "Nguyễn" not in other.get("/school/").get_data(as_text=True)
    page = other.get("/school/")
    refused = other.post(
        f"/school/applications/{waiting['application_id']}/decide",
        data={"csrf": csrf(page), "action": "approve"},
    )
    assert refused.status_code == 404

    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    listed = client.get("/school/").get_data(as_text=True)
    assert "Nguyễn Văn An" in listed
    page = client.get(f"/school/applications/{waiting['application_id']}")
    empty = client.post(
        f"/school/applications/{waiting['application_id']}/decide",
        data={"csrf": csrf(page), "action": "reject", "reason": ""},
    )
    assert empty.status_code == 422
    done = client.post(
        f"/school/applications/{waiting['application_id']}/decide",
        data={"csrf": csrf(page), "action": "reject", "reason": "không học ở trường"},
    )
    assert done.status_code == 302
    shown = client.get("/api/v1/eligibility/applications", headers=rider).get_json()["data"][0]
    assert (shown["status"], shown["reason"]) == ("rejected", "không học ở trường")
    audit = client.get("/school/audit").get_data(as_text=True)
    assert "Từ chối đơn: Nguyễn Văn An · không học ở trường" in audit


def test_a_bad_roster_upload_lists_its_problems_and_keeps_the_roster(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    page = client.get("/school/roster")
    bad = ROSTER + "HS-009,,2010-13-01,Lớp 10,evening,2027-05-31\n"
    answer = client.post(
        "/school/roster",
        data={"csrf": csrf(page), "school_year": "2026-2027", "file": (_file(bad), "r.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "3 lỗi" in text
    assert "2010-13-01" in text
    good = client.post(
        "/school/roster",
        data={"csrf": csrf(page), "school_year": "2026-2027", "file": (_file(ROSTER), "r.csv")},
        content_type="multipart/form-data",
    )
    assert good.status_code == 200
    assert "Đã nhập 4 học sinh" in good.get_data(as_text=True)


def _file(text: str) -> Any:
    return io.BytesIO(text.encode("utf-8"))


def upload(client: FlaskClient, data: bytes) -> Any:
    """The roster page's form, for 2026-2027, with this file."""
    return client.post(
        "/school/roster",
        data={
            "csrf": csrf(client.get("/school/roster")),
            "school_year": "2026-2027",
            "file": (io.BytesIO(data), "roster.csv"),
        },
    )


def test_the_schools_api_answers_for_its_own_school_only(
    client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    assert client.get("/school/api/applications").status_code == 401
    rider = bearer(signed_up(client, sms))
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()

    other = FlaskClient(client.application, use_cookies=True)
    sign_in(other, "minh@x.edu.vn", schools["theirs"])
    assert other.get("/school/api/applications").get_json() == {"data": []}
    hidden = other.get(f"/school/api/applications/{waiting['application_id']}")
    assert (hidden.status_code, hidden.get_json()["code"]) == (404, "application_not_found")

    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    me = client.get("/school/api/session").get_json()
    assert me["school"] == "THPT-CVA"
    [listed] = client.get("/school/api/applications?status=pending").get_json()["data"]
    assert listed["full_name"] == "Nguyễn Văn An"
    shown = client.get(f"/school/api/applications/{waiting['application_id']}").get_json()
    assert shown["status"] == "pending"

    bad = ROSTER + "HS-009,,2010-13-01,Lớp 10,evening,2027-05-31\n"
    no_token = client.post(
        "/school/api/roster?year=2026-2027", data=bad.encode(), content_type="text/csv"
    )
    assert no_token.status_code == 400  # CSRF
    refused = client.post(
        "/school/api/roster?year=2026-2027",
        data=bad.encode(),
        content_type="text/csv",
        headers={"X-CSRF-Token": me["csrf"]},
    )
    assert (refused.status_code, refused.get_json()["code"]) == (422, "roster_invalid")
    assert {e["column"] for e in refused.get_json()["errors"]} == {
        "full_name",
        "date_of_birth",
        "programme",
    }
    taken = client.post(
        "/school/api/roster?year=2026-2027",
        data=ROSTER.encode(),
        content_type="text/csv",
        headers={"X-CSRF-Token": me["csrf"]},
    )
    assert (taken.status_code, taken.get_json()["rows"]) == (201, 4)


# Werkzeug's test client spools a large multipart body to a temporary file it never closes;
# the server side closes its own (see roster_upload).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_roster_larger_than_the_apis_body_limit_can_be_uploaded(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    token = client.get("/school/api/session").get_json()["csrf"]
    rows = [ROSTER.splitlines()[0]] + [
        f"SV-{n:06d},Sinh Viên Số {n},2004-01-01,Năm 1,university,2027-06-30" for n in range(45_000)
    ]
    body = ("\n".join(rows) + "\n").encode()
    assert len(body) > 2 * 1024 * 1024  # the API's usual limit
    taken = client.post(
        "/school/api/roster?year=2026-2027",
        data=body,
        content_type="text/csv",
        headers={"X-CSRF-Token": token},
    )
    assert (taken.status_code, taken.get_json()["rows"]) == (201, 45_000)
    page = client.get("/school/roster")
    form = client.post(
        "/school/roster",
        data={
            "csrf": csrf(page),
            "school_year": "2026-2027",
            "file": (_file(body.decode()), "r.csv"),
        },
        content_type="multipart/form-data",
    )
    assert form.status_code == 200
    # Elsewhere the usual limit holds.
    assert client.post("/school/logout", data=b"x" * (3 * 1024 * 1024)).status_code == 413
    del form
    gc.collect()  # the test client's leaked temporary file goes now, under this test's filter


def test_times_on_the_school_pages_are_hanoi_times(
    app: Flask, client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    """Issue 16, finding 1: an application sent at 08:41 Hanoi time (01:41 UTC) shows 08:41,
    and one sent before 07:00 in Hanoi is dated that Hanoi day, not the UTC day before."""
    rider = bearer(signed_up(client, sms))
    sent = apply(client, rider, date_of_birth="2010-05-02").get_json()
    with app.app_context(), unit_of_work() as uow:
        application = uow.session.get(Application, sent["application_id"])
        assert application is not None
        application.created_at = datetime(2026, 12, 7, 23, 41, tzinfo=UTC)  # 06:41 on the 8th
        uow.commit()
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    queue = client.get("/school/?status=pending").get_data(as_text=True)
    assert "08/12/2026" in queue
    assert "07/12/2026" not in queue
    page = client.get(f"/school/applications/{sent['application_id']}").get_data(as_text=True)
    assert "08/12/2026 06:41" in page


def test_errors_on_the_school_pages_are_pages_with_a_way_back(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    """Issue 16, finding 6: an unknown application, a stale form and too many tries showed
    JSON to the clerk."""
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    missing = client.get("/school/applications/app_unknown")
    assert (missing.status_code, missing.mimetype) == (404, "text/html")
    text = missing.get_data(as_text=True)
    assert "Không tìm thấy" in text
    assert 'href="/school/"' in text
    assert 'role="alert"' in text
    stale = client.post("/school/logout", data={"csrf": "from another window"})
    assert (stale.status_code, stale.mimetype) == (400, "text/html")
    assert "Biểu mẫu đã cũ" in stale.get_data(as_text=True)
    english = client.get("/school/applications/app_unknown?lang=en").get_data(as_text=True)
    assert "Not found" in english
    # The school's JSON API keeps answering problem+json.
    api = client.get("/school/api/applications/app_unknown")
    assert (api.status_code, api.mimetype) == (404, "application/problem+json")


def test_too_many_sign_in_tries_is_a_page_saying_how_long_to_wait(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    answers = [
        client.post(
            "/school/login",
            data={"csrf": csrf(client.get("/school/login")), "email": "x@y.vn", "password": "no"},
        )
        for _ in range(6)
    ]
    limited = answers[-1]
    assert (limited.status_code, limited.mimetype) == (429, "text/html")
    assert "Quá nhiều lần thử" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert 'href="/school/login"' in limited.get_data(as_text=True)


def test_the_queue_says_what_it_shows_and_the_empty_lists_say_what_is_empty(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    """Issue 16, finding 9: the heading followed no filter, the button read "OK", and the
    students page said there were no applications."""
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    waiting = client.get("/school/").get_data(as_text=True)
    assert "<h1>Đơn chờ duyệt</h1>" in waiting
    assert "Không có đơn nào chờ duyệt." in waiting
    assert ">Tìm</button>" in waiting
    assert '<label for="status">' in waiting  # the filter has a label (finding 8)
    rejected = client.get("/school/?status=rejected&lang=en").get_data(as_text=True)
    assert "<h1>Rejected applications</h1>" in rejected
    assert "No applications were rejected." in rejected
    students = client.get("/school/students").get_data(as_text=True)
    assert "No students have a student pass yet." in students


def test_the_roster_page_shows_the_roster_in_force_and_that_an_upload_replaces_it(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    page = client.get("/school/roster?lang=en").get_data(as_text=True)
    assert "Roster in force: 4 students for 2026-2027." in page
    assert "Uploading a file replaces the whole roster of that school year." in page


def test_a_decision_is_confirmed_by_a_flashed_message_not_one_in_the_address(
    client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    rider = bearer(signed_up(client, sms))
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    url = f"/school/applications/{waiting['application_id']}"
    done = client.post(
        f"{url}/decide",
        data={"csrf": csrf(client.get(url)), "action": "reject", "reason": "không học ở trường"},
    )
    assert done.headers["Location"] == url  # no ?message= to forge in a link
    assert "Đã ghi nhận quyết định." in client.get(url).get_data(as_text=True)
    assert "Đã ghi nhận quyết định." not in client.get(url).get_data(as_text=True)  # once
    forged = client.get(f"{url}?message=Hãy chuyển tiền vào tài khoản 123").get_data(as_text=True)
    assert "chuyển tiền" not in forged


def test_english_stays_through_sign_in_and_sign_out(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    """Issue 16, finding 5: the language was lost between the sign-in steps."""
    client.get("/school/login?lang=en")
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    assert '<html lang="en">' in client.get("/school/").get_data(as_text=True)
    page = client.get("/school/")
    client.post("/school/logout", data={"csrf": csrf(page)})
    assert "Sign in" in client.get("/school/login").get_data(as_text=True)


def test_a_wrong_password_keeps_the_email_and_is_announced_as_an_error(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    """Issue 16, finding 7: the e-mail was emptied and the message was green and silent."""
    wrong = client.post(
        "/school/login",
        data={
            "csrf": csrf(client.get("/school/login")),
            "email": "lan@cva.edu.vn",
            "password": "not it",
        },
    ).get_data(as_text=True)
    assert 'value="lan@cva.edu.vn"' in wrong
    assert '<p class="problem" role="alert">Sai thư điện tử hoặc mật khẩu.</p>' in wrong
    code_step = client.get("/school/login/code")
    assert code_step.status_code == 302  # the password was wrong: no code step


def test_the_code_step_says_where_the_code_comes_from_and_takes_the_focus(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    password_step(client, "lan@cva.edu.vn")
    page = client.get("/school/login/code").get_data(as_text=True)
    assert re.search(r'<input [^>]*name="code"[^>]*autofocus', page)
    assert "ứng dụng xác thực trên điện thoại" in page


def test_every_page_has_a_skip_link_and_labelled_navigation(
    client: FlaskClient, schools: dict[str, str]
) -> None:
    """Issue 16, finding 8 (the parts a test client can see; axe-core runs in the browser)."""
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    for path in ("/school/", "/school/roster", "/school/students", "/school/audit"):
        page = client.get(path).get_data(as_text=True)
        assert '<a class="skip" href="#main">' in page
        assert '<main id="main"' in page
        assert page.count("<nav") == page.count("<nav aria-label=") + page.count(
            '<nav class="main" aria-label='
        )


def test_each_refused_decision_says_its_own_cause_and_a_reason_is_never_cut(
    client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    """Issue 16, finding 3: one combined message in the success style, and a reason cut at 40
    characters mid-word."""
    rider = bearer(signed_up(client, sms))
    waiting = apply(client, rider, date_of_birth="2010-05-02").get_json()
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    url = f"/school/applications/{waiting['application_id']}"

    def decide(**form: str) -> Any:
        return client.post(f"{url}/decide", data={"csrf": csrf(client.get(url)), **form})

    no_reason = decide(action="reject", reason="  ")
    assert no_reason.status_code == 422
    assert '<p class="problem" role="alert">Hãy ghi lý do' in no_reason.get_data(as_text=True)
    past = decide(action="approve", valid_until="2020-01-01")
    assert past.status_code == 422
    assert "Ngày hết hiệu lực phải từ hôm nay" in past.get_data(as_text=True)
    too_long = "x" * 201
    refused = decide(action="reject", reason=too_long)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Lý do dài quá 200 ký tự" in text
    assert too_long in text  # what was typed is kept to shorten
    reason = (
        "Em chưa có tên trong danh sách học sinh của trường năm học này; hãy liên hệ phòng "
        "giáo vụ để được xác nhận lại hồ sơ nhập học trước khi nộp đơn mới."
    )
    assert 40 < len(reason) <= 200
    assert decide(action="reject", reason=reason).status_code == 302
    shown = client.get("/api/v1/eligibility/applications", headers=rider).get_json()["data"][0]
    assert (shown["status"], shown["reason"]) == ("rejected", reason)  # whole, not cut


def test_the_pages_speak_the_clerks_language_not_codes(
    client: FlaskClient, sms: SmsOutbox, schools: dict[str, str]
) -> None:
    """Issue 16, finding 2: reasons, the audit log and roster problems showed codes, ids and
    English inside the Vietnamese pages."""
    rider = bearer(signed_up(client, sms))
    on_roster = apply(client, rider, date_of_birth="2010-05-01").get_json()  # HS-001 matches
    sign_in(client, "lan@cva.edu.vn", schools["ours"])
    page = client.get(f"/school/applications/{on_roster['application_id']}").get_data(as_text=True)
    assert "Có tên trong danh sách của trường" in page
    assert "on_roster" not in page
    audit = client.get("/school/audit").get_data(as_text=True)
    for code in ("admin:", "rider:", "app_", "application_", "sign_in", "password and TOTP"):
        assert code not in audit, code
    assert 'Cô Lan</td><td data-label="Nội dung">Đăng nhập' in audit
    assert "Duyệt đơn: Nguyễn Văn An · Có tên trong danh sách của trường · đến 31/05/2031" in audit
    bad = (
        "student_code,full_name,date_of_birth,level,programme\n"
        "HS-1,An,31/02/2010,Lớp 10,phổ thông\n"
    )
    answer = upload(client, bad.encode())
    text = answer.get_data(as_text=True)
    assert "Ngày kết thúc học" in text
    assert "Thiếu cột này." in text
    assert "missing column" not in text
    wrong = (
        "student_code,full_name,date_of_birth,level,programme,enrolment_end\n"
        "HS-1,An,31/02/2010,Lớp 10,trường làng,2027-05-31\n"
    )
    answer = upload(client, wrong.encode())
    text = answer.get_data(as_text=True)
    assert "“31/02/2010” không phải ngày có thật" in text
    assert "phổ thông, đại học" in text  # the accepted words are listed
    assert "is not a date" not in text
    utf16 = upload(client, wrong.encode("utf-16")).get_data(as_text=True)
    assert "Cả tệp" in utf16
    assert ">0<" not in utf16
