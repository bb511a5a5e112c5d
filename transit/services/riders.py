"""Riders' accounts: registration by phone with a one-time code, passwords, refresh tokens.

Nothing here reveals whether a phone number has an account: registration and password-reset
requests always end the same way, and a wrong number or a wrong password are the same error.
A failed code attempt or a reused refresh token is recorded (committed) before the refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import phonenumbers
from sqlalchemy import select, update

from transit.errors import DomainError
from transit.models import (
    Card,
    CodePurpose,
    OneTimeCode,
    Payment,
    RefreshToken,
    Rider,
    RiderStatus,
    TapRecord,
)
from transit.passwords import hash_password, matches, normalized, verify
from transit.uow import UnitOfWork

CONSENT_VERSION = "2026-11"
MIN_PASSWORD = 8
MAX_PASSWORD = 128
CODE_LIFETIME = timedelta(minutes=5)
CODE_ATTEMPTS = 5
REFRESH_LIFETIME = timedelta(days=30)
LANGUAGES = ("vi", "en")

_COMMON = {"12345678", "123456789", "1234567890", "password", "matkhau123", "11111111", "qwerty123"}


class InvalidPhone(DomainError):
    code = "invalid_phone"
    status = 422


class WeakPassword(DomainError):
    code = "weak_password"
    status = 422


class ConsentRequired(DomainError):
    code = "consent_required"
    status = 422


class InvalidCode(DomainError):
    code = "invalid_code"
    status = 400


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 401


class PhoneNotVerified(DomainError):
    code = "phone_not_verified"
    status = 403


class InvalidRefreshToken(DomainError):
    code = "invalid_token"
    status = 401


class SmsSender(Protocol):
    """Sends a text message; the gateway is the edge of the world, so it is pluggable."""

    def send(self, phone: str, text: str) -> None: ...


# Without diacritics, as Vietnamese service SMS usually are: plain GSM text fits 160
# characters in one message, UCS-2 only 70.
_TEXTS = {
    "verify": (
        "Ma xac minh the xe buyt Ha Noi: {code}. Hieu luc 5 phut. Khong chia se ma nay.",
        "Hanoi bus card verification code: {code}. Valid 5 minutes. Do not share it.",
    ),
    "reset": (
        "Ma dat lai mat khau the xe buyt Ha Noi: {code}. Hieu luc 5 phut.",
        "Hanoi bus card password reset code: {code}. Valid 5 minutes.",
    ),
    "registered": (
        "So dien thoai nay da co tai khoan the xe buyt Ha Noi. "
        "Hay dang nhap hoac dat lai mat khau.",
        "This number already has a Hanoi bus card account. Log in or reset your password.",
    ),
    "no_account": (
        "Co yeu cau dat lai mat khau the xe buyt Ha Noi cho so nay, nhung so nay chua co "
        "tai khoan. Hay dang ky trong ung dung.",
        "A Hanoi bus card password reset was asked for this number, but it has no account. "
        "Sign up in the app.",
    ),
}


def _text(kind: str, language: str, **values: Any) -> str:
    vi, en = _TEXTS[kind]
    return (en if language == "en" else vi).format(**values)


def normalize_phone(text: str) -> str:
    """A Vietnamese mobile number in E.164 (+84...), from any way people write it."""
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        raise InvalidPhone("not a phone number") from None
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a Vietnamese phone number")
    if number.extension:
        raise InvalidPhone("a mobile number has no extension")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone("not a mobile number: codes go by SMS")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_password(password: str, phone: str) -> None:
    password = normalized(password)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    digits = phone.removeprefix("+84")
    if password.lower() in _COMMON or digits in password or len(set(password)) < 4:
        raise WeakPassword("this password is too easy to guess")


@dataclass(frozen=True)
class Codes:
    """How one-time codes are made and checked: a keyed hash, and where they are sent."""

    key: bytes
    sms: SmsSender
    make: Callable[[], str] = lambda: f"{secrets.randbelow(10**6):06d}"

    def digest(self, phone: str, purpose: str, code: str) -> str:
        message = f"{phone}|{purpose}|{code.strip()}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def request_registration(
    phone_text: str,
    password: str,
    *,
    consent: bool,
    language: str,
    now: datetime,
    uow: UnitOfWork,
    codes: Codes,
) -> None:
    """Start a registration: a code goes to the phone. Same outcome, and same work, either way.

    The password waits beside this registration's code and reaches the account only when the
    phone is verified with that code and that password: a second caller registering the same
    pending number cannot choose its password, and never stops the owner's code from working.
    """
    phone = normalize_phone(phone_text)
    check_password(password, phone)
    if not consent:
        raise ConsentRequired("registration needs consent to the personal data notice")
    if language not in LANGUAGES:
        language = "vi"
    # Hashed on every path: an answer that skipped it would say the number has an account.
    password_hash = hash_password(password)
    session = uow.session
    rider = session.scalar(select(Rider).where(Rider.phone == phone))
    if rider is not None and rider.status == RiderStatus.ACTIVE:
        # The owner of the number learns of the attempt; the caller learns nothing.
        codes.sms.send(phone, _text("registered", rider.language))
        return
    if rider is None:
        rider = Rider(
            rider_id="rdr_" + secrets.token_hex(12),
            phone=phone,
            status=RiderStatus.UNVERIFIED,
            language=language,
            consent_version=CONSENT_VERSION,
            consent_at=now,
            created_at=now,
        )
        session.add(rider)
    elif rider.status == RiderStatus.UNVERIFIED:
        rider.language = language  # only the language of the texts; nothing else is taken
    _send_code(phone, CodePurpose.VERIFY, language, now, uow, codes, password_hash=password_hash)


def request_password_reset(phone_text: str, now: datetime, uow: UnitOfWork, codes: Codes) -> None:
    """Send a reset code if the number has an account; say nothing either way.

    A number without an account gets a text too, so both paths wait on the SMS gateway alike:
    an answer that skipped it would be faster, and tell which numbers have accounts.
    """
    try:
        phone = normalize_phone(phone_text)
    except InvalidPhone:
        return
    rider = uow.session.scalar(select(Rider).where(Rider.phone == phone))
    if rider is not None and rider.status == RiderStatus.ACTIVE:
        _send_code(phone, CodePurpose.RESET, rider.language, now, uow, codes)
    else:
        codes.sms.send(phone, _text("no_account", rider.language if rider else "vi"))


def _send_code(
    phone: str,
    purpose: CodePurpose,
    language: str,
    now: datetime,
    uow: UnitOfWork,
    codes: Codes,
    *,
    password_hash: str | None = None,
) -> None:
    session = uow.session
    if purpose != CodePurpose.VERIFY:
        # A new reset code replaces any earlier one. Registration codes live side by side, each
        # bound to its own password, so a stranger's registration cannot cancel the owner's.
        session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.phone == phone,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
    code = codes.make()
    session.add(
        OneTimeCode(
            phone=phone,
            purpose=purpose,
            code_hash=codes.digest(phone, purpose, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            attempts=0,
            password_hash=password_hash,
        )
    )
    session.flush()
    codes.sms.send(phone, _text(purpose, language, code=code))


def _use_code(
    phone_text: str,
    purpose: CodePurpose,
    code: str,
    now: datetime,
    uow: UnitOfWork,
    codes: Codes,
    password: str | None = None,
) -> tuple[str, OneTimeCode]:
    """Spend a code (and, for a registration, check the password bound to it).

    A failed attempt counts against every live code of the number and is committed before the
    refusal. Returns the phone and the spent code.
    """
    try:
        phone = normalize_phone(phone_text)
    except InvalidPhone:
        raise InvalidCode() from None
    session = uow.session
    live = list(
        session.scalars(
            select(OneTimeCode)
            .where(
                OneTimeCode.phone == phone,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
                OneTimeCode.attempts < CODE_ATTEMPTS,
            )
            .order_by(OneTimeCode.code_id.desc())
            .with_for_update()
        )
    )
    if not live:
        raise InvalidCode()
    digest = codes.digest(phone, purpose, code)
    found = next((row for row in live if hmac.compare_digest(row.code_hash, digest)), None)
    bound = _bound_password(found, phone, uow) if found is not None else None
    right = found is not None and (password is None or matches(bound, password))
    if found is None or not right:
        for row in live:
            row.attempts += 1
        uow.commit()
        raise InvalidCode()
    for row in live:
        # One registration wins; the other pending codes of the number die with it.
        if row is found or purpose == CodePurpose.VERIFY:
            row.used_at = now
    return phone, found


def _bound_password(row: OneTimeCode, phone: str, uow: UnitOfWork) -> str | None:
    if row.password_hash is not None or row.purpose != CodePurpose.VERIFY:
        return row.password_hash
    # A code sent before passwords were kept beside codes: the password is the rider's own.
    rider = uow.session.scalar(select(Rider).where(Rider.phone == phone))
    return rider.password_hash if rider is not None else None


def verify_phone(
    phone_text: str, code: str, password: str, now: datetime, uow: UnitOfWork, codes: Codes
) -> Rider:
    """The code from the registration SMS, with that registration's password: the account
    becomes active with that password."""
    phone, spent = _use_code(
        phone_text, CodePurpose.VERIFY, code, now, uow, codes, password=password
    )
    rider = uow.session.scalar(select(Rider).where(Rider.phone == phone))
    if rider is None:
        raise InvalidCode()
    if rider.status == RiderStatus.UNVERIFIED:
        rider.password_hash = _bound_password(spent, phone, uow)
        rider.status = RiderStatus.ACTIVE
        rider.verified_at = now
        # The consent that counts is the one given with the registration that was verified.
        rider.consent_version = CONSENT_VERSION
        rider.consent_at = spent.created_at
    # The account holds the password now; no registration's hash is kept beside a code.
    uow.session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.phone == phone, OneTimeCode.purpose == CodePurpose.VERIFY)
        .values(password_hash=None)
    )
    return rider


def reset_password(
    phone_text: str, code: str, new_password: str, now: datetime, uow: UnitOfWork, codes: Codes
) -> Rider:
    """A forgotten password replaced with a code from SMS; every session is logged out."""
    phone = normalize_phone(phone_text)
    check_password(new_password, phone)
    phone, _ = _use_code(phone, CodePurpose.RESET, code, now, uow, codes)
    rider = uow.session.scalar(select(Rider).where(Rider.phone == phone))
    if rider is None or rider.status != RiderStatus.ACTIVE:
        raise InvalidCode()
    _set_password(rider, new_password, now, uow)
    return rider


def login(phone_text: str, password: str, uow: UnitOfWork) -> Rider:
    try:
        phone = normalize_phone(phone_text)
    except InvalidPhone:
        phone = None
    rider = (
        uow.session.scalar(select(Rider).where(Rider.phone == phone)) if phone is not None else None
    )
    stored = rider.password_hash if rider is not None else None
    if rider is not None and rider.status == RiderStatus.UNVERIFIED:
        # The password of the newest registration, so its author hears the phone is unverified.
        stored = uow.session.scalar(
            select(OneTimeCode.password_hash)
            .where(OneTimeCode.phone == rider.phone, OneTimeCode.purpose == CodePurpose.VERIFY)
            .order_by(OneTimeCode.code_id.desc())
            .limit(1)
        )
    # Checked even without a rider: an unknown number costs the same time as a wrong password.
    right, rehash = verify(stored, password)
    if not right or rider is None or stored is None:
        raise InvalidCredentials()
    if rider.status != RiderStatus.ACTIVE:
        raise PhoneNotVerified("verify the phone number with the code sent to it first")
    if rehash:
        rider.password_hash = hash_password(password)
    return rider


def change_password(rider: Rider, current: str, new: str, now: datetime, uow: UnitOfWork) -> None:
    if rider.password_hash is None or not matches(rider.password_hash, current):
        raise InvalidCredentials()
    if rider.phone is None:
        raise InvalidCredentials()
    check_password(new, rider.phone)
    _set_password(rider, new, now, uow)


def _set_password(rider: Rider, password: str, now: datetime, uow: UnitOfWork) -> None:
    rider.password_hash = hash_password(password)
    rider.password_changed_at = now
    revoke_all(rider.rider_id, now, uow)


# -- refresh tokens -------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(
    rider_id: str, now: datetime, uow: UnitOfWork, family_id: str | None = None
) -> str:
    """A new opaque refresh token (only its hash is stored), in a new family or `family_id`."""
    token = "rt_" + secrets.token_urlsafe(32)
    uow.session.add(
        RefreshToken(
            token_hash=_token_hash(token),
            family_id=family_id or "fam_" + secrets.token_hex(12),
            rider_id=rider_id,
            issued_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    return token


def rotate_refresh_token(token: str, now: datetime, uow: UnitOfWork) -> tuple[Rider, str]:
    """Spend a refresh token for a new one. A token used twice revokes its whole family."""
    session = uow.session
    row = session.get(RefreshToken, _token_hash(token), with_for_update=True)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise InvalidRefreshToken()
    if row.used_at is not None:
        # Someone holds a copy: whoever uses the family next, both are logged out.
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        uow.commit()
        raise InvalidRefreshToken()
    rider = session.get(Rider, row.rider_id)
    if rider is None or rider.status != RiderStatus.ACTIVE:
        raise InvalidRefreshToken()
    row.used_at = now
    return rider, issue_refresh_token(rider.rider_id, now, uow, family_id=row.family_id)


def revoke_family(token: str, now: datetime, uow: UnitOfWork) -> None:
    """Log out one device: the family of the refresh token it holds."""
    row = uow.session.get(RefreshToken, _token_hash(token))
    if row is None:
        return
    uow.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all(rider_id: str, now: datetime, uow: UnitOfWork) -> None:
    uow.session.execute(
        update(RefreshToken)
        .where(RefreshToken.rider_id == rider_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# -- the rider's own data ------------------------------------------------------------------


def active_rider(rider_id: str, uow: UnitOfWork) -> Rider | None:
    rider = uow.session.get(Rider, rider_id)
    return rider if rider is not None and rider.status == RiderStatus.ACTIVE else None


def delete_account(rider: Rider, password: str, now: datetime, uow: UnitOfWork) -> None:
    """Erase the rider's personal data. Cards keep working and their trips stay, unlinked."""
    if rider.password_hash is None or not matches(rider.password_hash, password):
        raise InvalidCredentials()
    session = uow.session
    if rider.phone is not None:
        session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.phone == rider.phone)
            .values(phone="", password_hash=None)
        )
    session.execute(
        update(Card).where(Card.rider_id == rider.rider_id).values(rider_id=None, linked_at=None)
    )
    revoke_all(rider.rider_id, now, uow)
    rider.phone = None
    rider.password_hash = None
    rider.status = RiderStatus.DELETED
    rider.deleted_at = now


