"""The OpenAPI document is good enough to generate a client from, and that client works.

openapi-python-client generates a package from /api/openapi.json; the test fails on any warning
it prints (a warning means a model or an operation left out of the client). The rider's whole
journey then runs through the generated package, in process, over httpx's WSGI transport.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import pytest
from flask import Flask

from api import create_app
from api.auth import RIDER_PATHS
from tests.api.test_trips import store, tap
from tests.api.test_wallet import issue
from tests.conftest import SmsOutbox

PACKAGE = "hanoi_bus_card_client"
PHONE = "0912 345 678"
NORMALIZED_PHONE = "+84912345678"
PASSWORD = "xe buyt 32 Cau Giay"
UID = "04A1B2C3D4E5F6"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The generated client's function names. Renaming one breaks every app built on the client,
# so a change here is a change of the API, and a new operation chooses its name on purpose.
OPERATION_IDS = {
    ("get", "/api/v1/routes"): "list_routes",
    ("get", "/api/v1/routes/{route_id}"): "get_route",
    ("get", "/api/v1/stops"): "list_stops",
    ("get", "/api/v1/validator/snapshot"): "get_snapshot",
    ("post", "/api/v1/validator/taps"): "upload_taps",
    ("post", "/api/v1/auth/register"): "register",
    ("post", "/api/v1/auth/verify"): "verify_phone",
    ("post", "/api/v1/auth/login"): "login",
    ("post", "/api/v1/auth/refresh"): "refresh_tokens",
    ("post", "/api/v1/auth/logout"): "logout",
    ("post", "/api/v1/auth/password-reset"): "request_password_reset",
    ("post", "/api/v1/auth/password-reset/confirm"): "confirm_password_reset",
    ("get", "/api/v1/me"): "get_me",
    ("delete", "/api/v1/me"): "delete_account",
    ("post", "/api/v1/me/password"): "change_password",
    ("get", "/api/v1/me/export"): "export_my_data",
    ("get", "/api/v1/cards"): "list_cards",
    ("post", "/api/v1/cards"): "link_card",
    ("get", "/api/v1/cards/{card_id}"): "get_card",
    ("post", "/api/v1/cards/{card_id}/block"): "block_card",
    ("post", "/api/v1/cards/{card_id}/replace"): "replace_card",
    ("get", "/api/v1/cards/{card_id}/trips"): "list_trips",
    ("get", "/api/v1/cards/{card_id}/journeys"): "list_journeys",
    ("get", "/api/v1/cards/{card_id}/statement"): "get_statement",
    ("post", "/api/v1/cards/{card_id}/topups"): "top_up_card",
    ("post", "/api/v1/cards/{card_id}/passes"): "buy_pass",
    ("get", "/api/v1/cards/{card_id}/products"): "list_products",
    ("get", "/api/v1/payments/{payment_id}"): "get_payment",
    ("post", "/api/v1/virtual-cards"): "create_virtual_card",
    ("post", "/api/v1/cards/{card_id}/activate"): "activate_card",
    ("get", "/api/v1/cards/{card_id}/account"): "get_account",
    ("delete", "/api/v1/cards/{card_id}/credentials"): "revoke_credentials",
    ("post", "/api/v1/cards/{card_id}/credentials"): "issue_credential",
    ("post", "/api/v1/webhooks/stripe"): "handle_stripe_webhook",
    ("get", "/api/v1/schools"): "list_schools",
    ("get", "/api/v1/eligibility/applications"): "list_applications",
    ("post", "/api/v1/eligibility/applications"): "apply_as_student",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's OpenAPI document; writing it touches no database."""
    instance = tmp_path_factory.mktemp("openapi-instance")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{instance / 'transit.sqlite3'}",
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "LOG_JSON": False,
        }
    )
    try:
        answer = app.test_client().get("/api/openapi.json")
        assert answer.status_code == 200
        return dict(answer.get_json())
    finally:
        app.extensions["transit"].engine.dispose()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.fixture(scope="module")
