"""The school's JSON API (api/school_pages.py) as OpenAPI, which /api/openapi.json leaves out.

It is a session-cookie API (the administrator's web sign-in, a CSRF token in a header) for the
school's own tools, served next to the school's pages; this document is its contract here.
"""

from __future__ import annotations

from typing import Any

from api.problems import PROBLEM_JSON


def required(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose every property is required."""
    return {"type": "object", "required": list(properties), "properties": properties}


STRING = {"type": "string"}


def school_api_document(problem: dict[str, Any]) -> dict[str, Any]:
    """The document, with `problem` (the app's Problem schema) for every error."""
    application = {
        "type": "object",
        "required": [
            "application_id",
            "full_name",
            "student_code",
            "date_of_birth",
            "status",
            "reason",
            "valid_until",
            "created_at",
            "rule",
        ],
        "additionalProperties": False,
        "properties": {
            "application_id": {"type": "string"},
            "full_name": {"type": "string"},
            "student_code": {"type": "string"},
            "date_of_birth": {"type": "string", "format": "date"},
            "status": {"type": "string", "enum": ["pending", "approved", "rejected", "revoked"]},
            "reason": {"type": "string", "nullable": True},
            "valid_until": {"type": "string", "format": "date", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "rule": {"type": "string", "nullable": True},
        },
    }

    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": {PROBLEM_JSON: {"schema": problem}}}

    def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "School JSON API", "version": "v1"},
        "paths": {
            "/school/api/session": {
                "get": {
                    "responses": {
                        "200": ok(
                            "Who is signed in, and the CSRF token for POSTs",
                            required(school=STRING, admin=STRING, csrf=STRING),
                        ),
                        "401": error("Not signed in"),
                    }
                }
            },
            "/school/api/applications": {
                "get": {
                    "parameters": [
                        {"in": "query", "name": "status", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": ok(
                            "The school's applications",
                            required(data={"type": "array", "items": application}),
                        ),
                        "401": error("Not signed in"),
                    },
                }
            },
            "/school/api/applications/{application_id}": {
                "get": {
                    "parameters": [
                        {
                            "in": "path",
                            "name": "application_id",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": ok("One of the school's applications", application),
                        "401": error("Not signed in"),
                        "404": error("Not this school's, or none such"),
                    },
                }
            },
            "/school/api/roster": {
                "post": {
                    "parameters": [
                        {"in": "query", "name": "year", "schema": {"type": "string"}},
                    ],
                    # The CSV as UTF-8 text, read whatever its Content-Type says (text/csv in
                    # the docstring); text/plain is the text type schemathesis can send.
                    "requestBody": {
                        "required": True,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "responses": {
                        "201": ok(
                            "The roster in force",
                            required(
                                roster_id=STRING, school_year=STRING, rows={"type": "integer"}
                            ),
                        ),
                        "400": error("No CSRF token"),
                        "401": error("Not signed in"),
                        "413": error("Larger than 20 MB"),
                        "422": error("Refused, with every problem; the roster is unchanged"),
                    },
                }
            },
        },
    }
