"""The tariff the backend sells and prices by: the shipped Hanoi tariff, loaded once."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from fares import Tariff, TariffVersion, card_seconds, load_hanoi_tariff


@cache
def tariff() -> Tariff:
    """The Hanoi tariff, loaded once per process."""
    return load_hanoi_tariff()


def in_force(now: datetime) -> TariffVersion:
    """The tariff version in force at `now` (the first one, before any has started)."""
    loaded = tariff()
    return loaded.version_at(card_seconds(now)) or loaded.versions[0]


def tariff_version(now: datetime) -> str:
    """The id of the tariff version in force at `now`."""
    return in_force(now).version_id
