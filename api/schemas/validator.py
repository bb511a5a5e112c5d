"""Schemas of the validator API (docs/validator-protocol.md)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.schemas.common import InputSchema, StrictSchema
from wire import Tap

# What the database's integer columns hold: a larger number is refused, not an overflow (500).
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
# Times a validator's clock can show (reset to 1970 included), at offsets clocks use: later
# code compares and adds to them, and PostgreSQL refuses offsets past 15:59.
EARLIEST_TAP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TAP = datetime(3000, 1, 1, tzinfo=UTC)
MAX_OFFSET = timedelta(hours=14)


def _clock_time(value: datetime) -> None:
    offset = value.utcoffset()
    if offset is None or abs(offset) > MAX_OFFSET or not EARLIEST_TAP <= value < LATEST_TAP:
        raise ValidationError("Expected a time from 1970 to 2999, at most 14 hours off UTC.")


class SnapshotQuerySchema(StrictSchema):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0, max=BIGINT_MAX))


class DenySchema(Schema):
    card_uid = fields.String(required=True)
    reason = fields.String(required=True)


class PassRecordSchema(Schema):
    """The 16-byte pass record to write, field by field (docs/card-layout.md)."""

    pass_code = fields.Integer(required=True)
    category_code = fields.Integer(required=True)
    valid_from = fields.Integer(required=True, metadata={"description": "card day"})
    valid_until = fields.Integer(required=True, metadata={"description": "card day"})
    route_key = fields.Integer(required=True)


class ProfileRecordSchema(Schema):
    category_code = fields.Integer(required=True)
    valid_until = fields.Integer(
        required=True, metadata={"description": "card day; 65535 for no end"}
    )


class PendingSchema(Schema):
    seq = fields.Integer(required=True)
    card_uid = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "credit, pass or profile"})
    amount = fields.Integer(required=True)
    expires = fields.String(allow_none=True)
    pass_ = fields.Nested(
        PassRecordSchema, data_key="pass", attribute="pass", metadata={"description": "a pass"}
    )
    profile = fields.Nested(
        ProfileRecordSchema, metadata={"description": "a new rider category for the card"}
    )


class WithdrawnSchema(Schema):
    card_uid = fields.String(required=True)
    seq = fields.Integer(required=True)


class TicketIssuerSchema(Schema):
    kid = fields.String(required=True, metadata={"description": "16 hex digits"})
    public_key = fields.String(required=True, metadata={"description": "raw Ed25519, hex"})


class SnapshotSchema(Schema):
    version = fields.Integer(required=True)
    full = fields.Boolean(required=True)
    tariff_version = fields.String(required=True)
    deny = fields.List(fields.Nested(DenySchema), required=True)
    allow = fields.List(fields.String(), required=True)
    pending = fields.List(fields.Nested(PendingSchema), required=True)
    withdrawn = fields.List(fields.Nested(WithdrawnSchema), required=True)
    ticket_issuers = fields.List(
        fields.Nested(TicketIssuerSchema),
        required=True,
        metadata={"description": "every key QR credentials may be certified with"},
    )
    revoked_credentials = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "QR credentials revoked before they expire (hex ids)"},
    )


# How each of a tap's fields is checked when a device sends it. The fields themselves are
# wire.Tap's: the table must name each of them once and nothing else (checked below, at import),
# so a field added to the record cannot reach the server unchecked or be dropped silently.
# Numbers are strict: 1.5 VND or "100" is a device's bug, refused, not rounded into money.
_TAP_RULES: dict[str, fields.Field[Any]] = {
    "time": fields.AwareDateTime(
        required=True,
        validate=_clock_time,
        metadata={"description": "1970 to 2999, at most 14 hours off UTC"},
    ),
    "card_uid": fields.String(required=True, validate=validate.Regexp(r"^[0-9A-F]{8,20}$")),
    "card_number": fields.String(allow_none=True, validate=validate.Length(max=19)),
    "route_id": fields.String(required=True, validate=validate.Length(min=1, max=64)),
    "stop_id": fields.String(load_default="", validate=validate.Length(max=64)),
    "result": fields.String(required=True, validate=validate.OneOf(["accepted", "denied"])),
    "reason": fields.String(allow_none=True, validate=validate.Length(max=40)),
    "amount": fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=10_000_000)
    ),
    "paid_by": fields.String(required=True, validate=validate.Length(max=20)),
    "balance_after": fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=0, max=BIGINT_MAX)
    ),
    "card_tx": fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=0, max=BIGINT_MAX)
    ),
    # Loads the card holds, reported (again) by this tap; `loaded` are those this tap wrote.
    "applied_loads": fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=INT_MAX)), load_default=list
    ),
    "loaded": fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=INT_MAX)), load_default=list
    ),
    "tariff_version": fields.String(allow_none=True, validate=validate.Length(max=40)),
    "explanation": fields.String(load_default="", validate=validate.Length(max=2000)),
    "commit": fields.String(
        load_default="none",
        validate=validate.OneOf(["confirmed", "recovered", "none", "unknown"]),
        metadata={
            "description": "unknown: a charge whose answer the validator lost, reported once "
            "the rider had gone; the server holds it until the card's next tap proves it"
        },
    ),
    # Tap on, tap off: a validator sends what it took the tap as (a "both" door is resolved).
    "direction": fields.String(load_default="entry", validate=validate.OneOf(["entry", "exit"])),
    "vehicle_id": fields.String(load_default="", validate=validate.Length(max=40)),
    "entry_time": fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=_clock_time,
        metadata={"description": "an exit: when its journey began, as the card says"},
    ),
    "unfinished": fields.Integer(
        load_default=0, strict=True, validate=validate.Range(min=0, max=10_000_000)
    ),
    # A QR ticket's tap: the card_uid is then the virtual card's number (16 digits).
    "medium": fields.String(load_default="card", validate=validate.OneOf(["card", "qr"])),
    "credential_id": fields.String(load_default="", validate=validate.Regexp(r"^([0-9a-f]{16})?$")),
    "code_signed_at": fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=_clock_time,
        metadata={"description": "a QR tap: when the phone signed the code"},
    ),
    "code_signature": fields.String(
        load_default="",
        validate=validate.Regexp(r"^([A-Za-z0-9_-]{86})?$"),
        metadata={
            "description": "a QR tap: the phone's signature of the code (r || s, 64 bytes, "
            "base64url): the backend checks it against the credential it issued"
        },
    ),
    # Given by the device's journal; an uploaded tap always has them.
    "tap_id": fields.String(required=True, validate=validate.Regexp(r"^tap_[0-9a-f]{32}$")),
    "device_seq": fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=BIGINT_MAX)
    ),
}
_TAP_SEQUENCES = ("applied_loads", "loaded")  # lists on the wire, tuples in the record


def _tap_fields() -> dict[str, fields.Field[Any]]:
    """wire.Tap's fields, in its order, each with its rule; an error if the two disagree."""
    names = [field.name for field in dataclasses.fields(Tap)]
    unchecked = [name for name in names if name not in _TAP_RULES]
    unknown = [name for name in _TAP_RULES if name not in names]
    if unchecked or unknown:
        raise TypeError(
            f"TapSchema's rules do not match wire.Tap: no rule for {unchecked}, "
            f"rules for fields it does not have: {unknown}"
        )
    return {name: _TAP_RULES[name] for name in names}


