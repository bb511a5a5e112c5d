"""The rider's phone, end to end: sign up, link the card, top up, tap on a bus, see it applied.

gunicorn serves the API (development payment provider, SMS codes in its log), pcscd and the
virtual card run as processes, and the validator is its own process syncing with the server.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.test_bus_day import (
    UID,
    Backend,
    issue_card,
    read_card,
    start_validator,
    stop,
    tap_once,
    wait_for_journal,
)


def call(
    backend: Backend,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310  loopback
        backend.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers=sent,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def code_from_log(home: Path, phone: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = (home / "gunicorn.log").read_text()
        found = re.findall(re.escape(f"SMS to {phone}: ") + r"\D*(\d{6})", log)
        if found:
            return str(found[-1])
        time.sleep(0.1)
    raise AssertionError(f"no code for {phone} in the log")


def test_a_top_up_from_the_phone_reaches_the_card_at_its_next_tap(backend: Backend) -> None:
    state = backend.home / "card.json"
    issued = issue_card(backend, state, 50_000)

    assert (
        call(
            backend,
            "POST",
            "/api/v1/auth/register",
            {
                "phone": "0912 345 678",
                "password": "xe buyt 32 Cau Giay",
                "consent": True,
            },
        )[0]
        == 202
    )
    status, tokens = call(
        backend,
        "POST",
        "/api/v1/auth/verify",
        {
            "phone": "0912345678",
            "code": code_from_log(backend.home, "+84912345678"),
            "password": "xe buyt 32 Cau Giay",
        },
    )
    assert status == 200, tokens
    token = tokens["access_token"]
    status, card = call(
        backend,
        "POST",
        "/api/v1/cards",
        {
            "card_number": issued["card_number"],
            "check_code": issued["check_code"],
        },
        token,
    )
    assert status == 201, card

    key = str(uuid.uuid4())
    status, paid = call(
        backend,
        "POST",
        f"/api/v1/cards/{card['card_id']}/topups",
        {"amount": 50_000},
        token,
        {"Idempotency-Key": key},
    )
    assert (status, paid["status"], paid["load_status"]) == (201, "succeeded", "pending")
    # The phone's connection drops and the app retries: the same payment, not a second one.
    assert (
        call(
            backend,
            "POST",
            f"/api/v1/cards/{card['card_id']}/topups",
            {"amount": 50_000},
            token,
            {"Idempotency-Key": key},
        )[1]["payment_id"]
        == paid["payment_id"]
    )
    status, shown = call(backend, "GET", f"/api/v1/cards/{card['card_id']}", token=token)
    assert (shown["balance"], shown["pending_total"]) == (50_000, 50_000)

    validator = start_validator(backend, "bus32", "32")
    try:
        wait_for_journal(backend, "bus32", "SELECT COUNT(*) FROM pending", 1)
        line = tap_once(validator, state)
        assert (line["result"], line["amount"], line["balance"]) == ("accepted", 10_000, 90_000)
        backend.wait_for("SELECT status FROM pending_actions", "confirmed")
    finally:
        stop(validator)

    deadline = time.monotonic() + 30
    while True:
        status, shown = call(backend, "GET", f"/api/v1/cards/{card['card_id']}", token=token)
        if shown["balance"] == 90_000 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (shown["balance"], shown["pending"], shown["pending_total"]) == (90_000, [], 0)
    status, payment = call(backend, "GET", f"/api/v1/payments/{paid['payment_id']}", token=token)
    assert payment["load_status"] == "confirmed"
    on_card = read_card(backend, state)
    assert (on_card.balance, on_card.counters.last_load_seq) == (90_000, 1)
    assert backend.query("SELECT kind FROM alerts") == []
    assert on_card.uid.hex().upper() == UID
