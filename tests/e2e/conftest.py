"""The backend the end-to-end tests run against: gunicorn on a fresh embedded database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.test_bus_day import Backend


@contextmanager
def serving(home: Path, *commands: tuple[str, ...]) -> Iterator[Backend]:
    """gunicorn on a migrated database with the demo network, after `commands` (flask args)."""
    backend = Backend(home)
    backend.flask("db", "upgrade")
    backend.flask("network", "import", "data/demo-network")
    for command in commands:
        backend.flask(*command)
    backend.start()
    try:
        yield backend
    finally:
        if backend.server.poll() is None:
            backend.stop()


@pytest.fixture
def backend(tmp_path: Path, pcscd: str) -> Iterator[Backend]:
    with serving(tmp_path, ("cards", "keygen")) as served:
        yield served
