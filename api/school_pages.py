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
import io
import math
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

import segno
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
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from api.auth import derived_key, vault
from api.deps import unit_of_work
from api.limits import limiter
from api.messages.school import SCHOOL
from api.pages import (
    KIT_CATALOGUE,
    Catalogue,
    Words,
    error_page,
    hanoi_date,
    keep_language_in_session,
    page_headers,
)
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
)

PENDING_SECONDS = 5 * 60  # between the password and the TOTP code
LOGINS_PER_EMAIL = "5 per minute;20 per hour"
LOGINS_PER_CLIENT = "60 per hour"
MAX_ROSTER_BYTES = 20 * 1024 * 1024


WORDS = Words(Catalogue("school", SCHOOL, base=KIT_CATALOGUE))
t = WORDS


ROSTER_PATHS = ("/school/roster", "/school/api/roster")


def _roster_limit() -> None:
    # A university's roster is several megabytes: more than the API's usual body limit.
    if request.method == "POST" and request.path in ROSTER_PATHS:
        request.max_content_length = MAX_ROSTER_BYTES + 64 * 1024


keep_language_in_session(blp)


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


_known = WORDS.known


def problem_text(problem: schools.RowError) -> str:
    return _known(f"problem_{problem.code}", problem.reason, **problem.params)


def column_name(column: str) -> str:
    return "" if column == "-" else _known(f"col_{column}", column)


def row_name(row: int) -> str:
    return t("whole_file") if row == 0 else str(row)


def reason_text(reason: str | None) -> str:
    """A reason the system wrote (on_roster, …) in words; a school's own reason as written."""
    return "" if not reason else _known(f"reason_{reason}", reason)


@blp.context_processor
def _page_helpers() -> dict[str, Any]:
    """What the school's templates call; only on the school's own pages."""
    return {
        "t": WORDS,
        "csrf_token": csrf_token,
        "problem_text": problem_text,
        "column_name": column_name,
        "row_name": row_name,
        "reason_text": reason_text,
    }


@blp.after_request
def _headers(response: Response) -> Response:
    page_headers(response.headers)
    response.headers["Cache-Control"] = "no-store"  # minors' data: never in a shared cache
    response.vary.add("Cookie")
    return response


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return str(token)


@blp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Any:
    """A person gets a page in their language with a way back, not a JSON problem; the
    school's JSON API (/school/api/...) keeps its problem+json."""
    if request.path.startswith(f"{blp.url_prefix}/api/"):
        return http_exception_problem(error)
    signed = "sid" in session
    return error_page(
        error,
        WORDS,
        back=url_for("school.queue") if signed else url_for("school.login"),
        back_label=t("back_to_queue") if signed else t("back_to_login"),
        base_template="school/base.html",
    )


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


# -- enrolment: a new (or reset) administrator sets up their own sign-in ---------------------


@blp.get("/enrol")
def enrol() -> Any:
    token = request.args.get("token")
    if token:
        # From the operator's link: the token moves to the session, out of the address bar,
        # the history and any later Referer; the page can then switch language.
        with unit_of_work() as uow:  # whoever was signed in here is not, from now on
            school_auth.end_session(
                session.get("sid"), datetime.now(UTC), uow, school_auth.SessionEnd.REPLACED
            )
            uow.commit()
        _fresh_session(enrol=token[:100])
        return redirect(url_for("school.enrol"))
    with unit_of_work() as uow:
        try:
            found = school_auth.enrolment(
                session.get("enrol", ""), vault=vault(), now=datetime.now(UTC), uow=uow
            )
        except school_auth.EnrolmentInvalid:
            return _enrol_invalid()
        return _enrol_page(found, uow)


@blp.post("/enrol")
@limiter.limit(LOGINS_PER_CLIENT)
def enrol_finish() -> Any:
    with unit_of_work() as uow:
        try:
            signed = school_auth.finish_enrolment(
                session.get("enrol", ""),
                request.form.get("password", ""),
                request.form.get("password_again", ""),
                request.form.get("code", ""),
                vault=vault(),
                now=datetime.now(UTC),
                uow=uow,
            )
        except school_auth.EnrolmentInvalid:
            return _enrol_invalid()
        except school_auth.EnrolmentRefused as refused:
            found = school_auth.enrolment(
                session.get("enrol", ""), vault=vault(), now=datetime.now(UTC), uow=uow
            )
            return _enrol_page(found, uow, refused.cause), 422
        uow.commit()
    _fresh_session(sid=signed.session_id)
    flash(t("enrolled"), "success")
    return redirect(url_for("school.queue"))


def _enrol_page(found: school_auth.Enrolment, uow: UnitOfWork, cause: str | None = None) -> str:
    school = uow.session.get(School, found.admin.school_id)
    qr = segno.make(found.uri, error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", xmldecl=False, svgns=True, nl=False, scale=5, border=4,
            dark="#000", light="#fff", svgclass="qr", lineclass=None, omitsize=True)  # fmt: skip
    return render_template(
        "school/enrol.html",
        admin=found.admin,
        school_name=school.name if school else "",
        # segno writes only paths and attributes, escaped: no script, no style attribute.
        qr_svg=Markup(svg.getvalue().decode()),  # noqa: S704  (paths only, from our own data)
        secret=" ".join(found.secret[i : i + 4] for i in range(0, len(found.secret), 4)),
        otpauth_uri=found.uri,
        cause=cause,
        min_password=school_auth.MIN_PASSWORD,
    )


def _enrol_invalid() -> tuple[str, int]:
    page = render_template(
        "kit/error.html",
        base_template="school/base.html",
        heading=t("enrol_invalid"),
        explanation=t("enrol_invalid_detail"),
        back=url_for("school.login"),
        back_label=t("back_to_login"),
    )
    return page, 404


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
        elif ":" not in entry.actor:  # an operator's account, from a command
            who = t("actor_operator")
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
        elif entry.action in ("admin_added", "admin_reset"):
            admin_id = entry.detail.split(":", 1)[0]
            return_detail = admins.get(f"admin:{admin_id}", "")
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
