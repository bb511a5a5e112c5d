"""Schemas of a card's trips and its monthly statement."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.schemas.common import Explained, StrictSchema
from transit.localtime import HANOI

MONTH = re.compile(r"(\d{4})-(\d{2})")
# Days far outside the card's life are refused rather than turned into times that overflow.
DAYS = validate.Range(min=date(2000, 1, 1), max=date(2999, 12, 31))


class LocalDateTime(fields.DateTime):
    """An aware time, written in Hanoi time (+07:00): what the rider's clock said."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            value = value.astimezone(HANOI)
        return super()._serialize(value, attr, obj, **kwargs)


class Month(fields.Field[date]):
    """'YYYY-MM', loaded as the first day of that month."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        found = MONTH.fullmatch(value) if isinstance(value, str) else None
        try:
            if found is None:
                raise ValueError
            month = date(int(found[1]), int(found[2]), 1)
        except ValueError:
            raise ValidationError("Expected a month as YYYY-MM, e.g. 2026-03.") from None
        DAYS(month)
        return month


class TripQuerySchema(StrictSchema):
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "At most this many trips (1 to 100)"},
    )
    cursor = fields.String(
        load_default=None,
        metadata={"description": "`next_cursor` of the page before; absent for the newest trips"},
    )
    date_from = fields.Date(
        data_key="from",
        load_default=None,
        validate=DAYS,
        metadata={"description": "First day, Hanoi time (YYYY-MM-DD)", "example": "2026-03-01"},
    )
    date_to = fields.Date(
        data_key="to",
        load_default=None,
        validate=DAYS,
        metadata={
            "description": "Last day, Hanoi time, included (YYYY-MM-DD)",
            "example": "2026-03-31",
        },
    )

    @validates_schema
    def _days_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        first, last = data.get("date_from"), data.get("date_to")
        if first is not None and last is not None and first > last:
            raise ValidationError("'from' must not be after 'to'.", "to")


class StatementQuerySchema(StrictSchema):
    month = Month(
        required=True,
        metadata={
            "description": "The calendar month, Hanoi time",
            "type": "string",
            "pattern": r"^\d{4}-\d{2}$",
            "example": "2026-03",
        },
    )


class TripSchema(Explained):
    tap_id = fields.String(required=True)
    time = LocalDateTime(
        required=True,
        metadata={"description": "When the card was tapped, Hanoi time (+07:00)"},
    )
    route_id = fields.String(required=True, metadata={"example": "32"})
    route_short_name = fields.String(
        allow_none=True,
        metadata={"description": "null when the route is not in the network", "example": "32"},
    )
    route_long_name = fields.String(allow_none=True, metadata={"example": "Giáp Bát - Nhổn"})
    stop_id = fields.String(required=True)
    stop_name = fields.String(allow_none=True)
    amount = fields.Integer(required=True, metadata={"description": "VND paid"})
    paid_by = fields.String(
        required=True,
        metadata={
            "description": "stored_value, pass, free_category, transfer, cap, free_fare, "
            "free_day, at_exit (an entry whose fare the exit charges) or at_entry (a tap off: "
            "paid when boarding)"
        },
    )
    balance_after = fields.Integer(
        allow_none=True, metadata={"description": "VND on the card after the tap"}
    )
    direction = fields.String(
        required=True,
        validate=validate.OneOf(["entry", "exit"]),
        metadata={"description": "entry (boarding, an entry gate) or exit (tapping off, a gate)"},
    )


class TripPageSchema(Schema):
    data = fields.List(fields.Nested(TripSchema), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` for older trips; null on the last page"},
    )


class JourneySchema(Explained):
    """An entry and its exit paired: the rider's journey, with all it cost."""

    journey_id = fields.String(required=True)
    route_id = fields.String(required=True, metadata={"example": "2A"})
    route_short_name = fields.String(allow_none=True, metadata={"example": "2A"})
    route_long_name = fields.String(allow_none=True, metadata={"example": "Cát Linh - Yên Nghĩa"})
    mode = fields.String(
        required=True,
        metadata={"description": "bus or metro; empty for a route not in the network"},
    )
    origin_stop_id = fields.String(
        allow_none=True, metadata={"description": "null when the entry was not seen"}
    )
    origin_name = fields.String(allow_none=True, metadata={"example": "Cát Linh"})
    destination_stop_id = fields.String(
        allow_none=True, metadata={"description": "null while no exit was seen"}
    )
    destination_name = fields.String(allow_none=True, metadata={"example": "Yên Nghĩa"})
    started_at = LocalDateTime(required=True, metadata={"description": "Hanoi time (+07:00)"})
    ended_at = LocalDateTime(allow_none=True)
    fare = fields.Integer(
        required=True,
        metadata={"description": "VND in all: at entry, at exit, and any maximum for no exit"},
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "open, complete, no_tap_off (paid at boarding, never tapped off), "
            "no_exit (charged the line's maximum fare at the next entry) or no_entry"
        },
    )


class JourneyPageSchema(Schema):
    data = fields.List(fields.Nested(JourneySchema), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` for older journeys; null on the last page"},
    )
