"""Rate limits hold across gunicorn workers when they share a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serving import free_port, get
from tests.support.redis import RedisUnavailable, start_redis
from tests.support.required import missing

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    try:
        process, url = start_redis(tmp_path)
    except RedisUnavailable as error:
        missing("redis-server", str(error))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def post(url: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(  # noqa: S310  a loopback http URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Connection": "close"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_sign_in_limits_are_shared_by_every_worker(tmp_path: Path, redis_url: str) -> None:
    env = {
        **os.environ,
        "TRANSIT_DATABASE_URL": f"sqlite:///{tmp_path / 'transit.sqlite3'}",
        "TRANSIT_BIND": f"127.0.0.1:{free_port()}",
        "TRANSIT_RATELIMIT_STORAGE_URI": redis_url,
        "WEB_CONCURRENCY": "4",
    }
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = "http://" + env["TRANSIT_BIND"]
    try:
        for _ in range(100):
            try:
                if get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        login = base + "/api/v1/auth/login"
        # Five tries per number a minute, whichever of the four workers takes each request.
        statuses = [
            post(login, {"phone": "0912345678", "password": f"guess {n}"}) for n in range(8)
        ]
        assert statuses == [401] * 5 + [429] * 3
    finally:
        server.terminate()
        server.wait(timeout=30)
