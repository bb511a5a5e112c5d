"""A school's administrator in headless Chromium (Playwright, Debian's chromium), end to end.

gunicorn serves the app; the rider side goes through the API. The clerk signs in with the
password and a TOTP code, uploads the roster, sees a student approved by it, approves one
application and rejects another with a reason, and signs out; the riders' API shows each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.test_bus_day import Backend
from tests.e2e.test_rider_app import call, code_from_log
from tests.support.browser import launch, serious_violations
from tests.support.required import chromium
from tests.support.school_admins import earlier_code, enrol_over_http, enrolment_link

PASSWORD = "a long enough secret"
ROSTER = (
    "student_code,full_name,date_of_birth,level,programme,enrolment_end\n"
    "HS-001,Nguyễn Văn An,2010-05-01,Lớp 10,general_school,2031-05-31\n"
    "HS-002,Trần Thị Bình,31/12/2009,Lớp 11,phổ thông,2031-05-31\n"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Backend, str]]:
    chromium()  # before the server starts: without a browser there is nothing to test
    backend = Backend(tmp_path)
    backend.flask("db", "upgrade")
    backend.flask("schools", "create", "THPT-CVA", "THPT Chu Văn An")
    made = backend.flask("schools", "add-admin", "THPT-CVA", "lan@cva.edu.vn", "--name", "Cô Lan")
    backend.start()
    try:
        secret = enrol_over_http(backend.url, enrolment_link(made), PASSWORD)
        yield backend, secret
    finally:
        backend.stop()


RIDER_PASSWORD = "xe buyt 32 Cau Giay"


def sign_in(page: Any, backend: Backend, secret: str, path: str = "/school/login") -> None:
    """The clerk signs in: e-mail and password, then the authenticator's code now."""
    page.goto(backend.url + path)
    page.fill("input[name=email]", "lan@cva.edu.vn")
    page.fill("input[name=password]", PASSWORD)
    page.click("#next")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("#next")


def rider(backend: Backend, phone: str) -> str:
    status, _ = call(
        backend,
        "POST",
        "/api/v1/auth/register",
        {
            "phone": phone,
            "password": RIDER_PASSWORD,
            "consent": True,
        },
    )
    assert status == 202
    e164 = "+84" + phone.removeprefix("0")
    status, tokens = call(
        backend,
        "POST",
        "/api/v1/auth/verify",
        {
            "phone": phone,
            "code": code_from_log(backend.home, e164),
            "password": RIDER_PASSWORD,  # the same as at registration
        },
    )
    assert status == 200, tokens
    return str(tokens["access_token"])


def apply(backend: Backend, token: str, **body: str) -> dict[str, Any]:
    status, answer = call(
        backend,
        "POST",
        "/api/v1/eligibility/applications",
        {
            "school_code": "THPT-CVA",
            **body,
        },
        token,
    )
    assert status == 201, answer
    return dict(answer)


