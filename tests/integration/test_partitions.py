"""The taps table on PostgreSQL, partitioned by month of Hanoi time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import text

from api.deps import unit_of_work
from tests.api.test_validator_api import HANOI, Device
from transit import migrate, partitions
from transit.db import make_engine
from transit.services import devices

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def where(url: str, tap_id: str) -> list[str]:
    """The partitions holding a tap_id."""
    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.scalars(
            text("SELECT tableoid::regclass::text FROM taps WHERE tap_id = :id"), {"id": tap_id}
        )
        names = list(found)
    engine.dispose()
    return names


@pytest.fixture
def device(app: Flask) -> Device:
    with app.app_context(), unit_of_work() as uow:
        registered = devices.register_device("32", datetime.now(UTC), uow)
        uow.commit()
    return Device(app.test_client(), registered.device_id, bytes.fromhex(registered.private_key))


def test_the_months_around_today_exist_and_a_tap_lands_in_its_month(
    database_url: str, device: Device
) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert partitions.partitioned(connection)
        months = partitions.existing(connection)
    engine.dispose()
    now = partitions.Month.of(datetime.now(UTC))
    assert {now.previous(), now, now.next(), now.next().next()} <= set(months)
    # 23:30 on the last day of a month in Hanoi is still that month, though UTC says 16:30.
    last_evening = now.start - timedelta(minutes=30)
    tap = device.tap(time=last_evening.isoformat())
    assert device.upload(tap).status_code == 200
    assert where(database_url, tap["tap_id"]) == [now.previous().name]


def test_a_tap_in_a_month_with_no_partition_waits_in_default_until_the_next_run(
    database_url: str, device: Device
) -> None:
    long_ago = datetime(2019, 5, 20, 8, 0, tzinfo=HANOI)
    tap = device.tap(time=long_ago.isoformat())
    # 03:00 on the first of July in Hanoi is still the 30th of June in UTC.
    first_of_month = device.tap(time=datetime(2019, 7, 1, 3, 0, tzinfo=HANOI).isoformat())
    assert device.upload(tap, first_of_month).status_code == 200
    assert where(database_url, tap["tap_id"]) == [partitions.DEFAULT]
    engine = make_engine(database_url)
    with engine.begin() as connection:
        created = partitions.ensure(connection, datetime.now(UTC))
    with engine.begin() as connection:
        assert partitions.ensure(connection, datetime.now(UTC)) == []
    engine.dispose()
    assert {partitions.Month(2019, 5), partitions.Month(2019, 7)} <= set(created)
    assert partitions.Month(2019, 6) not in created
    assert where(database_url, tap["tap_id"]) == ["taps_y2019m05"]
    assert where(database_url, first_of_month["tap_id"]) == ["taps_y2019m07"]
    # Moved, not copied: the tap is still a duplicate when the validator sends it again.
    again = device.upload(tap)
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate"]


def test_a_tap_id_is_unique_across_months(database_url: str, device: Device) -> None:
    tap = device.tap(time=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert device.upload(tap).status_code == 200
    moved = dict(tap, time=(datetime.now(UTC) - timedelta(days=40)).isoformat())
    results = device.upload(moved).get_json()["results"]
    assert [r["status"] for r in results] == ["duplicate"]
    assert len(where(database_url, tap["tap_id"])) == 1


def test_going_down_to_one_table_and_back_keeps_every_tap(
    database_url: str, device: Device
) -> None:
    taps = [
        device.tap(time=(datetime.now(UTC) - timedelta(days=days)).isoformat())
        for days in (1, 35, 70)
    ]
    assert device.upload(*taps).status_code == 200
    engine = make_engine(database_url)
    try:
        migrate.downgrade(engine, "0009")
        with engine.connect() as connection:
            assert not partitions.partitioned(connection)
            assert connection.scalar(text("SELECT count(*) FROM taps")) == 3
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert partitions.partitioned(connection)
            assert connection.scalar(text("SELECT count(*) FROM taps")) == 3
    finally:
        engine.dispose()
    assert all(where(database_url, t["tap_id"]) != [partitions.DEFAULT] for t in taps)
