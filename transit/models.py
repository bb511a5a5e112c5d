"""Tables of the backend, as typed SQLAlchemy 2 models."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from transit.db import Base, UtcDateTime

# GTFS ids are public (printed on stops and buses), so the network keeps them as keys.
GTFS_ID = 64


class CardStatus(StrEnum):
    ISSUING = "issuing"  # its number is reserved; the chip is not written yet
    ACTIVE = "active"
    BLOCKED = "blocked"  # on the deny list
    REPLACED = "replaced"  # blocked, and what it held moved to another card
    VOID = "void"  # personalizing failed; the number may be issued again


class BlockReason(StrEnum):
    """Why a card is on the deny list; a rider may give the first three."""

    LOST = "lost"
    STOLEN = "stolen"
    DAMAGED = "damaged"
    FRAUD = "fraud"
    SUSPECTED_CLONE = "suspected_clone"
    # Not the account's active medium: the rider rides with their other card (or the phone).
    INACTIVE_MEDIUM = "inactive_medium"
    # A virtual card whose account is below zero, until it is topped up.
    NEGATIVE_BALANCE = "negative_balance"


class CardKind(StrEnum):
    PHYSICAL = "physical"  # a DESFire card: its purse is on the chip
    VIRTUAL = "virtual"  # the phone's QR ticket: its purse is the account, on the server


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class JourneyStatus(StrEnum):
    """How much of a journey the server has seen: its entry, its exit, or what closed it."""

    OPEN = "open"  # entered; no exit seen yet
    COMPLETE = "complete"  # entry and exit both seen
    NO_TAP_OFF = "no_tap_off"  # paid at entry, never tapped off: a later entry closed it
    NO_EXIT = "no_exit"  # priced at exit, never left: charged the line's maximum at a later entry
    NO_ENTRY = "no_entry"  # an exit whose entry has not arrived, or never happened


class TapVerdict(StrEnum):
    """What the validator decided, as kept in taps.result."""

    ACCEPTED = "accepted"
    DENIED = "denied"


class PendingActionKind(StrEnum):
    CREDIT = "credit"  # money for the purse
    PASS = "pass"  # noqa: S105  a travel pass, not a password
    PROFILE = "profile"  # a rider category


class PendingActionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"  # a tap says the card has it
    WITHDRAWN = "withdrawn"


class PaymentKind(StrEnum):
    TOPUP = "topup"
    PASS = "pass"  # noqa: S105  a travel pass, not a password


class PaymentStatus(StrEnum):
    """Our side of a payment; what the rider's app polls is derived from it."""

    CREATED = "created"  # asked of the provider; no answer that it was paid
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class RiderStatus(StrEnum):
    UNVERIFIED = "unverified"  # the phone number is not confirmed yet
    ACTIVE = "active"
    DELETED = "deleted"


class CodePurpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Agency(Base):
    __tablename__ = "agencies"

    agency_id: Mapped[str] = mapped_column(String(GTFS_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Route(Base):
    __tablename__ = "routes"

    route_id: Mapped[str] = mapped_column(String(GTFS_ID), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.agency_id"))
    short_name: Mapped[str] = mapped_column(String(64))
    long_name: Mapped[str] = mapped_column(String(300))
    route_type: Mapped[int] = mapped_column(Integer)
    color: Mapped[str | None] = mapped_column(String(6))
    text_color: Mapped[str | None] = mapped_column(String(6))
    description: Mapped[str | None] = mapped_column(Text)
    # A route that left the feed stays, inactive, so past trips still name it.
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    agency: Mapped[Agency] = relationship(lazy="joined")
    patterns: Mapped[list[RoutePattern]] = relationship(
        back_populates="route",
        order_by="RoutePattern.direction_id",
        cascade="all, delete-orphan",
    )


class Stop(Base):
    __tablename__ = "stops"
    __table_args__ = (Index("ix_stops_lat_lon", "lat", "lon"),)

    stop_id: Mapped[str] = mapped_column(String(GTFS_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    code: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    location_type: Mapped[int] = mapped_column(Integer, default=0)
    parent_station: Mapped[str | None] = mapped_column(String(GTFS_ID))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RoutePattern(Base):
    """One direction of a route: its headsign, its stops in order and its drawn line."""

    __tablename__ = "route_patterns"

    route_id: Mapped[str] = mapped_column(
        ForeignKey("routes.route_id", ondelete="CASCADE"), primary_key=True
    )
    direction_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    headsign: Mapped[str | None] = mapped_column(String(300))
    # [[lat, lon], ...] as JSON text; read as a whole, never queried inside.
    shape: Mapped[str | None] = mapped_column(Text)
    length_m: Mapped[int | None] = mapped_column(Integer)

    route: Mapped[Route] = relationship(back_populates="patterns")
    stops: Mapped[list[PatternStop]] = relationship(
        order_by="PatternStop.sequence",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class PatternStop(Base):
    __tablename__ = "pattern_stops"
    __table_args__ = (
        ForeignKeyConstraint(
            ["route_id", "direction_id"],
            ["route_patterns.route_id", "route_patterns.direction_id"],
            ondelete="CASCADE",
        ),
        Index("ix_pattern_stops_stop_id", "stop_id"),
    )

    route_id: Mapped[str] = mapped_column(String(GTFS_ID), primary_key=True)
    direction_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    stop_id: Mapped[str] = mapped_column(ForeignKey("stops.stop_id"))

    stop: Mapped[Stop] = relationship(lazy="joined")


class Card(Base):
    """A card the issuer personalized: its chip UID, printed number and rider category."""

    __tablename__ = "cards"

    card_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    card_number: Mapped[str] = mapped_column(String(19), unique=True)
    # Only a salted scrypt hash: the code printed on the sleeve proves possession of the card.
    check_code_hash: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[str] = mapped_column(String(32))
    valid_until: Mapped[date | None] = mapped_column(Date)
    initial_balance: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[CardStatus] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The rider who linked the card with its number and check code, if any.
    rider_id: Mapped[str | None] = mapped_column(ForeignKey("riders.rider_id"), index=True)
    linked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    blocked_reason: Mapped[BlockReason | None] = mapped_column(String(16))
    # A virtual card's uid is its card number (16 digits; a chip's UID is 8 or 14 hex digits).
    kind: Mapped[CardKind] = mapped_column(String(8), server_default=CardKind.PHYSICAL)


class Device(Base):
    """A validator: only its Ed25519 public key is kept, so the database can forge nothing."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    route_id: Mapped[str] = mapped_column(String(GTFS_ID))
    public_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeviceStatus] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_backlog: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str | None] = mapped_column(String(64))


class DeviceNonce(Base):
    __tablename__ = "device_nonces"

    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class TapRecord(Base):
    """A tap as a validator journaled it; tap_id (made by the device) makes uploads idempotent."""

    __tablename__ = "taps"
    __table_args__ = (
        Index("ix_taps_card_uid_time", "card_uid", "time"),
        Index("ix_taps_card_uid_card_tx", "card_uid", "card_tx"),
    )

    tap_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40))
    device_seq: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    card_uid: Mapped[str] = mapped_column(String(20))
    card_number: Mapped[str | None] = mapped_column(String(19))
    route_id: Mapped[str] = mapped_column(String(GTFS_ID))
    stop_id: Mapped[str] = mapped_column(String(GTFS_ID))
    result: Mapped[TapVerdict] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_by: Mapped[str] = mapped_column(String(20))
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    card_tx: Mapped[int | None] = mapped_column(BigInteger)
    tariff_version: Mapped[str | None] = mapped_column(String(40))
    explanation: Mapped[str] = mapped_column(Text)
    commit: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8), server_default="entry")  # or exit
    vehicle_id: Mapped[str] = mapped_column(String(40), server_default="")
    entry_time: Mapped[datetime | None] = mapped_column(UtcDateTime())  # an exit's journey start
    unfinished: Mapped[int] = mapped_column(BigInteger, server_default="0")
    medium: Mapped[str] = mapped_column(String(8), server_default="card")  # or qr
    credential_id: Mapped[str] = mapped_column(String(16), server_default="")  # a QR tap's
    code_signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # a QR tap's
    code_signature: Mapped[str] = mapped_column(String(86), server_default="")  # a QR tap's
    # A QR tap the validator accepted: "valid" when the phone's signature holds under the
    # credential the backend issued for that card, "invalid" when not (the account is not
    # charged, an operator is alerted); "" for any other tap.
    proof: Mapped[str] = mapped_column(String(8), server_default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Journey(Base):
    """A card's journey: its entry and exit taps paired, with what it cost in all.

    Built from uploaded taps in any order: the exit names its entry by the entry's time as the
    card recorded it (whole seconds), so a late or missing half is settled when it arrives.
    `fare` is what this journey cost: the charge at entry (less any part for an earlier journey),
    at exit, and a line maximum charged later because it had no exit.
    """

    __tablename__ = "journeys"
    __table_args__ = (
        UniqueConstraint("card_uid", "started_at", name="uq_journeys_card_uid_started_at"),
        Index("ix_journeys_started_at", "started_at"),
    )

    journey_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    card_uid: Mapped[str] = mapped_column(String(20))
    route_id: Mapped[str] = mapped_column(String(GTFS_ID))
    origin_stop_id: Mapped[str | None] = mapped_column(String(GTFS_ID))
    destination_stop_id: Mapped[str | None] = mapped_column(String(GTFS_ID))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())  # whole seconds
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fare: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[JourneyStatus] = mapped_column(String(16))
    priced_at_exit: Mapped[bool] = mapped_column(default=False)
    entry_tap_id: Mapped[str | None] = mapped_column(String(40))
    exit_tap_id: Mapped[str | None] = mapped_column(String(40))
    explanation: Mapped[str] = mapped_column(Text, default="")  # the engine's, for the operator
    # Why, as data the rider's app words in their language (fares.why): each tap's parts.
    reasons: Mapped[list[dict[str, object]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UnsettledCharge(Base):
    """A charge a validator sent to a card whose answer it never got, reported once the rider
    had gone (docs/validator-protocol.md, `commit` `unknown`): kept out of every ledger until
    the card's own word shows it happened. A later tap of the card that skips its transaction
    with the purse lower by its amount proves it, and it becomes a tap (`recovered`)."""

    __tablename__ = "unsettled_charges"

    tap_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40))
    card_uid: Mapped[str] = mapped_column(String(20), index=True)
    card_tx: Mapped[int] = mapped_column(BigInteger)  # the card's counter had it happened
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)  # the purse had it happened
    body: Mapped[str] = mapped_column(Text)  # the tap as the validator drafted it (wire JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CardShadow(Base):
    """The backend's running copy of a card's purse, from issuing, loads and uploaded taps."""

    __tablename__ = "card_shadows"

    card_uid: Mapped[str] = mapped_column(String(20), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    last_card_tx: Mapped[int] = mapped_column(BigInteger)
    last_tap_id: Mapped[str | None] = mapped_column(String(40))
    # When the card's newest known transaction happened: a lower counter seen later than this
    # means the card was rolled back.
    last_tap_time: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PendingAction(Base):
    """A load waiting to be written to a card by whichever validator sees it first."""

    __tablename__ = "pending_actions"

    card_uid: Mapped[str] = mapped_column(String(20), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[PendingActionKind] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[PendingActionStatus] = mapped_column(String(16))
    confirmed_by_tap: Mapped[str | None] = mapped_column(String(40))
    # For a pass: JSON with the pass record to write and the product it is.
    detail: Mapped[str | None] = mapped_column(Text)
    changed_version: Mapped[int] = mapped_column(BigInteger, index=True)


class DenyEntry(Base):
    __tablename__ = "deny_list"

    card_uid: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[BlockReason] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_version: Mapped[int] = mapped_column(BigInteger, index=True)


class Alert(Base):
    """Something an operator must look at: a suspected clone, a balance that disagrees."""

    __tablename__ = "alerts"

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    card_uid: Mapped[str | None] = mapped_column(String(20))
    device_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    __tablename__ = "audit_log"

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class SyncVersion(Base):
    """One row: the version of what validators download; bumped by every deny or load change."""

    __tablename__ = "sync_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class Rider(Base):
    """A rider's account. Deleting it erases phone and password; their trips stay, unlinked."""

    __tablename__ = "riders"

    rider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # E.164 (+84...); NULL once the account is deleted.
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[RiderStatus] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    # Decree 13/2023/ND-CP: what the rider agreed to, and when.
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The one medium the account rides with (docs/virtual-card.md): a card id of this rider,
    # checked in transit/services/accounts.py. NULL: every linked card (before virtual cards).
    active_card_id: Mapped[str | None] = mapped_column(String(40))


class OneTimeCode(Base):
    """A code sent by SMS: only its keyed hash is kept, it expires, and it tolerates few tries."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_phone_purpose", "phone", "purpose"),)

    code_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[CodePurpose] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A registration's password waits here, beside its code, until the phone is verified.
    password_hash: Mapped[str | None] = mapped_column(String(200))


class RefreshToken(Base):
    """One refresh token of a login's family; kept as a hash, used once, reuse revokes all."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    rider_id: Mapped[str] = mapped_column(ForeignKey("riders.rider_id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Payment(Base):
    """Money a rider pays (a top-up or a pass) through a payment provider.

    The row is also the request's idempotency record: one per (rider, Idempotency-Key), with
    the fingerprint of the request that made it. States only move forward: created ->
    succeeded | failed, failed -> succeeded (another card tried), succeeded -> refunded.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("rider_id", "idempotency_key"),
        UniqueConstraint("provider", "provider_ref"),
    )

    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rider_id: Mapped[str] = mapped_column(ForeignKey("riders.rider_id"), index=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.card_id"), index=True)
    kind: Mapped[PaymentKind] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    product_id: Mapped[str | None] = mapped_column(String(64))
    pass_start: Mapped[date | None] = mapped_column(Date)
    route_id: Mapped[str | None] = mapped_column(String(GTFS_ID))
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[PaymentStatus] = mapped_column(String(16))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    load_seq: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # While a request is talking to the provider for this payment, a retry is told to wait.
    busy_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PaymentEvent(Base):
    """A provider's event (a webhook), recorded in the transaction that acts on it: once."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class School(Base):
    """A school whose students may hold the student category; created by an operator."""

    __tablename__ = "schools"

    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # short, e.g. THPT-CVA
    name: Mapped[str] = mapped_column(String(200))
    # When its school year ends (a university's may be in summer): the default valid-until.
    year_end_month: Mapped[int] = mapped_column(Integer)
    year_end_day: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SchoolAdmin(Base):
    """A person who decides for exactly one school; the TOTP secret is kept encrypted."""

    __tablename__ = "school_admins"

    admin_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.school_id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(400))  # Fernet token of the base32 secret
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The TOTP time step of the last code accepted: a code is good once, and only a newer one.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Wrong codes in a row; enough of them lock the second factor until code_locked_until.
    code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    code_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The one-time enrolment link (its sha256) and until when it works; both cleared once the
    # administrator has chosen a password and confirmed the authenticator (enrolled_at).
    # No sign-in works before that.
    enrol_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    enrol_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    enrolled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SchoolSession(Base):
    """A signed-in administrator's session: the cookie holds its id, this row only a hash."""

    __tablename__ = "school_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256, hex
    admin_id: Mapped[str] = mapped_column(ForeignKey("school_admins.admin_id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))  # a SessionEnd value


class Roster(Base):
    """One import of a school's roster for a school year; the newest active one answers."""

    __tablename__ = "rosters"
    __table_args__ = (Index("ix_rosters_school_id_year", "school_id", "school_year"),)

    roster_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.school_id"))
    school_year: Mapped[str] = mapped_column(String(9))  # 2026-2027
    rows: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RosterEntry(Base):
    """A student on a roster, as keyed hashes: the code with the date of birth, and the name."""

    __tablename__ = "roster_entries"
    __table_args__ = (Index("ix_roster_entries_roster_id_student_key", "roster_id", "student_key"),)

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    roster_id: Mapped[str] = mapped_column(ForeignKey("rosters.roster_id"))
    student_key: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    loose_name_key: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(40))
    programme: Mapped[str] = mapped_column(String(24))
    enrolment_end: Mapped[date] = mapped_column(Date)


class Application(Base):
    """A rider's request for the student category, and how it was decided.

    What the rider typed is kept: a school's administrator needs it to decide an application
    the roster could not. `rule` says what decided it (a roster, or an administrator).
    """

    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_school_id_status", "school_id", "status"),
        Index("ix_applications_rider_id", "rider_id"),
    )

    application_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rider_id: Mapped[str] = mapped_column(ForeignKey("riders.rider_id"))
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.school_id"))
    student_code: Mapped[str] = mapped_column(String(40))
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    status: Mapped[ApplicationStatus] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))  # the student reads it
    valid_until: Mapped[date | None] = mapped_column(Date)
    rule: Mapped[str | None] = mapped_column(String(80))
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AccountEntry(Base):
    """One change to a virtual card's balance, which the server holds: the account's ledger.

    The balance is the last entry's balance_after (and card_shadows.balance, kept with it in
    the same transaction); (kind, ref) is unique, so a payment, a tap or a move is posted once.
    """

    __tablename__ = "account_entries"
    __table_args__ = (
        UniqueConstraint("card_id", "kind", "ref", name="uq_account_entries_card_id_kind_ref"),
    )

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.card_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # credit, fare, adjustment, moved_in, moved_out
    ref: Mapped[str] = mapped_column(String(64))  # the load, tap or card it comes from
    amount: Mapped[int] = mapped_column(BigInteger)  # VND, + in, - out
    balance_after: Mapped[int] = mapped_column(BigInteger)
    explanation: Mapped[str] = mapped_column(Text)  # for the operator, in English
    # Why, as data the rider's app and statement word in their language (fares.why).
    reasons: Mapped[list[dict[str, object]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class TicketCredential(Base):
    """A QR credential the backend certified (docs/qr-ticket.md): for a phone's key, one day."""

    __tablename__ = "ticket_credentials"

    credential_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # hex
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.card_id"), index=True)
    phone_key: Mapped[str] = mapped_column(String(66))  # compressed P-256 point, hex
    # The credential's signed bytes, as the phone puts them in every ticket: with a tap's time
    # and signature, they prove the phone showed the code (none for credentials before 0021).
    credential: Mapped[bytes | None] = mapped_column(LargeBinary)
    spend_limit: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Revoked before it expired (a lost phone): every snapshot names it until it expires.
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
