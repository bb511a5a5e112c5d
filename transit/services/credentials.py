"""QR credentials (docs/qr-ticket.md): the backend certifies a phone's key for a day.

The phone makes its own P-256 key pair (WebCrypto, not extractable) and sends the public key;
the backend answers with a credential signed by its issuer key (Ed25519): the virtual card's
number, the rider's category, the passes it holds and how much a validator may charge it with
no network (the account's balance). The app asks again whenever it is online, so a credential
is always fresh. The issuer key is the caller's (api/ derives it from SECRET_KEY); validators
get its public half, by key id, in every snapshot.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import delete, select, text

from fares.model import card_day, card_day_or_none
from transit.errors import DomainError
from transit.localtime import service_day
from transit.models import (
    AuditEntry,
    Card,
    CardShadow,
    CardStatus,
    Rider,
    TicketCredential,
)
from transit.services import ledger, loads, tariffs, versions
from transit.services.cards import CardNotFound
from transit.uow import UnitOfWork
from wire import Tap, TicketIssuer, qr

LIFETIME = timedelta(hours=24)


class MediumInactive(DomainError):
    """The account rides with another card: make this one active first."""

    code = "medium_inactive"
    status = 409


class VirtualCardBlocked(DomainError):
    code = "virtual_card_blocked"
    status = 409


class NegativeBalance(DomainError):
    """Validators charged more offline than the account held: a top-up comes first."""

    code = "negative_balance"
    status = 409


class InvalidPhoneKey(DomainError):
    code = "invalid_phone_key"
    status = 422


class Issuer:
    """The backend's Ed25519 key for credentials, from 32 secret bytes."""

    def __init__(self, secret: bytes) -> None:
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
        self.public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.kid = qr.key_id(self.public)

    def record(self) -> TicketIssuer:
        return TicketIssuer(kid=self.kid.hex(), public_key=self.public.hex())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


@dataclass(frozen=True)
class Issued:
    credential: bytes  # what the phone keeps and puts in every ticket
    credential_id: str
    expires_at: datetime
    spend_limit: int
    server_time: datetime


