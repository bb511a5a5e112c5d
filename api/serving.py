"""gunicorn workers whose own error answers are problem+json, like every other answer of the API.

gunicorn refuses some requests before the app sees them: a request line longer than
limit_request_line (414), too many or too large headers (431), a request it cannot parse (400),
and it answers 500 when a response could not be written. Its answers are HTML pages; these
workers write the API's problem+json instead, with the codes and messages of api/problems.py.
gunicorn's limits stay as they are: they keep a worker's memory bounded.
"""

from __future__ import annotations

import json
import ssl
from datetime import datetime
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from api.problems import LANGUAGES, MESSAGES, PROBLEM_JSON

# What gunicorn's refusals are called in the API, most specific first: (errors, status, code).
REFUSALS: tuple[tuple[tuple[type[BaseException], ...], int, str], ...] = (
    ((errors.LimitRequestLine,), 414, "uri_too_long"),
    ((errors.LimitRequestHeaders,), 431, "headers_too_large"),
    # A header the app tried to send: the app's fault, not the caller's.
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName), 500, "internal_error"),
    ((errors.ConfigurationProblem,), 500, "internal_error"),
    ((errors.ForbiddenProxyRequest, ssl.SSLError), 403, "forbidden"),
    ((errors.ExpectationFailed,), 417, "expectation_failed"),
    ((errors.UnsupportedTransferCoding,), 501, "unsupported_transfer_coding"),
    ((errors.ParseException,), 400, "bad_request"),
)


def refusal(error: BaseException) -> tuple[int, str]:
    """The status and problem code answering `error`; anything unforeseen is a 500."""
    for kinds, status, code in REFUSALS:
        if isinstance(error, kinds):
            return status, code
    return 500, "internal_error"


def problem_response(status: int, code: str, language: str, path: str | None = None) -> bytes:
    """A whole HTTP/1.1 response carrying the problem `code`, and closing the connection."""
    message = MESSAGES[code]
    english = language == "en"
    body: dict[str, Any] = {
        "type": f"urn:problem-type:transit:{code}",
        "title": message.title_en if english else message.title_vi,
        "status": status,
        "detail": message.detail_en if english else message.detail_vi,
        "code": code,
    }
    if path is not None:
        body["instance"] = path
    payload = json.dumps(body, ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Content-Language: {language}\r\n"
        "Vary: Accept-Language\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + payload


def _language(req: Any) -> str:
    # Most refusals come before the headers are read: then the API's default, Vietnamese.
    for name, value in getattr(req, "headers", None) or ():
        if name == "ACCEPT-LANGUAGE":
            best = parse_accept_header(value, LanguageAccept).best_match(LANGUAGES)
            return best or "vi"
    return "vi"


class ProblemErrors:
    """Mixed into a gunicorn worker: replaces its handle_error (gunicorn/workers/base.py)."""

    log: Any
    cfg: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        started = datetime.now()
        addr = addr or ("", -1)  # a unix socket has no peer address
        status, code = refusal(exc)
        if status < 500:
            # The error's text is left out: it may quote the request line, query included,
            # which the access log leaves out on purpose (phone numbers and codes).
            self.log.warning(
                "Invalid request from ip=%s: %s (%s)", addr[0], type(exc).__name__, status
            )
        else:
            self.log.exception("Error handling request %s", getattr(req, "path", "(not read)"))
        if req is None and isinstance(exc, errors.InvalidHeader):
            req = exc.req  # as gunicorn does, so that the access log has the request
        answer = problem_response(status, code, _language(req), getattr(req, "path", None))
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"] = addr[0]
            environ["REMOTE_PORT"] = str(addr[1])
            response = Response(req, client, self.cfg)
            response.status = f"{status} {HTTPStatus(status).phrase}"
            response.response_length = len(answer)
            self.log.access(response, req, environ, datetime.now() - started)
        try:
            util.write_nonblock(client, answer)
        except Exception:
            self.log.debug("Failed to send error message.")


class ProblemSyncWorker(ProblemErrors, SyncWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's sync worker, answering its own errors in problem+json."""


class ProblemThreadWorker(ProblemErrors, ThreadWorker):  # type: ignore[misc]  # same
    """gunicorn's gthread worker, answering its own errors in problem+json."""
