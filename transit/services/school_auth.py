"""School administrators' sign-in: a password, then a TOTP code, then a session on the server.

The browser's cookie carries only a random session id, and the table keeps only its sha256:
signing out, idling past IDLE or lasting past MAX_AGE ends the session for every copy of the
cookie, and a copy of the table opens no session. A TOTP code works once: the time step it
belongs to must be newer than the last one accepted for that administrator. Wrong codes are
counted per administrator, whatever the browser or address; CODE_FAILURES of them in a row lock
the second factor for CODE_LOCK (audited), and each failure is committed before the refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NoReturn

import pyotp
from cryptography.fernet import Fernet
from sqlalchemy import or_, select, update

from transit.errors import DomainError
from transit.models import AuditEntry, School, SchoolAdmin, SchoolSession
from transit.passwords import hash_password, verify
from transit.uow import UnitOfWork

IDLE = timedelta(minutes=30)
ENROLMENT = timedelta(hours=72)  # how long a one-time enrolment link works
MIN_PASSWORD = 12
MAX_AGE = timedelta(hours=8)
# seen_at is written at most this often, so that most page views only read; a session may
# therefore end up to this much before IDLE has fully passed.
SEEN_EVERY = timedelta(minutes=1)
CODE_FAILURES = 5
CODE_LOCK = timedelta(minutes=15)
_CODE = re.compile(r"[0-9]{6}")  # what authenticator apps show for pyotp's defaults


class SessionEnd(StrEnum):
    """Why a session ended, as kept in school_sessions.end_reason."""

    SIGNED_OUT = "signed_out"
    IDLE = "idle"
    TOO_OLD = "too_old"
    REPLACED = "replaced"  # the same browser signed in again
    REVOKED = "revoked"  # every session of the administrator ended at once
    INACTIVE = "inactive"  # the administrator was deactivated or removed


class WrongLogin(DomainError):
    """Wrong e-mail, wrong password, or an inactive administrator: the same answer."""

    code = "invalid_credentials"
    status = 401


class WrongCode(DomainError):
    code = "invalid_code"
    status = 401


class SecondFactorLocked(DomainError):
    """Too many wrong codes: no code, right or wrong, is checked until `until`."""

    code = "second_factor_locked"
    status = 429

    def __init__(self, until: datetime) -> None:
        super().__init__(f"the second factor is locked until {until.isoformat()}")
        self.until = until


class NotSignedIn(DomainError):
    """No live session; `expired` when there was one and idling or age ended it."""

    code = "unauthorized"
    status = 401

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__("expired" if expired else "not signed in")
        self.expired = expired


@dataclass(frozen=True)
class SignedIn:
    admin: SchoolAdmin
    session_id: str  # for the cookie only: the database keeps its hash


def check_password(email: str, password: str, uow: UnitOfWork) -> SchoolAdmin:
    """The first step: the administrator whose password this is, if active."""
    admin = uow.session.scalar(
        select(SchoolAdmin).where(SchoolAdmin.email == email.strip().lower())
    )
    # Checked even without an administrator: an unknown address costs a wrong password's time.
    right, rehash = verify(admin.password_hash if admin is not None else None, password)
    if not right or admin is None or not admin.active or admin.enrolled_at is None:
        raise WrongLogin()
    if rehash:
        admin.password_hash = hash_password(password)
    return admin


def check_code(
    admin_id: str, code: str, *, vault: Fernet, now: datetime, uow: UnitOfWork
) -> SignedIn:
    """The second step: a TOTP code not used before starts a session. Failures are committed."""
    admin = uow.session.get(SchoolAdmin, admin_id, with_for_update=True)
    if admin is None or not admin.active:
        raise NotSignedIn()
    if admin.code_locked_until is not None and admin.code_locked_until > now:
        raise SecondFactorLocked(admin.code_locked_until)
    secret = vault.decrypt(admin.totp_secret.encode()).decode()
    step = _step_of("".join(code.split()), pyotp.TOTP(secret), now)
    if step is None or not _claim_step(admin.admin_id, step, uow):
        _count_failure(admin, now, uow)
    admin.code_failures = 0
    admin.code_locked_until = None
    return _start_session(admin, now, uow)


def _start_session(admin: SchoolAdmin, now: datetime, uow: UnitOfWork) -> SignedIn:
    session_id = secrets.token_urlsafe(32)
    uow.session.add(
        SchoolSession(
            session_hash=_session_hash(session_id),
            admin_id=admin.admin_id,
            started_at=now,
            seen_at=now,
        )
    )
    _audit(admin, "sign_in", "password and TOTP", now, uow)
    return SignedIn(admin, session_id)


# -- enrolment: the administrator sets up their own password and authenticator ------------------


class EnrolmentInvalid(DomainError):
    """No enrolment with this token: never made, used already, replaced or expired."""

    code = "enrolment_invalid"
    status = 404


class EnrolmentRefused(DomainError):
    """The enrolment form is not right yet; `cause` says which part (nothing was saved)."""

    code = "enrolment_refused"
    status = 422

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail, cause=cause)
        self.cause = cause


@dataclass(frozen=True)
class Enrolment:
    admin: SchoolAdmin
    secret: str  # base32, for the authenticator: shown on the enrolment page only
    uri: str  # otpauth://, what the page's QR code holds


def start_enrolment(admin: SchoolAdmin, *, vault: Fernet, now: datetime) -> str:
    """A new TOTP secret and a one-time link token for `admin`; until the link is used, no
    password and no code signs them in. Returns the token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    admin.totp_secret = vault.encrypt(pyotp.random_base32().encode()).decode()
    admin.password_hash = ""  # matches no password (transit.passwords.verify)
    admin.enrolled_at = None
    admin.enrol_token_hash = _token_hash(token)
    admin.enrol_expires_at = now + ENROLMENT
    admin.totp_last_step = None
    admin.code_failures = 0
    admin.code_locked_until = None
    return token