def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client package openapi-python-client makes from the document, imported."""
    work = tmp_path_factory.mktemp("openapi-client")
    source = work / "openapi.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    # No ruff afterwards: the code is only imported here, and ruff's presence on PATH would
    # change what the generator prints.
    config = work / "config.json"
    config.write_text(json.dumps({"post_hooks": []}), encoding="utf-8")
    output = work / PACKAGE
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(source),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    printed = run.stdout + run.stderr
    assert run.returncode == 0, printed
    # The generator says "Generating <path>" and nothing else when the document is clean.
    said = [line for line in printed.splitlines() if line.strip()]
    assert said == [f"Generating {output}"], printed
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def operation(tag: str, operation_id: str) -> Any:
    """The generated module of one operation: `.sync(...)`, `.sync_detailed(...)`."""
    return module(f"api.{tag}.{operation_id}")


def test_every_operation_has_its_own_stable_operation_id(document: dict[str, Any]) -> None:
    found = {key: operation.get("operationId") for key, operation in operations(document).items()}
    assert found == OPERATION_IDS
    assert len(set(found.values())) == len(found)


def test_rider_operations_need_the_bearer_token_and_public_ones_nothing(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["riderToken"]
    assert (schemes["riderToken"]["type"], schemes["riderToken"]["scheme"]) == ("http", "bearer")
    for (method, path), operation in operations(document).items():
        if path.startswith(RIDER_PATHS):
            assert operation["security"] == [{"riderToken": []}], (method, path)
        else:
            # register, login, the network, webhooks; validators sign, and say so in words
            assert "security" not in operation, (method, path)
        if path.startswith("/api/v1/validator/"):
            assert "X-Signature" in operation["description"], (method, path)
    assert "security" not in document  # no default: what is public stays public


def test_the_data_export_is_described_field_by_field(document: dict[str, Any]) -> None:
    answer = document["paths"]["/api/v1/me/export"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/RiderData"}
    schemas = document["components"]["schemas"]
    assert set(schemas["RiderData"]["properties"]) == {"rider", "cards", "payments"}
    assert schemas["ExportedTap"]["properties"]["result"]["enum"] == ["accepted", "denied"]
    assert "Content-Disposition" in answer["headers"]


def test_the_validators_verdict_and_the_servers_receipt_of_a_tap_have_their_own_names(
    generated: ModuleType,
) -> None:
    models = module("models")
    # Both were once TapResult, and the generator dropped the tap upload from the client.
    assert [member.value for member in models.TapResult] == ["accepted", "denied"]
    receipt = models.TapUploadResult.from_dict({"tap_id": "tap_1", "status": "duplicate"})
    assert (receipt.tap_id, receipt.status) == ("tap_1", "duplicate")
    assert callable(operation("validator", "upload_taps").sync)


def transport(app: Flask) -> dict[str, Any]:
    return {"transport": httpx.WSGITransport(app=app)}


def test_a_rider_goes_through_the_whole_journey_with_the_generated_client(
    app: Flask, sms: SmsOutbox, generated: ModuleType
) -> None:
    models = module("models")
    base = "http://testserver"
    anonymous = generated.Client(
        base_url=base, httpx_args=transport(app), raise_on_unexpected_status=True
    )

    sent = operation("riders", "register").sync_detailed(
        client=anonymous,
        body=models.Register(phone=PHONE, password=PASSWORD, consent=True),
    )
    assert sent.status_code == 202
    assert sent.parsed.status == "code_sent_if_possible"

    code = sms.last_code(NORMALIZED_PHONE)
    verified = operation("riders", "verify_phone").sync(
        client=anonymous, body=models.Verify(phone=PHONE, code=code, password=PASSWORD)
    )
    assert isinstance(verified, models.Tokens), verified  # a Problem says what went wrong
    assert verified.token_type == "Bearer"

    tokens = operation("riders", "login").sync(
        client=anonymous, body=models.Login(phone=NORMALIZED_PHONE, password=PASSWORD)
    )
    assert isinstance(tokens, models.Tokens), tokens
    assert tokens.expires_in > 0
    rider = generated.AuthenticatedClient(
        base_url=base,
        token=tokens.access_token,
        httpx_args=transport(app),
        raise_on_unexpected_status=True,
    )

    me = operation("riders", "get_me").sync(client=rider)
    assert isinstance(me, models.Rider), me
    assert (me.phone, me.language) == (NORMALIZED_PHONE, "vi")
    assert me.rider_id.startswith("rdr_")

    number, check_code = issue(app, UID, balance=10_000)
    card = operation("cards", "link_card").sync(
        client=rider, body=models.LinkCard(card_number=number, check_code=check_code)
    )
    assert isinstance(card, models.Card), card
    assert (card.card_number, card.status, card.balance, card.pending) == (
        number,
        "active",
        10_000,
        [],
    )
    listed = operation("cards", "list_cards").sync(client=rider)
    assert [c.card_id for c in listed.data] == [card.card_id]

    paid = operation("payments", "top_up_card").sync(
        card.card_id,
        client=rider,
        body=models.Topup(amount=50_000),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(paid, models.Payment), paid
    assert (paid.status, paid.amount, paid.provider, paid.load_seq) == (
        "succeeded",
        50_000,
        "dev",
        1,
    )
    polled = operation("payments", "get_payment").sync(paid.payment_id, client=rider)
    assert (polled.payment_id, polled.status, polled.load_status) == (
        paid.payment_id,
        "succeeded",
        "pending",
    )
    waiting = operation("cards", "get_card").sync(card.card_id, client=rider)
    assert (waiting.balance, waiting.pending_total) == (10_000, 50_000)

    store(
        app,
        [
            tap(UID, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), "tap_first"),
            tap(UID, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), "tap_second", stop_id="HN0002"),
        ],
    )
    newest = operation("trips", "list_trips").sync(card.card_id, client=rider, limit=1)
    assert [(t.tap_id, t.amount, t.stop_id) for t in newest.data] == [
        ("tap_second", 8_000, "HN0002")
    ]
    assert newest.data[0].time == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    older = operation("trips", "list_trips").sync(
        card.card_id, client=rider, cursor=newest.next_cursor
    )
    assert [t.tap_id for t in older.data] == ["tap_first"]
    assert older.next_cursor is None

    exported = operation("riders", "export_my_data").sync(client=rider)
    assert isinstance(exported, models.RiderData), exported
    assert (exported.rider.rider_id, exported.rider.phone) == (me.rider_id, NORMALIZED_PHONE)
    assert exported.rider.verified_at is not None
    [exported_card] = exported.cards
    assert (exported_card.card_id, exported_card.card_number) == (card.card_id, number)
    assert [(t.result, t.amount, t.stop_id) for t in exported_card.trips] == [
        (models.ExportedTapResult.ACCEPTED, 8_000, "HN0001"),
        (models.ExportedTapResult.ACCEPTED, 8_000, "HN0002"),
    ]
    assert [(p.payment_id, p.amount, p.status) for p in exported.payments] == [
        (paid.payment_id, 50_000, "succeeded")
    ]

    out = operation("riders", "logout").sync_detailed(
        client=rider, body=models.Refresh(refresh_token=tokens.refresh_token)
    )
    assert out.status_code == 204
    refused = operation("riders", "refresh_tokens").sync(
        client=anonymous, body=models.Refresh(refresh_token=tokens.refresh_token)
    )
    assert isinstance(refused, models.Problem), refused
    assert refused.status == 401
