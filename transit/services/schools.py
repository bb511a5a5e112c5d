"""Schools, their administrators, and the rosters they publish.

A roster import is all or nothing: every row is checked first, and a file with any bad row is
refused with each problem (row, column, reason) while the roster in force stays. A good file
replaces the school's roster for that school year in one transaction. Rows are kept only as
keyed hashes (transit.names): the student code with the date of birth, and the name.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from cryptography.fernet import Fernet
from sqlalchemy import Table, insert, select

from fares.eligibility import Programme
from transit.errors import DomainError
from transit.models import AuditEntry, Roster, RosterEntry, School, SchoolAdmin
from transit.names import Keys
from transit.services import school_auth
from transit.uow import UnitOfWork

COLUMNS = ("student_code", "full_name", "date_of_birth", "level", "programme", "enrolment_end")
SCHOOL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")
MAX_ROWS = 200_000
BATCH = 5_000
# What schools write in the programme column, in English codes or in Vietnamese.
PROGRAMMES = {
    **{p.value: p for p in Programme},
    "phổ thông": Programme.GENERAL_SCHOOL,
    "chính quy": Programme.UNIVERSITY,
    "đại học": Programme.UNIVERSITY,
    "cao đẳng": Programme.COLLEGE,
    "trung cấp": Programme.PROFESSIONAL_SECONDARY,
    "dạy nghề": Programme.VOCATIONAL,
    "vừa học vừa làm": Programme.WORK_STUDY,
}


class SchoolError(DomainError):
    code = "school_invalid"
    status = 422


class SchoolNotFound(DomainError):
    code = "school_not_found"
    status = 404


@dataclass(frozen=True)
class RowError:
    row: int  # the line in the file, the header being line 1; 0 for the whole file
    column: str
    reason: str  # in English, for the command line
    code: str = ""  # stable, for a page to say it in its language
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.reason}"


class RosterInvalid(DomainError):
    """The file was refused; `errors` lists every problem found."""

    code = "roster_invalid"
    status = 422

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the roster", count=len(errors))
        self.errors = errors


def create_school(
    code: str, name: str, year_end: tuple[int, int], now: datetime, uow: UnitOfWork
) -> School:
    code = code.strip().upper()
    if not SCHOOL_CODE.match(code):
        raise SchoolError("a school code is 2 to 32 capital letters, digits and dashes")
    if not name.strip():
        raise SchoolError("a school needs a name")
    month, day = year_end
    try:
        date(2001, month, day)  # a real day in a year without 29 February
    except ValueError:
        raise SchoolError(f"{month}-{day} is not a day of the year") from None
    if uow.session.scalar(select(School).where(School.code == code)) is not None:
        raise SchoolError(f"there is a school {code} already")
    school = School(
        school_id="sch_" + secrets.token_hex(8),
        code=code,
        name=name.strip(),
        year_end_month=month,
        year_end_day=day,
        created_at=now,
    )
    uow.session.add(school)
    return school


def school_by_code(code: str, uow: UnitOfWork) -> School:
    school = uow.session.scalar(select(School).where(School.code == code.strip().upper()))
    if school is None:
        raise SchoolNotFound(f"no school {code}")
    return school


@dataclass(frozen=True)
class NewAdmin:
    admin: SchoolAdmin
    enrol_token: str  # shown once, in the link the administrator sets up their sign-in from
    expires_at: datetime


def add_admin(
    school_code: str,
    email: str,
    name: str,
    *,
    actor: str,
    vault: Fernet,
    now: datetime,
    uow: UnitOfWork,
) -> NewAdmin:
    """An administrator of one school. They choose their password and set up their
    authenticator (TOTP) from a one-time link; nobody else ever knows either."""
    school = school_by_code(school_code, uow)
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise SchoolError("an administrator needs an e-mail address")
    if not name.strip():
        raise SchoolError("an administrator needs a name")
    if uow.session.scalar(select(SchoolAdmin).where(SchoolAdmin.email == email)) is not None:
        raise SchoolError(f"{email} is an administrator already")
    admin = SchoolAdmin(
        admin_id="adm_" + secrets.token_hex(8),
        school_id=school.school_id,
        email=email,
        name=name.strip(),
        active=True,
        created_at=now,
    )
    token = school_auth.start_enrolment(admin, vault=vault, now=now)
    uow.session.add(admin)
    _audit_admin(school, admin, actor, "admin_added", now, uow)
    return NewAdmin(admin, token, now + school_auth.ENROLMENT)


def reset_admin(
    email: str, *, actor: str, vault: Fernet, now: datetime, uow: UnitOfWork
) -> NewAdmin:
    """For a lost phone or a forgotten password: the old password and authenticator stop
    working, every session ends, and a new enrolment link is made."""
    admin = uow.session.scalar(
        select(SchoolAdmin).where(SchoolAdmin.email == email.strip().lower())
    )
    if admin is None:
        raise SchoolNotFound(f"no administrator {email.strip().lower()}")
    if not admin.active:
        raise SchoolError(f"{admin.email} is not active")
    token = school_auth.start_enrolment(admin, vault=vault, now=now)
    school_auth.end_sessions(admin.admin_id, now, uow)
    school = uow.session.get(School, admin.school_id)
    assert school is not None  # a foreign key
    _audit_admin(school, admin, actor, "admin_reset", now, uow)
    return NewAdmin(admin, token, now + school_auth.ENROLMENT)


def _audit_admin(
    school: School, admin: SchoolAdmin, actor: str, action: str, now: datetime, uow: UnitOfWork
) -> None:
    uow.session.add(
        AuditEntry(
            actor=actor,
            action=action,
            subject=school.code,
            detail=f"{admin.admin_id}: {admin.email}",
            at=now,
        )
    )


# -- rosters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterReport:
    roster_id: str
    school_year: str
    rows: int
    replaced: int  # earlier rosters of the same year now out of force


def parse_date(text: str) -> date:
    """2010-05-01 or 01/05/2010 (day first, as Vietnamese forms write it)."""
    text = text.strip()
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text)


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), strict=True)
    for row in reader:
        yield reader.line_num, row


def check_roster(
    text: str, school_year: str, keys: Keys, progress: Callable[[int], None] | None = None
) -> tuple[list[dict[str, object]], list[RowError]]:
    """Every row checked and turned into its stored form; the problems, all of them."""
    errors: list[RowError] = []
    match = SCHOOL_YEAR.match(school_year)
    if not match or int(match.group(2)) != int(match.group(1)) + 1:
        return [], [
            RowError(
                0,
                "school_year",
                f"{school_year!r} is not like 2026-2027",
                "school_year",
                {"value": school_year},
            )
        ]
    first_year = int(match.group(1))
    if "\x00" in text:  # no text file has one, and PostgreSQL would refuse it in a column
        return [], [RowError(0, "-", "a NUL character: not a text file", "not_text")]
    try:
        header = next(csv.reader(io.StringIO(text.removeprefix("\ufeff"))), [])
    except csv.Error as error:  # a lone carriage return in the header line, say
        return [], [RowError(1, "-", f"not a CSV file: {error}", "not_csv")]
    names = [name.strip() for name in header]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [c for c in names if c not in COLUMNS]
    if missing or unknown:
        for column in missing:
            errors.append(RowError(1, column, "missing column", "missing_column"))
        for column in unknown:
            errors.append(RowError(1, column, "unknown column", "unknown_column"))
        return [], errors
    prepared: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    try:
        for line, raw in _rows(text):
            if len(prepared) + len(errors) >= MAX_ROWS:
                errors.append(
                    RowError(
                        line,
                        "-",
                        f"a roster has at most {MAX_ROWS:,} rows",
                        "too_many_rows",
                        {"limit": f"{MAX_ROWS:,}"},
                    )
                )
                break
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            if None in raw:
                errors.append(RowError(line, "-", "more cells than columns", "extra_cells"))
                continue
            found = _check_row(line, row, first_year, keys, errors)
            if found is None:
                continue
            key = str(found["student_key"])
            if key in seen:
                errors.append(
                    RowError(
                        line,
                        "student_code",
                        f"the same student as row {seen[key]}",
                        "duplicate",
                        {"row": str(seen[key])},
                    )
                )
                continue
            seen[key] = line
            prepared.append(found)
            if progress is not None and len(prepared) % 1_000 == 0:
                progress(1_000)
    except csv.Error as error:
        errors.append(RowError(0, "-", f"not a CSV file: {error}", "not_csv"))
    if not prepared and not errors:
        errors.append(RowError(2, "-", "the roster has no students", "empty"))
    return prepared, errors


def _check_row(
    line: int, row: dict[str, str], first_year: int, keys: Keys, errors: list[RowError]
) -> dict[str, object] | None:
    before = len(errors)
    student_code = row.get("student_code", "")
    full_name = row.get("full_name", "")
    if not 1 <= len(student_code) <= 40:
        errors.append(
            RowError(
                line, "student_code", "1 to 40 characters", "length", {"low": "1", "high": "40"}
            )
        )
    if not 1 <= len(full_name) <= 200:
        errors.append(
            RowError(
                line, "full_name", "1 to 200 characters", "length", {"low": "1", "high": "200"}
            )
        )
    born = _date(line, "date_of_birth", row.get("date_of_birth", ""), errors)
    if born is not None and not date(1900, 1, 1) <= born <= date(first_year, 12, 31):
        errors.append(
            RowError(
                line,
                "date_of_birth",
                f"{born} is not a student's birthday",
                "birthday",
                {"value": born.strftime("%d/%m/%Y")},
            )
        )
    level = row.get("level", "")
    if len(level) > 40:
        errors.append(
            RowError(line, "level", "at most 40 characters", "length", {"low": "0", "high": "40"})
        )
    programme = PROGRAMMES.get(row.get("programme", "").casefold())
    if programme is None:
        errors.append(
            RowError(
                line,
                "programme",
                f"one of {', '.join(p.value for p in Programme)}",
                "programme",
                {"value": row.get("programme", "")},
            )
        )
    ends = _date(line, "enrolment_end", row.get("enrolment_end", ""), errors)
    if ends is not None and not date(first_year, 9, 1) <= ends <= date(first_year + 8, 12, 31):
        errors.append(
            RowError(
                line,
                "enrolment_end",
                f"{ends} is outside this school year",
                "enrolment_end",
                {"value": ends.strftime("%d/%m/%Y")},
            )
        )
    if len(errors) > before or born is None or ends is None or programme is None:
        return None
    return {
        "student_key": keys.student(student_code, born),
        "name_key": keys.name(full_name),
        "loose_name_key": keys.loose_name(full_name),
        "level": level,
        "programme": programme.value,
        "enrolment_end": ends,
    }


def _date(line: int, column: str, text: str, errors: list[RowError]) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        errors.append(
            RowError(
                line,
                column,
                f"{text!r} is not a date (2010-05-31 or 31/05/2010)",
                "date",
                {"value": text},
            )
        )
        return None


def import_roster(
    school_code: str,
    school_year: str,
    text: str,
    *,
    keys: Keys,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
    progress: Callable[[int], None] | None = None,
) -> RosterReport:
    """Check the whole file, then replace the school's roster for the year in one go."""
    school = school_by_code(school_code, uow)
    prepared, errors = check_roster(text, school_year, keys, progress)
    if errors:
        raise RosterInvalid(errors)
    session = uow.session
    roster = Roster(
        roster_id="ros_" + secrets.token_hex(8),
        school_id=school.school_id,
        school_year=school_year,
        rows=len(prepared),
        active=True,
        imported_by=actor,
        imported_at=now,
    )
    earlier = list(
        session.scalars(
            select(Roster).where(
                Roster.school_id == school.school_id,
                Roster.school_year == school_year,
                Roster.active.is_(True),
            )
        )
    )
    for old in earlier:
        old.active = False
    session.add(roster)
    session.flush()
    table = RosterEntry.__table__
    assert isinstance(table, Table)
    for start in range(0, len(prepared), BATCH):
        chunk = [dict(row, roster_id=roster.roster_id) for row in prepared[start : start + BATCH]]
        session.execute(insert(table), chunk)
    session.add(
        AuditEntry(
            actor=actor,
            action="roster",
            subject=school.code,
            detail=f"{school_year}: {len(prepared)} students, roster {roster.roster_id}",
            at=now,
        )
    )
    return RosterReport(roster.roster_id, school_year, len(prepared), len(earlier))