def export_data(rider: Rider, uow: UnitOfWork) -> dict[str, Any]:
    """Everything kept about the rider, as Decree 13/2023/ND-CP lets them ask for."""
    session = uow.session
    cards = list(session.scalars(select(Card).where(Card.rider_id == rider.rider_id)))
    return {
        "rider": {
            "rider_id": rider.rider_id,
            "phone": rider.phone,
            "language": rider.language,
            "created_at": rider.created_at.isoformat(),
            "verified_at": rider.verified_at.isoformat() if rider.verified_at else None,
            "consent": {"version": rider.consent_version, "at": rider.consent_at.isoformat()},
        },
        "cards": [
            {
                "card_id": card.card_id,
                "card_number": card.card_number,
                "status": card.status,
                "linked_at": card.linked_at.isoformat() if card.linked_at else None,
                "trips": [
                    {
                        "time": tap.time.isoformat(),
                        "route_id": tap.route_id,
                        "stop_id": tap.stop_id,
                        "result": tap.result,
                        "amount": tap.amount,
                        "balance_after": tap.balance_after,
                    }
                    for tap in session.scalars(
                        select(TapRecord)
                        .where(TapRecord.card_uid == card.uid)
                        .order_by(TapRecord.time)
                    )
                ],
            }
            for card in cards
        ],
        "payments": [
            {
                "payment_id": payment.payment_id,
                "kind": payment.kind,
                "product_id": payment.product_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "status": payment.status,
                "created_at": payment.created_at.isoformat(),
            }
            for payment in session.scalars(
                select(Payment)
                .where(Payment.rider_id == rider.rider_id)
                .order_by(Payment.created_at)
            )
        ],
    }
