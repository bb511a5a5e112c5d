"""Whether a phone number or a card number exists cannot be read from how long the answer takes.

Each test times the two paths alternately, several times, and compares the medians: before the
paths did equal work the ratio was about 40 (registration) and 10 (card linking); equal work
keeps it near 1, so a bound of 2 holds on a noisy machine and still catches the difference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from api.limits import limiter
from tests.api.test_riders import PASSWORD, bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox

GATEWAY_SECONDS = 0.05  # what an SMS brandname gateway takes to answer, at the least

ROUNDS = 7
RATIO = 2.0


def _seconds(call: Callable[[int], Any], round_number: int) -> float:
    limiter.reset()  # the limits are tested elsewhere; here every request must be served
    started = time.perf_counter()
    call(round_number)
    return time.perf_counter() - started


def _compare(first: Callable[[int], Any], second: Callable[[int], Any]) -> tuple[float, float]:
    """The median seconds of each path, timed alternately after one warm-up each."""
    _seconds(first, -1), _seconds(second, -1)
    a, b = [], []
    for round_number in range(ROUNDS):
        a.append(_seconds(first, round_number))
        b.append(_seconds(second, round_number))
    return statistics.median(a), statistics.median(b)


def test_registering_a_number_with_an_account_takes_as_long_as_a_new_number(
    client: FlaskClient, sms: SmsOutbox
) -> None:
    signed_up(client, sms)

    def existing(_: int) -> None:
        body = {"phone": "0912345678", "password": "another pass 1", "consent": True}
        assert client.post("/api/v1/auth/register", json=body).status_code == 202

    def new(round_number: int) -> None:
        phone = f"09800{round_number + 10:02d}101"
        body = {"phone": phone, "password": PASSWORD, "consent": True}
        assert client.post("/api/v1/auth/register", json=body).status_code == 202

    taken, free = _compare(existing, new)
    assert 1 / RATIO < taken / free < RATIO, (taken, free)


def test_linking_a_missing_card_number_takes_as_long_as_a_wrong_check_code(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    rider = bearer(signed_up(client, sms))
    number, _ = issue(app, "04A1B2C3D4E5F6")

    def wrong_code(_: int) -> None:
        assert link(client, rider, number, "AAAAAAAA").status_code == 404

    def missing(_: int) -> None:
        assert link(client, rider, "8401 9999 9999 9999", "AAAAAAAA").status_code == 404

    existing, unknown = _compare(wrong_code, missing)
    assert 1 / RATIO < existing / unknown < RATIO, (existing, unknown)


class SlowGateway(SmsOutbox):
    """The SMS gateway's servers, with their round trip."""

    def send(self, phone: str, text: str) -> None:
        time.sleep(GATEWAY_SECONDS)
        super().send(phone, text)


def test_a_password_reset_for_a_number_without_an_account_takes_as_long(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    signed_up(client, sms)
    app.extensions["transit.sms"] = SlowGateway()

    def known(_: int) -> None:
        answer = client.post("/api/v1/auth/password-reset", json={"phone": "0912345678"})
        assert answer.status_code == 202

    def unknown(round_number: int) -> None:
        answer = client.post(
            "/api/v1/auth/password-reset", json={"phone": f"09800{round_number + 10:02d}101"}
        )
        assert answer.status_code == 202

    with_account, without = _compare(known, unknown)
    assert 1 / RATIO < with_account / without < RATIO, (with_account, without)
