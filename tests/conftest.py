"""Fixtures shared by every test: databases on SQLite and PostgreSQL, the app and its client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from api import create_app
from scripts.pcscd import VPCD_READER, PcscdUnavailable, start_pcscd, stop_pcscd
from scripts.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.support.required import missing, running
from transit import migrate
from transit.db import Base, make_engine

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, started on first use."""
    with running("PostgreSQL", start_postgres, PostgresUnavailable) as server:
        yield server


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated to head once; tests empty its tables after use."""
    postgres_server.execute("CREATE DATABASE transit_test")
    url = postgres_server.url("transit_test")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: the test runs once on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("migrated_sqlite")
        copy = tmp_path / "transit.sqlite3"
        shutil.copyfile(template, copy)
        yield f"sqlite:///{copy}"
        return
    url: str = request.getfixturevalue("migrated_postgres")
    yield url
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


class SmsOutbox:
    """The SMS gateway, at the edge of the world: messages are kept for the test to read."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self, phone: str) -> str:
        import re

        for to, message in reversed(self.sent):
            found = re.search(r"\b(\d{6})\b", message)
            if to == phone and found:
                return found.group(1)
        raise AssertionError(f"no code was sent to {phone}")


@pytest.fixture
def sms() -> SmsOutbox:
    return SmsOutbox()


# What a production app needs to start, with no outside service reached at start-up: the
# SMS gateway and the payment provider are the test's objects.
PRODUCTION: dict[str, Any] = {
    "ENV": "production",
    "TESTING": False,
    "SECRET_KEY": "k" * 40,
    "SMS_SENDER": "http",
    "SMS_HTTP_URL": "https://sms.example.vn/send",
    "SMS_HTTP_USERNAME": "transit",
    "SMS_HTTP_PASSWORD": "not-a-real-secret",
    "SMS_BRANDNAME": "XEBUYT HN",
    "PAYMENT_PROVIDER": "stripe",
    "PAYMENT_PROVIDER_OBJECT": object(),
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1",
}


def build_app(database_url: str, instance: Path, sms: SmsOutbox, **settings: Any) -> Flask:
    """The app as the tests run it: the test's database, instance folder and SMS outbox."""
    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "LOG_JSON": False,
            "SMS_SENDER_OBJECT": sms,
            **settings,
        }
    )


@pytest.fixture
def app(database_url: str, tmp_path: Path, sms: SmsOutbox) -> Iterator[Flask]:
    flask_app = build_app(database_url, tmp_path / "instance", sms)
    yield flask_app
    flask_app.extensions["transit"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def pcscd() -> Iterator[str]:
    """pcscd running with the vpcd driver; yields the name of the virtual reader."""
    try:
        process = start_pcscd()
    except PcscdUnavailable as error:
        missing("pcscd with vpcd", str(error))
    try:
        yield VPCD_READER
    finally:
        stop_pcscd(process)
