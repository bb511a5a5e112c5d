"""Schemas of the rider's cards."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import Explained, StrictSchema
from transit.services.wallet import RIDER_BLOCK_REASONS


class LinkCardSchema(StrictSchema):
    card_number = fields.String(
        required=True,
        validate=validate.Length(min=16, max=24),
        metadata={"example": "8401 0000 0000 0017"},
    )
    check_code = fields.String(
        required=True, validate=validate.Length(min=4, max=16), metadata={"example": "ZQMM-KYKU"}
    )


class BlockCardSchema(StrictSchema):
    reason = fields.String(
        required=True, validate=validate.OneOf([r.value for r in RIDER_BLOCK_REASONS])
    )


class PendingLoadSchema(Schema):
    seq = fields.Integer(required=True)
    kind = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"description": "VND"})
    created_at = fields.DateTime(required=True)


class CardPassSchema(Schema):
    product_id = fields.String(required=True)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    on_card = fields.Boolean(
        required=True, metadata={"description": "false while it waits for the card's next tap"}
    )


class CardSchema(Schema):
    card_id = fields.String(required=True)
    card_number = fields.String(required=True)
    kind = fields.String(
        required=True,
        metadata={"description": "physical (a chip card) or virtual (the phone's QR ticket)"},
    )
    active = fields.Boolean(
        required=True, metadata={"description": "the medium the account rides with now"}
    )
    status = fields.String(required=True, metadata={"description": "active, blocked or replaced"})
    blocked_reason = fields.String(allow_none=True)
    category = fields.String(required=True, metadata={"example": "adult"})
    valid_until = fields.Date(allow_none=True)
    balance = fields.Integer(
        required=True, metadata={"description": "VND on the card at its last known tap"}
    )
    balance_at = fields.DateTime(
        allow_none=True, metadata={"description": "when that tap was; null before the first"}
    )
    pending = fields.List(
        fields.Nested(PendingLoadSchema),
        required=True,
        metadata={"description": "paid for, written to the card at its next tap"},
    )
    pending_total = fields.Integer(required=True)
    passes = fields.List(fields.Nested(CardPassSchema), required=True)


class CardListSchema(Schema):
    data = fields.List(fields.Nested(CardSchema), required=True)


class ReplacementSchema(Schema):
    card = fields.Nested(CardSchema, required=True)
    moved = fields.Integer(
        required=True, metadata={"description": "VND moved to the new card as a pending load"}
    )
    passes = fields.Integer(
        required=True, metadata={"description": "passes moved, written at the new card's next tap"}
    )


class ActivationSchema(Schema):
    card = fields.Nested(CardSchema, required=True)
    moved = fields.Integer(
        required=True, metadata={"description": "VND moved to this card from the account's others"}
    )
    passes = fields.Integer(required=True, metadata={"description": "passes moved to it"})
    from_cards = fields.List(
        fields.String(), required=True, metadata={"description": "the card numbers now inactive"}
    )


class CredentialRequestSchema(StrictSchema):
    public_key = fields.String(
        required=True,
        validate=validate.Length(min=40, max=100),
        metadata={
            "description": "the phone's ECDSA P-256 public key, as WebCrypto exports it "
            "('raw', 65 bytes), base64url without padding"
        },
    )


class CredentialSchema(Schema):
    credential = fields.String(
        required=True,
        metadata={"description": "the signed credential (docs/qr-ticket.md), base64url"},
    )
    credential_id = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    spend_limit = fields.Integer(
        required=True, metadata={"description": "VND a validator may charge it offline"}
    )
    server_time = fields.AwareDateTime(
        required=True,
        metadata={"description": "sign tickets with the phone's clock corrected to this"},
    )


class AccountEntrySchema(Explained):
    kind = fields.String(
        required=True,
        metadata={
            "description": "credit, fare, adjustment, moved_out or late_chip_tap (a chip "
            "card's ride paid by the account)"
        },
    )
    ref = fields.String(
        required=True, metadata={"description": "the load, tap (tap_...) or card it is for"}
    )
    amount = fields.Integer(required=True, metadata={"description": "VND, + in, - out"})
    balance_after = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)


class AccountSchema(Schema):
    balance = fields.Integer(required=True)
    data = fields.List(
        fields.Nested(AccountEntrySchema),
        required=True,
        metadata={"description": "the newest 100 changes to the balance, newest first"},
    )


class RevokedSchema(Schema):
    revoked = fields.Integer(
        required=True, metadata={"description": "how many credentials were still valid"}
    )
