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

from fares.eligibility import (
    age_category,
    age_category_valid_until,
    counts_as_student,
    school_year_end,
)
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    Application,
    ApplicationStatus,
    AuditEntry,
    Card,
    CardStatus,
    Rider,
    RiderStatus,
    Roster,
    RosterEntry,
    School,
    SchoolAdmin,
)
from transit.names import Keys
from transit.registries import Registry, RegistryUnavailable
from transit.services import loads
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
    registry: Registry | None = None,
) -> Application:
    """Record an application and decide it at once when the roster (or a registry) can."""
    school = school_by_code(school_code, uow)
    today = service_day(now)
    student_code, full_name = student_code.strip(), " ".join(full_name.split())
    if not 1 <= len(student_code) <= 40 or not 1 <= len(full_name) <= 200:
        raise InvalidApplication("a student code (1-40) and a full name (1-200) are needed")
    if not date(1900, 1, 1) <= born < today:
        raise InvalidApplication("the date of birth is not plausible")
    session = uow.session
    for earlier in session.scalars(
        select(Application).where(
            Application.rider_id == rider.rider_id,
            Application.status.in_((ApplicationStatus.PENDING, ApplicationStatus.APPROVED)),
        )
    ):
        if earlier.status == ApplicationStatus.PENDING:
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
        status=ApplicationStatus.PENDING,
        created_at=now,
    )
    session.add(application)
    found = find_on_roster(school, student_code, full_name, born, keys, uow)
    decider = f"rider:{rider.rider_id}"
    if found is not None:
        _decide_from_roster(application, found, today, now)
        decider = "roster"
    elif registry is not None and _confirmed_by(registry, student_code, full_name):
        application.status, application.reason = ApplicationStatus.APPROVED, "confirmed_by_registry"
        application.valid_until = school_year_end(
            today, month=school.year_end_month, day=school.year_end_day
        )
        application.rule = f"registry:{registry.name}"
        application.decided_by, application.decided_at = "registry", now
        decider = "registry"
    session.flush()
    _record(application, school, decider, now, uow)
    if application.status == ApplicationStatus.APPROVED:
        grant(rider, application, now, uow)
    return application


def _confirmed_by(registry: Registry, student_code: str, full_name: str) -> bool:
    try:
        return registry.is_student(student_code, full_name)
    except RegistryUnavailable:
        return False  # the school's queue decides instead


def _decide_from_roster(application: Application, found: Match, today: date, now: datetime) -> None:
    entry = found.entry
    application.rule = f"roster:{found.roster.roster_id}"
    application.decided_by = "roster"
    application.decided_at = now
    if not counts_as_student(entry.programme):
        application.status, application.reason = ApplicationStatus.REJECTED, "work_study"
        return
    if entry.enrolment_end < today:
        application.status, application.reason = ApplicationStatus.REJECTED, "enrolment_ended"
        return
    application.status = ApplicationStatus.APPROVED
    application.reason = "on_roster"
    application.valid_until = entry.enrolment_end


STUDENT = "student"
ADULT = "adult"


def grant(rider: Rider, application: Application, now: datetime, uow: UnitOfWork) -> int:
    """Give the rider's cards the student category until the application's valid-until.

    Each card gets a pending profile update, written at its next tap. Returns how many cards.
    """
    # A card with a free category (a child's, an elder's) keeps it: it is the better one.
    cards = [c for c in _active_cards(rider.rider_id, uow) if c.category_id in (ADULT, STUDENT)]
    for card in cards:
        loads.add_profile(
            card,
            STUDENT,
            application.valid_until,
            actor=f"eligibility:{application.application_id}",
            now=now,
            uow=uow,
        )
    return len(cards)


def _active_cards(rider_id: str, uow: UnitOfWork) -> list[Card]:
    return list(
        uow.session.scalars(
            select(Card).where(Card.rider_id == rider_id, Card.status == CardStatus.ACTIVE)
        )
    )


def current_grant(rider_id: str, today: date, uow: UnitOfWork) -> Application | None:
    """The approved application in force for a rider today, if any."""
    return uow.session.scalar(
        select(Application)
        .where(
            Application.rider_id == rider_id,
            Application.status == ApplicationStatus.APPROVED,
            Application.valid_until >= today,
        )
        .order_by(Application.valid_until.desc())
        .limit(1)
    )


def _record(
    application: Application, school: School, actor: str, now: datetime, uow: UnitOfWork
) -> None:
    """The audit row of a decision (or of an application left for the school)."""
    uow.session.add(
        AuditEntry(
            actor=actor,
            action=f"application_{application.status}",
            subject=school.code,
            detail=(
                f"{application.application_id}: {application.reason or 'queued'}"
                f"{f' until {application.valid_until}' if application.valid_until else ''}"
                f"{f' ({application.rule})' if application.rule else ''}"
            ),
            at=now,
        )
    )


# -- the school's administrator ---------------------------------------------------------------


class ApplicationNotFound(DomainError):
    code = "application_not_found"
    status = 404


class NotDecidable(DomainError):
    """A decision that cannot be taken; `cause` says which rule refused it, for the page."""

    code = "not_decidable"
    status = 409

    def __init__(self, detail: str, cause: str = "") -> None:
        super().__init__(detail)
        self.cause = cause


