"""The flask-smorest Api, taught to document and answer errors as problem+json."""

from __future__ import annotations

import http
from typing import Any

import flask_smorest
from flask import Request
from flask_smorest import Api
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import HTTPException

from api.problems import PROBLEM_JSON, http_exception_problem
from api.schemas.common import ProblemSchema


class ProblemApi(Api):  # type: ignore[misc]  # flask-smorest ships no type hints
    ERROR_SCHEMA = ProblemSchema

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
