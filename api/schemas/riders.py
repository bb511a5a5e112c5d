"""Schemas of the rider API: accounts and tokens."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import StrictSchema


def _phone() -> fields.String:
    return fields.String(
        required=True, validate=validate.Length(min=9, max=20), metadata={"example": "0912345678"}
    )


def _password() -> fields.String:
    return fields.String(required=True, validate=validate.Length(max=128), load_only=True)


class RegisterSchema(StrictSchema):
    phone = _phone()
    password = _password()
    consent = fields.Boolean(
        required=True,
        metadata={"description": "The rider agreed to the personal data notice (Decree 13)."},
    )
    language = fields.String(load_default="vi", validate=validate.OneOf(["vi", "en"]))


class PhoneSchema(StrictSchema):
    phone = _phone()


class VerifySchema(StrictSchema):
    phone = _phone()
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$"))
    password = fields.String(
        required=True,
        validate=validate.Length(max=128),
        load_only=True,
        metadata={
            "description": "The password given when registering: the code only activates the "
            "account with the password chosen in the same registration."
        },
    )


class ResetSchema(StrictSchema):
    phone = _phone()
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$"))
    new_password = _password()


class LoginSchema(StrictSchema):
    phone = _phone()
    password = _password()


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(max=200))


class ChangePasswordSchema(StrictSchema):
    current_password = _password()
    new_password = _password()


class DeleteAccountSchema(StrictSchema):
    password = _password()


class AcceptedSchema(Schema):
    status = fields.String(required=True, metadata={"example": "code_sent_if_possible"})


class TokensSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})
    refresh_token = fields.String(required=True)


class RiderSchema(Schema):
    rider_id = fields.String(required=True)
    phone = fields.String(required=True)
    language = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    consent_version = fields.String(required=True)
    consent_at = fields.DateTime(required=True)
