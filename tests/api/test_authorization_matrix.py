"""The authorization matrix: every endpoint of the app, asked by each kind of caller.

Who asks:
  anon   anonymous: no credentials at all
  A, B   riders A and B, each with an access token; A owns the cards, payment and application
         that the requests name, B owns a card of their own
  dev    a validator, signing every request with its Ed25519 key
  dev-x  a validator that the operator has disabled (`flask devices disable`), still signing
  sch-A  the administrator of school A, where rider A has applied (session cookie + CSRF token)
  sch-B  the administrator of school B, another school
  oper   the operator. Operators act through `flask` commands on the server and have no HTTP
         identity, by design: no route knows an operator role. So the honest HTTP operator is
         someone with the server's own key material and nothing the app would accept as a
         person: here a bearer token for the subject "operator" with a role claim, correctly
         signed with the server's access-token key. It gets exactly what anonymous gets (a
         table check below says so, and every cell is then asked for real), and
         `test_the_operators_actions_are_flask_commands` shows the commands do the work.

Each principal presents all its credentials on every request, whatever the address (a careless
client), and everyone but the two administrators carries the signed-out school session that any
visitor of the sign-in page gets, with its CSRF token: the CSRF check (test_school_pages.py)
then passes for all, and a row shows who is let in, not who forgot a token.

Outcomes: "ok" is the endpoint's success (the status and, for a redirect, where it leads, as
declared with its request below); "login" is the school pages' way of saying 401, a redirect
to /school/login; a number is that status (409: let in, and refused by the thing's state).

The endpoints come from `app.url_map` (every method but HEAD and OPTIONS): a new one fails
`test_every_endpoint_has_a_row` until it gets a row here and a request below. Each request is a
real one that succeeds for whoever the row allows (rider A's real card id, school A's real
application, a validator's real batch of taps), so only who asks varies along a row.

Every cell that may change something (POST, DELETE) runs on a fresh copy of one SQLite
database built once for the module, in a fresh app with the same SECRET_KEY (tokens, cookies
and SMS codes made while building it stay valid), so no cell sees what another did, in any
order; the cells of a GET row share one fresh copy. Every cell also watches the service
functions behind the operator's commands: none may run over HTTP. SQLite only: who may do what
is decided in Python before any query, and the PostgreSQL run would double the time and test
nothing more.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pyotp
import pytest
from argon2 import PasswordHasher, profiles
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from api.auth import ALGORITHM, AUDIENCE, ISSUER, derived_key
from api.deps import unit_of_work
from tests.api.test_eligibility import ROSTER, apply
from tests.api.test_riders import PASSWORD, bearer, signed_up
from tests.api.test_school_pages import csrf, make_school, sign_in
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from tests.support.feeds import write_feed
from tests.support.principals import (
    LOGIN,
    OK,
    Call,
    Principal,
    fresh_app,
    make_app,
    outcome,
    send,
)
from tests.unit.wire import qr_vector
from transit import passwords
from transit.models import Alert
from transit.services import denylist, devices, eligibility, loads, network, schools

PRINCIPALS = ("anon", "A", "B", "dev", "dev-x", "sch-A", "sch-B", "oper")

# fmt: off
POLICY_TABLE = """
                                                    anon  A     B     dev   dev-x sch-A sch-B oper

# Public: health, the network, the documentation and static files. Nobody needs to be anyone.
GET    /healthz                                     ok    ok    ok    ok    ok    ok    ok    ok
GET    /readyz                                      ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/openapi.json                            ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/docs                                    ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/docs-assets/<path:filename>             ok    ok    ok    ok    ok    ok    ok    ok
GET    /static/<path:filename>                      ok    ok    ok    ok    ok    ok    ok    ok
GET    /app/                                        ok    ok    ok    ok    ok    ok    ok    ok
GET    /app/manifest.webmanifest                    ok    ok    ok    ok    ok    ok    ok    ok
GET    /app/sw.js                                   ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/v1/routes                               ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/v1/routes/<string:route_id>             ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/v1/stops                                ok    ok    ok    ok    ok    ok    ok    ok
GET    /api/v1/schools                              ok    ok    ok    ok    ok    ok    ok    ok

