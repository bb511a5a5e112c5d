"""What the benchmarks share: the machine's description, a private PostgreSQL with the app's
schema, gunicorn in front of it, percentiles, and the figures `make bench` collects.

Every benchmark prints its own detailed report; given `--json FILE` it also writes its figures
there, one dict per figure (see `Figure`), for `bench/run.py` to gather into one table.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.postgres import PostgresServer, start_postgres  # noqa: E402
from transit import migrate  # noqa: E402
from transit.db import make_engine  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass
class Figure:
    """One measured figure, with what it is held against in the same run."""

    name: str
    value: float
    unit: str
    shown: str  # the value as the table shows it, e.g. "p50 3.3 ms, p99 4.7 ms"
    target: str = ""  # e.g. "p99 < 30 ms"; empty when the figure has none
    met: bool | None = None  # None when there is no target
    baseline: str = ""  # the same run's point of comparison, e.g. "/healthz p99 5 ms"
    bench: str = ""  # the script and arguments that measured it


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_mib": memory,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def describe() -> str:
    found = machine()
    return (
        f"python {found['python']}, {found['cpu']}, {found['cpus']} cpus, "
        f"{found['memory_mib']:,} MiB"
    )


def write_figures(path: str | None, figures: Sequence[Figure]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=1) + "\n")


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` of the values fall (nearest rank); values as given."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def database(settings: dict[str, str] | None = None) -> Iterator[tuple[PostgresServer, str]]:
    """A private PostgreSQL (fsync off) with a migrated database `bench`: (server, url)."""
    server = start_postgres(settings)
    try:
        server.execute("CREATE DATABASE bench")
        url = server.url("bench")
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield server, url
    finally:
        server.stop()


def app_env(url: str, port: int, workers: int = 2) -> dict[str, str]:
    """The environment of the app's processes (CLI and gunicorn) on this database."""
    return {
        **os.environ,
        "TRANSIT_DATABASE_URL": url,
        "TRANSIT_BIND": f"127.0.0.1:{port}",
        "TRANSIT_LOG_LEVEL": "WARNING",
        # Every worker must sign and check tokens with the same key.
        "TRANSIT_SECRET_KEY": secrets.token_hex(32),
        "WEB_CONCURRENCY": str(workers),
    }


def flask(env: dict[str, str], *args: str) -> str:
    """Run one of the app's CLI commands; returns what it printed."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@contextmanager
def gunicorn(env: dict[str, str], *options: str) -> Iterator[str]:
    """gunicorn with gunicorn.conf.py on TRANSIT_BIND until the block ends: its base URL."""
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--access-logfile",
            "/dev/null",
            *options,
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = "http://" + env["TRANSIT_BIND"]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=1):  # noqa: S310  loopback
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not become ready") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Tally:
    """What the client threads measured: latencies in seconds, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    first_pages: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_clients(
    port: int,
    clients: int,
    seconds: float,
    work: Callable[[http.client.HTTPConnection, Tally, float], None],
) -> tuple[Tally, float]:
    tally = Tally()
    ready = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ready.wait()
        try:
            work(connection, tally, deadline[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline.append(began + seconds)
    ready.wait()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def fetch(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str], tally: Tally
) -> tuple[float, int, bytes]:
    """One GET on the client's connection; a server that closed it is connected to again."""
    reconnect = connection.sock is None
    began = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - began
    if reconnect:
        with tally.lock:
            tally.connects += 1
    return elapsed, response.status, body


def pause(think: float) -> None:
    """A rider reading the screen before the next tap on it: `think` seconds on average."""
    if think > 0:
        time.sleep(random.uniform(0.5, 1.5) * think)  # noqa: S311  not for secrets