class _TapLoader(InputSchema):
    """Checks what a device sent and gives the tap's own record (wire.Tap)."""

    class Meta:
        unknown = "exclude"  # fields a later device version adds are ignored, not refused

    @validates_schema
    def _medium(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A QR tap names the virtual card by its number and the code it was; a card tap has
        neither a credential nor a code's time."""
        if data.get("medium") == "qr":
            number = data.get("card_number") or ""
            if not (len(number) == 16 and number.isdigit() and data.get("card_uid") == number):
                raise ValidationError(
                    "a QR tap names the virtual card's 16-digit number as card_uid and card_number",
                    "card_uid",
                )
            if (
                not data.get("credential_id")
                or data.get("code_signed_at") is None
                or not data.get("code_signature")
            ):
                raise ValidationError(
                    "a QR tap has the credential_id, code_signed_at and code_signature of its code",
                    "credential_id",
                )
        elif (
            data.get("credential_id")
            or data.get("code_signed_at") is not None
            or data.get("code_signature")
        ):
            raise ValidationError(
                "a card tap has no credential_id, code_signed_at or code_signature", "medium"
            )

    @validates_schema
    def _unsettled(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A charge with no known outcome is a card's accepted charge, with the counter and the
        purse the card would have had it happened: that is how its next tap proves it."""
        if data.get("commit") == "unknown" and (
            data.get("result") != "accepted"
            or data.get("medium") != "card"
            or data.get("card_tx") is None
            or data.get("balance_after") is None
        ):
            raise ValidationError(
                "an unknown commit is a card's accepted charge with card_tx and balance_after",
                "commit",
            )

    @post_load
    def _tap(self, data: dict[str, Any], **kwargs: Any) -> Tap:
        for name in _TAP_SEQUENCES:
            data[name] = tuple(data[name])
        return Tap(**data)


# One journaled tap, as POST /api/v1/validator/taps takes it: wire.Tap's fields and their rules.
TapSchema = type(
    "TapSchema",
    (_TapLoader,),
    {**_tap_fields(), "__doc__": _TapLoader.__doc__, "__module__": __name__},
)


class TapBatchSchema(StrictSchema):
    taps = fields.List(
        fields.Nested(TapSchema), required=True, validate=validate.Length(min=1, max=1000)
    )


class TapUploadResultSchema(Schema):
    """What the server did with one uploaded tap; not the tap's own `result` at the validator."""

    tap_id = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"description": "accepted, duplicate (seen before) or rejected"}
    )
    reason = fields.String(
        allow_none=True, metadata={"description": "why it was rejected, e.g. invalid: time"}
    )


class TapUploadResultsSchema(Schema):
    results = fields.List(fields.Nested(TapUploadResultSchema), required=True)