def enrolment(token: str, *, vault: Fernet, now: datetime, uow: UnitOfWork) -> Enrolment:
    """The enrolment a link's token opens, with what the authenticator needs."""
    admin = uow.session.scalar(
        select(SchoolAdmin).where(SchoolAdmin.enrol_token_hash == _token_hash(token))
    )
    if (
        admin is None
        or not admin.active
        or admin.enrol_expires_at is None
        or admin.enrol_expires_at <= now
    ):
        raise EnrolmentInvalid("this enrolment link does not work (used, replaced or expired)")
    secret = vault.decrypt(admin.totp_secret.encode()).decode()
    school = uow.session.get(School, admin.school_id)
    issuer = f"Hanoi bus card · {school.code}" if school else "Hanoi bus card"
    uri = pyotp.TOTP(secret).provisioning_uri(name=admin.email, issuer_name=issuer)
    return Enrolment(admin, secret, uri)


def finish_enrolment(
    token: str,
    password: str,
    password_again: str,
    code: str,
    *,
    vault: Fernet,
    now: datetime,
    uow: UnitOfWork,
) -> SignedIn:
    """The administrator's own password, and a first code that proves the authenticator is set
    up: the link stops working, and they are signed in (they have just shown both factors)."""
    found = enrolment(token, vault=vault, now=now, uow=uow)
    if len(password) < MIN_PASSWORD:
        raise EnrolmentRefused("short_password", f"a password has {MIN_PASSWORD}+ characters")
    if password != password_again:
        raise EnrolmentRefused("passwords_differ", "the two passwords differ")
    admin = found.admin
    step = _step_of("".join(code.split()), pyotp.TOTP(found.secret), now)
    if step is None:
        raise EnrolmentRefused("wrong_code", "that is not the authenticator's code now")
    admin.totp_last_step = step  # the code that confirmed the set-up cannot sign in as well
    admin.password_hash = hash_password(password)
    admin.enrolled_at = now
    admin.enrol_token_hash = None
    admin.enrol_expires_at = None
    _audit(admin, "enrolled", "password and authenticator set up", now, uow)
    return _start_session(admin, now, uow)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _step_of(code: str, totp: pyotp.TOTP, now: datetime) -> int | None:
    """The time step (previous, current or next: clocks drift) whose code this is."""
    if not _CODE.fullmatch(code):
        return None
    current = totp.timecode(now)
    found = None
    for step in (current - 1, current, current + 1):
        # Every step is compared, and in constant time: the answer's timing tells nothing.
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


