"""The school's web pages: an administrator signs in (password, then a TOTP code) and decides.

Server-rendered (Jinja, no build step), Vietnamese by default with English (?lang=en). Flask's
signed cookie (HttpOnly, SameSite=Lax, Secure in production) carries the CSRF token, the step
between password and code, and the id of a session kept on the server
(transit/services/school_auth.py), which signing out, 30 idle minutes or 8 hours end for every
copy of the cookie; every form carries the CSRF token. An administrator sees only their own
school: any other school's application is "not found".
"""

from __future__ import annotations

import contextlib
import hmac
import math
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from api.auth import derived_key, vault
from api.deps import unit_of_work
from api.limits import limiter
from api.pages import hanoi_date
from api.problems import http_exception_problem, problem
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    Application,
    ApplicationStatus,
    AuditEntry,
    Roster,
    School,
    SchoolAdmin,
)
from transit.names import Keys
from transit.services import eligibility, school_auth, schools
from transit.uow import UnitOfWork

blp = Blueprint(
    "school",
    __name__,
    url_prefix="/school",
    template_folder="templates",
    static_folder="static",
)

PENDING_SECONDS = 5 * 60  # between the password and the TOTP code
LOGINS_PER_EMAIL = "5 per minute;20 per hour"
LOGINS_PER_CLIENT = "60 per hour"
MAX_ROSTER_BYTES = 20 * 1024 * 1024


