"""Fixtures of the tests that go through pcscd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from readers.pcsc import Pcsc, Reader


@pytest.fixture
def reader(pcscd: str) -> Iterator[Reader]:
    """The virtual reader, with no card left in it by an earlier test."""
    with Pcsc() as context:
        reader = context.reader(pcscd)
        assert reader.wait_for_removal(timeout=5)
        yield reader