def _claim_step(admin_id: str, step: int, uow: UnitOfWork) -> bool:
    """Record `step` as the last one used, if it is newer; in one statement, so that two
    requests racing with the same code cannot both win."""
    claimed = uow.session.scalar(
        update(SchoolAdmin)
        .where(
            SchoolAdmin.admin_id == admin_id,
            or_(SchoolAdmin.totp_last_step.is_(None), SchoolAdmin.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(SchoolAdmin.admin_id)
    )
    return claimed is not None


def _count_failure(admin: SchoolAdmin, now: datetime, uow: UnitOfWork) -> NoReturn:
    admin.code_failures += 1
    if admin.code_failures < CODE_FAILURES:
        uow.commit()
        raise WrongCode()
    until = now + CODE_LOCK
    admin.code_failures = 0  # the lock's end gives a fresh set of tries
    admin.code_locked_until = until
    detail = f"{CODE_FAILURES} wrong TOTP codes in a row; locked until {until.isoformat()}"
    _audit(admin, "second_factor_locked", detail, now, uow)
    uow.commit()
    raise SecondFactorLocked(until)


def current_admin(session_id: str | None, now: datetime, uow: UnitOfWork) -> SchoolAdmin:
    """The administrator of a live session; a session found ending is ended and committed."""
    row = uow.session.get(SchoolSession, _session_hash(session_id)) if session_id else None
    if row is None or row.ended_at is not None:
        raise NotSignedIn()
    admin = uow.session.get(SchoolAdmin, row.admin_id)
    ending = _ending(row, admin, now)
    if admin is None or ending is not None:
        row.ended_at, row.end_reason = now, ending or SessionEnd.INACTIVE
        uow.commit()
        raise NotSignedIn(expired=ending in (SessionEnd.TOO_OLD, SessionEnd.IDLE))
    if now - row.seen_at >= SEEN_EVERY:
        row.seen_at = now
        uow.commit()
    return admin


def _ending(row: SchoolSession, admin: SchoolAdmin | None, now: datetime) -> SessionEnd | None:
    if admin is None or not admin.active:
        return SessionEnd.INACTIVE
    if now - row.started_at > MAX_AGE:
        return SessionEnd.TOO_OLD
    if now - row.seen_at > IDLE:
        return SessionEnd.IDLE
    return None


def end_session(
    session_id: str | None,
    now: datetime,
    uow: UnitOfWork,
    reason: SessionEnd = SessionEnd.SIGNED_OUT,
) -> None:
    """End the session with this id, if it is live (signing out twice is not an error)."""
    if not session_id:
        return
    row = uow.session.get(SchoolSession, _session_hash(session_id))
    if row is None or row.ended_at is not None:
        return
    row.ended_at, row.end_reason = now, reason
    admin = uow.session.get(SchoolAdmin, row.admin_id)
    if admin is not None and reason == SessionEnd.SIGNED_OUT:
        _audit(admin, "sign_out", "signed out", now, uow)


def end_sessions(
    admin_id: str, now: datetime, uow: UnitOfWork, reason: SessionEnd = SessionEnd.REVOKED
) -> None:
    """End every live session of an administrator: for a deactivation or a new password."""
    uow.session.execute(
        update(SchoolSession)
        .where(SchoolSession.admin_id == admin_id, SchoolSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _audit(admin: SchoolAdmin, action: str, detail: str, now: datetime, uow: UnitOfWork) -> None:
    school = uow.session.get(School, admin.school_id)
    uow.session.add(
        AuditEntry(
            actor=f"admin:{admin.admin_id}",
            action=action,
            subject=school.code if school else admin.school_id,
            detail=detail,
            at=now,
        )
    )
