"""A throwaway PostgreSQL server for a test session or a benchmark: its own data folder, port and
socket."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


@dataclass
class PostgresServer:
    bindir: Path
    datadir: Path
    port: int
    user: str
    run_as: list[str]
    # The command-line options it was started with, so that `resume` starts it the same way.
    options: str = ""

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE needs that)."""
        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(sql.encode())

    def halt(self, mode: str = "fast") -> None:
        """Stop the server and keep its data: "fast" ends every session, "immediate" crashes."""
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode]
            + ["-w", "-t", "60", "stop"],
            check=True,
            capture_output=True,
        )

    def resume(self) -> None:
        """Start a halted server again, on the same port with the same settings."""
        log = str(self.datadir.parent / "server.log")
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o"]
            + [self.options, "-l", log, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )
        _wait_for(self.port)

    def stop(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def find_bindir() -> Path:
    found = os.environ.get("TRANSIT_PG_BINDIR")
    if found:
        return Path(found)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable("no initdb found (install the Debian package 'postgresql')")


def start_postgres(settings: dict[str, str] | None = None) -> PostgresServer:
    """Start a throwaway server tuned for tests (no fsync); PostgreSQL refuses to run as root.

    `settings` are more server settings (name: value), as the benchmarks at scale need."""
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="transit-pg-"))
    datadir = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
    user = "postgres" if run_as else os.environ.get("USER", "postgres")
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    for name, value in (settings or {}).items():
        options += f" -c {name}={value}"
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            options,
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    server = PostgresServer(
        bindir=bindir, datadir=datadir, port=port, user=user, run_as=run_as, options=options
    )
    _wait_for(port)
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL did not answer on port {port}")
