"""Every address that names a card or a payment answers 404 to any rider but its owner.

The addresses come from the OpenAPI document itself, so a new endpoint with an id in its path
is covered the day it is added (or this test fails until it is given a request to send).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from tests.unit.wire import qr_vector

PHONE_KEY = base64.urlsafe_b64encode(bytes.fromhex(qr_vector.load()["phone_public_raw"])).decode()
# A well-formed request for each operation, so that only ownership can refuse it.
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/cards/{card_id}"): {},
    ("post", "/api/v1/cards/{card_id}/block"): {"json": {"reason": "lost"}},
    ("post", "/api/v1/cards/{card_id}/replace"): {"json": "SPARE"},
    ("post", "/api/v1/cards/{card_id}/topups"): {"json": {"amount": 50_000}},
    ("post", "/api/v1/cards/{card_id}/passes"): {"json": {"product_id": "pass_all_routes"}},
    ("get", "/api/v1/cards/{card_id}/products"): {},
    ("get", "/api/v1/cards/{card_id}/trips"): {},
    ("get", "/api/v1/cards/{card_id}/journeys"): {},
    ("get", "/api/v1/cards/{card_id}/statement"): {"query_string": {"month": "2026-11"}},
    ("get", "/api/v1/payments/{payment_id}"): {},
    ("post", "/api/v1/cards/{card_id}/activate"): {},
    ("get", "/api/v1/cards/{card_id}/account"): {},
    ("delete", "/api/v1/cards/{card_id}/credentials"): {},
    ("post", "/api/v1/cards/{card_id}/credentials"): {"json": {"public_key": PHONE_KEY}},
}
IDS = ("{card_id}", "{payment_id}")


def operations(client: FlaskClient) -> list[tuple[str, str]]:
    spec = client.get("/api/openapi.json").get_json()
    return sorted(
        (method, path)
        for path, item in spec["paths"].items()
        if any(name in path for name in IDS) and "/validator/" not in path
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def test_every_operation_with_an_id_in_its_path_is_listed_here(client: FlaskClient) -> None:
    assert operations(client) == sorted(REQUESTS)


def test_another_riders_card_and_payment_are_not_found_anywhere(
    app: Flask, client: FlaskClient, sms: SmsOutbox
) -> None:
    owner = bearer(signed_up(client, sms))
    intruder = bearer(signed_up(client, sms, phone="0987 654 321"))
    card_id = link(client, owner, *issue(app, "04A1B2C3D4E5F6")).get_json()["card_id"]
    payment = client.post(
        f"/api/v1/cards/{card_id}/topups",
        json={"amount": 50_000},
        headers={**owner, "Idempotency-Key": str(uuid.uuid4())},
    ).get_json()
    spare, spare_code = issue(app, "04A1B2C3D4E5F7")
    link(client, intruder, spare, spare_code)
    for (method, path), request in sorted(REQUESTS.items()):
        url = path.replace("{card_id}", card_id).replace("{payment_id}", payment["payment_id"])
        sent = dict(request)
        if sent.get("json") == "SPARE":
            sent["json"] = {"card_number": spare, "check_code": spare_code}
        headers = {**intruder, "Idempotency-Key": str(uuid.uuid4())}
        answer = client.open(url, method=method.upper(), headers=headers, **sent)
        assert answer.status_code == 404, (method, path, answer.get_json())
        assert answer.get_json()["code"] in ("card_not_found", "payment_not_found")
        anonymous = client.open(url, method=method.upper(), **sent)
        assert anonymous.status_code == 401, (method, path)
        # Who asks is checked first: a bad body tells an anonymous caller nothing more.
        garbled = client.open(url, method=method.upper(), json={"x": 1})
        assert garbled.status_code == 401, (method, path)
    # Nothing the intruder tried changed the owner's card.
    card = client.get(f"/api/v1/cards/{card_id}", headers=owner).get_json()
    assert (card["status"], card["pending_total"]) == ("active", 50_000)