# A reason the student reads in the app: room for a real sentence, never cut without warning.
MAX_REASON = 200


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) > MAX_REASON:
        raise NotDecidable(f"a reason has at most {MAX_REASON} characters", "reason_too_long")
    return reason


def queue(
    admin: SchoolAdmin, status: ApplicationStatus | None, uow: UnitOfWork
) -> list[Application]:
    """The school's applications, oldest waiting first; only this administrator's school."""
    query = select(Application).where(Application.school_id == admin.school_id)
    if status is not None:
        query = query.where(Application.status == status)
    return list(uow.session.scalars(query.order_by(Application.created_at)))


def school_application(admin: SchoolAdmin, application_id: str, uow: UnitOfWork) -> Application:
    """An application of the administrator's school, or not found (whoever else's it is)."""
    found = uow.session.scalar(
        select(Application)
        .where(
            Application.application_id == application_id,
            Application.school_id == admin.school_id,
        )
        .with_for_update()
    )
    if found is None:
        raise ApplicationNotFound()
    return found


def decide(
    admin: SchoolAdmin,
    application_id: str,
    *,
    approve: bool,
    reason: str,
    valid_until: date | None,
    now: datetime,
    uow: UnitOfWork,
) -> Application:
    """Approve (until a day, by default the end of the school year) or reject with a reason."""
    application = school_application(admin, application_id, uow)
    if application.status != ApplicationStatus.PENDING:
        raise NotDecidable(f"the application is {application.status} already", "decided")
    school = uow.session.get(School, admin.school_id)
    assert school is not None
    today = service_day(now)
    reason = _reason(reason)
    if approve:
        until = valid_until or school_year_end(
            today, month=school.year_end_month, day=school.year_end_day
        )
        if not today <= until <= today.replace(year=today.year + 8):
            raise NotDecidable("the last valid day must be from today to 8 years on", "date")
        application.status, application.valid_until = ApplicationStatus.APPROVED, until
        application.reason = reason or "confirmed_by_school"
    else:
        if not reason:
            raise NotDecidable("a rejection needs a reason the student can read", "no_reason")
        application.status, application.reason = ApplicationStatus.REJECTED, reason
    application.rule = f"admin:{admin.admin_id}"
    application.decided_by = admin.admin_id
    application.decided_at = now
    _record(application, school, f"admin:{admin.admin_id}", now, uow)
    if approve:
        rider = uow.session.get(Rider, application.rider_id)
        if rider is not None and rider.status == RiderStatus.ACTIVE:
            grant(rider, application, now, uow)
    return application


def revoke(
    admin: SchoolAdmin, application_id: str, reason: str, now: datetime, uow: UnitOfWork
) -> Application:
    """The student left: the category ends today, and the cards go back to adult."""
    application = school_application(admin, application_id, uow)
    if application.status != ApplicationStatus.APPROVED:
        raise NotDecidable("only an approved application can be revoked", "decided")
    reason = _reason(reason)
    if not reason:
        raise NotDecidable("a revocation needs a reason", "no_reason")
    school = uow.session.get(School, admin.school_id)
    assert school is not None
    application.status, application.reason = ApplicationStatus.REVOKED, reason
    application.decided_by, application.decided_at = admin.admin_id, now
    application.rule = f"admin:{admin.admin_id}"
    _record(application, school, f"admin:{admin.admin_id}", now, uow)
    for card in _active_cards(application.rider_id, uow):
        if card.category_id == STUDENT:
            loads.add_profile(card, ADULT, None, actor=f"admin:{admin.admin_id}", now=now, uow=uow)
    return application


# -- categories that come with age ---------------------------------------------------------------


class NoAgeCategory(DomainError):
    code = "no_age_category"
    status = 422


def grant_age_category(
    card: Card,
    born: date,
    *,
    evidence: str,
    actor: str,
    now: datetime,
    uow: UnitOfWork,
) -> tuple[str, date | None]:
    """Free travel for a child under 6 or a rider of 60 and over, from a verified birthday.

    The birthday's source is named in `evidence` (an identity document seen at a counter
    today; a population registry later). The category lasts until the eve of the sixth
    birthday for a child, and without end from 60. Returns (category, valid-until).
    """
    if not evidence.strip():
        raise NoAgeCategory("say how the date of birth was verified")
    today = service_day(now)
    try:
        category = age_category(born, today)
    except ValueError:
        raise NoAgeCategory(f"{born} is not a date of birth") from None
    if category is None:
        raise NoAgeCategory(f"born {born}: no free category at this age")
    if card.status != CardStatus.ACTIVE:
        raise NoAgeCategory("the card is not active")
    until = age_category_valid_until(born, today)
    loads.add_profile(card, category, until, actor=actor, now=now, uow=uow)
    uow.session.add(
        AuditEntry(
            actor=actor,
            action="age_category",
            subject=card.card_number,
            detail=f"{category} until {until or 'no end'}; date of birth verified: "
            f"{' '.join(evidence.split())[:200]}",
            at=now,
        )
    )
    return category, until


def applications_of(rider: Rider, uow: UnitOfWork) -> list[Application]:
    return list(
        uow.session.scalars(
            select(Application)
            .where(Application.rider_id == rider.rider_id)
            .order_by(Application.created_at.desc())
        )
    )