# Signing up and in. What proves who you are is in the body (phone and password, an SMS code,
# a refresh token), so whoever sends the same body gets the same answer.
POST   /api/v1/auth/register                        ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/verify                          ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/login                           ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/refresh                         ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/logout                          ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/password-reset                  ok    ok    ok    ok    ok    ok    ok    ok
POST   /api/v1/auth/password-reset/confirm          ok    ok    ok    ok    ok    ok    ok    ok

# A rider's own account and lists: each rider acts on their own, nobody else is a rider.
# Linking needs the number and check code printed on the card: whoever holds it may link it.
GET    /api/v1/me                                   401   ok    ok    401   401   401   401   401
DELETE /api/v1/me                                   401   ok    ok    401   401   401   401   401
GET    /api/v1/me/export                            401   ok    ok    401   401   401   401   401
POST   /api/v1/me/password                          401   ok    ok    401   401   401   401   401
GET    /api/v1/cards                                401   ok    ok    401   401   401   401   401
POST   /api/v1/cards                                401   ok    ok    401   401   401   401   401
GET    /api/v1/eligibility/applications             401   ok    ok    401   401   401   401   401
POST   /api/v1/eligibility/applications             401   ok    ok    401   401   401   401   401

# Rider A's card and payment: rider B is told they do not exist, everyone else to sign in.
GET    /api/v1/cards/<card_id>                      401   ok    404   401   401   401   401   401
POST   /api/v1/cards/<card_id>/block                401   ok    404   401   401   401   401   401
POST   /api/v1/cards/<card_id>/replace              401   ok    404   401   401   401   401   401
POST   /api/v1/cards/<card_id>/topups               401   ok    404   401   401   401   401   401
POST   /api/v1/cards/<card_id>/passes               401   ok    404   401   401   401   401   401
GET    /api/v1/cards/<card_id>/products             401   ok    404   401   401   401   401   401
GET    /api/v1/cards/<card_id>/trips                401   ok    404   401   401   401   401   401
GET    /api/v1/cards/<card_id>/journeys             401   ok    404   401   401   401   401   401
GET    /api/v1/cards/<card_id>/statement            401   ok    404   401   401   401   401   401
GET    /api/v1/payments/<payment_id>                401   ok    404   401   401   401   401   401

# The phone as a ticket. A has a virtual card that waits (A rides with a chip card): A may
# switch to it, and is told to before a credential is certified; B is told it does not exist.
POST   /api/v1/virtual-cards                        401   409   ok    401   401   401   401   401
POST   /api/v1/cards/<card_id>/activate             401   ok    404   401   401   401   401   401
POST   /api/v1/cards/<card_id>/credentials          401   409   404   401   401   401   401   401
DELETE /api/v1/cards/<card_id>/credentials          401   ok    404   401   401   401   401   401
GET    /api/v1/cards/<card_id>/account              401   ok    404   401   401   401   401   401

# Validators sign every request. A disabled one is refused like an unknown one (its key is
# revoked; docs/validator-protocol.md: one 401 whatever failed).
GET    /api/v1/validator/snapshot                   401   401   401   ok    401   401   401   401
POST   /api/v1/validator/taps                       401   401   401   ok    401   401   401   401

# The payment provider's webhook: Stripe's signature is the only credential, and nobody here
# has it (the test app uses the development provider, which takes no webhooks at all).
POST   /api/v1/webhooks/stripe                      400   400   400   400   400   400   400   400

# The school's sign-in. Everyone may try a password; the code step belongs to the browser that
# has just given one, and none of these has, so it sends each of them back to the first step.
GET    /school/login                                ok    ok    ok    ok    ok    ok    ok    ok
POST   /school/login                                ok    ok    ok    ok    ok    ok    ok    ok
GET    /school/login/code                           login login login login login login login login
POST   /school/login/code                           login login login login login login login login
POST   /school/logout                               ok    ok    ok    ok    ok    ok    ok    ok

# A new administrator's enrolment: the operator's one-time link is the credential, and it
# binds the page to the browser that opened it. None of these has opened one: not found.
GET    /school/enrol                                404   404   404   404   404   404   404   404
POST   /school/enrol                                404   404   404   404   404   404   404   404

