"""Fixtures of the fault tests. Each helper's fixtures have names of their own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.fleet import PgBackend
from tests.support.postgres import PostgresServer, PostgresUnavailable, start_postgres

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def faults_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server the fault tests may stop and restart: no other test shares it.

    It runs with the test servers' synchronous_commit=off, under which a crash loses
    transactions already confirmed: ingestion turns it on for its own commits, and the restart
    test shows that no accepted tap is lost."""
    try:
        server = start_postgres()
    except PostgresUnavailable as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is needed in CI: {error}")
        pytest.skip(str(error))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_backend(tmp_path: Path, faults_postgres: PostgresServer) -> Iterator[PgBackend]:
    """gunicorn on a fresh, migrated database of the fault tests' server, with master keys."""
    database = "faults_" + secrets.token_hex(4)
    faults_postgres.execute(f"CREATE DATABASE {database}")
    backend = PgBackend(tmp_path, faults_postgres, database)
    backend.prepare()
    backend.start()
    try:
        yield backend
    finally:
        backend.close()