def compressed_phone_key(raw: bytes) -> bytes:
    """A P-256 public key as WebCrypto exports it (65 bytes) or compressed (33), checked to be
    a point of the curve, compressed."""
    if len(raw) not in (33, 65):
        raise InvalidPhoneKey("the phone's key is a P-256 public key: 65 bytes, or 33")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise InvalidPhoneKey("the phone's key is not a point of P-256") from None
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def issue(
    rider: Rider, card_id: str, phone_key: bytes, issuer: Issuer, now: datetime, uow: UnitOfWork
) -> Issued:
    """A credential for the rider's virtual card and this phone's key, valid LIFETIME."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        # A credential row is a record, not money: lost in a crash, the credential still works
        # and the app asks for another. The commit need not wait for the disk, which is most
        # of an issue's time (docs/virtual-card.md, bench/qr_tickets.py).
        session.execute(text("SET LOCAL synchronous_commit = off"))
    found = session.execute(
        select(Card, CardShadow.balance)
        .join(CardShadow, CardShadow.card_uid == Card.uid)
        .where(Card.card_id == card_id, Card.rider_id == rider.rider_id)
    ).first()
    if found is None or not ledger.is_virtual(found[0]):
        raise CardNotFound(card_id=card_id)
    card, balance = found
    key = compressed_phone_key(phone_key)
    if balance < 0:
        raise NegativeBalance("top up the account first")
    if rider.active_card_id != card.card_id:
        raise MediumInactive("the account rides with another card")
    if card.status != CardStatus.ACTIVE:
        raise VirtualCardBlocked(f"the virtual card is blocked ({card.blocked_reason})")
    today = card_day(service_day(now))
    version = tariffs.tariff().latest
    credential = qr.Credential(
        credential_id=secrets.token_bytes(8),
        card_number=card.card_number,
        category_code=version.categories[card.category_id].code,
        category_until=card_day_or_none(card.valid_until),
        passes=tuple(_passes(card, today, uow)),
        limit=balance,
        phone_key=key,
        not_before=int(now.timestamp()),
        expires=int((now + LIFETIME).timestamp()),
    )
    signed = qr.issue(credential, issuer.kid, issuer.sign)
    expires_at = now + LIFETIME
    session.add(
        TicketCredential(
            credential_id=credential.credential_id.hex(),
            card_id=card.card_id,
            phone_key=key.hex(),
            spend_limit=balance,
            issued_at=now,
            expires_at=expires_at,
            credential=signed,
        )
    )
    return Issued(signed, credential.credential_id.hex(), expires_at, balance, now)


def revoke(rider: Rider, card_id: str, now: datetime, uow: UnitOfWork) -> int:
    """Every credential of the rider's virtual card still valid is revoked (a lost phone):
    validators refuse their codes from their next sync. The phone in hand asks for a new one.
    Returns how many were revoked."""
    session = uow.session
    card = session.scalar(
        select(Card).where(Card.card_id == card_id, Card.rider_id == rider.rider_id)
    )
    if card is None or not ledger.is_virtual(card):
        raise CardNotFound(card_id=card_id)
    live = list(
        session.scalars(
            select(TicketCredential).where(
                TicketCredential.card_id == card.card_id,
                TicketCredential.expires_at > now,
                TicketCredential.revoked_at.is_(None),
            )
        )
    )
    for credential in live:
        credential.revoked_at = now
    if live:
        versions.bump_version(uow)  # validators take the new list with the next delta
        session.add(
            AuditEntry(
                actor=f"rider:{rider.rider_id}",
                action="revoke_credentials",
                subject=card.card_number,
                detail=", ".join(c.credential_id for c in live),
                at=now,
            )
        )
    return len(live)


def revoked(now: datetime, uow: UnitOfWork) -> tuple[str, ...]:
    """The revoked credentials that would still be valid: what every snapshot lists."""
    return tuple(
        uow.session.scalars(
            select(TicketCredential.credential_id)
            .where(
                TicketCredential.revoked_at.is_not(None),
                # The slack a validator allows past expiry (docs/qr-ticket.md) is covered too.
                TicketCredential.expires_at > now - timedelta(seconds=qr.CLOCK_SLACK),
            )
            .order_by(TicketCredential.credential_id)
        )
    )


def _passes(card: Card, today: int, uow: UnitOfWork) -> list[qr.PassGrant]:
    """The passes the account holds that are good today or later."""
    good = [qr.PassGrant(*entry) for entry in loads.account_passes(card, uow)]
    return [grant for grant in good if grant.valid_until >= today][:8]  # room for a few


# How long a credential is kept after it expired: a validator offline that long still has its
# QR taps proved when it comes back. A tap arriving later has no proof, costs the rider
# nothing, and raises an alert.
KEEP_EXPIRED = timedelta(days=14)


def prune(now: datetime, uow: UnitOfWork, keep: timedelta = KEEP_EXPIRED) -> int:
    """Delete the credentials that expired more than `keep` ago; returns how many went. A
    phone asks for a new one every few hours it is online, so they would otherwise pile up."""
    result = uow.session.execute(
        delete(TicketCredential).where(TicketCredential.expires_at < now - keep)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# A QR tap's proof (docs/qr-ticket.md, "The proof of a tap").
VALID, INVALID, UNCHECKED = "valid", "invalid", ""


@dataclass(frozen=True)
class Proof:
    verdict: str  # VALID, INVALID, or UNCHECKED: a credential issued before its bytes were kept
    why: str = ""


def tap_proofs(taps: Iterable[Tap], uow: UnitOfWork) -> dict[str, Proof]:
    """Whether the phone showed each accepted QR tap's code: its signature holds under the
    credential the backend issued for that card, over the credential's bytes and the code's
    time, and that time is the tap's (within a code's lifetime). A validator that did not see
    the code cannot make one: the phone's key never leaves the phone."""
    wanted = [t for t in taps if t.medium == "qr" and t.result == "accepted"]
    if not wanted:
        return {}
    session = uow.session
    issued = {
        row.credential_id: (row, uid)
        for row, uid in session.execute(
            select(TicketCredential, Card.uid)
            .join(Card, Card.card_id == TicketCredential.card_id)
            .where(TicketCredential.credential_id.in_(sorted({t.credential_id for t in wanted})))
        )
    }
    return {tap.tap_id: check_proof(tap, issued.get(tap.credential_id)) for tap in wanted}


def check_proof(tap: Tap, found: tuple[TicketCredential, str] | None) -> Proof:
    """One tap's proof, against the credential it names and that credential's card uid (None:
    never issued)."""
    if found is None:
        return Proof(INVALID, f"credential {tap.credential_id} was never issued")
    row, card_uid = found
    if card_uid != tap.card_uid:
        return Proof(INVALID, f"credential {tap.credential_id} is another card's")
    if row.credential is None:
        return Proof(UNCHECKED, "issued before credentials were kept")
    signed_at = tap.code_signed_at
    if signed_at is None:
        return Proof(INVALID, "no code time")
    seconds = int(signed_at.timestamp())
    # What an honest validator can accept: its clock within the credential's day (and the
    # slack), the code signed at most MAX_AGE before that clock or CLOCK_SLACK after it.
    earliest = row.issued_at - timedelta(seconds=qr.MAX_AGE + qr.CLOCK_SLACK + 1)
    latest = row.expires_at + timedelta(seconds=2 * qr.CLOCK_SLACK)
    if not earliest <= signed_at < latest:
        return Proof(INVALID, f"the code was signed outside credential {tap.credential_id}'s day")
    lag = (tap.time - signed_at).total_seconds()
    if not -qr.CLOCK_SLACK <= lag <= qr.MAX_AGE + qr.CLOCK_SLACK:
        return Proof(INVALID, f"tapped {lag:.0f} s after the code was signed")
    try:
        raw = base64.urlsafe_b64decode(tap.code_signature + "==")
    except (binascii.Error, ValueError):
        return Proof(INVALID, "the signature is not base64url")
    if len(raw) != 64:
        return Proof(INVALID, "the signature is not 64 bytes")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(row.phone_key))
    der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    try:
        key.verify(der, qr.ticket_signed_bytes(row.credential, seconds), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return Proof(INVALID, "the phone's signature does not hold")
    return Proof(VALID)