# The school's pages: its own administrator only; another school's application is not found.
GET    /school/                                     login login login login login ok    ok    login
GET    /school/applications/<application_id>        login login login login login ok    404   login
POST   /school/applications/<application_id>/decide login login login login login ok    404   login
GET    /school/roster                               login login login login login ok    ok    login
POST   /school/roster                               login login login login login ok    ok    login
GET    /school/students                             login login login login login ok    ok    login
GET    /school/audit                                login login login login login ok    ok    login

# The same session's JSON API answers a stranger with 401 instead of the sign-in page.
GET    /school/api/session                          401   401   401   401   401   ok    ok    401
GET    /school/api/applications                     401   401   401   401   401   ok    ok    401
GET    /school/api/applications/<application_id>    401   401   401   401   401   ok    404   401
POST   /school/api/roster                           401   401   401   401   401   ok    ok    401
"""
# fmt: on


def _policy(table: str) -> dict[tuple[str, str], dict[str, str]]:
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for line in table.splitlines():
        if not line.strip() or line.startswith(("#", " ")):  # blank, comment, the header
            continue
        method, rule, *cells = line.split()
        assert len(cells) == len(PRINCIPALS), line
        assert set(cells) <= {OK, LOGIN, "400", "401", "403", "404", "409"}, line
        assert (method, rule) not in rows, f"two rows for {method} {rule}"
        rows[method, rule] = dict(zip(PRINCIPALS, cells, strict=True))
    return rows


POLICY = _policy(POLICY_TABLE)

HANOI = timezone(timedelta(hours=7))
RIDER_A_PHONE, RIDER_B_PHONE = "0912 345 678", "0987 654 321"
SIGNING_UP = "0901 234 567"  # registered, code sent, not verified yet
NEW_PASSWORD = "mot mat khau moi 09"
CARD_UID = "04A1B2C3D4E5F6"
SCHOOL_A, SCHOOL_B = "THPT-CVA", "THCS-X"
ADMIN_A, ADMIN_B = "lan@cva.edu.vn", "minh@x.edu.vn"
# A phone's P-256 public key as WebCrypto exports it (the test vector's), base64url.
PHONE_KEY = base64.urlsafe_b64encode(bytes.fromhex(qr_vector.load()["phone_public_raw"])).decode()
SCHOOL_PASSWORD = "a long enough secret"  # what make_school gives every administrator


class World:
    """What the module's database holds, and each principal's credentials."""

    def __init__(self, template: Path) -> None:
        self.template = template
        self.principals: dict[str, Principal] = {}
        self.card_id = self.card_number = self.blocked_card_id = ""
        self.spare_number = self.spare_code = ""
        self.payment_id = self.application_id = self.refresh_token = ""
        self.registration_code = self.reset_code = self.totp_a = ""
        self.device_id = self.virtual_card_id = ""

    @contextmanager
    def app(self) -> Iterator[Flask]:
        with fresh_app(self.template) as made:
            yield made


def _tap(card_number: str, seq: int) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(hours=1)
    return {
        "tap_id": "tap_" + uuid.uuid4().hex,
        "device_seq": seq,
        "time": when.astimezone(HANOI).isoformat(timespec="seconds"),
        "card_uid": CARD_UID,
        "card_number": card_number,
        "route_id": "32",
        "stop_id": "S3",
        "result": "accepted",
        "reason": None,
        "amount": 10_000,
        "paid_by": "stored_value",
        "balance_after": 40_000 - 10_000 * (seq - 1),
        "card_tx": seq,
        "applied_loads": [],
        "tariff_version": "hanoi-2024-11",
        "explanation": "",
        "commit": "confirmed",
    }


@pytest.fixture(scope="module")
def cheap_passwords() -> Iterator[None]:
    """argon2id at its lowest cost while this module runs: a hash costs a tenth of a second at
    the production cost, a sign-in row hashes eight times, and the cost is not what is tested."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        yield


