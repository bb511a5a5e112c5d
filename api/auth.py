"""Riders' access tokens: short-lived JWTs signed with a key derived from SECRET_KEY.

A token names the rider and the password it was issued under; every request also loads the
rider, so a deleted account or a changed password ends every token at once, not when it
expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.fernet import Fernet
from flask import Flask, current_app, g, request

from transit.errors import DomainError
from transit.models import Rider
from transit.services import riders
from transit.services.credentials import Issuer
from transit.uow import UnitOfWork

ISSUER = "hanoi-bus-card"
AUDIENCE = "rider-app"
ALGORITHM = "HS256"


class NotAuthenticated(DomainError):
    code = "unauthorized"
    status = 401


def derived_key(label: str) -> bytes:
    """A key for one purpose, so no two uses of SECRET_KEY can be confused."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def ticket_issuer() -> Issuer:
    """The Ed25519 key QR credentials are certified with (docs/qr-ticket.md), from SECRET_KEY:
    every worker has the same, and validators learn its public half from the snapshot."""
    return Issuer(derived_key("qr-ticket-issuer"))


def vault() -> Fernet:
    """Encrypts administrators' TOTP secrets, with a key derived from SECRET_KEY."""
    return Fernet(base64.urlsafe_b64encode(derived_key("admin-totp")))


def _password_epoch(rider: Rider) -> int:
    changed = rider.password_changed_at
    return int(changed.timestamp() * 1_000_000) if changed is not None else 0


def issue_access_token(rider: Rider, now: datetime) -> tuple[str, int]:
    """(token, lifetime in seconds); the token dies with the password it was issued under."""
    rider_id = rider.rider_id
    lifetime = int(current_app.config["ACCESS_TOKEN_MINUTES"]) * 60
    claims = {
        "pwe": _password_epoch(rider),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": rider_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, derived_key("access-token"), algorithm=ALGORITHM), lifetime


# Addresses that belong to a signed-in rider. Who asks is checked before anything else about
# the request (its body, its headers), so an anonymous caller learns nothing but 401.
RIDER_PATHS = ("/api/v1/me", "/api/v1/cards", "/api/v1/payments", "/api/v1/eligibility")


def install(app: Flask) -> None:
    @app.before_request
    def _token_first() -> None:
        if request.path.startswith(RIDER_PATHS):
            _claims()


def _claims() -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    try:
        return dict(
            jwt.decode(
                token.strip(),
                derived_key("access-token"),
                algorithms=[ALGORITHM],  # pinned: alg=none and algorithm confusion are refused
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss", "pwe"]},
            )
        )
    except jwt.PyJWTError:
        raise NotAuthenticated() from None


def current_rider(uow: UnitOfWork) -> Rider:
    """The rider behind the request's bearer token, or a 401 that says no more."""
    claims = _claims()
    rider = riders.active_rider(str(claims["sub"]), uow)
    if rider is None:
        raise NotAuthenticated()
    if claims["pwe"] != _password_epoch(rider):
        raise NotAuthenticated()
    g.rider_id = rider.rider_id
    return rider


def tokens_for(rider: Rider, uow: UnitOfWork) -> dict[str, object]:
    """A fresh access token and a refresh token in a new login family."""
    now = datetime.now(UTC)
    access, lifetime = issue_access_token(rider, now)
    refresh = riders.issue_refresh_token(rider.rider_id, now, uow)
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": refresh,
    }
