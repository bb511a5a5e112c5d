"""Issuing cards: printed numbers with a check digit, check codes, and the card register."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from cards.application import MasterKeys, personalize
from cards.client import DesfireClient
from cards.connection import CardConnection, CardError, IsoStatusError, ProtocolError, read_uid
from cards.desfire import UID_SIZE
from cards.layout import MAX_BALANCE as MAX_BALANCE
from transit.errors import DomainError, NotFound
from transit.models import Card, CardShadow, CardStatus
from transit.uow import UnitOfWork

# No 0/O, 1/I/L: the rider reads the code off a paper sleeve and types it into the app.
CHECK_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CHECK_CODE_LENGTH = 8
SERIAL_DIGITS = 11
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class CardAlreadyIssued(DomainError):
    code = "card_already_issued"
    status = 409


class CardNotFound(NotFound):
    code = "card_not_found"


@dataclass(frozen=True)
class Reservation:
    """A card number set aside for the card in the reader, until it is personalized."""

    card_id: str
    card_number: str
    check_code: str


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Whether a card number's last digit is its Luhn check digit."""
    return number.isdigit() and len(number) > 1 and luhn_digit(number[:-1]) == number[-1]


def card_number(prefix: str, serial: int) -> str:
    """Prefix, serial padded to SERIAL_DIGITS, and the Luhn digit."""
    if not prefix.isdigit():
        raise ValueError(f"a card number prefix is digits, not {prefix!r}")
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"serial {serial} does not fit {SERIAL_DIGITS} digits")
    body = f"{prefix}{serial:0{SERIAL_DIGITS}d}"
    return body + luhn_digit(body)


def new_check_code() -> str:
    return "".join(secrets.choice(CHECK_CODE_ALPHABET) for _ in range(CHECK_CODE_LENGTH))


def hash_check_code(code: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(_normalize(code).encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


# Checked against when there is no card: a missing number costs the same scrypt as a wrong code.
_NO_CARD = "scrypt$" + "00" * 16 + "$" + "00" * 32


def check_code_matches(code: str, stored: str | None) -> bool:
    """Whether `code` is the card's check code; None (no such card) does the same work."""
    scheme, salt, digest = (stored or _NO_CARD).split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown check code hash scheme {scheme!r}")
    candidate = hashlib.scrypt(_normalize(code).encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest) and stored is not None


def _normalize(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def reserve_card(
    uow: UnitOfWork,
    *,
    uid: bytes,
    category_id: str,
    valid_until: date | None,
    balance: int,
    prefix: str,
    now: datetime,
) -> Reservation:
    """Set a number aside for a blank card; refused if the card was issued before."""
    session = uow.session
    uid_hex = uid.hex().upper()
    existing = session.scalar(select(Card).where(Card.uid == uid_hex))
    if existing is not None and existing.status != CardStatus.VOID:
        raise CardAlreadyIssued(
            f"card {uid_hex} is already issued as {existing.card_number}",
            uid=uid_hex,
            card_number=existing.card_number,
        )
    if existing is not None:
        session.delete(existing)
        session.flush()
    serial = (session.scalar(select(func.max(Card.serial))) or 0) + 1
    code = new_check_code()
    card = Card(
        card_id="crd_" + secrets.token_hex(12),
        uid=uid_hex,
        serial=serial,
        card_number=card_number(prefix, serial),
        check_code_hash=hash_check_code(code),
        category_id=category_id,
        valid_until=valid_until,
        initial_balance=balance,
        status=CardStatus.ISSUING,
        issued_at=now,
    )
    session.add(card)
    session.flush()
    return Reservation(card.card_id, card.card_number, code)


def finish_issuing(uow: UnitOfWork, card_id: str, *, personalized: bool) -> None:
    """Mark a reserved card active once personalized, or void if personalizing failed."""
    card = uow.session.get(Card, card_id)
    if card is None or card.status != CardStatus.ISSUING:
        raise CardNotFound(card_id=card_id)
    card.status = CardStatus.ACTIVE if personalized else CardStatus.VOID
    if personalized and uow.session.get(CardShadow, card.uid) is None:
        uow.session.add(CardShadow(card_uid=card.uid, balance=card.initial_balance, last_card_tx=0))


@dataclass(frozen=True)
class IssuedCard:
    card_id: str
    card_number: str
    check_code: str
    uid: str


class NotADesfireCard(DomainError):
    code = "not_a_desfire_card"


class CardNotIssued(DomainError):
    """Talking to the card failed; the reservation is void and the card may be tried again."""

    code = "card_not_issued"


def issue_card(
    connection: CardConnection,
    masters: MasterKeys,
    units: Callable[[], UnitOfWork],
    *,
    category_id: str,
    category_code: int,
    valid_until: date | None,
    balance: int,
    prefix: str,
    now: datetime,
    today: date,
) -> IssuedCard:
    """Register and personalize the blank card on `connection`.

    Two transactions on purpose: the number is reserved and committed before the card is
    touched, so a crash mid-personalization leaves a visible 'issuing' row, never a
    personalized card the register does not know.
    """
    if not 0 <= balance <= MAX_BALANCE:
        raise ValueError(f"an initial balance is 0 to {MAX_BALANCE:,} VND")
    try:
        uid = read_uid(connection)
    except (IsoStatusError, ProtocolError) as error:
        raise NotADesfireCard("the card in the reader is not a DESFire EV1") from error
    except CardError as error:
        raise CardNotIssued(f"the card was not issued: {error}") from error
    if len(uid) != UID_SIZE:
        raise NotADesfireCard("the card in the reader is not a DESFire EV1")
    with units() as uow:
        reservation = reserve_card(
            uow,
            uid=uid,
            category_id=category_id,
            valid_until=valid_until,
            balance=balance,
            prefix=prefix,
            now=now,
        )
        uow.commit()
    personalized = False
    try:
        personalize(
            DesfireClient(connection),
            uid,
            masters,
            card_number=int(reservation.card_number),
            category_code=category_code,
            valid_until=valid_until,
            balance=balance,
            issued=today,
        )
        personalized = True
    except CardError as error:
        raise CardNotIssued(f"the card was not issued: {error}") from error
    finally:
        with units() as uow:
            finish_issuing(uow, reservation.card_id, personalized=personalized)
            uow.commit()
    return IssuedCard(
        reservation.card_id, reservation.card_number, reservation.check_code, uid.hex().upper()
    )
