"""Hostile input, case by case: oversized bodies, bodies that are not JSON, malformed JSON,
unicode edge cases and SQL metacharacters in every text field, parameter and header, absurd
amounts. Every answer is a 4xx problem (or a success that stored the text as plain data), never
a 5xx, and what was refused changed nothing.

"Every text field" comes from the OpenAPI document (and from tests/fuzz/school_api.py for the
school's JSON API), so a field added later is attacked too. On PostgreSQL, the production
database: it is the stricter of the two about what text and numbers it takes.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from werkzeug.test import TestResponse

from api.deps import unit_of_work
from api.limits import limiter
from api.problems import MESSAGES, PROBLEM_JSON
from readers.signing import sign
from tests.api.test_eligibility import ROSTER
from tests.api.test_validator_api import Device
from tests.fuzz.conftest import CARD_UID, SCHOOL, SCHOOL_YEAR, Rider, SchoolAdmin
from tests.fuzz.school_api import school_api_document
from tests.fuzz.test_schemathesis import PHONE_KEY
from transit.models import Application, CardShadow, Payment, PendingAction, TapRecord

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

UNICODE = {
    "NUL": "HS\x00001",
    "lone high surrogate": "\ud800HS",
    "lone low surrogate": "HS\udc00",
    "reversed pair": "\udc00\ud800",
    "right-to-left override": "\u202eAVC-TPHT",
    "4-byte emoji": "🚌🎫" * 40,
    "combining marks": "e" + "\u0301" * 300,
    "zero-width and BOM": "\ufeffHS\u200b-001\u200d",
    "noncharacters": "\uffff\ufffe\U0010ffff",
    "expands under NFKC": "\ufdfa" * 20,
    "control characters": "\x01\x07\x1b[31m\r\n\t\x7f",
    "digits that are not ASCII": "²³١٢",
    "very long": "Nguyễn " * 20_000,
}
SQL = {
    "or true": "' OR 1=1 --",
    "drop table": '"; DROP TABLE taps; --',
    "drop table, single quote": "'; DROP TABLE taps; --",
    "union": "' UNION SELECT phone, password_hash FROM riders --",
    "percent": "%",
    "underscore": "_",
    "like everything": "%' OR '%'='",
    "backslash": "\\",
    "backslash quote": "\\'; --",
    "dollar quoting": "$$; DROP TABLE taps; $$",
    "comment": "/* */ -- #",
}
HOSTILE = {**UNICODE, **SQL}
NUMBERS: list[Any] = [-1, 0, 2**31, 2**63, 2**64, 10**30, 1e308, -1e308, 1.5, "1", True, None]


# -- the OpenAPI document, read ------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, spec in item.items():
            if method in HTTP_METHODS:
                yield Operation(method, path, spec)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def json_body_schema(document: dict[str, Any], operation: Operation) -> dict[str, Any] | None:
    content = operation.spec.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else resolve(document, schema)


def text_fields(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    return [
        name
        for name, field in properties.items()
        if resolve(document, field).get("type") == "string"
    ]


def parameters(document: dict[str, Any], operation: Operation, where: str) -> list[str]:
    found = [resolve(document, p) for p in operation.spec.get("parameters", [])]
    return [p["name"] for p in found if p["in"] == where]


# -- the principals, and a plausible value for every field -------------------------------------


@dataclass
class World:
    app: Flask
    rider: Rider
    device: Device
    admin: SchoolAdmin
    document: dict[str, Any]

    def known(self, operation: Operation) -> dict[str, Any]:
        """Valid values by name: what the rider and the bus own, and the rest plausible."""
        losing = operation.path.endswith(("/block", "/replace"))
        virtual = operation.path.endswith(("/credentials", "/account"))
        if losing:
            card_id = self.rider.lost_card_id
        else:
            card_id = self.rider.virtual_card_id if virtual else self.rider.card_id
        return {
            "card_id": card_id,
            "public_key": PHONE_KEY,
            "payment_id": self.rider.payment_id,
            "route_id": "32",
            "application_id": self.admin.application_id,
            "phone": self.rider.phone,
            "password": "not the password 1",
            "current_password": "not the password 1",
            "new_password": "another long password 2",
            "code": "123456",
            "consent": True,
            "language": "vi",
            "refresh_token": "not-a-refresh-token",
            "card_number": self.rider.spare_number,
            "check_code": self.rider.spare_code,
            "reason": "lost",
            "amount": 50_000,
            "product_id": self.rider.product_ids[0],
            "school_code": SCHOOL,
            "student_code": "HS-404",
            "full_name": "Trần Thị Bình",
            "date_of_birth": "2010-05-02",
            "near": "21.0285,105.8542",
            "month": "2026-03",
            "year": SCHOOL_YEAR,
        }

    def body(self, operation: Operation, schema: dict[str, Any]) -> dict[str, Any]:
        if operation.path == "/api/v1/validator/taps":
            return {"taps": [self.device.tap(card_uid=CARD_UID)]}
        known = self.known(operation)
        return {name: known[name] for name in schema.get("required", [])}

    def address(self, operation: Operation, **overrides: str) -> str:
        path = operation.path
        for name in parameters(self.document, operation, "path"):
            value = overrides.get(name, str(self.known(operation)[name]))
            path = path.replace("{" + name + "}", quote(value, safe="", errors="surrogatepass"))
        return path

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str | None = "application/json",
        query: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> TestResponse:
        """The request, as the principal the address belongs to."""
        limiter.reset()  # limits have their own tests; here they would hide what comes after
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if path.startswith("/api/v1/validator/"):
            signed = path + (f"?{query}" if query else "")
            timestamp = int(time.time())
            sent = {
                **sign(
                    self.device.seed,
                    self.device.device_id,
                    method,
                    signed,
                    body or b"",
                    timestamp=timestamp,
                ),
                **sent,
            }
            client = self.device.client
        elif path.startswith("/school/"):
            sent = {**self.admin.headers, **sent}
            client = self.admin.client
        else:
            sent = {**self.rider.headers, "Idempotency-Key": str(uuid.uuid4()), **sent}
            client = self.app.test_client()
        return client.open(
            path, method=method.upper(), data=body, query_string=query, headers=sent, **extra
        )

    def send_json(self, operation: Operation, payload: Any, **kwargs: Any) -> TestResponse:
        body = json.dumps(payload).encode()  # ASCII escapes: lone surrogates travel as \ud800
        return self.send(operation.method, self.address(operation), body, **kwargs)


@pytest.fixture
def world(app: Flask, rider: Rider, validator: Device, school_admin: SchoolAdmin) -> World:
    document = app.test_client().get("/api/openapi.json").get_json()
    return World(app, rider, validator, school_admin, document)


def json_operations(world: World) -> list[tuple[Operation, dict[str, Any]]]:
    found = []
    for operation in operations(world.document):
        schema = json_body_schema(world.document, operation)
        if schema is not None:
            found.append((operation, schema))
    assert len(found) > 15, "the document lost its request bodies"
    return found


def problem_of(response: TestResponse) -> dict[str, Any]:
    """The problem+json body of an error, checked for its shape."""
    assert response.mimetype == PROBLEM_JSON, (response.status_code, response.get_data()[:300])
    body: dict[str, Any] = json.loads(response.get_data())
    assert body["status"] == response.status_code
    assert body["code"] in MESSAGES
    assert body["type"] == f"urn:problem-type:transit:{body['code']}"
    return body


def fault(response: TestResponse) -> str | None:
    """What is wrong with this answer to hostile input (a 5xx, an error not a problem), if any."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.get_data()[:200]!r}"
    if response.status_code >= 400:
        try:
            problem_of(response)
        except AssertionError as error:
            return f"not a problem: {error}"
    return None


