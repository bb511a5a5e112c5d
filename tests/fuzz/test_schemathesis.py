"""schemathesis against the API, as a rider, a validator and a school administrator in turn.

Each operation a principal may use gets schema-valid and schema-invalid requests; every answer
must be no 5xx, a documented success status, the documented content type, headers and body,
and an error must be problem+json with a known code. A few generated values are swapped for
things that exist (the rider's card, the validator's card, the waiting application), so the
requests reach past "not found" into the code that does the work.

The default run is derandomized and small; `make test-long` runs the same with many more examples.

schemathesis' own pytest integration (`schemathesis.pytest.from_fixture`) does not run under
pytest 9.2, so each operation is a hypothesis test run as a pytest subtest here.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import TestResponse

from api.limits import limiter
from api.problems import MESSAGES, PROBLEM_JSON
from readers.signing import sign
from tests.api.test_eligibility import ROSTER
from tests.api.test_validator_api import Device
from tests.fuzz.conftest import BUS_CARD_UID, SCHOOL, SCHOOL_YEAR, Rider, SchoolAdmin
from tests.fuzz.school_api import school_api_document
from tests.unit.wire import qr_vector

EXAMPLES = 50
LONG_EXAMPLES = 300
# Every caller is fuzzed at two sizes: make test's on PostgreSQL, and make test-long's, many
# more examples on both databases.
AT_BOTH_SIZES = pytest.mark.parametrize(
    ("database_url", "examples"),
    [
        pytest.param("postgresql", EXAMPLES, id="postgresql"),
        pytest.param("postgresql", LONG_EXAMPLES, id="postgresql-long", marks=pytest.mark.long),
        pytest.param("sqlite", LONG_EXAMPLES, id="sqlite-long", marks=pytest.mark.long),
    ],
    indirect=["database_url"],
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
]

Send = Callable[[Case], TestResponse | schemathesis.Response]
# Values that exist, by the name of the parameter or body field they may replace.
Hints = dict[str, list[Any]]
# The hint for a body that is not an object (the school's roster, a CSV text).
WHOLE_BODY = "(body)"


def fuzz(
    schema: schemathesis.BaseSchema,
    subtests: pytest.Subtests,
    send: Send,
    hints: Callable[[APIOperation], Hints],
    examples: int,
    skip_checks: Callable[[APIOperation], list[Any]] = lambda operation: [],
) -> int:
    """Fuzz every operation of `schema`, each mode a subtest; returns how many were run."""
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes(operation):
            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                run_operation(
                    operation,
                    mode,
                    send,
                    hints(operation),
                    [c for c in CHECKS if c not in skip_checks(operation)],
                    examples,
                )
            count += 1
    return count


def modes(operation: APIOperation) -> list[GenerationMode]:
    # Path parameters are free-form strings here and headers cannot be negated usefully, so
    # only a body or a query gives schemathesis something to make invalid.
    if operation.body or operation.query:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def run_operation(
    operation: APIOperation,
    mode: GenerationMode,
    send: Send,
    hints: Hints,
    checks: list[Any],
    examples: int,
) -> None:
    @given(case=operation.as_strategy(mode), data=st.data())
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    def attempt(case: Case, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            steer(case, data, hints)
        # Rate limits would answer most of a run with 429; they have their own tests.
        limiter.reset()
        response = send(case)
        case.validate_response(response, checks=checks)
        assert_contract(operation, response)

    attempt()


def steer(case: Case, data: st.DataObject, hints: Hints) -> None:
    """Swap some generated values, by name, for ones that exist."""
    for values in (case.path_parameters, case.query):
        if values:
            _steer_mapping(values, data, hints)
    if isinstance(case.body, str) and WHOLE_BODY in hints:
        case.body = data.draw(st.sampled_from([*hints[WHOLE_BODY], case.body]), label="body")
    _steer_body(case.body, data, hints)


def _steer_body(body: Any, data: st.DataObject, hints: Hints) -> None:
    if isinstance(body, dict):
        _steer_mapping(body, data, hints)
        for value in body.values():
            _steer_body(value, data, hints)
    elif isinstance(body, list):
        for item in body:
            _steer_body(item, data, hints)


def _steer_mapping(values: dict[str, Any], data: st.DataObject, hints: Hints) -> None:
    for name in list(values):
        if name in hints:
            values[name] = data.draw(st.sampled_from([*hints[name], values[name]]), label=name)


def assert_contract(operation: APIOperation, sent: TestResponse | schemathesis.Response) -> None:
    """What schemathesis leaves open: `default` documents errors only, and errors are problems."""
    response = schemathesis.Response.from_any(sent)
    status = response.status_code
    if status < 400:
        documented = {str(code) for code in operation.responses.status_codes}
        assert str(status) in documented, f"{operation.label}: {status} is not documented"
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0] == PROBLEM_JSON, f"{status} answered as {content_type}"
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["code"] in MESSAGES, body
    assert body["type"] == f"urn:problem-type:transit:{body['code']}"
    assert body["title"]


# -- the rider ----------------------------------------------------------------------------------

# A phone's P-256 public key as the app sends it (WebCrypto 'raw', base64url): the test vector's.
PHONE_KEY = base64.urlsafe_b64encode(bytes.fromhex(qr_vector.load()["phone_public_raw"])).decode()


def rider_hints(rider: Rider) -> Callable[[APIOperation], Hints]:
    def hints(operation: APIOperation) -> Hints:
        losing = operation.path.endswith(("/block", "/replace"))
        virtual = operation.path.endswith(("/credentials", "/account"))
        if losing:
            card_id = rider.lost_card_id
        else:
            card_id = rider.virtual_card_id if virtual else rider.card_id
        return {
            "card_id": [card_id],
            "public_key": [PHONE_KEY],
            "payment_id": [rider.payment_id],
            "phone": [rider.phone],
            "card_number": [rider.spare_number],
            "check_code": [rider.spare_code],
            "product_id": rider.product_ids,
            "school_code": [SCHOOL],
            "student_code": ["HS-001"],
        }

    return hints


def fuzz_as_rider(app: Flask, rider: Rider, subtests: pytest.Subtests, examples: int) -> None:
    # What the rider's app calls: everything under /api/v1 but the buses' and Stripe's.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).exclude(
        path_regex=r"^/api/v1/(validator|webhooks)/"
    )
    client = app.test_client()

    def send(case: Case) -> schemathesis.Response:
        return case.call(headers=rider.headers, session=client)

    assert fuzz(schema, subtests, send, rider_hints(rider), examples) > 30


@AT_BOTH_SIZES
def test_the_rider_api_holds_its_contract(
    app: Flask, rider: Rider, subtests: pytest.Subtests, examples: int
) -> None:
    fuzz_as_rider(app, rider, subtests, examples)


# -- the validator ------------------------------------------------------------------------------


def signed_sender(device: Device) -> Send:
    """Send a case as the validator does: the signature covers the exact bytes sent."""

    def send(case: Case) -> TestResponse:
        sent = case.as_transport_kwargs()
        body = sent.get("data")
        if "json" in sent:
            body = json.dumps(sent["json"]).encode()
        elif isinstance(body, str):
            body = body.encode()
        query = urlencode(sent.get("query_string") or {}, doseq=True)
        path = sent["path"] + (f"?{query}" if query else "")
        headers = dict(sent["headers"])
        headers.update(
            sign(
                device.seed,
                device.device_id,
                case.method,
                path,
                body or b"",
                timestamp=int(time.time()),
            )
        )
        return device.client.open(
            sent["path"], method=case.method, query_string=query, data=body, headers=headers
        )

    return send


def fuzz_as_validator(
    app: Flask, validator: Device, subtests: pytest.Subtests, examples: int
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).include(
        path_regex=r"^/api/v1/validator/"
    )

    def skip_checks(operation: APIOperation) -> list[Any]:
        # A batch takes every tap it can read and rejects the others one by one (each with its
        # reason, documented in the answer), so an invalid tap is a 200 by design.
        return [negative_data_rejection] if operation.path.endswith("/taps") else []

    assert (
        fuzz(
            schema,
            subtests,
            signed_sender(validator),
            lambda operation: {"card_uid": [BUS_CARD_UID], "route_id": ["32"]},
            examples,
            skip_checks,
        )
        == 4
    )


@AT_BOTH_SIZES
def test_the_validator_api_holds_its_contract(
    app: Flask, validator: Device, subtests: pytest.Subtests, examples: int
) -> None:
    fuzz_as_validator(app, validator, subtests, examples)


# -- the school's administrator -----------------------------------------------------------------


def fuzz_as_school_admin(
    app: Flask, admin: SchoolAdmin, subtests: pytest.Subtests, examples: int
) -> None:
    problem = app.test_client().get("/api/openapi.json").get_json()
    document = school_api_document(problem["components"]["schemas"]["Problem"])
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app

    def send(case: Case) -> schemathesis.Response:
        return case.call(headers=admin.headers, session=admin.client)

    def hints(operation: APIOperation) -> Hints:
        return {
            "application_id": [admin.application_id],
            "status": ["pending", "approved"],
            "year": [SCHOOL_YEAR],
            WHOLE_BODY: [ROSTER],
        }

    assert fuzz(schema, subtests, send, hints, examples) == 6


@AT_BOTH_SIZES
def test_the_school_api_holds_its_contract(
    app: Flask, school_admin: SchoolAdmin, subtests: pytest.Subtests, examples: int
) -> None:
    fuzz_as_school_admin(app, school_admin, subtests, examples)
