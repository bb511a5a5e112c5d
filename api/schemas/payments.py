"""Schemas of top-ups."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import StrictSchema
from transit.services.purchases import MAX_TOPUP, MIN_TOPUP


class TopupSchema(StrictSchema):
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=MIN_TOPUP, max=MAX_TOPUP),
        metadata={"description": f"VND, {MIN_TOPUP:,} to {MAX_TOPUP:,}", "example": 50000},
    )


class BuyPassSchema(StrictSchema):
    product_id = fields.String(
        required=True, validate=validate.Length(max=64), metadata={"example": "pass_all_routes"}
    )
    start = fields.Date(
        load_default=None,
        metadata={
            "description": "first day (a month pass: any day of its month); today if left out"
        },
    )
    route_id = fields.String(
        load_default=None,
        validate=validate.Length(max=64),
        metadata={"description": "the route of a one-route pass"},
    )


class ProductSchema(Schema):
    product_id = fields.String(required=True)
    name = fields.String(required=True)
    price = fields.Integer(required=True, metadata={"description": "VND for this card"})
    one_route = fields.Boolean(required=True)
    validity = fields.String(required=True, metadata={"example": "1 calendar month"})
    category = fields.String(required=True)


class ProductListSchema(Schema):
    data = fields.List(fields.Nested(ProductSchema), required=True)


class PaymentSchema(Schema):
    payment_id = fields.String(required=True)
    card_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "topup or pass"})
    product_id = fields.String(allow_none=True)
    status = fields.String(
        required=True, metadata={"description": "pending, succeeded, failed or refunded"}
    )
    amount = fields.Integer(required=True)
    currency = fields.String(required=True)
    provider = fields.String(required=True)
    load_seq = fields.Integer(
        allow_none=True, metadata={"description": "the load it became, once paid"}
    )
    load_status = fields.String(
        allow_none=True,
        metadata={
            "description": "pending: written to the card at its next tap; confirmed: on the "
            "card; withdrawn: refunded before it got there"
        },
    )
    client_secret = fields.String(
        allow_none=True, metadata={"description": "for the provider's SDK on the phone"}
    )
    publishable_key = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
