"""Fixtures of the fault tests. Each helper's fixtures have names of their own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.faults.fleet import PgBackend
from tests.support.required import running


@pytest.fixture(scope="session")
def faults_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server the fault tests may stop and restart: no other test shares it.

    It runs with the test servers' synchronous_commit=off, under which a crash loses
    transactions already confirmed: ingestion turns it on for its own commits, and the restart
    test shows that no accepted tap is lost."""
    with running("PostgreSQL", start_postgres, PostgresUnavailable) as server:
        yield server


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