TEXT: dict[str, tuple[str, str]] = {
    "title": ("Xác nhận học sinh, sinh viên", "Student confirmations"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "email": ("Thư điện tử", "E-mail"),
    "password": ("Mật khẩu", "Password"),
    "code": ("Mã xác thực (6 chữ số)", "Authenticator code (6 digits)"),
    "next": ("Tiếp tục", "Continue"),
    "code_help": (
        "Mở ứng dụng xác thực trên điện thoại (Google Authenticator, Microsoft Authenticator, "
        "…) và nhập 6 chữ số đang hiện cho tài khoản của trường.",
        "Open the authenticator app on your phone (Google Authenticator, Microsoft "
        "Authenticator, …) and type the 6 digits it shows for the school's account.",
    ),
    "skip": ("Bỏ qua, đến nội dung chính", "Skip to the main content"),
    "menu": ("Trình đơn", "Menu"),
    "languages": ("Ngôn ngữ", "Languages"),
    "wrong_login": ("Sai thư điện tử hoặc mật khẩu.", "Wrong e-mail or password."),
    "wrong_code": ("Mã xác thực không đúng.", "Wrong authenticator code."),
    "code_locked": (
        "Nhập sai mã xác thực quá nhiều lần: bước này tạm khóa cho tài khoản. "
        "Hãy thử lại sau {minutes} phút.",
        "Too many wrong authenticator codes: this step is locked for the account. "
        "Try again in {minutes} minutes.",
    ),
    "expired": ("Phiên đã hết hạn, hãy đăng nhập lại.", "Session expired: sign in again."),
    "queue": ("Đơn chờ duyệt", "Applications"),
    "roster": ("Danh sách học sinh", "Roster"),
    "students": ("Đang được hưởng ưu đãi", "Eligible students"),
    "audit": ("Nhật ký", "Audit log"),
    "sign_out": ("Đăng xuất", "Sign out"),
    "name": ("Họ tên", "Full name"),
    "student_code": ("Mã học sinh", "Student code"),
    "born": ("Ngày sinh", "Date of birth"),
    "status": ("Trạng thái", "Status"),
    "reason": ("Lý do", "Reason"),
    "valid_until": ("Hiệu lực đến", "Valid until"),
    "applied": ("Ngày nộp", "Applied"),
    "approve": ("Duyệt", "Approve"),
    "reject": ("Từ chối", "Reject"),
    "revoke": ("Thu hồi", "Revoke"),
    "all": ("Tất cả", "All"),
    "pending": ("Chờ duyệt", "Pending"),
    "approved": ("Đã duyệt", "Approved"),
    "rejected": ("Đã từ chối", "Rejected"),
    "revoked": ("Đã thu hồi", "Revoked"),
    "none": ("Không có đơn nào.", "No applications."),
    "none_pending": ("Không có đơn nào chờ duyệt.", "No applications are waiting."),
    "none_approved": ("Chưa có đơn nào được duyệt.", "No applications have been approved."),
    "none_rejected": ("Không có đơn nào bị từ chối.", "No applications were rejected."),
    "none_revoked": ("Không có ưu đãi nào bị thu hồi.", "No passes were revoked."),
    "no_students": (
        "Chưa có học sinh nào đang được hưởng ưu đãi.",
        "No students have a student pass yet.",
    ),
    "queue_pending": ("Đơn chờ duyệt", "Applications waiting"),
    "queue_approved": ("Đơn đã duyệt", "Approved applications"),
    "queue_rejected": ("Đơn đã từ chối", "Rejected applications"),
    "queue_revoked": ("Ưu đãi đã thu hồi", "Revoked passes"),
    "queue_all": ("Tất cả đơn", "All applications"),
    "search": ("Tìm", "Search"),
    "show": ("Hiển thị", "Show"),
    "search_label": ("Tìm theo họ tên hoặc mã học sinh", "Search by name or student code"),
    "roster_replaces": (
        "Tải lên một tệp sẽ thay toàn bộ danh sách của năm học đó.",
        "Uploading a file replaces the whole roster of that school year.",
    ),
    "roster_in_force": (
        "Danh sách đang áp dụng: {rows} học sinh, năm học {year}.",
        "Roster in force: {rows} students for {year}.",
    ),
    "roster_none": ("Chưa có danh sách nào.", "No roster has been uploaded yet."),
    "upload": ("Tải lên", "Upload"),
    "school_year": ("Năm học", "School year"),
    "file": ("Tệp CSV", "CSV file"),
    "imported": (
        "Đã nhập {rows} học sinh cho năm học {year}.",
        "Imported {rows} students for {year}.",
    ),
    "refused": (
        "Tệp bị từ chối, danh sách cũ vẫn giữ nguyên. {count} lỗi:",
        "File refused; the roster in force is unchanged. {count} problem(s):",
    ),
    "row": ("Dòng", "Row"),
    "column": ("Cột", "Column"),
    "when": ("Thời gian", "When"),
    "who": ("Người thực hiện", "Who"),
    "what": ("Nội dung", "What"),
    "decided": ("Đã ghi nhận quyết định.", "Decision recorded."),
    "refused_no_reason": (
        "Hãy ghi lý do: học sinh sẽ đọc lý do này trong ứng dụng.",
        "Write a reason: the student reads it in the app.",
    ),
    "refused_reason_too_long": (
        "Lý do dài quá {limit} ký tự. Hãy viết ngắn lại; chưa có gì được lưu.",
        "The reason is longer than {limit} characters. Shorten it; nothing was saved.",
    ),
    "refused_date": (
        "Ngày hết hiệu lực phải từ hôm nay đến tối đa 8 năm sau.",
        "The last valid day must be from today to at most 8 years on.",
    ),
    "refused_decided": (
        "Đơn này đã được quyết định (có thể ở một cửa sổ khác). Trang đã được cập nhật.",
        "This application was decided already (perhaps in another window). The page is current.",
    ),
    "required": ("bắt buộc", "required"),
    "reason_help": (
        "Học sinh sẽ đọc lý do này. Tối đa {limit} ký tự.",
        "The student reads this. At most {limit} characters.",
    ),
    "valid_until_help": (
        "Để trống: đến hết năm học của trường.",
        "Leave empty: to the end of the school's year.",
    ),
    "error_400": ("Biểu mẫu đã cũ", "This form is out of date"),
    "error_400_detail": (
        "Trang đã mở quá lâu hoặc ở một cửa sổ khác. Hãy mở lại trang và làm lại; "
        "chưa có gì thay đổi.",
        "The page was open too long or in another window. Open it again and redo the step; "
        "nothing was changed.",
    ),
    "error_404": ("Không tìm thấy", "Not found"),
    "error_404_detail": (
        "Không có đơn hoặc trang này trong trường của bạn.",
        "There is no such application or page for your school.",
    ),
    "error_413": ("Tệp quá lớn", "File too large"),
    "error_413_detail": (
        "Tệp lớn hơn 20 MB. Hãy chia nhỏ hoặc bỏ các cột thừa.",
        "The file is over 20 MB. Split it or drop extra columns.",
    ),
    "error_429": ("Quá nhiều lần thử", "Too many tries"),
    "error_429_detail": (
        "Hãy đợi {minutes} phút rồi thử lại.",
        "Wait {minutes} minutes and try again.",
    ),
    "error_other": ("Đã có lỗi", "Something went wrong"),
    "error_other_detail": (
        "Không thực hiện được yêu cầu; chưa có gì thay đổi. Hãy thử lại sau.",
        "The request could not be done; nothing was changed. Try again later.",
    ),
    "back_to_queue": ("Quay lại danh sách đơn", "Back to the applications"),
    "back_to_login": ("Quay lại trang đăng nhập", "Back to sign in"),
    # Roster problems, by their code (transit.services.schools.RowError).
    "whole_file": ("Cả tệp", "Whole file"),
    "col_student_code": ("Mã học sinh", "Student code"),
    "col_full_name": ("Họ tên", "Full name"),
    "col_date_of_birth": ("Ngày sinh", "Date of birth"),
    "col_level": ("Lớp / khóa", "Level"),
    "col_programme": ("Hệ đào tạo", "Programme"),
    "col_enrolment_end": ("Ngày kết thúc học", "End of enrolment"),
    "col_school_year": ("Năm học", "School year"),
    "problem_school_year": (
        "Năm học \u201c{value}\u201d phải viết như 2026-2027.",
        "The school year \u201c{value}\u201d must be written like 2026-2027.",
    ),
    "problem_not_text": ("Tệp không phải văn bản.", "The file is not text."),
    "problem_not_utf8": (
        "Tệp không ở dạng UTF-8: trong Excel chọn Lưu thành \u201cCSV UTF-8\u201d.",
        "The file is not UTF-8: in Excel, Save As \u201cCSV UTF-8\u201d.",
    ),
    "problem_too_large": ("Tệp lớn hơn 20 MB.", "The file is larger than 20 MB."),
    "problem_not_csv": ("Tệp không phải CSV.", "The file is not a CSV file."),
    "problem_missing_column": ("Thiếu cột này.", "This column is missing."),
    "problem_unknown_column": (
        "Cột này không có trong mẫu.",
        "This column is not in the template.",
    ),
    "problem_too_many_rows": (
        "Danh sách có tối đa {limit} học sinh.",
        "A roster has at most {limit} students.",
    ),
    "problem_extra_cells": (
        "Dòng có nhiều ô hơn số cột.",
        "The row has more cells than there are columns.",
    ),
    "problem_duplicate": ("Trùng học sinh ở dòng {row}.", "The same student as on row {row}."),
    "problem_empty": ("Danh sách không có học sinh nào.", "The roster has no students."),
    "problem_length": ("Cần từ {low} đến {high} ký tự.", "Needs {low} to {high} characters."),
    "problem_birthday": (
        "{value} không phải ngày sinh của học sinh.",
        "{value} is not a student's birthday.",
    ),
    "problem_programme": (
        "\u201c{value}\u201d không phải hệ đào tạo. Viết một trong: phổ thông, đại học, "
        "chính quy, cao đẳng, trung cấp, dạy nghề, vừa học vừa làm.",
        "\u201c{value}\u201d is not a programme. Write one of: phổ thông, đại học, chính "
        "quy, cao đẳng, trung cấp, dạy nghề, vừa học vừa làm.",
    ),
    "problem_enrolment_end": (
        "{value} không thuộc năm học này.",
        "{value} is outside this school year.",
    ),
    "problem_date": (
        "\u201c{value}\u201d không phải ngày có thật (viết 31/05/2010 hoặc 2010-05-31).",
        "\u201c{value}\u201d is not a real date (write 31/05/2010 or 2010-05-31).",
    ),
    # Why an application was decided as it was, when the system wrote it.
    "reason_on_roster": ("Có tên trong danh sách của trường", "On the school's roster"),
    "reason_confirmed_by_school": ("Trường đã xác nhận", "Confirmed by the school"),
    "reason_work_study": (
        "Hệ vừa học vừa làm không được ưu đãi",
        "Work-study students are not eligible",
    ),
    "reason_enrolment_ended": ("Đã hết thời gian học", "Enrolment has ended"),
    # The audit log.
    "actor_rider": ("Học sinh (qua ứng dụng)", "The student (in the app)"),
    "actor_system": ("Hệ thống", "The system"),
    "action_application_pending": ("Đơn mới chờ duyệt", "New application waiting"),
    "action_application_approved": ("Duyệt đơn", "Application approved"),
    "action_application_rejected": ("Từ chối đơn", "Application rejected"),
    "action_application_revoked": ("Thu hồi ưu đãi", "Student pass revoked"),
    "action_roster": ("Tải lên danh sách", "Roster uploaded"),
    "action_sign_in": ("Đăng nhập", "Signed in"),
    "action_sign_out": ("Đăng xuất", "Signed out"),
    "action_second_factor_locked": (
        "Tạm khóa bước mã xác thực (nhập sai nhiều lần)",
        "Authenticator step locked (too many wrong codes)",
    ),
    "action_age_category": ("Xác định đối tượng theo tuổi", "Category set by age"),
    "audit_roster": ("Năm học {year}: {rows} học sinh", "{year}: {rows} students"),
    "until": ("đến {day}", "until {day}"),
    "columns_help": (
        "Cột: student_code, full_name, date_of_birth, level, programme, enrolment_end",
        "Columns: student_code, full_name, date_of_birth, level, programme, enrolment_end",
    ),
}


def language() -> str:
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in ("vi", "en"):
        session["lang"] = chosen
        return str(chosen)
    return request.accept_languages.best_match(("vi", "en")) or "vi"


def t(key: str, **values: Any) -> str:
    vi, en = TEXT[key]
    return (en if language() == "en" else vi).format(**values)


ROSTER_PATHS = ("/school/roster", "/school/api/roster")


def _roster_limit() -> None:
    # A university's roster is several megabytes: more than the API's usual body limit.
    if request.method == "POST" and request.path in ROSTER_PATHS:
        request.max_content_length = MAX_ROSTER_BYTES + 64 * 1024


def install(app: Flask) -> None:
    # Before the app's own body-size check, which then reads the raised limit.
    app.before_request_funcs.setdefault(None, []).insert(0, _roster_limit)
    # Flask signs the session cookie with SECRET_KEY under its own salt (itsdangerous).
    app.config.update(
        SESSION_COOKIE_NAME="school_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
        SESSION_COOKIE_PATH="/school",
    )
    app.register_blueprint(blp)


@blp.app_template_global("t")
def _t(key: str, **values: Any) -> str:
    return t(key, **values)


def _known(key: str, fallback: str, **values: Any) -> str:
    """The page's words for a code, or the code's own text when there are none."""
    return t(key, **values) if key in TEXT else fallback


@blp.app_template_global("problem_text")
def problem_text(problem: schools.RowError) -> str:
    return _known(f"problem_{problem.code}", problem.reason, **problem.params)


@blp.app_template_global("column_name")
def column_name(column: str) -> str:
    return "" if column == "-" else _known(f"col_{column}", column)


@blp.app_template_global("row_name")
def row_name(row: int) -> str:
    return t("whole_file") if row == 0 else str(row)


@blp.app_template_global("reason_text")
def reason_text(reason: str | None) -> str:
    """A reason the system wrote (on_roster, …) in words; a school's own reason as written."""
    return "" if not reason else _known(f"reason_{reason}", reason)


@blp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"  # minors' data: never in a shared cache
    response.vary.add("Cookie")
    return response


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return str(token)


@blp.app_template_global("csrf_token")
def _csrf() -> str:
    return csrf_token()


@blp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Any:
    """A person gets a page in their language with a way back, not a JSON problem; the
    school's JSON API (/school/api/...) keeps its problem+json."""
    if request.path.startswith(f"{blp.url_prefix}/api/"):
        return http_exception_problem(error)
    status = error.code or 500
    known = status if status in (400, 404, 413, 429) else None
    retry = (error.get_headers() and dict(error.get_headers()).get("Retry-After")) or None
    if status == 429 and retry is None:
        retry = "60"
    minutes = max(1, math.ceil(int(retry) / 60)) if retry and retry.isdigit() else 1
    signed = "sid" in session
    page = render_template(
        "school/error.html",
        heading=t(f"error_{known}" if known else "error_other"),
        explanation=t(f"error_{known}_detail" if known else "error_other_detail", minutes=minutes),
        back=url_for("school.queue") if signed else url_for("school.login"),
        back_label=t("back_to_queue") if signed else t("back_to_login"),
    )
    headers = {"Retry-After": retry} if status == 429 and retry else {}
    return page, status, headers


@blp.before_request
def _check_csrf() -> None:
    if request.method == "POST":
        # Forms send it as a field; scripts using the same session send it as a header.
        sent = request.form.get("csrf", "") or request.headers.get("X-CSRF-Token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400)


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view runs for an administrator whose session is live on the server; else the login."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work() as uow:
            try:
                admin = school_auth.current_admin(session.get("sid"), datetime.now(UTC), uow)
            except school_auth.NotSignedIn as ended:
                if "sid" in session:
                    _fresh_session()
                if ended.expired:
                    return redirect(url_for("school.login", expired=1))
                return redirect(url_for("school.login"))
            g.admin = admin
            g.school = uow.session.get(School, admin.school_id)
            # Read now: an error page is drawn after this unit of work has ended.
            g.school_name = g.school.name if g.school is not None else ""
            return view(uow, *args, **kwargs)

    return wrapper


# -- signing in ----------------------------------------------------------------------------------


def _email_key() -> str:
    return "school-login:" + request.form.get("email", "").strip().lower()


def _fresh_session(**values: Any) -> None:
    """Nothing carried over from before a sign-in step but the language chosen."""
    language_chosen = session.get("lang")
    session.clear()
    session.update(values)
    if language_chosen:
        session["lang"] = language_chosen


@blp.get("/login")
def login() -> str:
    return render_template(
        "school/login.html",
        step="password",
        message=t("expired") if request.args.get("expired") else None,
    )


@blp.post("/login")
@limiter.limit(LOGINS_PER_CLIENT)
@limiter.limit(LOGINS_PER_EMAIL, key_func=_email_key)
def login_password() -> Any:
    now = datetime.now(UTC)
    with unit_of_work() as uow:
        try:
            admin = school_auth.check_password(
                request.form.get("email", ""), request.form.get("password", ""), uow
            )
        except school_auth.WrongLogin:
            return render_template(
                "school/login.html",
                step="password",
                message=t("wrong_login"),
                email=request.form.get("email", "")[:254],
            ), 401
        # Signing in again ends the session this browser had.
        school_auth.end_session(session.get("sid"), now, uow, school_auth.SessionEnd.REPLACED)
        uow.commit()
    _fresh_session(pending_admin=admin.admin_id, pending_at=now.timestamp())
    return redirect(url_for("school.login_code"))


@blp.get("/login/code")
def login_code() -> Any:
    if not session.get("pending_admin"):
        return redirect(url_for("school.login"))
    return render_template("school/login.html", step="code", message=None)


@blp.post("/login/code")
@limiter.limit(LOGINS_PER_CLIENT)
def login_code_check() -> Any:
    now = datetime.now(UTC)
    admin_id = session.get("pending_admin")
    if not admin_id or now.timestamp() - session.get("pending_at", 0) > PENDING_SECONDS:
        _fresh_session()
        return redirect(url_for("school.login", expired=1))
    with unit_of_work() as uow:
        try:
            signed = school_auth.check_code(
                admin_id, request.form.get("code", ""), vault=vault(), now=now, uow=uow
            )
        except school_auth.NotSignedIn:
            _fresh_session()
            return redirect(url_for("school.login"))
        except school_auth.WrongCode:
            return render_template("school/login.html", step="code", message=t("wrong_code")), 401
        except school_auth.SecondFactorLocked as locked:
            seconds = max(1, math.ceil((locked.until - now).total_seconds()))
            page = render_template(
                "school/login.html",
                step="code",
                message=t("code_locked", minutes=math.ceil(seconds / 60)),
            )
            return page, 429, {"Retry-After": str(seconds)}
        uow.commit()
    _fresh_session(sid=signed.session_id)
    return redirect(url_for("school.queue"))


@blp.post("/logout")
def logout() -> Any:
    with unit_of_work() as uow:
        school_auth.end_session(session.get("sid"), datetime.now(UTC), uow)
        uow.commit()
    _fresh_session()  # the language stays: the clerk signs in again in it
    return redirect(url_for("school.login"))


# -- the queue and decisions ---------------------------------------------------------------------


def _chosen(status: str | None) -> ApplicationStatus | None:
    """The status the queue is filtered by; None (every application) for any other text."""
    return next((known for known in ApplicationStatus if known == status), None)


@blp.get("/")
@signed_in
def queue(uow: UnitOfWork) -> str:
    chosen = _chosen(request.args.get("status", ApplicationStatus.PENDING))
    search = " ".join(request.args.get("q", "").split()).casefold()
    found = eligibility.queue(g.admin, chosen, uow)
    if search:
        found = [
            a
            for a in found
            if search in a.full_name.casefold() or search in a.student_code.casefold()
        ]
    return render_template(
        "school/queue.html", applications=found, status=chosen or "all", search=search
    )


@blp.get("/applications/<application_id>")
@signed_in
def application(uow: UnitOfWork, application_id: str) -> str:
    found = _school_application(uow, application_id)
    return render_template(
        "school/application.html", application=found, max_reason=eligibility.MAX_REASON
    )


def _school_application(uow: UnitOfWork, application_id: str) -> Application:
    try:
        return eligibility.school_application(g.admin, application_id, uow)
    except eligibility.ApplicationNotFound:
        abort(404)


@blp.post("/applications/<application_id>/decide")
@signed_in
def decide(uow: UnitOfWork, application_id: str) -> Any:
    action = request.form.get("action")
    reason = request.form.get("reason", "")
    try:
        if action == "revoke":
            eligibility.revoke(g.admin, application_id, reason, datetime.now(UTC), uow)
        elif action in ("approve", "reject"):
            until_text = request.form.get("valid_until", "").strip()
            until = date.fromisoformat(until_text) if until_text else None
            eligibility.decide(
                g.admin,
                application_id,
                approve=action == "approve",
                reason=reason,
                valid_until=until,
                now=datetime.now(UTC),
                uow=uow,
            )
        else:
            abort(400)
    except eligibility.ApplicationNotFound:
        abort(404)
    except eligibility.NotDecidable as refused:
        return _refused(uow, application_id, f"refused_{refused.cause or 'decided'}", reason)
    except ValueError:  # a valid_until that is not a date
        return _refused(uow, application_id, "refused_date", reason)
    uow.commit()
    flash(t("decided"), "success")
    return redirect(url_for("school.application", application_id=application_id))


def _refused(uow: UnitOfWork, application_id: str, key: str, reason: str) -> Any:
    """The application again, with why the decision was refused; what was typed is kept."""
    page = render_template(
        "school/application.html",
        application=_school_application(uow, application_id),
        message=t(key, limit=eligibility.MAX_REASON),
        reason_typed=reason,
        max_reason=eligibility.MAX_REASON,
    )
    return page, 422


# -- roster, students, audit ---------------------------------------------------------------------


@blp.get("/roster")
@signed_in
def roster(uow: UnitOfWork) -> str:
    return render_template(
        "school/roster.html",
        report=None,
        problems=None,
        year=_this_year(),
        in_force=_rosters_in_force(uow),
    )


def _rosters_in_force(uow: UnitOfWork) -> list[Roster]:
    """The school's active roster of each school year, newest year first."""
    found: dict[str, Roster] = {}
    for roster in uow.session.scalars(
        select(Roster)
        .where(Roster.school_id == g.school.school_id, Roster.active.is_(True))
        .order_by(Roster.school_year.desc(), Roster.imported_at.desc())
    ):
        found.setdefault(roster.school_year, roster)
    return list(found.values())


def _this_year() -> str:
    today = service_day(datetime.now(UTC))
    first = today.year if today.month >= 8 else today.year - 1
    return f"{first}-{first + 1}"


@blp.post("/roster")
@signed_in
def roster_upload(uow: UnitOfWork) -> Any:
    upload = request.files.get("file")
    year = request.form.get("school_year", "").strip()
    raw = b""
    if upload is not None:
        try:
            raw = upload.read(MAX_ROSTER_BYTES + 1)
        finally:
            upload.close()  # a large upload is spooled to a temporary file: close it at once
    problems: list[schools.RowError] = []
    if len(raw) > MAX_ROSTER_BYTES:
        problems = [schools.RowError(0, "-", "the file is larger than 20 MB", "too_large")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems = [
            schools.RowError(0, "-", "not UTF-8 text: save the file as CSV UTF-8", "not_utf8")
        ]
    if problems:
        page = render_template(
            "school/roster.html",
            report=None,
            problems=problems,
            year=year,
            in_force=_rosters_in_force(uow),
        )
        return page, 422
    try:
        report = schools.import_roster(
            g.school.code,
            year,
            text,
            keys=Keys(derived_key("roster-keys")),
            actor=f"admin:{g.admin.admin_id}",
            now=datetime.now(UTC),
            uow=uow,
        )
    except schools.RosterInvalid as invalid:
        page = render_template(
            "school/roster.html",
            report=None,
            problems=invalid.errors,
            year=year,
            in_force=_rosters_in_force(uow),
        )
        return page, 422
    except DomainError:
        abort(400)
    uow.commit()
    return render_template(
        "school/roster.html",
        report=report,
        problems=None,
        year=year,
        in_force=_rosters_in_force(uow),
    )


@blp.get("/students")
@signed_in
def students(uow: UnitOfWork) -> str:
    today = service_day(datetime.now(UTC))
    found = [
        a
        for a in eligibility.queue(g.admin, ApplicationStatus.APPROVED, uow)
        if a.valid_until is not None and a.valid_until >= today
    ]
    return render_template("school/students.html", applications=found)


@blp.get("/audit")
@signed_in
def audit(uow: UnitOfWork) -> str:
    entries = list(
        uow.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject == g.school.code)
            .order_by(AuditEntry.at.desc())
            .limit(200)
        )
    )
    return render_template("school/audit.html", entries=_audit_rows(entries, uow))


def _audit_rows(entries: list[AuditEntry], uow: UnitOfWork) -> list[dict[str, Any]]:
    """Each entry as a person reads it: who by name, what in words, about whom."""
    admins = {
        f"admin:{admin.admin_id}": admin.name or admin.email
        for admin in uow.session.scalars(
            select(SchoolAdmin).where(SchoolAdmin.school_id == g.school.school_id)
        )
    }
    ids = {e.detail.split(":", 1)[0] for e in entries if e.action.startswith("application_")}
    names = {
        a.application_id: a.full_name
        for a in uow.session.scalars(
            select(Application).where(Application.application_id.in_(sorted(ids)))
        )
    }
    rows = []
    for entry in entries:
        if entry.actor in admins:
            who = admins[entry.actor]
        elif entry.actor.startswith("rider:"):
            who = t("actor_rider")
        else:
            who = t("actor_system")
        return_detail = ""
        if entry.action.startswith("application_"):
            application_id, _, rest = entry.detail.partition(": ")
            reason, _, until = rest.partition(" until ")
            reason = reason.split(" (", 1)[0]
            parts = [names.get(application_id, "")]
            if reason and reason != "queued":
                parts.append(reason_text(reason))
            if until:
                day = until.split(" ", 1)[0]
                with contextlib.suppress(ValueError):
                    parts.append(t("until", day=hanoi_date(date.fromisoformat(day))))
            return_detail = " · ".join(part for part in parts if part)
        elif entry.action == "roster":
            year, _, rest = entry.detail.partition(": ")
            return_detail = t("audit_roster", year=year, rows=rest.split(" ", 1)[0])
        rows.append(
            {
                "at": entry.at,
                "who": who,
                "what": _known(f"action_{entry.action}", entry.action),
                "detail": return_detail,
            }
        )
    return rows


# -- the same, as JSON, for a school's own tools (same session, CSRF token in a header) ----------


def _application_json(application: Application) -> dict[str, Any]:
    return {
        "application_id": application.application_id,
        "full_name": application.full_name,
        "student_code": application.student_code,
        "date_of_birth": application.date_of_birth.isoformat(),
        "status": application.status,
        "reason": application.reason,
        "valid_until": application.valid_until.isoformat() if application.valid_until else None,
        "created_at": application.created_at.isoformat(),
        "rule": application.rule,
    }


def _api_signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Like `signed_in`, but a JSON 401 instead of the login page."""
    inner = signed_in(view)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        answer = inner(*args, **kwargs)
        if isinstance(answer, Response) and answer.status_code == 302:
            return problem("unauthorized", 401)
        return answer

    return wrapper


@blp.get("/api/session")
@_api_signed_in
def api_session(uow: UnitOfWork) -> Any:
    """Who is signed in, and the CSRF token to send with every POST."""
    return jsonify(school=g.school.code, admin=g.admin.email, csrf=csrf_token())


@blp.get("/api/applications")
@_api_signed_in
def api_applications(uow: UnitOfWork) -> Any:
    found = eligibility.queue(g.admin, _chosen(request.args.get("status")), uow)
    return jsonify(data=[_application_json(a) for a in found])


@blp.get("/api/applications/<application_id>")
@_api_signed_in
def api_application(uow: UnitOfWork, application_id: str) -> Any:
    try:
        found = eligibility.school_application(g.admin, application_id, uow)
    except eligibility.ApplicationNotFound:
        return problem("application_not_found", 404)
    return jsonify(_application_json(found))


@blp.post("/api/roster")
@_api_signed_in
def api_roster(uow: UnitOfWork) -> Any:
    """The roster as a CSV body (text/csv, UTF-8) for ?year=2026-2027: all or nothing."""
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return problem(
            "roster_invalid", 422, errors=[{"row": 0, "column": "-", "reason": "not UTF-8"}]
        )
    try:
        report = schools.import_roster(
            g.school.code,
            request.args.get("year", ""),
            text,
            keys=Keys(derived_key("roster-keys")),
            actor=f"admin:{g.admin.admin_id}",
            now=datetime.now(UTC),
            uow=uow,
        )
    except schools.RosterInvalid as invalid:
        errors = [{"row": e.row, "column": e.column, "reason": e.reason} for e in invalid.errors]
        return problem("roster_invalid", 422, errors=errors, count=len(errors))
    uow.commit()
    return jsonify(
        roster_id=report.roster_id, school_year=report.school_year, rows=report.rows
    ), 201
