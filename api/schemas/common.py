"""Schemas shared by every part of the API."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class StrictSchema(Schema):
    """Input schemas refuse fields they do not know (no mass assignment)."""

    class Meta:
        unknown = RAISE


class ProblemSchema(Schema):
    """An error, as RFC 9457 problem details with a stable `code`."""

    type = fields.String(required=True, metadata={"description": "URI naming the problem type"})
    title = fields.String(required=True, metadata={"description": "Short summary"})
    status = fields.Integer(required=True, metadata={"description": "HTTP status"})
    detail = fields.String(metadata={"description": "What went wrong, for a person"})
    code = fields.String(
        required=True, metadata={"description": "Stable machine-readable code; never changes"}
    )
    instance = fields.String(metadata={"description": "The path that was asked for"})
    errors = fields.Raw(metadata={"description": "Field errors, for code validation_failed"})
