"""Rate limits (flask-limiter), shared by every gunicorn worker through Redis in production.

Sign-in and code requests are limited twice: per phone number (someone guessing one rider's
password, or pumping SMS to one number) and per client address (one client trying many
numbers). Vietnamese carriers put many phones behind one address, so the per-address limits
are the looser ones.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from transit.services.riders import InvalidPhone, normalize_phone

limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    strategy="moving-window",
    key_prefix="transit",
)

# Limits per phone number and per client address, by what the request costs or risks.
CODE_REQUESTS_PER_PHONE = "3 per 10 minutes;10 per day"
CODE_REQUESTS_PER_CLIENT = "30 per hour"
LOGINS_PER_PHONE = "5 per minute;30 per hour"
LOGINS_PER_CLIENT = "100 per hour"
# A code already dies after 5 wrong tries, and only 3 codes a number are sent per 10 minutes.
CODE_CHECKS_PER_PHONE = "15 per 10 minutes"
CARD_LINKS_PER_RIDER = "10 per hour"
# The app renews its QR credential whenever it is online: a few times an hour is plenty.
CREDENTIALS_PER_RIDER = "60 per hour"


def rider_key() -> str:
    """The signed-in rider (named by api.auth.current_rider before a limit is checked)."""
    return "rider:" + str(getattr(g, "rider_id", "anonymous"))


def phone_key() -> str:
    """The normalized phone number of a JSON body, so 0912... and +84912... count together."""
    body = request.get_json(silent=True)
    raw = body.get("phone") if isinstance(body, dict) else None
    if not isinstance(raw, str):
        return "phone:none"
    try:
        return "phone:" + normalize_phone(raw)
    except InvalidPhone:
        return "phone:invalid"


def install(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "transit")
    limiter.init_app(app)