def count(app: Flask, model: Any) -> int:
    with app.app_context(), unit_of_work() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def tables_intact(app: Flask) -> None:
    with app.app_context(), unit_of_work() as uow:
        for table in ("taps", "riders", "payments", "applications", "cards"):
            uow.session.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608  # fixed names


# -- sizes, content types, malformed JSON --------------------------------------------------------


def test_a_body_over_the_limit_is_413_on_every_operation(world: World) -> None:
    limit = world.app.config["MAX_CONTENT_LENGTH"]
    too_big = b'{"x": "' + b"x" * limit + b'"}'
    wrong = {}
    for operation, _ in json_operations(world):
        answer = world.send(operation.method, world.address(operation), too_big)
        if answer.status_code != 413 or problem_of(answer)["code"] != "payload_too_large":
            wrong[operation.label] = answer.status_code
    assert wrong == {}


def test_a_chunked_body_over_the_limit_is_413_not_cut_short(world: World) -> None:
    limit = world.app.config["MAX_CONTENT_LENGTH"]
    # Valid JSON up to the limit, then spaces: cut at the limit, it would still parse.
    body = b'{"refresh_token": "x"}' + b" " * limit
    chunked = {"Transfer-Encoding": "chunked"}
    answer = world.send(
        "POST",
        "/api/v1/auth/logout",
        None,
        headers=chunked,
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert (answer.status_code, problem_of(answer)["code"]) == (413, "payload_too_large")
    fits = world.send(
        "POST",
        "/api/v1/auth/logout",
        None,
        headers=chunked,
        input_stream=io.BytesIO(b'{"refresh_token": "x"}'),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert fits.status_code == 204


def test_a_roster_may_be_large_but_not_over_20_mb(world: World) -> None:
    path, year = "/school/api/roster", urlencode({"year": SCHOOL_YEAR})
    header = ROSTER.splitlines()[0].encode() + b"\n"
    big = header + b"HS-9,A,2010-01-01,L,general_school,2031-05-31\n" * 70_000  # 3 MB
    answer = world.send("POST", path, big, content_type="text/csv", query=year)
    assert answer.status_code == 422, answer.get_data()[:300]  # read and checked, not refused
    assert problem_of(answer)["code"] == "roster_invalid"  # one student code, many times
    too_big = header + b"x" * (20 * 1024 * 1024 + 64 * 1024)
    answer = world.send("POST", path, too_big, content_type="text/csv", query=year)
    assert (answer.status_code, problem_of(answer)["code"]) == (413, "payload_too_large")


NOT_JSON = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    None,
]


def test_a_body_that_is_not_json_is_415_on_every_operation(world: World) -> None:
    wrong = {}
    for operation, schema in json_operations(world):
        body = json.dumps(world.body(operation, schema)).encode()
        for content_type in NOT_JSON:
            answer = world.send(
                operation.method, world.address(operation), body, content_type=content_type
            )
            if answer.status_code != 415 or problem_of(answer)["code"] != "unsupported_media_type":
                wrong[f"{operation.label} as {content_type}"] = answer.status_code
    assert wrong == {}


MALFORMED = {
    "cut short": b'{"phone": "0912',
    "not UTF-8": b'{"phone": "\xff\xfe"}',
    "UTF-16": '{"phone": "0912345678"}'.encode("utf-16"),
    "trailing comma": b'{"phone": "0912345678",}',
    "single quotes": b"{'phone': '0912345678'}",
    "nested a million deep": b"[" * 1_000_000,
    "a number of 5,000 digits": b'{"amount": ' + b"9" * 5000 + b"}",
    "empty": b"",
}


def test_malformed_json_is_400_on_every_operation(world: World) -> None:
    wrong = {}
    for operation, _ in json_operations(world):
        # The validator's batch is read leniently (a device's outbox must never stall): 422.
        lenient = (422, "validation_failed") if operation.path.endswith("/taps") else None
        for label, body in MALFORMED.items():
            answer = world.send(operation.method, world.address(operation), body)
            got = (
                None
                if answer.status_code >= 500
                else (answer.status_code, problem_of(answer)["code"])
            )
            if got not in ((400, "malformed_json"), lenient):
                wrong[f"{operation.label}: {label}"] = answer.status_code
    assert wrong == {}


def test_json_that_is_not_an_object_is_422_on_every_operation(world: World) -> None:
    wrong = {}
    for operation, _ in json_operations(world):
        for payload in (None, [], "text", 1, [{"phone": "0912345678"}]):
            answer = world.send_json(operation, payload)
            if answer.status_code != 422 or problem_of(answer)["code"] != "validation_failed":
                wrong[f"{operation.label}: {payload!r}"] = answer.status_code
    assert wrong == {}


def test_hostile_text_in_every_json_field_is_refused_or_kept_as_text(world: World) -> None:
    applications, taps = count(world.app, Application), count(world.app, TapRecord)
    failures = []
    sent = 0
    for operation, schema in json_operations(world):
        if operation.path == "/api/v1/validator/taps":
            item = resolve(world.document, schema["properties"]["taps"]["items"])
            names = text_fields(world.document, item)
        else:
            names = text_fields(world.document, schema)
        for name in names:
            for label, value in HOSTILE.items():
                body = world.body(operation, schema)
                target = body["taps"][0] if "taps" in body else body
                target[name] = value
                answer = world.send_json(operation, body)
                sent += 1
                if why := fault(answer):
                    failures.append(f"{operation.label} {name} = {label}: {why}")
                elif operation.path.endswith("/taps"):
                    assert answer.get_json()["results"][0]["status"] in ("accepted", "rejected")
    assert failures == []
    assert sent > 500
    tables_intact(world.app)
    # Text the schemas take (a name with quotes, a stop called '%') was stored as it came.
    assert count(world.app, Application) == applications + 1  # one open application at a time
    assert count(world.app, TapRecord) > taps
    with world.app.app_context(), unit_of_work() as uow:
        explanations = set(uow.session.scalars(select(TapRecord.explanation)))
    assert set(SQL.values()) <= explanations


def test_sql_in_a_name_is_kept_as_the_name(world: World) -> None:
    name = "Robert'); DROP TABLE applications; --"
    apply = world.send_json(
        Operation("post", "/api/v1/eligibility/applications", {}),
        {
            "school_code": SCHOOL,
            "student_code": "HS-%",
            "full_name": name,
            "date_of_birth": "2010-05-02",
        },
    )
    assert apply.status_code == 201, apply.get_json()
    seen = world.send("GET", f"/school/api/applications/{apply.get_json()['application_id']}")
    assert (seen.get_json()["full_name"], seen.get_json()["student_code"]) == (name, "HS-%")
    tables_intact(world.app)


def test_like_wildcards_match_nothing(world: World) -> None:
    for wildcard in ("%", "_", "THPT%", "_HPT-CVA", "thpt-cva%", "\\%", "%%"):
        answer = world.send_json(
            Operation("post", "/api/v1/eligibility/applications", {}),
            {
                "school_code": wildcard,
                "student_code": "HS-001",
                "full_name": "Nguyễn Văn An",
                "date_of_birth": "2010-05-01",
            },
        )
        assert (answer.status_code, problem_of(answer)["code"]) in (
            (404, "school_not_found"),
            (422, "validation_failed"),  # shorter than a school code
        ), wildcard
        number = world.rider.spare_number[:-4] + wildcard
        linked = world.send_json(
            Operation("post", "/api/v1/cards", {}),
            {"card_number": number.ljust(16, "%"), "check_code": world.rider.spare_code},
        )
        assert linked.status_code in (404, 422), linked.get_json()
        for path in (f"/api/v1/cards/{quote(wildcard)}", f"/api/v1/payments/{quote(wildcard)}"):
            assert world.send("GET", path, content_type=None).status_code == 404
    # The rider's two chip cards and the virtual card waiting beside them: nothing linked.
    assert len(world.send("GET", "/api/v1/cards", content_type=None).get_json()["data"]) == 3


def query_operations(world: World) -> Iterator[tuple[Operation, list[str]]]:
    school = school_api_document(world.document["components"]["schemas"]["Problem"])
    for operation in [*operations(world.document), *operations(school)]:
        names = parameters(world.document, operation, "query")
        if names:
            yield operation, names


def test_hostile_text_in_every_path_and_query_parameter_is_refused(world: World) -> None:
    values = {**HOSTILE, **{repr(n): str(n) for n in NUMBERS}, "NaN": "NaN", "inf": "-inf"}
    failures = []
    for operation in operations(world.document):
        for name in parameters(world.document, operation, "path"):
            for label, value in values.items():
                answer = world.send(
                    operation.method,
                    world.address(operation, **{name: value}),
                    b"{}" if operation.method != "get" else None,
                )
                if why := fault(answer):
                    failures.append(f"{operation.label} {{{name}}} = {label}: {why}")
    for operation, names in query_operations(world):
        known = world.known(operation)
        for name in names:
            for label, value in values.items():
                query = {n: known[n] for n in names if n in ("near", "month", "year")}
                query[name] = value
                answer = world.send(
                    operation.method,
                    world.address(operation),
                    b"" if operation.method == "post" else None,
                    content_type="text/csv" if operation.method == "post" else None,
                    query=urlencode(query, errors="surrogatepass"),
                )
                if why := fault(answer):
                    failures.append(f"{operation.label} ?{name}= {label}: {why}")
    assert failures == []
    tables_intact(world.app)


def as_header(value: str) -> str:
    """What a server hands the app for these UTF-8 bytes in a header: latin-1 text, cut to a
    length servers take, with no line breaks (no server passes one on)."""
    raw = value.replace("\r", " ").replace("\n", " ")[:4000]
    return raw.encode("utf-8", "surrogatepass").decode("latin-1")


HEADERS = ["Idempotency-Key", "Authorization", "Accept-Language", "If-None-Match", "X-Request-Id"]


def test_hostile_text_in_headers_is_refused_or_kept_as_text(world: World) -> None:
    payments = count(world.app, Payment)
    failures = []
    for header in HEADERS:
        for label, value in {**HOSTILE, "300 characters": "k" * 300}.items():
            answer = world.send(
                "POST",
                f"/api/v1/cards/{world.rider.card_id}/topups",
                b'{"amount": 20000}',
                headers={header: as_header(value)},
            )
            listed = world.send("GET", "/api/v1/cards", headers={header: as_header(value)})
            for response in (answer, listed):
                if why := fault(response):
                    failures.append(f"{header}: {label}: {why}")
    assert failures == []
    # An odd Idempotency-Key is still a key: each paid once at most; the others were fresh keys.
    assert count(world.app, Payment) <= payments + (len(HOSTILE) + 1) * len(HEADERS)
    tables_intact(world.app)


def test_hostile_signature_headers_are_401(world: World) -> None:
    for header in ("X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature"):
        for label, value in HOSTILE.items():
            answer = world.send(
                "GET", "/api/v1/validator/snapshot", headers={header: as_header(value)}
            )
            got = (answer.status_code, problem_of(answer)["code"])
            assert got == (401, "device_unauthorized"), (header, label)


def money(world: World) -> tuple[int, int, int, Any]:
    card = world.send("GET", f"/api/v1/cards/{world.rider.card_id}", content_type=None).get_json()
    return (
        count(world.app, Payment),
        count(world.app, PendingAction),
        card["balance"],
        card["pending"],
    )


ABSURD_AMOUNTS = [
    b"-50000",
    b"-1",
    b"0",
    b"19999",
    b"2000001",
    b"2147483648",
    b"9223372036854775808",
    b"18446744073709551616",
    b"1" + b"0" * 30,
    b"1e308",
    b"-1e308",
    b"1e999",
    b"NaN",
    b"Infinity",
    b"-0.0",
    b"50000.0",
    b"50000.5",
    b'"50000"',
    b'"5e4"',
    b"true",
    b"null",
    b"[]",
    b"{}",
]


def test_absurd_top_up_amounts_are_refused_and_move_no_money(world: World) -> None:
    before = money(world)
    for amount in ABSURD_AMOUNTS:
        answer = world.send(
            "POST", f"/api/v1/cards/{world.rider.card_id}/topups", b'{"amount": ' + amount + b"}"
        )
        assert answer.status_code == 422, (amount, answer.get_data()[:200])
        assert problem_of(answer)["errors"].keys() == {"amount"}
    assert money(world) == before


ABSURD_PASSES: list[tuple[str, Any]] = [
    ("start", "0001-01-01"),
    ("start", "9999-12-31"),
    ("start", "2026-02-30"),
    ("start", "-2026-01-01"),
    ("start", "２０２６-01-01"),
    ("start", 20260101),
    ("route_id", "' OR 1=1 --"),
    ("route_id", "\x00"),
    ("route_id", "x" * 65),
    ("product_id", "%"),
    ("product_id", "' OR 1=1 --"),
    ("product_id", "\ud800"),
    ("product_id", 1),
]


def test_absurd_pass_purchases_are_refused_and_move_no_money(world: World) -> None:
    before = money(world)
    for field, value in ABSURD_PASSES:
        body = {"product_id": world.rider.product_ids[0], field: value}
        answer = world.send(
            "POST", f"/api/v1/cards/{world.rider.card_id}/passes", json.dumps(body).encode()
        )
        assert answer.status_code in (409, 422), (field, value, answer.get_data()[:300])
        problem_of(answer)
    assert money(world) == before


TAP_NUMBERS: dict[str, list[Any]] = {
    "amount": [-1, 10_000_001, 2**63, 10**30, 1e308, 1.5, "100", True],
    "device_seq": [0, -1, 2**63, 2**64, 10**30, 1e308],
    "balance_after": [-1, 2**63, 10**30, -1e308],
    "card_tx": [-1, 2**63, 2**64],
    "applied_loads": [[0], [-1], [2**31], [2**63], [10**30], [1.5], "1"],
    "loaded": [[0], [2**31], [2**64]],
}


def test_absurd_numbers_in_a_tap_reject_that_tap_only(world: World) -> None:
    def shadow() -> tuple[int, int] | None:
        with world.app.app_context(), unit_of_work() as uow:
            found = uow.session.get(CardShadow, CARD_UID)
            return None if found is None else (found.balance, found.last_card_tx)

    before, stored = shadow(), count(world.app, TapRecord)
    for name, values in TAP_NUMBERS.items():
        for value in values:
            good = world.device.tap(card_uid=CARD_UID, result="denied", reason="blocked")
            bad = world.device.tap(card_uid=CARD_UID, **{name: value})
            answer = world.send(
                "POST", "/api/v1/validator/taps", json.dumps({"taps": [bad, good]}).encode()
            )
            assert answer.status_code == 200, (name, value, answer.get_data()[:300])
            results = answer.get_json()["results"]
            assert results[0]["status"] == "rejected", (name, value, results)
            assert results[0]["reason"] == f"invalid: {name}"
            assert results[1]["status"] == "accepted", (name, value, results)
    assert shadow() == before
    assert count(world.app, TapRecord) == stored + sum(len(v) for v in TAP_NUMBERS.values())


def test_an_absurd_snapshot_version_is_refused(world: World) -> None:
    for since in ["-1", "9223372036854775808", "1" + "0" * 30, "1e308", "NaN", "0x10", "²"]:
        answer = world.send(
            "GET",
            "/api/v1/validator/snapshot",
            query=urlencode({"since": since}),
            content_type=None,
        )
        assert answer.status_code == 422, (since, answer.get_data()[:300])
        assert problem_of(answer)["errors"].keys() == {"since"}


def test_hostile_text_in_a_roster_is_refused_or_kept_as_text(world: World) -> None:
    header, first, *rest = ROSTER.splitlines()
    fields = first.split(",")
    failures = []
    for label, value in HOSTILE.items():
        for column in range(len(fields)):
            changed = [*fields]
            changed[column] = value.replace(",", " ").replace("\n", " ")
            csv = "\n".join([header, ",".join(changed), *rest]) + "\n"
            answer = world.send(
                "POST",
                "/school/api/roster",
                csv.encode("utf-8", "surrogatepass"),
                content_type="text/csv",
                query=urlencode({"year": SCHOOL_YEAR}),
            )
            if why := fault(answer):
                failures.append(f"{label} in column {column}: {why}")
        year = world.send(
            "POST",
            "/school/api/roster",
            ROSTER.encode(),
            content_type="text/csv",
            query=urlencode({"year": value}, errors="surrogatepass"),
        )
        if why := fault(year):
            failures.append(f"{label} as the year: {why}")
    assert failures == []
    lone_return = b"student_code\r,full_name\n" + ROSTER.encode()
    answer = world.send(
        "POST",
        "/school/api/roster",
        lone_return,
        content_type="text/csv",
        query=urlencode({"year": SCHOOL_YEAR}),
    )
    assert (answer.status_code, problem_of(answer)["code"]) == (422, "roster_invalid")
    tables_intact(world.app)
