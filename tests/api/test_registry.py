"""A school's students confirmed by a Cal-ITP Eligibility API server, built here with the
`eligibility-api` package's own server helpers: signed and encrypted tokens both ways."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from eligibility_api.server import create_response_payload, get_token_payload, make_token
from flask import Flask

from tests.api.test_eligibility import apply
from tests.api.test_riders import bearer, signed_up
from tests.conftest import SmsOutbox, build_app

ALGS = {"jws": "RS256", "jwe": "RSA-OAEP", "cek": "A256CBC-HS512"}
API_KEY = "registry-key-1234"
# The registry's own list, as the Eligibility API server holds it: (sub, name) -> types.
PEOPLE = {("HS-777", "nguyễn thị mai"): ["student"]}


def pem_pair(folder: Path, name: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / f"{name}.key").write_bytes(private)
    (folder / f"{name}.pub").write_bytes(public)
    return private, public


class Registry:
    def __init__(self, folder: Path) -> None:
        self.client_private, self.client_public = pem_pair(folder, "client")
        self.server_private, self.server_public = pem_pair(folder, "server")
        self.requests: list[dict[str, Any]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  the stdlib's name
                if self.headers.get("X-Server-API-Key") != API_KEY:
                    self.send_response(401)
                    self.end_headers()
                    return
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                payload = get_token_payload(
                    token,
                    ALGS["jwe"],
                    ALGS["cek"],
                    registry.server_private,
                    ALGS["jws"],
                    registry.client_public,
                )
                if not payload:
                    self.send_response(400)
                    self.end_headers()
                    return
                registry.requests.append(payload)
                held = PEOPLE.get((payload["sub"], payload["name"]), [])
                answer = create_response_payload(payload, "test-registry")
                answer["eligibility"] = [t for t in payload["eligibility"] if t in held]
                body = make_token(
                    answer,
                    ALGS["jws"],
                    registry.server_private,
                    ALGS["jwe"],
                    ALGS["cek"],
                    registry.client_public,
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/verify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server.socket.fileno() == -1:
            return  # stopped already
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    server = Registry(tmp_path)
    yield server
    server.stop()


def app_with(database_url: str, tmp_path: Path, sms: SmsOutbox, url: str, key: str) -> Flask:
    return build_app(
        database_url,
        tmp_path / "instance",
        sms,
        ELIGIBILITY_REGISTRIES={
            "THPT-CVA": {
                "verify_url": url,
                "issuer": "hanoi-bus-card",
                "agency": "hanoi",
                "client_private_key": str(tmp_path / "client.key"),
                "server_public_key": str(tmp_path / "server.pub"),
                "api_key": key,
            }
        },
    )


@pytest.fixture
def school_app(
    database_url: str, tmp_path: Path, sms: SmsOutbox, registry: Registry
) -> Iterator[Flask]:
    app = app_with(database_url, tmp_path, sms, registry.url, API_KEY)
    made = app.test_cli_runner().invoke(args=["schools", "create", "THPT-CVA", "THPT Chu Văn An"])
    assert made.exit_code == 0, made.output
    yield app
    app.extensions["transit"].engine.dispose()


def test_a_student_the_registry_confirms_is_approved_until_the_school_year_ends(
    school_app: Flask, sms: SmsOutbox, registry: Registry
) -> None:
    client = school_app.test_client()
    rider = bearer(signed_up(client, sms))
    answer = apply(
        client,
        rider,
        student_code="HS-777",
        full_name="NGUYỄN  Thị Mai",
        date_of_birth="2010-03-03",
    ).get_json()
    assert (answer["status"], answer["reason"]) == ("approved", "confirmed_by_registry")
    assert answer["valid_until"].endswith("-05-31")
    [asked] = registry.requests
    assert (asked["sub"], asked["name"], asked["eligibility"]) == (
        "HS-777",
        "nguyễn thị mai",
        ["student"],
    )
    assert asked["iss"] == "hanoi-bus-card"


def test_someone_the_registry_does_not_know_waits_for_the_school(
    school_app: Flask, sms: SmsOutbox, registry: Registry
) -> None:
    client = school_app.test_client()
    rider = bearer(signed_up(client, sms))
    answer = apply(client, rider, student_code="HS-778", full_name="Trần Văn B").get_json()
    assert (answer["status"], answer["reason"]) == ("pending", None)
    assert len(registry.requests) == 1


@pytest.mark.parametrize("trouble", ["down", "wrong_key"])
def test_a_registry_that_cannot_answer_leaves_the_application_to_the_school(
    database_url: str, tmp_path: Path, sms: SmsOutbox, registry: Registry, trouble: str
) -> None:
    url, key = registry.url, API_KEY
    if trouble == "down":
        registry.stop()
    else:
        key = "not the key"
    app = app_with(database_url, tmp_path, sms, url, key)
    app.test_cli_runner().invoke(args=["schools", "create", "THPT-CVA", "THPT Chu Văn An"])
    client = app.test_client()
    rider = bearer(signed_up(client, sms))
    answer = apply(client, rider, student_code="HS-777", full_name="Nguyễn Thị Mai").get_json()
    assert (answer["status"], answer["reason"]) == ("pending", None)
    app.extensions["transit"].engine.dispose()
