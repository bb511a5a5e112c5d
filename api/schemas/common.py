"""Schemas shared by every part of the API."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

# Text no column can hold: NUL (PostgreSQL refuses it) and lone surrogates (not Unicode
# characters, so not UTF-8 either). JSON carries both, as \u0000 and \ud800.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Text must not contain NUL or unpaired surrogate characters."


def unstorable(value: Any) -> bool:
    """Whether a field's value is text (or a list of texts) that no column can hold."""
    texts = value if isinstance(value, list) else [value]
    return any(isinstance(text, str) and UNSTORABLE.search(text) for text in texts)


class InputSchema(Schema):
    """Input schemas refuse text no database can store, before it reaches one (a 422, not a
    500). Nested schemas check their own fields."""

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **kwargs: Any) -> Any:
        if hasattr(data, "get"):
            keys = (field.data_key or name for name, field in self.load_fields.items())
            bad = [key for key in keys if unstorable(data.get(key))]
            if bad:
                raise ValidationError({key: [UNSTORABLE_MESSAGE] for key in bad})
        return data


class StrictSchema(InputSchema):
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


class Explained(Schema):
    """Why a charge, a trip or a journey cost what it did: in words, as data, and the fare
    engine's own account."""

    why = fields.String(
        required=True,
        metadata={
            "description": "why, in words, in the caller's language (Accept-Language: vi by "
            "default, or en)",
            "example": "Vé lượt tuyến 32: 8.000 đ",
        },
    )
    reasons = fields.List(
        fields.Dict(),
        required=True,
        metadata={
            "description": "why, as data: parts with a stable `code` and their values "
            "(fares/why.py lists them); `why` words them"
        },
    )
    explanation = fields.String(
        required=True,
        metadata={"description": "the fare engine's reasoning for the operator, in English"},
    )
