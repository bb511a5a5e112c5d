"""Schemas of the network endpoints: routes and stops."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from api.schemas.common import StrictSchema


class LatLon(fields.Field[tuple[float, float]]):
    """'LAT,LON' in decimal degrees, e.g. '21.0285,105.8542'."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Expected 'LAT,LON' as text, e.g. '21.0285,105.8542'.")
        parts = value.split(",")
        if len(parts) != 2:
            raise ValidationError("Expected two numbers 'LAT,LON', e.g. '21.0285,105.8542'.")
        try:
            lat, lon = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValidationError("LAT and LON must be decimal numbers.") from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ValidationError("LAT and LON must be finite numbers.")
        if not -90 <= lat <= 90:
            raise ValidationError("LAT must be between -90 and 90.")
        if not -180 <= lon <= 180:
            raise ValidationError("LON must be between -180 and 180.")
        return (lat, lon)


class NearbyQuerySchema(StrictSchema):
    near = LatLon(
        required=True,
        metadata={
            "description": "Where to look: 'LAT,LON' in decimal degrees",
            "example": "21.0285,105.8542",
            "type": "string",
            "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$",
        },
    )
    radius = fields.Integer(
        load_default=500,
        validate=validate.Range(min=1, max=5000),
        metadata={"description": "Search radius in metres (1 to 5000)"},
    )
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "At most this many stops, nearest first"},
    )


class RouteSchema(Schema):
    route_id = fields.String(required=True, metadata={"example": "32"})
    short_name = fields.String(required=True, metadata={"example": "32"})
    long_name = fields.String(required=True, metadata={"example": "Giáp Bát - Nhổn"})
    route_type = fields.Integer(
        required=True, metadata={"description": "GTFS route_type; 3 is a bus"}
    )
    color = fields.String(allow_none=True, metadata={"description": "RRGGBB, no '#'"})
    text_color = fields.String(allow_none=True)
    agency_id = fields.String(required=True)
    agency_name = fields.String(required=True)


class StopSchema(Schema):
    stop_id = fields.String(required=True)
    name = fields.String(required=True)
    code = fields.String(allow_none=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)


class DirectionSchema(Schema):
    direction_id = fields.Integer(required=True)
    headsign = fields.String(allow_none=True)
    length_m = fields.Integer(allow_none=True, metadata={"description": "Length of the line"})
    stops = fields.List(fields.Nested(StopSchema), required=True)
    shape = fields.List(
        fields.Tuple((fields.Float(), fields.Float())),
        allow_none=True,
        metadata={"description": "The drawn line as [lat, lon] pairs"},
    )


class RouteDetailSchema(RouteSchema):
    description = fields.String(allow_none=True)
    directions = fields.List(fields.Nested(DirectionSchema), required=True)


class NearbyStopSchema(StopSchema):
    distance_m = fields.Integer(required=True)
    route_ids = fields.List(fields.String(), required=True)
