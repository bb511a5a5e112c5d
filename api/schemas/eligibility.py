"""Schemas of student applications."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import StrictSchema


class ApplySchema(StrictSchema):
    school_code = fields.String(required=True, validate=validate.Length(min=2, max=32))
    student_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    full_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Nguyễn Văn An"},
    )
    date_of_birth = fields.Date(required=True)


class SchoolSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class SchoolListSchema(Schema):
    data = fields.List(fields.Nested(SchoolSchema), required=True)


class ApplicationSchema(Schema):
    application_id = fields.String(required=True)
    school = fields.Nested(SchoolSchema, required=True)
    status = fields.String(
        required=True, metadata={"description": "pending (with the school), approved, rejected"}
    )
    reason = fields.String(
        allow_none=True,
        metadata={"description": "on_roster, work_study, enrolment_ended, or the school's"},
    )
    valid_until = fields.Date(allow_none=True)
    created_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)


class ApplicationListSchema(Schema):
    data = fields.List(fields.Nested(ApplicationSchema), required=True)
