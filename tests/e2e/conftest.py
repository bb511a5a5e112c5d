"""The backend the end-to-end tests run against: gunicorn on a fresh embedded database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_bus_day import Backend


@pytest.fixture
def backend(tmp_path: Path, pcscd: str) -> Iterator[Backend]:
    backend = Backend(tmp_path)
    backend.flask("db", "upgrade")
    backend.flask("network", "import", "data/demo-network")
    backend.flask("cards", "keygen")
    backend.start()
    try:
        yield backend
    finally:
        if backend.server.poll() is None:
            backend.stop()