@pytest.fixture(scope="module")
def world(
    cheap_passwords: None, migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory
) -> World:
    """Two riders, their cards, a payment, two schools, an application, two validators."""
    folder = tmp_path_factory.mktemp("authorization-matrix")
    template = folder / "world.sqlite3"
    shutil.copyfile(migrated_sqlite, template)
    made = World(template)
    sms = SmsOutbox()
    app = make_app(template, folder / "instance", sms)
    client, runner = app.test_client(), app.test_cli_runner()
    loaded = runner.invoke(args=["network", "import", str(write_feed(folder / "feed"))])
    assert loaded.exit_code == 0, loaded.output

    tokens_a = signed_up(client, sms, RIDER_A_PHONE)
    rider_a, rider_b = bearer(tokens_a), bearer(signed_up(client, sms, RIDER_B_PHONE))
    made.refresh_token = tokens_a["refresh_token"]
    made.card_number, code = issue(app, CARD_UID)
    made.card_id = link(client, rider_a, made.card_number, code).get_json()["card_id"]
    made.blocked_card_id = link(client, rider_a, *issue(app, "04A1B2C3D4E5F7")).get_json()[
        "card_id"
    ]
    blocked = client.post(
        f"/api/v1/cards/{made.blocked_card_id}/block", json={"reason": "lost"}, headers=rider_a
    )
    assert blocked.status_code == 200, blocked.get_json()
    assert link(client, rider_b, *issue(app, "04A1B2C3D4E5F8")).status_code == 201
    made.spare_number, made.spare_code = issue(app, "04A1B2C3D4E5F9")
    paid = client.post(
        f"/api/v1/cards/{made.card_id}/topups",
        json={"amount": 50_000},
        headers={**rider_a, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 201, paid.get_json()
    made.payment_id = paid.get_json()["payment_id"]
    virtual = client.post("/api/v1/virtual-cards", headers=rider_a)
    assert virtual.status_code == 201, virtual.get_json()
    made.virtual_card_id = virtual.get_json()["card_id"]

    made.totp_a = make_school(app, SCHOOL_A, ADMIN_A)
    totp_b = make_school(app, SCHOOL_B, ADMIN_B)
    roster = folder / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    imported = runner.invoke(
        args=["schools", "import-roster", SCHOOL_A, str(roster), "--year", "2026-2027"]
    )
    assert imported.exit_code == 0, imported.output
    waiting = apply(client, rider_a, date_of_birth="2010-05-02")  # no roster match: queued
    assert waiting.get_json()["status"] == "pending", waiting.get_json()
    made.application_id = waiting.get_json()["application_id"]

    validators = []
    for _ in range(2):
        registered = runner.invoke(args=["devices", "register", "--route", "32"])
        assert registered.exit_code == 0, registered.output
        found = json.loads(registered.output)
        validators.append((found["device_id"], bytes.fromhex(found["private_key"])))
    made.device_id = validators[0][0]
    disabled = runner.invoke(args=["devices", "disable", validators[1][0]])
    assert disabled.exit_code == 0, disabled.output
    first_tap = Call(
        "POST",
        "/api/v1/validator/taps",
        json.dumps({"taps": [_tap(made.card_number, 1)]}).encode(),
        "application/json",
    )
    assert send(app, first_tap, Principal("dev", device=validators[0])).status_code == 200

    client.post("/api/v1/auth/register", json=_sign_up_body(SIGNING_UP))
    made.registration_code = sms.last_code(_e164(SIGNING_UP))
    client.post("/api/v1/auth/password-reset", json={"phone": RIDER_A_PHONE})
    made.reset_code = sms.last_code(_e164(RIDER_A_PHONE))

    visitor = _school_session(app, None)
    ids = {
        name: client.get("/api/v1/me", headers=who).get_json()["rider_id"]
        for name, who in (("A", rider_a), ("B", rider_b))
    }
    made.principals = {
        "anon": Principal("anon", visitor),
        "A": Principal("A", {**rider_a, **visitor}, rider_id=ids["A"]),
        "B": Principal("B", {**rider_b, **visitor}, rider_id=ids["B"]),
        "dev": Principal("dev", visitor, device=validators[0]),
        "dev-x": Principal("dev-x", visitor, device=validators[1]),
        "sch-A": Principal("sch-A", _school_session(app, (ADMIN_A, made.totp_a))),
        "sch-B": Principal("sch-B", _school_session(app, (ADMIN_B, totp_b))),
        "oper": Principal("oper", {**_operator_token(app), **visitor}),
    }
    app.extensions["transit"].engine.dispose()
    return made


def _e164(phone: str) -> str:
    return "+84" + phone.replace(" ", "").removeprefix("0")


def _sign_up_body(phone: str) -> dict[str, Any]:
    return {"phone": phone, "password": PASSWORD, "consent": True}


def _school_session(app: Flask, admin: tuple[str, str] | None) -> dict[str, str]:
    """The school cookie and its CSRF token: an administrator's, or a signed-out visitor's."""
    client = app.test_client()
    if admin is None:
        token = csrf(client.get("/school/login"))
    else:
        assert sign_in(client, *admin).status_code == 302
        token = client.get("/school/api/session").get_json()["csrf"]
    cookie = client.get_cookie("school_session", path="/school")
    assert cookie is not None
    return {"Cookie": f"school_session={cookie.value}", "X-CSRF-Token": token}


def _operator_token(app: Flask) -> dict[str, str]:
    """What an operator on the server could mint: a well-signed token naming no rider."""
    now = datetime.now(UTC)
    claims = {
        "sub": "operator",
        "role": "operator",
        "pwe": 0,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    with app.app_context():
        token = jwt.encode(claims, derived_key("access-token"), algorithm=ALGORITHM)
    return {"Authorization": f"Bearer {token}"}


# -- one real request per endpoint -----------------------------------------------------------


def _get(url: str) -> Call:
    return Call("GET", url)


def _json(
    method: str, url: str, payload: Any, ok: int = 200, headers: dict[str, str] | None = None
) -> Call:
    body = json.dumps(payload).encode()
    return Call(method, url, body, "application/json", headers or {}, ok)


def _form(url: str, fields: dict[str, str], goes_to: str) -> Call:
    body = urlencode(fields).encode()
    return Call("POST", url, body, "application/x-www-form-urlencoded", ok=302, goes_to=goes_to)


def _roster_form() -> Call:
    upload = FileStorage(io.BytesIO(ROSTER.encode()), "roster.csv", content_type="text/csv")
    boundary, body = encode_multipart({"school_year": "2026-2027", "file": upload})
    return Call("POST", "/school/roster", body, f"multipart/form-data; boundary={boundary}")


def _stripe_event(w: World) -> Call:
    # A real-looking event for rider A's payment, signed with a secret that is not Stripe's.
    event = {
        "id": "evt_" + uuid.uuid4().hex[:24],
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_" + uuid.uuid4().hex[:24], "metadata": {}}},
    }
    stamp = int(datetime.now(UTC).timestamp())
    return _json(
        "POST",
        "/api/v1/webhooks/stripe",
        event,
        headers={"Stripe-Signature": f"t={stamp},v1={secrets.token_hex(32)}"},
    )


def _this_month() -> str:
    return datetime.now(HANOI).strftime("%Y-%m")


def _card(w: World, tail: str = "") -> str:
    return f"/api/v1/cards/{w.card_id}{tail}"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": "9a1c2b3d-0000-4000-8000-00000000a001"}


def _spare(w: World) -> dict[str, str]:
    return {"card_number": w.spare_number, "check_code": w.spare_code}


REQUESTS: dict[tuple[str, str], Callable[[World], Call]] = {
    ("GET", "/healthz"): lambda w: _get("/healthz"),
    ("GET", "/readyz"): lambda w: _get("/readyz"),
    ("GET", "/api/openapi.json"): lambda w: _get("/api/openapi.json"),
    ("GET", "/api/docs"): lambda w: _get("/api/docs"),
    ("GET", "/api/docs-assets/<path:filename>"): lambda w: _get("/api/docs-assets/index.css"),
    ("GET", "/static/<path:filename>"): lambda w: _get("/static/kit.css"),
    ("GET", "/app/"): lambda w: _get("/app/"),
    ("GET", "/app/manifest.webmanifest"): lambda w: _get("/app/manifest.webmanifest"),
    ("GET", "/app/sw.js"): lambda w: _get("/app/sw.js"),
    ("GET", "/api/v1/routes"): lambda w: _get("/api/v1/routes"),
    ("GET", "/api/v1/routes/<string:route_id>"): lambda w: _get("/api/v1/routes/32"),
    ("GET", "/api/v1/stops"): lambda w: _get("/api/v1/stops?near=21.0285,105.8522&radius=1000"),
    ("GET", "/api/v1/schools"): lambda w: _get("/api/v1/schools"),
    ("POST", "/api/v1/auth/register"): lambda w: _json(
        "POST", "/api/v1/auth/register", _sign_up_body("0933 444 555"), 202
    ),
    ("POST", "/api/v1/auth/verify"): lambda w: _json(
        "POST",
        "/api/v1/auth/verify",
        {"phone": SIGNING_UP, "code": w.registration_code, "password": PASSWORD},
    ),
    ("POST", "/api/v1/auth/login"): lambda w: _json(
        "POST", "/api/v1/auth/login", {"phone": RIDER_A_PHONE, "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/refresh"): lambda w: _json(
        "POST", "/api/v1/auth/refresh", {"refresh_token": w.refresh_token}
    ),
    ("POST", "/api/v1/auth/logout"): lambda w: _json(
        "POST", "/api/v1/auth/logout", {"refresh_token": w.refresh_token}, 204
    ),
    ("POST", "/api/v1/auth/password-reset"): lambda w: _json(
        "POST", "/api/v1/auth/password-reset", {"phone": RIDER_A_PHONE}, 202
    ),
    ("POST", "/api/v1/auth/password-reset/confirm"): lambda w: _json(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        {"phone": RIDER_A_PHONE, "code": w.reset_code, "new_password": NEW_PASSWORD},
    ),
    ("GET", "/api/v1/me"): lambda w: _get("/api/v1/me"),
    ("DELETE", "/api/v1/me"): lambda w: _json("DELETE", "/api/v1/me", {"password": PASSWORD}, 204),
    ("GET", "/api/v1/me/export"): lambda w: _get("/api/v1/me/export"),
    ("POST", "/api/v1/me/password"): lambda w: _json(
        "POST",
        "/api/v1/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        204,
    ),
    ("GET", "/api/v1/cards"): lambda w: _get("/api/v1/cards"),
    ("POST", "/api/v1/cards"): lambda w: _json("POST", "/api/v1/cards", _spare(w), 201),
    ("GET", "/api/v1/eligibility/applications"): lambda w: _get("/api/v1/eligibility/applications"),
    ("POST", "/api/v1/eligibility/applications"): lambda w: _json(
        "POST",
        "/api/v1/eligibility/applications",
        {
            "school_code": SCHOOL_B,
            "student_code": "B-0042",
            "full_name": "Trần Thị Bình",
            "date_of_birth": "2011-03-04",
        },
        201,
    ),
    ("GET", "/api/v1/cards/<card_id>"): lambda w: _get(_card(w)),
    ("POST", "/api/v1/cards/<card_id>/block"): lambda w: _json(
        "POST", _card(w, "/block"), {"reason": "lost"}
    ),
    ("POST", "/api/v1/cards/<card_id>/replace"): lambda w: _json(
        "POST", f"/api/v1/cards/{w.blocked_card_id}/replace", _spare(w)
    ),
    ("POST", "/api/v1/cards/<card_id>/topups"): lambda w: _json(
        "POST", _card(w, "/topups"), {"amount": 50_000}, 201, _key()
    ),
    ("POST", "/api/v1/cards/<card_id>/passes"): lambda w: _json(
        "POST", _card(w, "/passes"), {"product_id": "pass_all_routes"}, 201, _key()
    ),
    ("GET", "/api/v1/cards/<card_id>/products"): lambda w: _get(_card(w, "/products")),
    ("POST", "/api/v1/virtual-cards"): lambda w: _json("POST", "/api/v1/virtual-cards", {}, 201),
    ("GET", "/api/v1/cards/<card_id>/account"): lambda w: _get(
        f"/api/v1/cards/{w.virtual_card_id}/account"
    ),
    ("POST", "/api/v1/cards/<card_id>/activate"): lambda w: _json(
        "POST", f"/api/v1/cards/{w.virtual_card_id}/activate", {}
    ),
    ("DELETE", "/api/v1/cards/<card_id>/credentials"): lambda w: _json(
        "DELETE", f"/api/v1/cards/{w.virtual_card_id}/credentials", {}
    ),
    ("POST", "/api/v1/cards/<card_id>/credentials"): lambda w: _json(
        "POST",
        f"/api/v1/cards/{w.virtual_card_id}/credentials",
        {"public_key": PHONE_KEY},
        201,
    ),
    ("GET", "/api/v1/cards/<card_id>/trips"): lambda w: _get(_card(w, "/trips?limit=20")),
    ("GET", "/api/v1/cards/<card_id>/journeys"): lambda w: _get(_card(w, "/journeys?limit=20")),
    ("GET", "/api/v1/cards/<card_id>/statement"): lambda w: _get(
        _card(w, f"/statement?month={_this_month()}")
    ),
    ("GET", "/api/v1/payments/<payment_id>"): lambda w: _get(f"/api/v1/payments/{w.payment_id}"),
    ("GET", "/api/v1/validator/snapshot"): lambda w: _get("/api/v1/validator/snapshot?since=0"),
    ("POST", "/api/v1/validator/taps"): lambda w: _json(
        "POST", "/api/v1/validator/taps", {"taps": [_tap(w.card_number, 2)]}
    ),
    ("POST", "/api/v1/webhooks/stripe"): _stripe_event,
    ("GET", "/school/login"): lambda w: _get("/school/login"),
    ("POST", "/school/login"): lambda w: _form(
        "/school/login", {"email": ADMIN_A, "password": SCHOOL_PASSWORD}, "/school/login/code"
    ),
    ("GET", "/school/login/code"): lambda w: _get("/school/login/code"),
    ("POST", "/school/login/code"): lambda w: _form(
        "/school/login/code", {"code": pyotp.TOTP(w.totp_a).now()}, "/school/"
    ),
    ("POST", "/school/logout"): lambda w: _form("/school/logout", {}, "/school/login"),
    ("GET", "/school/enrol"): lambda w: _get("/school/enrol"),
    ("POST", "/school/enrol"): lambda w: _form(
        "/school/enrol",
        {"password": SCHOOL_PASSWORD, "password_again": SCHOOL_PASSWORD, "code": "123456"},
        "/school/",
    ),
    ("GET", "/school/"): lambda w: _get("/school/"),
    ("GET", "/school/applications/<application_id>"): lambda w: _get(
        f"/school/applications/{w.application_id}"
    ),
    ("POST", "/school/applications/<application_id>/decide"): lambda w: _form(
        f"/school/applications/{w.application_id}/decide",
        {"action": "approve", "reason": "", "valid_until": ""},
        f"/school/applications/{w.application_id}",
    ),
    ("GET", "/school/roster"): lambda w: _get("/school/roster"),
    ("POST", "/school/roster"): lambda w: _roster_form(),
    ("GET", "/school/students"): lambda w: _get("/school/students"),
    ("GET", "/school/audit"): lambda w: _get("/school/audit"),
    ("GET", "/school/api/session"): lambda w: _get("/school/api/session"),
    ("GET", "/school/api/applications"): lambda w: _get("/school/api/applications"),
    ("GET", "/school/api/applications/<application_id>"): lambda w: _get(
        f"/school/api/applications/{w.application_id}"
    ),
    ("POST", "/school/api/roster"): lambda w: Call(
        "POST", "/school/api/roster?year=2026-2027", ROSTER.encode(), "text/csv", ok=201
    ),
}


# -- what only the operator does, by the service function behind each `flask` command ---------

OPERATOR_SERVICES = (
    (loads, "create_credit"),
    (denylist, "block_card"),
    (devices, "register_device"),
    (devices, "disable_device"),
    (eligibility, "grant_age_category"),
    (schools, "create_school"),
    (schools, "add_admin"),
    (schools, "reset_admin"),
    (network, "import_feed"),
)


@contextmanager
def operator_services_watched() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every call of an operator's service function while inside, with its arguments."""
    ran: list[tuple[str, tuple[Any, ...]]] = []
    with pytest.MonkeyPatch.context() as patch:
        for module, name in OPERATOR_SERVICES:
            patch.setattr(module, name, _spy(getattr(module, name), name, ran))
        yield ran


def _spy(real: Callable[..., Any], name: str, ran: list[tuple[str, tuple[Any, ...]]]) -> Any:
    def spy(*args: Any, **kwargs: Any) -> Any:
        ran.append((name, args))
        return real(*args, **kwargs)

    return spy


def _operator_work(ran: list[tuple[str, tuple[Any, ...]]], who: Principal) -> list[str]:
    # A rider blocking their own card goes through the same deny list, in the rider's name.
    return [
        name
        for name, args in ran
        if not (name == "block_card" and who.rider_id and args[2] == f"rider:{who.rider_id}")
    ]


# -- the tests --------------------------------------------------------------------------------


def test_every_endpoint_has_a_row(world: World) -> None:
    with world.app() as app:
        found = {
            (method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods or ())
            if method not in ("HEAD", "OPTIONS")
        }
    missing = [f"add a row for {m} {r}" for m, r in sorted(found - POLICY.keys())]
    gone = [
        f"remove the row for {m} {r}: no such endpoint" for m, r in sorted(POLICY.keys() - found)
    ]
    assert not missing + gone, "\n".join(missing + gone)
    assert sorted(REQUESTS) == sorted(POLICY), "each row needs a request, and only rows do"


def test_the_operator_gets_no_more_over_http_than_anonymous() -> None:
    differs = [f"{m} {r}" for (m, r), cells in POLICY.items() if cells["oper"] != cells["anon"]]
    assert not differs, differs


@pytest.mark.parametrize("endpoint", sorted(POLICY), ids=" ".join)
def test_each_caller_gets_the_one_outcome_the_policy_allows(
    world: World, endpoint: tuple[str, str]
) -> None:
    wrong = []
    with ExitStack() as stack:
        # A GET changes nothing another caller could see: its row shares one fresh copy.
        shared = stack.enter_context(world.app()) if endpoint[0] == "GET" else None
        for name, expected in POLICY[endpoint].items():
            who = world.principals[name]
            with (
                nullcontext(shared) if shared else world.app() as app,
                operator_services_watched() as ran,
            ):
                call = REQUESTS[endpoint](world)
                response = send(app, call, who)
            got = outcome(call, response)
            if got != expected:
                detail = response.get_data(as_text=True)[:200].replace("\n", " ")
                wrong.append(f"  {name}: expected {expected}, got {got}: {detail}")
            if _operator_work(ran, who):
                wrong.append(f"  {name}: ran the operator's {_operator_work(ran, who)}")
    assert not wrong, " ".join(endpoint) + "\n" + "\n".join(wrong)


def test_the_operators_actions_are_flask_commands(world: World, tmp_path: Path) -> None:
    """Each operator action is a `flask` command doing its work through one service function.

    Over HTTP none of those functions runs for anyone: every cell of the matrix above watches
    them (a rider blocking their own card is the one use of the deny list a rider may make).
    """
    number, feed = world.card_number, str(write_feed(tmp_path / "feed"))
    commands = {
        "create_credit": f"cards credit {number} 20000 --reason goodwill",
        "block_card": f"cards block {number} --reason fraud",
        "register_device": "devices register --route 32",
        "disable_device": f"devices disable {world.device_id}",
        "grant_age_category": f"cards verify-age {number} --born 1950-01-01 --evidence CCCD",
        "create_school": "schools create THPT-MOI Trường_Mới",
        "add_admin": f"schools add-admin {SCHOOL_B} an@x.edu.vn --name An",
        "reset_admin": f"schools reset-admin {ADMIN_B}",
        "import_feed": f"network import {feed}",
    }
    assert sorted(commands) == sorted(name for _, name in OPERATOR_SERVICES)
    for service, command in commands.items():
        with world.app() as app, operator_services_watched() as ran:
            result = app.test_cli_runner().invoke(args=command.split())
        assert result.exit_code == 0, (command, result.output)
        assert [name for name, _ in ran] == [service], command


def _alerts(app: Flask, kind: str) -> int:
    with app.app_context(), unit_of_work() as uow:
        return len(list(uow.session.scalars(select(Alert).where(Alert.kind == kind))))


def test_only_a_disabled_validators_own_key_raises_its_alert(world: World) -> None:
    """Naming a disabled validator, without its key, writes nothing: only the device can."""
    disabled = world.principals["dev-x"]
    assert disabled.device is not None
    device_id = disabled.device[0]
    snapshot = _get("/api/v1/validator/snapshot?since=0")
    with world.app() as app:
        for stranger in (
            Principal("anon", {"X-Device-Id": device_id}),
            Principal("forger", device=(device_id, bytes(32))),  # signed, with another key
        ):
            assert send(app, snapshot, stranger).status_code == 401
        assert _alerts(app, "disabled_device") == 0
        assert send(app, snapshot, disabled).status_code == 401
        assert _alerts(app, "disabled_device") == 1