def test_a_clerk_confirms_students_in_the_browser(
    served: tuple[Backend, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    backend, secret = served
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    an, binh, cuong = (rider(backend, p) for p in ("0912345678", "0987654321", "0901234567"))

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(locale="vi-VN")
        sign_in(page, backend, secret)
        expect(page.locator("h1")).to_have_text("Đơn chờ duyệt")

        page.click("text=Danh sách học sinh")
        page.fill("input[name=school_year]", "2026-2027")
        page.set_input_files("input[name=file]", str(roster))
        page.click("#upload")
        expect(page.locator("#report")).to_contain_text("Đã nhập 2 học sinh")

        # An is on the roster: approved by it at once. Bình typed another birthday, and
        # Cường is not on the roster: both wait for the clerk.
        assert (
            apply(
                backend,
                an,
                student_code="HS-001",
                full_name="Nguyen Van An",
                date_of_birth="2010-05-01",
            )["status"]
            == "approved"
        )
        assert (
            apply(
                backend,
                binh,
                student_code="HS-002",
                full_name="Trần Thị Bình",
                date_of_birth="2009-12-30",
            )["status"]
            == "pending"
        )
        assert (
            apply(
                backend,
                cuong,
                student_code="HS-077",
                full_name="Lê Văn Cường",
                date_of_birth="2008-03-03",
            )["status"]
            == "pending"
        )

        page.click("text=Đang được hưởng ưu đãi")
        expect(page.locator("table")).to_contain_text("Nguyen Van An")

        page.click("text=Đơn chờ duyệt")
        page.click("text=Trần Thị Bình")
        page.click("#approve")
        expect(page.locator("#status")).to_have_text("Đã duyệt")

        page.click("text=Đơn chờ duyệt")
        page.click("text=Lê Văn Cường")
        page.fill("#reject-reason", "không có tên trong trường")
        page.click("#reject")
        expect(page.locator("#status")).to_have_text("Đã từ chối")

        # A copy of the session cookie, as someone who got hold of it would keep it.
        [kept] = [c for c in page.context.cookies() if c["name"] == "school_session"]
        page.click("#sign-out")
        expect(page.locator("h1")).to_have_text("Đăng nhập")
        page.goto(backend.url + "/school/")
        expect(page.locator("h1")).to_have_text("Đăng nhập")  # signed out for real
        page.context.add_cookies(
            [
                {
                    "name": kept["name"],
                    "value": kept["value"],
                    "domain": kept["domain"],
                    "path": kept["path"],
                }
            ]
        )
        page.goto(backend.url + "/school/")
        expect(page.locator("h1")).to_have_text("Đăng nhập")  # the copy ended with the session
        browser.close()

    outcomes = {}
    for name, token in (("an", an), ("binh", binh), ("cuong", cuong)):
        _, listed = call(backend, "GET", "/api/v1/eligibility/applications", token=token)
        outcomes[name] = (listed["data"][0]["status"], listed["data"][0]["reason"])
    assert outcomes == {
        "an": ("approved", "on_roster"),
        "binh": ("approved", "confirmed_by_school"),
        "cuong": ("rejected", "không có tên trong trường"),
    }


def test_no_school_page_scrolls_sideways_on_a_phone(
    served: tuple[Backend, str], tmp_path: Path
) -> None:
    """Issue 16, finding 4: at 375 px the tables scrolled sideways, and in English "Sign out"
    was pushed off the screen."""
    from playwright.sync_api import sync_playwright

    backend, secret = served
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    token = rider(backend, "0912345678")
    apply(backend, token, student_code="HS-077", full_name="Lê Văn Cường",
          date_of_birth="2008-03-03")  # fmt: skip
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 375, "height": 740}, locale="en-GB")
        sign_in(page, backend, secret, "/school/login?lang=en")
        page.goto(backend.url + "/school/roster")
        page.fill("input[name=school_year]", "2026-2027")
        page.set_input_files("input[name=file]", str(roster))
        page.click("#upload")
        wide = []
        for path in ("/school/", "/school/?status=all", "/school/roster", "/school/students",
                     "/school/audit"):  # fmt: skip
            page.goto(backend.url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                wide.append((path, overflow))
            box = page.locator("#sign-out").bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 375, f"{path}: Sign out is off the screen"
        browser.close()
    assert wide == []


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
def test_axe_finds_nothing_serious_on_any_school_page(
    served: tuple[Backend, str], tmp_path: Path, width: int, height: int
) -> None:
    """Issue 16, finding 8: axe-core on every school page, on a desk and on a phone."""
    from playwright.sync_api import sync_playwright

    backend, secret = served
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    token = rider(backend, "0912345678")
    waiting = apply(backend, token, student_code="HS-077", full_name="Lê Văn Cường",
                    date_of_birth="2008-03-03")  # fmt: skip
    found: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        page.goto(backend.url + "/school/login")
        found += serious_violations(page)
        page.fill("input[name=email]", "lan@cva.edu.vn")
        page.fill("input[name=password]", "wrong")
        page.click("#next")
        found += serious_violations(page)  # the error state
        page.fill("input[name=password]", PASSWORD)
        page.click("#next")
        found += serious_violations(page)  # the code step
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("#next")
        page.goto(backend.url + "/school/roster")
        page.fill("input[name=school_year]", "2026-2027")
        page.set_input_files("input[name=file]", str(roster))
        page.click("#upload")
        found += serious_violations(page)
        for path in ("/school/", "/school/?status=all&lang=en", "/school/students",
                     "/school/audit", f"/school/applications/{waiting['application_id']}",
                     "/school/applications/app_missing"):  # fmt: skip
            page.goto(backend.url + path)
            found += serious_violations(page)
        browser.close()
    assert found == []


def test_the_axe_check_itself_reports_serious_problems() -> None:
    """So that an empty list above means the pages, not a check that stopped looking."""
    chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.set_content("<html><body><img src='x.png'><select><option>a</option></select>")
        found = serious_violations(page)
        browser.close()
    assert {line.split(": ")[1].split(" ")[0] for line in found} >= {"image-alt", "select-name"}


SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_screenshots_of_the_school_pages(served: tuple[Backend, str], tmp_path: Path) -> None:
    """The school pages at 1280x800 and 375x740, as docs/screenshots shows them.

    Written to a scratch folder; `SCREENSHOTS=1` writes them to docs/screenshots instead, which
    is how the README's pictures are refreshed."""
    import os

    from playwright.sync_api import sync_playwright

    backend, secret = served
    out = SHOTS if os.environ.get("SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    for phone, name in (("0912345678", "Lê Văn Cường"), ("0987654321", "Phạm Thu Hà")):
        apply(backend, rider(backend, phone), student_code="HS-077", full_name=name,
              date_of_birth="2008-03-03")  # fmt: skip
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for step, (label, size) in enumerate((("desk", (1280, 800)), ("phone", (375, 740)))):
            page = browser.new_page(viewport={"width": size[0], "height": size[1]}, locale="vi-VN")
            page.goto(backend.url + "/school/login")
            page.screenshot(path=str(out / f"school-login-{label}.png"))
            page.fill("input[name=email]", "lan@cva.edu.vn")
            page.fill("input[name=password]", PASSWORD)
            page.click("#next")
            # A code works once: the second sign-in takes the next time step's code.
            page.fill("input[name=code]", pyotp.TOTP(secret).at(time.time() + 30 * step))
            page.click("#next")
            if label == "desk":
                page.goto(backend.url + "/school/roster")
                page.fill("input[name=school_year]", "2026-2027")
                page.set_input_files("input[name=file]", str(roster))
                page.click("#upload")
            page.goto(backend.url + "/school/")
            page.screenshot(path=str(out / f"school-queue-{label}.png"), full_page=True)
            page.click("text=Lê Văn Cường")
            page.screenshot(path=str(out / f"school-application-{label}.png"), full_page=True)
            page.goto(backend.url + "/school/audit")
            page.screenshot(path=str(out / f"school-audit-{label}.png"), full_page=True)
            written += [f"school-{n}-{label}.png" for n in ("login", "queue", "application",
                                                             "audit")]  # fmt: skip
            page.close()
        browser.close()
    assert all((out / name).stat().st_size > 5_000 for name in written)


def test_a_reason_field_counts_its_characters_as_the_clerk_types(
    served: tuple[Backend, str],
) -> None:
    """Issue 16, finding 3: room for a real reason, with a counter, under the strict CSP."""
    from playwright.sync_api import expect, sync_playwright

    backend, secret = served
    waiting = apply(backend, rider(backend, "0912345678"), student_code="HS-077",
                    full_name="Lê Văn Cường", date_of_birth="2008-03-03")  # fmt: skip
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(locale="vi-VN")
        errors: list[str] = []
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        sign_in(page, backend, secret)
        page.goto(backend.url + f"/school/applications/{waiting['application_id']}")
        expect(page.locator("#reject-reason-count")).to_have_text("0 / 200")
        page.fill("#reject-reason", "Không có tên trong danh sách")
        expect(page.locator("#reject-reason-count")).to_have_text("28 / 200")
        browser.close()
    # No CSP refusal and no script error (a missing favicon is the browser's own request).
    assert [e for e in errors if "Content Security Policy" in e or "Uncaught" in e] == []


@pytest.mark.parametrize(("label", "width", "height"), [("desk", 1280, 800), ("phone", 375, 740)])
def test_a_new_clerk_sets_up_their_sign_in_from_the_operator_s_link(
    served: tuple[Backend, str], tmp_path: Path, label: str, width: int, height: int
) -> None:
    """Issue 16, finding 7: the enrolment page, its refusal and a used link, each checked by
    axe-core and for sideways scroll; then the clerk is signed in. `SCREENSHOTS=1` writes the
    page to docs/screenshots."""
    import os

    from playwright.sync_api import expect, sync_playwright

    backend, _ = served
    email = f"minh-{label}@cva.edu.vn"
    made = backend.flask("schools", "add-admin", "THPT-CVA", email, "--name", "Thầy Minh")
    link = backend.url + enrolment_link(made)
    out = SHOTS if os.environ.get("SCREENSHOTS") else tmp_path
    found: list[str] = []
    wide: list[tuple[str, int]] = []

    def look(page: Any, what: str) -> None:
        found.extend(serious_violations(page))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            wide.append((what, overflow))

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="vi-VN", bypass_csp=True
        )
        page = context.new_page()
        page.goto(link)
        assert page.url == backend.url + "/school/enrol"
        expect(page.locator("figure.qr-code svg")).to_be_visible()
        look(page, "enrol")
        page.screenshot(path=str(out / f"school-enrol-{label}.png"), full_page=True)
        secret = page.locator("#secret").inner_text().replace(" ", "")
        page.fill("#password", "a long enough secret")
        page.fill("#password-again", "a long enough secret, not")
        page.fill("#code", earlier_code(secret))
        page.click("#finish")
        expect(page.locator("#problem")).to_have_text("Hai mật khẩu không giống nhau.")
        look(page, "refused")
        page.fill("#password", "a long enough secret")
        page.fill("#password-again", "a long enough secret")
        page.fill("#code", earlier_code(secret))
        page.click("#finish")
        expect(page.locator("h1")).to_have_text("Đơn chờ duyệt")
        expect(page.locator("p.message.success")).to_contain_text("Đã thiết lập xong")
        other = browser.new_context(
            viewport={"width": width, "height": height}, locale="vi-VN", bypass_csp=True
        ).new_page()
        other.goto(link)
        expect(other.locator("h1")).to_have_text("Liên kết không còn dùng được")
        look(other, "used")
        browser.close()
    assert found == []
    assert wide == []
