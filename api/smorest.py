"""The flask-smorest Api, taught to document and answer errors as problem+json, and to name
every operation and the credentials it needs, for Swagger UI and generated clients."""

from __future__ import annotations

import http
import re
from collections.abc import Callable
from typing import Any

import flask_smorest
from apispec import APISpec, BasePlugin
from flask import Flask, Request
from flask_smorest import Api
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from api.auth import RIDER_PATHS
from api.problems import PROBLEM_JSON, http_exception_problem
from api.schemas.common import ProblemSchema

# Only the riders' token is a security scheme. A validator signs each request, body and fresh
# nonce included: no value typed into Swagger UI's Authorize dialog and no bearer-token client
# can do that, so its four headers are described on the validator's operations instead.
RIDER_SCHEME = "riderToken"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    RIDER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `access_token` that /api/v1/auth/verify, /auth/login and "
        "/auth/refresh answer, sent as `Authorization: Bearer <access_token>`. It lives "
        "minutes; trade the refresh token at /auth/refresh for a new one.",
    },
}

# A name derived from a view reads as verb_noun: CardsView.get is list_cards, CardView.get
# get_card. Actions a rider would name otherwise (register, link_card) say so in the view, with
# @blp.doc(operationId=...).
VERBS = {"get": "get", "post": "create", "put": "replace", "patch": "update", "delete": "delete"}
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def derived_operation_id(view_name: str, method: str) -> str:
    """`list_cards` for CardsView's GET, `get_card` for CardView's, `create_card` for a POST."""
    noun = CAMEL_HUMP.sub("_", view_name.removesuffix("View")).lower()
    plural = noun.endswith("s")
    if method == "get" and plural:
        return f"list_{noun}"
    if plural:
        noun = noun.removesuffix("es" if noun.endswith(("sses", "ches", "shes", "xes")) else "s")
    return f"{VERBS.get(method, method)}_{noun}"


class OperationDocs(BasePlugin):
    """Gives every operation a unique operationId, which names the function in a generated
    client, and marks the rider's operations as needing the bearer token, from the same
    `RIDER_PATHS` that api.auth enforces, so Swagger UI offers to send it."""

    def init_spec(self, spec: APISpec) -> None:
        self.named: dict[str, tuple[str, str]] = {}
        for name, scheme in SECURITY_SCHEMES.items():
            spec.components.security_scheme(name, scheme)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule: Rule = kwargs["rule"]
        view_name = rule.endpoint.rpartition(".")[2]
        for method, operation in (operations or {}).items():
            name = operation.setdefault("operationId", derived_operation_id(view_name, method))
            where = (method.upper(), rule.rule)
            if self.named.setdefault(name, where) != where:
                raise ValueError(
                    f"operationId {name!r} of {where} is already {self.named[name]}'s: "
                    "give one of them another with @blp.doc(operationId=...)"
                )
            if rule.rule.startswith(RIDER_PATHS):
                operation.setdefault("security", [{RIDER_SCHEME: []}])
            # Any operation answers 503 service_unavailable, with Retry-After, while the
            # database is unreachable (api.problems): a generated client should expect it.
            responses = operation.setdefault("responses", {})
            responses.setdefault("503", http.HTTPStatus.SERVICE_UNAVAILABLE.name)


class ProblemApi(Api):  # type: ignore[misc]  # flask-smorest ships no type hints
    ERROR_SCHEMA = ProblemSchema

    def __init__(
        self,
        app: Flask | None = None,
        *,
        spec_kwargs: dict[str, Any] | None = None,
        config_prefix: str = "",
    ) -> None:
        kwargs = dict(spec_kwargs or {})
        kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()), OperationDocs()]
        super().__init__(app, spec_kwargs=kwargs, config_prefix=config_prefix)

    def handle_http_exception(self, error: HTTPException) -> Any:
        return http_exception_problem(error)

    def _register_responses(self) -> None:
        # Same as flask-smorest's, but error bodies are documented as application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {
                "description": "Default error response",
                "content": {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
            },
            lazy=True,
        )


class JsonBodyParser(FlaskParser):
    """webargs' parser, but a body sent as something other than JSON is a 415, not a 422 that
    says every field is missing, and JSON Python cannot read (nested too deeply, a number too
    long) is malformed, not a 500."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            if req.get_data(cache=True):
                abort(415)
            return core.missing
        try:
            return core.parse_json(req.get_data(cache=True))
        except (ValueError, RecursionError):  # ValueError: also a number of over 4,300 digits
            abort(400, messages={"json": ["Invalid JSON body."]})


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # no type hints upstream
    """A flask-smorest Blueprint whose schemas decide about unknown fields in every location.

    webargs drops unknown query parameters by default; ours refuse them (StrictSchema), so a
    misspelt parameter is an error the app developer sees instead of a silent default.
    """

    ARGUMENTS_PARSER = JsonBodyParser(unknown=None)

    def errors(self, *statuses: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document the problem responses an operation may answer, by status code."""

        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            for status in statuses:
                view = self.alt_response(status, response=http.HTTPStatus(status).name)(view)
            return view

        return decorate
