"""Schemas of the rider's data export: what transit.services.riders.export_data returns.

The view sends the service's dictionary as it is (a file to download); these schemas only
document it, so a generated client reads it as typed models.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from transit.models import TapVerdict


class ExportedConsentSchema(Schema):
    version = fields.String(
        required=True, metadata={"description": "The personal data notice agreed to"}
    )
    at = fields.DateTime(required=True)


class ExportedRiderSchema(Schema):
    rider_id = fields.String(required=True)
    phone = fields.String(required=True, metadata={"example": "+84912345678"})
    language = fields.String(required=True, metadata={"example": "vi"})
    created_at = fields.DateTime(required=True)
    verified_at = fields.DateTime(required=True, allow_none=True)
    consent = fields.Nested(ExportedConsentSchema, required=True)


class ExportedTapSchema(Schema):
    time = fields.DateTime(required=True, metadata={"description": "When the card was tapped"})
    route_id = fields.String(required=True, metadata={"example": "32"})
    stop_id = fields.String(required=True)
    # As the validator decided. OneOf only documents the values: this schema is never loaded.
    result = fields.String(required=True, validate=validate.OneOf([v.value for v in TapVerdict]))
    amount = fields.Integer(required=True, metadata={"description": "VND paid"})
    balance_after = fields.Integer(
        required=True, allow_none=True, metadata={"description": "VND on the card after the tap"}
    )


class ExportedCardSchema(Schema):
    card_id = fields.String(required=True)
    card_number = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active, blocked or replaced"})
    linked_at = fields.DateTime(required=True, allow_none=True)
    trips = fields.List(
        fields.Nested(ExportedTapSchema),
        required=True,
        metadata={"description": "Every tap of the card, oldest first"},
    )


class ExportedPaymentSchema(Schema):
    payment_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "topup or pass"})
    product_id = fields.String(required=True, allow_none=True)
    amount = fields.Integer(required=True, metadata={"description": "VND"})
    currency = fields.String(required=True, metadata={"example": "vnd"})
    status = fields.String(
        required=True,
        metadata={"description": "created (not paid yet), succeeded, failed or refunded"},
    )
    created_at = fields.DateTime(required=True)


class RiderDataSchema(Schema):
    """Everything kept about the rider (Decree 13/2023/ND-CP)."""

    rider = fields.Nested(ExportedRiderSchema, required=True)
    cards = fields.List(fields.Nested(ExportedCardSchema), required=True)
    payments = fields.List(
        fields.Nested(ExportedPaymentSchema),
        required=True,
        metadata={"description": "Oldest first"},
    )
