"""gunicorn's own refusals are problem+json like every other error of the API, and its worker
count keeps memory:// rate limits honest."""

from __future__ import annotations

import json
import runpy
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_serving import ROOT, Served, served

__all__ = ["served"]  # the fixture: one gunicorn for this module, started as test_serving's


def exchange(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the server and read its whole answer: status, headers, body."""
    address = urlsplit(base)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


def get_with(target: str = "/api/v1/routes", *header_lines: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *header_lines, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        pytest.param(
            get_with("/api/v1/routes?near=" + "x" * (9000 - len("/api/v1/routes?near="))),
            414,
            "uri_too_long",
            id="9000-byte URL",
        ),
        pytest.param(
            get_with("/api/v1/routes", *(f"X-Filler-{n}: {n}" for n in range(200))),
            431,
            "headers_too_large",
            id="200 headers",
        ),
        pytest.param(
            get_with("/api/v1/routes", "X-Filler: " + "a" * 10_240),
            431,
            "headers_too_large",
            id="10 kB header",
        ),
        pytest.param(
            get_with("/api/v1/routes", "Bad Header: spaces are not allowed in a name"),
            400,
            "bad_request",
            id="malformed header name",
        ),
        pytest.param(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", id="bad method"),
    ],
)
def test_a_request_gunicorn_refuses_gets_a_problem_json_answer(
    served: Served, request_bytes: bytes, status: int, code: str
) -> None:
    answer_status, headers, body = exchange(served.base, request_bytes)
    assert answer_status == status, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["type"] == f"urn:problem-type:transit:{code}"
    assert problem["title"]
    assert problem["detail"]
    assert headers["content-language"] == "vi"


def test_a_refused_request_whose_headers_were_read_is_answered_in_its_language(
    served: Served,
) -> None:
    request_bytes = get_with("/api/v1/routes", "Accept-Language: en", "Content-Length: lots")
    status, headers, body = exchange(served.base, request_bytes)
    problem = json.loads(body)
    assert (status, problem["code"]) == (400, "bad_request")
    assert headers["content-language"] == "en"
    assert problem["title"] == "Bad request"
    assert problem["instance"] == "/api/v1/routes"


def test_the_refusal_is_logged_without_the_request_line(served: Served) -> None:
    exchange(served.base, get_with("/api/v1/routes?phone=0912345678&" + "x" * 9000))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in served.log.read_text().splitlines() if line]
        refusals = [e for e in lines if "LimitRequestLine" in e.get("message", "")]
        if refusals:
            break
        time.sleep(0.1)
    assert refusals, served.log.read_text()[-2000:]
    assert "0912345678" not in served.log.read_text()


def test_gunicorn_warns_that_memory_limits_are_per_worker(served: Served) -> None:
    # test_serving's server runs WEB_CONCURRENCY=2 workers on memory:// limits.
    entries = [json.loads(line) for line in served.log.read_text().splitlines() if line]
    warnings = [e for e in entries if "rate limits are per worker" in e.get("message", "")]
    assert warnings, served.log.read_text()[-2000:]
    assert warnings[0]["level"] == "warning"
    assert "redis://" in warnings[0]["message"]


# -- the worker count gunicorn.conf.py chooses ----------------------------------------------


def gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("WEB_CONCURRENCY", "TRANSIT_RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(ROOT) / "gunicorn.conf.py"))


@pytest.mark.parametrize(
    ("env", "workers"),
    [
        ({}, 1),
        ({"TRANSIT_RATELIMIT_STORAGE_URI": "memory://"}, 1),
        ({"TRANSIT_RATELIMIT_STORAGE_URI": "memory://", "WEB_CONCURRENCY": "3"}, 3),
        ({"TRANSIT_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379", "WEB_CONCURRENCY": "3"}, 3),
    ],
)
def test_memory_limits_run_one_worker_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], workers: int
) -> None:
    assert gunicorn_config(monkeypatch, **env)["workers"] == workers


def test_shared_limits_run_a_worker_per_half_core_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = gunicorn_config(monkeypatch, TRANSIT_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379")
    assert config["workers"] > 1


class Said:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(("info", message % args))

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(("warning", message % args))


def test_one_worker_on_memory_limits_says_how_to_share_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = gunicorn_config(monkeypatch)
    log = Said()
    config["when_ready"](SimpleNamespace(cfg=SimpleNamespace(workers=1), log=log))
    (level, line) = log.lines[-1]
    assert level == "info"
    assert "rate limits are per worker" in line
    assert "TRANSIT_RATELIMIT_STORAGE_URI=redis://" in line
