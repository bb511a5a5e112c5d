"""Hanoi's clock: the one place the backend turns an instant into a local date or month.

Instants are stored in UTC. A rider's statement, a month's partition of the taps, a date shown
on a page are calendar days in Hanoi (`HANOI`). What a pass, a category or a cap counts is the
service day, and that is the tariff's to define (its UTC offset and the hour a service day
starts), so that the backend and the validators' fare engine agree on what "today" is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from fares import card_seconds, date_of_card_day
from transit.services import tariffs

# Vietnam keeps UTC+07:00 all year: a fixed offset is the rider's clock.
HANOI = timezone(timedelta(hours=7), "ICT")


def local_date(moment: datetime) -> date:
    """The calendar date in Hanoi at an aware instant."""
    return moment.astimezone(HANOI).date()


def service_day(moment: datetime) -> date:
    """The service day an aware instant falls in, by the clock of the tariff in force."""
    seconds = card_seconds(moment)
    return date_of_card_day(tariffs.in_force(moment).service_day(seconds))


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The first moment of the month in Hanoi and of the next one, both aware."""
    first = date(month.year, month.month, 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime.combine(first, time(), HANOI).astimezone(UTC),
        datetime.combine(following, time(), HANOI).astimezone(UTC),
    )
