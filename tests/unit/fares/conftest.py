"""Tariffs shared by the fare tests: loaded once, never changed by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from fares import Tariff, load_hanoi_tariff, load_tariff

RIVERTON_DIR = Path(__file__).resolve().parent / "tariffs" / "riverton"


@pytest.fixture(scope="session")
def hanoi() -> Tariff:
    """The shipped Hanoi tariff, both versions."""
    return load_hanoi_tariff()


@pytest.fixture(scope="session")
def riverton() -> Tariff:
    """The test tariff with transfers, caps, time of day and areas."""
    return load_tariff(RIVERTON_DIR)
