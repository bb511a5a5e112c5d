"""The rider's account: register with a phone number, verify it, sign in, and own the data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, jsonify
from flask.views import MethodView

from api.auth import current_rider, derived_key, issue_access_token, tokens_for
from api.deps import unit_of_work
from api.limits import (
    CODE_CHECKS_PER_PHONE,
    CODE_REQUESTS_PER_CLIENT,
    CODE_REQUESTS_PER_PHONE,
    LOGINS_PER_CLIENT,
    LOGINS_PER_PHONE,
    limiter,
    phone_key,
)
from api.schemas.export import RiderDataSchema
from api.schemas.riders import (
    AcceptedSchema,
    ChangePasswordSchema,
    DeleteAccountSchema,
    LoginSchema,
    PhoneSchema,
    RefreshSchema,
    RegisterSchema,
    ResetSchema,
    RiderSchema,
    TokensSchema,
    VerifySchema,
)
from api.smorest import Blueprint
from api.sms import sender
from transit.services import riders

blp = Blueprint(
    "riders",
    __name__,
    url_prefix="/api/v1",
    description="Riders' accounts: phone number, one-time code, password, tokens, own data",
)

# Whatever happened, a code request answers the same: the caller learns nothing of the number.
CODE_SENT = {"status": "code_sent_if_possible"}


def _codes() -> riders.Codes:
    return riders.Codes(key=derived_key("one-time-codes"), sms=sender(current_app))


def _limited(per_phone: str, per_client: str) -> Any:
    def decorate(view: Any) -> Any:
        return limiter.limit(per_client)(limiter.limit(per_phone, key_func=phone_key)(view))

    return decorate


@blp.route("/auth/register")
class RegisterView(MethodView):
    @blp.doc(operationId="register")
    @_limited(CODE_REQUESTS_PER_PHONE, CODE_REQUESTS_PER_CLIENT)
    @blp.arguments(RegisterSchema)
    @blp.response(202, AcceptedSchema)
    @blp.errors(422, 429, 503)
    def post(self, body: dict[str, Any]) -> Any:
        """Start registering: a 6-digit code goes to the phone by SMS."""
        with unit_of_work() as uow:
            riders.request_registration(
                body["phone"],
                body["password"],
                consent=body["consent"],
                language=body["language"],
                now=datetime.now(UTC),
                uow=uow,
                codes=_codes(),
            )
            uow.commit()
        return CODE_SENT


@blp.route("/auth/verify")
class VerifyView(MethodView):
    @blp.doc(operationId="verify_phone")
    @_limited(CODE_CHECKS_PER_PHONE, LOGINS_PER_CLIENT)
    @blp.arguments(VerifySchema)
    @blp.response(200, TokensSchema)
    @blp.errors(400, 429)
    def post(self, body: dict[str, Any]) -> Any:
        """Confirm the phone number with its code and the password registered with it; the answer
        signs the rider in."""
        with unit_of_work() as uow:
            rider = riders.verify_phone(
                body["phone"], body["code"], body["password"], datetime.now(UTC), uow, _codes()
            )
            tokens = tokens_for(rider, uow)
            uow.commit()
        return tokens


@blp.route("/auth/login")
class LoginView(MethodView):
    @blp.doc(operationId="login")
    @_limited(LOGINS_PER_PHONE, LOGINS_PER_CLIENT)
    @blp.arguments(LoginSchema)
    @blp.response(200, TokensSchema)
    @blp.errors(401, 403, 429)
    def post(self, body: dict[str, Any]) -> Any:
        """Sign in with phone number and password."""
        with unit_of_work() as uow:
            rider = riders.login(body["phone"], body["password"], uow)
            tokens = tokens_for(rider, uow)
            uow.commit()
        return tokens


@blp.route("/auth/refresh")
class RefreshView(MethodView):
    @blp.doc(operationId="refresh_tokens")
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokensSchema)
    @blp.errors(401)
    def post(self, body: dict[str, Any]) -> Any:
        """Trade a refresh token (once) for a new pair; a token used twice ends its login."""
        with unit_of_work() as uow:
            rider, refresh = riders.rotate_refresh_token(
                body["refresh_token"], datetime.now(UTC), uow
            )
            access, lifetime = issue_access_token(rider, datetime.now(UTC))
            uow.commit()
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
        }


@blp.route("/auth/logout")
class LogoutView(MethodView):
    @blp.doc(operationId="logout")
    @blp.arguments(RefreshSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any]) -> Any:
        """Sign this device out: its refresh token stops working.

        Holding the refresh token is enough, so an app whose access token has expired can
        still sign out; an unknown token changes nothing and is answered the same.
        """
        with unit_of_work() as uow:
            riders.revoke_family(body["refresh_token"], datetime.now(UTC), uow)
            uow.commit()
        return None


@blp.route("/auth/password-reset")
class ResetRequestView(MethodView):
    @blp.doc(operationId="request_password_reset")
    @_limited(CODE_REQUESTS_PER_PHONE, CODE_REQUESTS_PER_CLIENT)
    @blp.arguments(PhoneSchema)
    @blp.response(202, AcceptedSchema)
    @blp.errors(429, 503)
    def post(self, body: dict[str, Any]) -> Any:
        """Forgotten password: a code goes to the phone if it has an account."""
        with unit_of_work() as uow:
            riders.request_password_reset(body["phone"], datetime.now(UTC), uow, _codes())
            uow.commit()
        return CODE_SENT


@blp.route("/auth/password-reset/confirm")
class ResetConfirmView(MethodView):
    @blp.doc(operationId="confirm_password_reset")
    @_limited(CODE_CHECKS_PER_PHONE, LOGINS_PER_CLIENT)
    @blp.arguments(ResetSchema)
    @blp.response(200, TokensSchema)
    @blp.errors(400, 422, 429)
    def post(self, body: dict[str, Any]) -> Any:
        """A new password with the code; every other device is signed out."""
        with unit_of_work() as uow:
            rider = riders.reset_password(
                body["phone"], body["code"], body["new_password"], datetime.now(UTC), uow, _codes()
            )
            tokens = tokens_for(rider, uow)
            uow.commit()
        return tokens


@blp.route("/me")
class MeView(MethodView):
    @blp.response(200, RiderSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The signed-in rider's account."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            # Read here: leaving the unit of work expires what the session loaded.
            return {name: getattr(rider, name) for name in RiderSchema().fields}

    @blp.doc(operationId="delete_account")
    @blp.arguments(DeleteAccountSchema)
    @blp.response(204)
    @blp.errors(401)
    def delete(self, body: dict[str, Any]) -> Any:
        """Delete the account: phone and password erased; cards and their trips stay, unlinked."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            riders.delete_account(rider, body["password"], datetime.now(UTC), uow)
            uow.commit()
        return None


@blp.route("/me/password")
class PasswordView(MethodView):
    @blp.doc(operationId="change_password")
    @blp.arguments(ChangePasswordSchema)
    @blp.response(204)
    @blp.errors(401, 422)
    def post(self, body: dict[str, Any]) -> Any:
        """Change the password; every device, this one too, signs in again."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            riders.change_password(
                rider, body["current_password"], body["new_password"], datetime.now(UTC), uow
            )
            uow.commit()
        return None


@blp.route("/me/export")
class ExportView(MethodView):
    @blp.doc(operationId="export_my_data")
    @blp.response(
        200,
        RiderDataSchema,
        description="The rider's data, as a file to keep",
        headers={
            "Content-Disposition": {
                "description": 'attachment; filename="my-data.json"',
                "schema": {"type": "string"},
            }
        },
    )
    @blp.errors(401)
    def get(self) -> Any:
        """Everything kept about the rider, as one JSON document to download."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            data = riders.export_data(rider, uow)
        response: Response = jsonify(data)
        response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
        response.headers["Cache-Control"] = "no-store"
        return response
