"""What `make run` promises, checked against the real thing: gunicorn serving wsgi:app."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.support.feeds import DEMO_FEED
from tests.support.required import chromium

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Served:
    base: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback only)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Migrate an embedded database, import the demo network, and start gunicorn on it."""
    home = tmp_path_factory.mktemp("served")
    env = {
        **os.environ,
        "TRANSIT_DATABASE_URL": f"sqlite:///{home / 'transit.sqlite3'}",
        "TRANSIT_BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "2",
    }
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "network", "import", str(DEMO_FEED)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log = home / "gunicorn.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = "http://" + env["TRANSIT_BIND"]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield Served(base=base, log=log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_it_is_ready(served: Served) -> None:
    status, _, body = get(served.base + "/readyz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"


def test_the_openapi_document_is_valid_openapi_3(served: Served) -> None:
    status, headers, body = get(served.base + "/api/openapi.json")
    assert status == 200
    document = json.loads(body)
    assert document["openapi"].startswith("3.")
    validate(document)
    assert "/api/v1/routes" in document["paths"]
    error = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert "application/problem+json" in error


def test_the_routes_are_the_demo_routes(served: Served) -> None:
    status, _, body = get(served.base + "/api/v1/routes")
    assert status == 200
    assert {r["route_id"] for r in json.loads(body)} == {
        "01",
        "09",
        "32",
        "34",
        "86",
        "107",
        "BRT01",
        "2A",
        "3.1",
    }


def test_the_docs_page_and_its_assets_are_served_locally(served: Served) -> None:
    status, _, page = get(served.base + "/api/docs")
    assert status == 200
    html = page.decode()
    assert "/api/docs-assets/swagger-ui-bundle.js" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert get(served.base + "/api/docs-assets/" + asset)[0] == 200


def test_the_docs_page_renders_the_api_in_a_browser(served: Served) -> None:
    browser = chromium()
    profile = Path(served.log).parent / "chromium-profile"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            served.base + "/api/docs",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout.decode()
    # Swagger UI has fetched /api/openapi.json and drawn one block per operation.
    assert "opblock" in dom, result.stderr.decode()[-2000:]
    assert "/api/v1/routes/{route_id}" in dom
    assert "Hanoi bus card API" in dom


def test_the_access_log_is_json_lines_with_the_request_id(served: Served) -> None:
    status, headers, _ = get(served.base + "/api/v1/routes?near=secret")
    assert status == 200
    request_id = headers["X-Request-Id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # Every line, gunicorn's own messages included, is one JSON object.
        entries = [json.loads(line) for line in served.log.read_text().splitlines() if line]
        mine = [e for e in entries if e.get("request_id") == request_id]
        if mine:
            break
        time.sleep(0.1)
    assert mine, served.log.read_text()[-2000:]
    assert mine[0]["path"] == "/api/v1/routes"
    assert mine[0]["status"] == 200
    assert "secret" not in json.dumps(mine[0])
    assert any("serving on http://" in e.get("message", "") for e in entries)
