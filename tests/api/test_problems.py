"""Every error is application/problem+json with a stable code, in Vietnamese or English."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import fields
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.schemas.common import StrictSchema
from api.smorest import Blueprint

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    return body


def test_an_unknown_address_is_a_problem_not_html(client: FlaskClient) -> None:
    body = assert_problem(client.get("/no/such/page"), 404, "not_found")
    assert body["instance"] == "/no/such/page"


def test_errors_are_vietnamese_by_default(client: FlaskClient) -> None:
    response = client.get("/api/v1/routes/NOPE")
    body = assert_problem(response, 404, "route_not_found")
    assert body["title"] == "Không tìm thấy tuyến"
    assert "NOPE" in body["detail"]
    assert response.headers["Content-Language"] == "vi"


@pytest.mark.parametrize(
    ("accept_language", "title"),
    [
        ("en", "Route not found"),
        ("en-GB,en;q=0.9", "Route not found"),
        ("fr-FR, en;q=0.5", "Route not found"),
        ("vi-VN,vi;q=0.9,en;q=0.8", "Không tìm thấy tuyến"),
        ("de", "Không tìm thấy tuyến"),
    ],
)
def test_accept_language_picks_the_text(
    client: FlaskClient, accept_language: str, title: str
) -> None:
    response = client.get("/api/v1/routes/NOPE", headers={"Accept-Language": accept_language})
    assert assert_problem(response, 404, "route_not_found")["title"] == title


def test_a_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/routes")
    body = assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert "DELETE" in body["detail"]


def test_a_body_over_the_limit_is_413_on_any_address(client: FlaskClient) -> None:
    too_big = b"x" * (client.application.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.get("/healthz", data=too_big, content_type="application/json")
    body = assert_problem(response, 413, "payload_too_large")
    assert str(client.application.config["MAX_CONTENT_LENGTH"]) in body["detail"]


def test_a_validation_error_names_the_field(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/stops?near=abc"), 422, "validation_failed")
    assert "near" in body["errors"]


def test_an_unknown_query_parameter_is_refused(client: FlaskClient) -> None:
    body = assert_problem(
        client.get("/api/v1/stops?near=21.03,105.85&admin=1"), 422, "validation_failed"
    )
    assert "admin" in body["errors"]


def test_an_unexpected_failure_is_a_problem_without_a_trace(client: FlaskClient) -> None:
    app = client.application
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = client.get("/boom", headers={"Accept-Language": "en"})
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert body["title"] == "Internal server error"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        # The database is down, restarting, or dropped the connection: try again shortly.
        (
            OperationalError("SELECT 1", {}, OSError("connection refused")),
            503,
            "service_unavailable",
        ),
        (PoolTimeout("QueuePool limit reached"), 503, "service_unavailable"),
        # A broken constraint is a fault of ours, not an outage.
        (IntegrityError("INSERT", {}, ValueError("duplicate key")), 500, "internal_error"),
    ],
)
def test_a_database_outage_is_503_with_retry_after(
    client: FlaskClient, error: Exception, status: int, code: str
) -> None:
    app = client.application
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/database")
    def database() -> str:
        raise error

    response = client.get("/database")
    assert_problem(response, status, code)
    assert ("Retry-After" in response.headers) == (status == 503)
    assert "connection refused" not in response.get_data(as_text=True)


def test_every_response_carries_a_request_id(client: FlaskClient) -> None:
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 32
    echoed = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-Id": 'x" {"level":"error"}'})
    assert forged.headers["X-Request-Id"] != 'x" {"level":"error"}'


class EchoSchema(StrictSchema):
    name = fields.String(required=True)


@pytest.fixture
def echo_client(app: Flask) -> FlaskClient:
    """The app with one extra endpoint that reads a JSON body, as later endpoints will."""
    blp = Blueprint("echo", __name__, url_prefix="/test")

    @blp.post("/echo")
    @blp.arguments(EchoSchema)
    @blp.response(200, EchoSchema)
    def echo(data: dict[str, str]) -> dict[str, str]:
        return data

    app.extensions["flask-smorest"]["apis"][""]["ext_obj"].register_blueprint(blp)
    return app.test_client()


def test_a_malformed_json_body_is_a_problem(echo_client: FlaskClient) -> None:
    response = echo_client.post(
        "/test/echo", data=b'{"name": "Lan",', content_type="application/json"
    )
    body = assert_problem(response, 400, "malformed_json")
    assert "errors" not in body


def test_a_json_body_with_a_missing_field_names_it(echo_client: FlaskClient) -> None:
    body = assert_problem(echo_client.post("/test/echo", json={}), 422, "validation_failed")
    assert body["errors"] == {"name": ["Missing data for required field."]}


def test_a_json_body_with_an_extra_field_is_refused(echo_client: FlaskClient) -> None:
    response = echo_client.post("/test/echo", json={"name": "Lan", "role": "admin"})
    assert assert_problem(response, 422, "validation_failed")["errors"] == {
        "role": ["Unknown field."]
    }


def test_a_valid_json_body_goes_through(echo_client: FlaskClient) -> None:
    assert echo_client.post("/test/echo", json={"name": "Lan"}).get_json() == {"name": "Lan"}


def test_a_json_body_over_the_limit_is_413(echo_client: FlaskClient) -> None:
    limit = echo_client.application.config["MAX_CONTENT_LENGTH"]
    response = echo_client.post("/test/echo", json={"name": "x" * limit})
    assert_problem(response, 413, "payload_too_large")


def test_every_operation_declares_the_503_an_outage_answers(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    missing = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
        and "503" not in operation["responses"]
    ]
    assert missing == []
    unavailable = document["components"]["responses"]["SERVICE_UNAVAILABLE"]
    assert "application/problem+json" in unavailable["content"]
