"""Riders' accounts: registration by SMS code, sign-in, tokens, own data, and the limits."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from api.deps import unit_of_work
from tests.conftest import SmsOutbox
from transit.models import OneTimeCode, Rider

PHONE = "+84912345678"
PASSWORD = "xe buyt 32 Cau Giay"


def register(client: FlaskClient, phone: str = "0912 345 678", **changes: Any) -> Any:
    body = {"phone": phone, "password": PASSWORD, "consent": True, **changes}
    return client.post("/api/v1/auth/register", json=body)


def signed_up(client: FlaskClient, sms: SmsOutbox, phone: str = "0912 345 678") -> dict[str, Any]:
    """Register and verify; returns the tokens."""
    assert register(client, phone).status_code == 202
    normalized = "+84" + phone.replace(" ", "").removeprefix("0")
    answer = client.post(
        "/api/v1/auth/verify",
        json={"phone": phone, "code": sms.last_code(normalized), "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_a_rider_registers_with_a_code_by_sms_and_signs_in(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    answer = register(client)
    assert (answer.status_code, answer.get_json()) == (202, {"status": "code_sent_if_possible"})
    [(to, text)] = sms.sent
    assert to == PHONE
    assert "Ma xac minh" in text  # Vietnamese unless the rider chose English
    tokens = signed_up_after_register(client, sms)
    me = client.get("/api/v1/me", headers=bearer(tokens)).get_json()
    assert (me["phone"], me["language"]) == (PHONE, "vi")
    assert me["consent_version"]
    login = client.post(
        "/api/v1/auth/login", json={"phone": "+84 912 345 678", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.get_json()["token_type"] == "Bearer"


def signed_up_after_register(client: FlaskClient, sms: SmsOutbox) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/auth/verify",
        json={"phone": "0912345678", "code": sms.last_code(PHONE), "password": PASSWORD},
    )
    assert answer.status_code == 200
    return dict(answer.get_json())


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"phone": "0123 456 789"}, "invalid_phone"),
        ({"phone": "024 3825 1234"}, "invalid_phone"),  # a Hanoi landline gets no SMS
        ({"phone": "+1 202 555 0143"}, "invalid_phone"),
        ({"phone": "0912345678 ext 5"}, "invalid_phone"),
        ({"password": "short"}, "weak_password"),
        ({"password": "12345678"}, "weak_password"),
        ({"password": "my0912345678"}, "weak_password"),
        ({"consent": False}, "consent_required"),
    ],
)
def test_bad_registrations_are_refused_and_send_nothing(
    client: FlaskClient, sms: SmsOutbox, changes: dict[str, Any], code: str
) -> None:
    body = {"phone": "0912345678", "password": PASSWORD, "consent": True, **changes}
    answer = client.post("/api/v1/auth/register", json=body)
    assert answer.status_code == 422
    assert answer.get_json()["code"] == code
    assert sms.sent == []


def test_registering_a_number_that_has_an_account_looks_the_same_and_changes_nothing(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    signed_up(client, sms)
    again = register(client, "+84912345678", password="another password 9")
    assert (again.status_code, again.get_json()) == (202, {"status": "code_sent_if_possible"})
    assert "da co tai khoan" in sms.sent[-1][1]  # the owner is told; no code is sent
    login = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    assert login.status_code == 200


def test_five_wrong_codes_spend_the_code(client: FlaskClient, sms: SmsOutbox) -> None:
    register(client)
    right = sms.last_code(PHONE)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        answer = client.post(
            "/api/v1/auth/verify", json={"phone": PHONE, "code": wrong, "password": PASSWORD}
        )
        assert answer.get_json()["code"] == "invalid_code"
    answer = client.post(
        "/api/v1/auth/verify", json={"phone": PHONE, "code": right, "password": PASSWORD}
    )
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_code")


def test_an_expired_code_is_refused(app: Flask, client: FlaskClient, sms: SmsOutbox) -> None:
    register(client)
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(
            update(OneTimeCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        uow.commit()
    answer = client.post(
        "/api/v1/auth/verify",
        json={"phone": PHONE, "code": sms.last_code(PHONE), "password": PASSWORD},
    )
    assert answer.get_json()["code"] == "invalid_code"


def test_an_unverified_number_cannot_sign_in(client: FlaskClient, sms: SmsOutbox) -> None:
    register(client)
    answer = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    assert (answer.status_code, answer.get_json()["code"]) == (403, "phone_not_verified")


def test_a_wrong_password_and_an_unknown_number_are_the_same_error(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    signed_up(client, sms)
    wrong = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": "not it at all"})
    unknown = client.post(
        "/api/v1/auth/login", json={"phone": "0987654321", "password": "not it at all"}
    )
    for answer in (wrong, unknown):
        assert answer.status_code == 401
    assert wrong.get_json() | {"instance": ""} == unknown.get_json() | {"instance": ""}


def test_a_refresh_token_works_once_and_its_reuse_ends_the_login(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    first = signed_up(client, sms)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second_tokens = second.get_json()
    assert client.get("/api/v1/me", headers=bearer(second_tokens)).status_code == 200
    # Someone replays the old token: refused, and the rider's current one dies with it.
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (replay.status_code, replay.get_json()["code"]) == (401, "invalid_token")
    after = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second_tokens["refresh_token"]}
    )
    assert after.status_code == 401


def test_logout_ends_this_devices_refresh_token_only(client: FlaskClient, sms: SmsOutbox) -> None:
    phone_a = signed_up(client, sms)
    phone_b = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    tokens_b = phone_b.get_json()
    # No access token needed: the app may sign out after it expired.
    out = client.post("/api/v1/auth/logout", json={"refresh_token": phone_a["refresh_token"]})
    assert out.status_code == 204
    unknown = client.post("/api/v1/auth/logout", json={"refresh_token": "rt_nothing"})
    assert unknown.status_code == 204
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": phone_a["refresh_token"]}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens_b["refresh_token"]}
        ).status_code
        == 200
    )


def test_changing_the_password_signs_every_device_out(client: FlaskClient, sms: SmsOutbox) -> None:
    tokens = signed_up(client, sms)
    weak = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "12345678"},
        headers=bearer(tokens),
    )
    assert weak.get_json()["code"] == "weak_password"
    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "new one for the 09"},
        headers=bearer(tokens),
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    login = client.post(
        "/api/v1/auth/login", json={"phone": PHONE, "password": "new one for the 09"}
    )
    assert client.get("/api/v1/me", headers=bearer(login.get_json())).status_code == 200


def test_a_forgotten_password_is_reset_with_a_code(client: FlaskClient, sms: SmsOutbox) -> None:
    signed_up(client, sms)
    unknown = client.post("/api/v1/auth/password-reset", json={"phone": "0987654321"})
    known = client.post("/api/v1/auth/password-reset", json={"phone": PHONE})
    assert unknown.get_json() == known.get_json()
    # The number without an account hears of the request, and gets no code.
    [(to, text)] = [(to, text) for to, text in sms.sent if to == "+84987654321"]
    assert "chua co tai khoan" in text
    assert not any(character.isdigit() for character in text)
    reset = client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"phone": PHONE, "code": sms.last_code(PHONE), "new_password": "a fresh start 86"},
    )
    assert reset.status_code == 200
    assert (
        client.post(
            "/api/v1/auth/login", json={"phone": PHONE, "password": "a fresh start 86"}
        ).status_code
        == 200
    )


def test_a_rider_downloads_their_data_and_deletes_the_account(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    tokens = signed_up(client, sms)
    export = client.get("/api/v1/me/export", headers=bearer(tokens))
    assert export.status_code == 200
    assert "attachment" in export.headers["Content-Disposition"]
    data = json.loads(export.data)
    assert data["rider"]["phone"] == PHONE
    assert data["rider"]["consent"]["version"]
    assert (data["cards"], data["payments"]) == ([], [])
    refused = client.delete("/api/v1/me", json={"password": "wrong one!"}, headers=bearer(tokens))
    assert refused.status_code == 401
    deleted = client.delete("/api/v1/me", json={"password": PASSWORD}, headers=bearer(tokens))
    assert deleted.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    with app.app_context(), unit_of_work() as uow:
        rider = uow.session.scalars(select(Rider)).one()
        assert (rider.phone, rider.password_hash, rider.status) == (None, None, "deleted")
        assert all(code.phone == "" for code in uow.session.scalars(select(OneTimeCode)))
    # The number is free to register again.
    assert signed_up(client, sms)["access_token"]


def forged(tokens: dict[str, Any], **changes: Any) -> str:
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    claims.update(changes)
    return jwt.encode(claims, "guessed secret that is long enough!!", algorithm="HS256")


def test_forged_expired_and_unsigned_tokens_are_refused(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    tokens = signed_up(client, sms)
    header, payload, _ = tokens["access_token"].split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    for token in (
        forged(tokens),
        f"{none_header}.{payload}.",
        f"{header}.{payload}.",
        "not a token",
    ):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert (answer.status_code, answer.get_json()["code"]) == (401, "unauthorized")
    assert client.get("/api/v1/me").status_code == 401


def test_a_token_past_its_15_minutes_is_refused(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    tokens = signed_up(client, sms)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 15 * 60
    with app.test_request_context():
        from api.auth import derived_key

        expired = jwt.encode(
            claims | {"iat": claims["iat"] - 3600, "exp": claims["exp"] - 3600},
            derived_key("access-token"),
            algorithm="HS256",
        )
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401


def test_sign_in_attempts_per_number_are_limited_however_it_is_written(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    signed_up(client, sms)
    spellings = ["0912345678", "+84912345678", "84912345678", "0912 345 678", "+84 912-345-678"]
    for phone in spellings:
        answer = client.post("/api/v1/auth/login", json={"phone": phone, "password": "guess 1234"})
        assert answer.status_code == 401
    blocked = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"
    assert blocked.get_json()["code"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) > 0
    # Another number from the same client is not blocked by this one's limit.
    other = client.post("/api/v1/auth/login", json={"phone": "0987654321", "password": "x" * 8})
    assert other.status_code == 401


def test_code_requests_per_number_are_limited(client: FlaskClient, sms: SmsOutbox) -> None:
    for _ in range(3):
        assert register(client).status_code == 202
    assert register(client).status_code == 429
    assert len(sms.sent) == 3


def test_a_second_registration_of_a_pending_number_cannot_choose_its_password(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    owner, stranger = "owner's password 2026", "stranger password 99"
    phone = "+84980085101"
    assert register(client, "0980085101", password=owner).status_code == 202
    owners_code = sms.last_code(phone)
    assert register(client, phone, password=stranger).status_code == 202
    strangers_code = sms.last_code(phone)  # the SMS reaches the owner's phone, not the stranger
    assert strangers_code != owners_code

    # The owner types the newest code with their own password: it does not activate anything.
    answer = client.post(
        "/api/v1/auth/verify", json={"phone": phone, "code": strangers_code, "password": owner}
    )
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_code")
    # The owner's own code still works: the stranger's registration did not cancel it.
    answer = client.post(
        "/api/v1/auth/verify", json={"phone": phone, "code": owners_code, "password": owner}
    )
    assert answer.status_code == 200, answer.get_json()
    assert (
        client.post("/api/v1/auth/login", json={"phone": phone, "password": owner}).status_code
        == 200
    )
    refused = client.post("/api/v1/auth/login", json={"phone": phone, "password": stranger})
    assert (refused.status_code, refused.get_json()["code"]) == (401, "invalid_credentials")
    with app.app_context(), unit_of_work() as uow:
        kept = uow.session.scalars(select(OneTimeCode.password_hash)).all()
    assert kept == [None, None]  # the account holds the password; the codes hold none
    # And the stranger's code died with the owner's verification.
    late = client.post(
        "/api/v1/auth/verify", json={"phone": phone, "code": strangers_code, "password": stranger}
    )
    assert (late.status_code, late.get_json()["code"]) == (400, "invalid_code")


def test_a_pending_accounts_password_is_the_one_verified_with_its_own_code(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    # Someone who mistyped their password registers again: the second registration wins when
    # its own code is used with its own password.
    register(client, password="first try password 1")
    register(client, password="second try password 2")
    answer = client.post(
        "/api/v1/auth/verify",
        json={"phone": PHONE, "code": sms.last_code(PHONE), "password": "second try password 2"},
    )
    assert answer.status_code == 200
    first = client.post(
        "/api/v1/auth/login", json={"phone": PHONE, "password": "first try password 1"}
    )
    assert first.status_code == 401


def test_a_password_is_the_same_from_a_keyboard_that_sends_combining_accents(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    composed = unicodedata.normalize("NFC", "Xe buýt Hà Nội 2026")
    decomposed = unicodedata.normalize("NFD", composed)
    assert register(client, password=composed).status_code == 202
    answer = client.post(
        "/api/v1/auth/verify",
        json={"phone": PHONE, "code": sms.last_code(PHONE), "password": decomposed},
    )
    assert answer.status_code == 200
    for typed in (composed, decomposed):
        login = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": typed})
        assert login.status_code == 200, typed


def test_a_password_hashed_before_normalization_still_signs_in_and_is_hashed_again(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    decomposed = unicodedata.normalize("NFD", "Xe buýt Hà Nội 2026")
    signed_up(client, sms)
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(update(Rider).values(password_hash=PasswordHasher().hash(decomposed)))
        uow.commit()
    login = client.post("/api/v1/auth/login", json={"phone": PHONE, "password": decomposed})
    assert login.status_code == 200
    with app.app_context(), unit_of_work() as uow:
        stored = uow.session.scalar(select(Rider.password_hash))
    # Now stored in the normalized form: the composed spelling works too.
    assert stored is not None
    assert PasswordHasher().verify(stored, unicodedata.normalize("NFC", decomposed))
