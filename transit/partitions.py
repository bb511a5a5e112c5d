"""Monthly partitions of the taps table on PostgreSQL.

A city of 1.2 million boardings a day writes 36 million taps a month. Kept in one table, every
index grows without end, and a year's history can only leave by a slow DELETE. Partitioned by
the month of the tap (months of Hanoi time, so a monthly statement reads one partition), each
month's indexes stay the size of a month, the newest stay in memory for ingestion, and an old
month is detached or dropped whole.

The months from last month to `AHEAD` months ahead exist at every `flask db upgrade` and every
`flask db partitions` (run it daily from cron or a systemd timer). A tap outside them (a
validator whose clock is years off, a month nobody created) lands in the DEFAULT partition, so
an insert never fails for want of a partition; the next run moves such rows into their month.

SQLite keeps one table; nothing here runs there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from transit.localtime import HANOI

AHEAD = 2
TABLE = "taps"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")
_TO_HANOI = f"interval '{int(HANOI.utcoffset(None).total_seconds())} seconds'"


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        local = moment.astimezone(HANOI)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def name(self) -> str:
        return f"{TABLE}_y{self.year:04d}m{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=HANOI)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def is_partition(name: str) -> bool:
    """A child table of taps: not a table of the models (schema comparisons skip these)."""
    return name == DEFAULT or _NAME.match(name) is not None


def include_name(name: str | None, kind: str, parent: object) -> bool:
    """Alembic's filter: the monthly partitions are made by `ensure`, not by the models."""
    return not (kind == "table" and name is not None and is_partition(name))


def partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:table)"), {"table": TABLE}
    )
    return bool(kind == "p")


def existing(connection: Connection) -> list[Month]:
    """The monthly partitions that exist, oldest first."""
    names = connection.scalars(
        text(
            "SELECT child.relname FROM pg_inherits"
            " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
            " WHERE pg_inherits.inhparent = to_regclass(:table)"
        ),
        {"table": TABLE},
    )
    months = []
    for name in names:
        found = _NAME.match(name)
        if found:
            months.append(Month(int(found.group(1)), int(found.group(2))))
    return sorted(months, key=lambda m: (m.year, m.month))


def ensure(connection: Connection, now: datetime, ahead: int = AHEAD) -> list[Month]:
    """Create the partitions from last month to `ahead` months on, and for every month that
    has rows waiting in the DEFAULT partition; returns the months created."""
    if not partitioned(connection):
        return []
    have = set(existing(connection))
    wanted = [Month.of(now).previous()]
    for _ in range(ahead + 1):
        wanted.append(wanted[-1].next())
    stray = connection.execute(
        text(
            # Hanoi time as UTC plus its offset: a zone written '+07:00' is POSIX, i.e. UTC-7.
            "SELECT DISTINCT date_part('year', local)::int, date_part('month', local)::int"  # noqa: S608  constant names
            f" FROM (SELECT (time AT TIME ZONE 'UTC') + {_TO_HANOI} AS local"
            f" FROM {DEFAULT}) strays"
        )
    )
    wanted += [Month(year, month) for year, month in stray]
    created = []
    for month in sorted(set(wanted) - have, key=lambda m: (m.year, m.month)):
        _create(connection, month)
        created.append(month)
    return created


def cover(connection: Connection, first: datetime, last: datetime) -> list[Month]:
    """Create every missing month's partition from the month of `first` to that of `last`."""
    if not partitioned(connection):
        return []
    have = set(existing(connection))
    month, end = Month.of(first), Month.of(last)
    created = []
    while (month.year, month.month) <= (end.year, end.month):
        if month not in have:
            _create(connection, month)
            created.append(month)
        month = month.next()
    return created


def _create(connection: Connection, month: Month) -> None:
    """One month's partition, taking over any of its rows that waited in the DEFAULT one."""
    bounds = {"start": month.start, "end": month.next().start}
    connection.execute(text(f"CREATE TABLE {month.name} (LIKE {TABLE} INCLUDING DEFAULTS)"))
    # Move the month's strays first: attaching checks that DEFAULT holds none of its rows.
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE time >= :start AND time < :end"  # noqa: S608  constant names
            f" RETURNING *) INSERT INTO {month.name} SELECT * FROM moved"
        ),
        bounds,
    )
    start = month.start.astimezone(UTC).isoformat()
    end = month.next().start.astimezone(UTC).isoformat()
    connection.execute(
        text(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {month.name}"
            f" FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    )
