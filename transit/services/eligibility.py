"""A rider applies for the student category; the school's roster answers, or its queue does.

The roster decides when the student code and the date of birth match exactly and the name
matches as typed on any keyboard (composed or decomposed, any case, any spacing) or, only
then, without its diacritics. A work-study programme is refused with its reason, as Hanoi's
rules exclude it. Anything else waits in the school's queue for its administrator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from fares.eligibility import counts_as_student
from transit.errors import DomainError
from transit.models import Application, Rider, Roster, RosterEntry, School
from transit.names import Keys
from transit.services import sync
from transit.services.schools import school_by_code
from transit.uow import UnitOfWork

REAPPLY_BEFORE = timedelta(days=30)


class AlreadyEligible(DomainError):
    code = "already_eligible"
    status = 409


class InvalidApplication(DomainError):
    code = "invalid_application"
    status = 422


@dataclass(frozen=True)
class Match:
    roster: Roster
    entry: RosterEntry


def find_on_roster(
    school: School, student_code: str, full_name: str, born: date, keys: Keys, uow: UnitOfWork
) -> Match | None:
    """The school's roster entry for this student, if code, birthday and name agree."""
    rows = uow.session.execute(
        select(Roster, RosterEntry)
        .join(RosterEntry, RosterEntry.roster_id == Roster.roster_id)
        .where(
            Roster.school_id == school.school_id,
            Roster.active.is_(True),
            RosterEntry.student_key == keys.student(student_code, born),
        )
        .order_by(RosterEntry.enrolment_end.desc())
    ).all()
    exact, loose = keys.name(full_name), keys.loose_name(full_name)
    for roster, entry in rows:
        if entry.name_key == exact or entry.loose_name_key == loose:
            return Match(roster, entry)
    return None


def apply(
    rider: Rider,
    school_code: str,
    student_code: str,
    full_name: str,
    born: date,
    *,
    keys: Keys,
    now: datetime,
    uow: UnitOfWork,
) -> Application:
    """Record an application and decide it at once when the roster can."""
    school = school_by_code(school_code, uow)
    today = sync.local_today(now)
    student_code, full_name = student_code.strip(), " ".join(full_name.split())
    if not 1 <= len(student_code) <= 40 or not 1 <= len(full_name) <= 200:
        raise InvalidApplication("a student code (1-40) and a full name (1-200) are needed")
    if not date(1900, 1, 1) <= born < today:
        raise InvalidApplication("the date of birth is not plausible")
    session = uow.session
    for earlier in session.scalars(
        select(Application).where(
            Application.rider_id == rider.rider_id,
            Application.status.in_(("pending", "approved")),
        )
    ):
        if earlier.status == "pending":
            return earlier  # one open application at a time; asking again changes nothing
        if earlier.valid_until is not None and earlier.valid_until - REAPPLY_BEFORE > today:
            raise AlreadyEligible(
                f"eligible until {earlier.valid_until}; apply again from "
                f"{earlier.valid_until - REAPPLY_BEFORE}",
                valid_until=earlier.valid_until.isoformat(),
            )
    application = Application(
        application_id="app_" + secrets.token_hex(10),
        rider_id=rider.rider_id,
        school_id=school.school_id,
        student_code=student_code,
        full_name=full_name,
        date_of_birth=born,
        status="pending",
        created_at=now,
    )
    session.add(application)
    found = find_on_roster(school, student_code, full_name, born, keys, uow)
    if found is not None:
        _decide_from_roster(application, found, today, now)
    session.flush()
    return application


def _decide_from_roster(application: Application, found: Match, today: date, now: datetime) -> None:
    entry = found.entry
    application.rule = f"roster:{found.roster.roster_id}"
    application.decided_by = "roster"
    application.decided_at = now
    if not counts_as_student(entry.programme):
        application.status, application.reason = "rejected", "work_study"
        return
    if entry.enrolment_end < today:
        application.status, application.reason = "rejected", "enrolment_ended"
        return
    application.status = "approved"
    application.reason = "on_roster"
    application.valid_until = entry.enrolment_end


def applications_of(rider: Rider, uow: UnitOfWork) -> list[Application]:
    return list(
        uow.session.scalars(
            select(Application)
            .where(Application.rider_id == rider.rider_id)
            .order_by(Application.created_at.desc())
        )
    )
