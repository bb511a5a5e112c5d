"""Time to import a school's roster of 100,000 students, on SQLite and on PostgreSQL.

    python bench/roster_import.py [--rows 100000]

Writes a generated roster (Vietnamese names, mixed date formats, every programme), then
imports it with the service the `flask schools import-roster` command uses: every row checked,
three HMACs a row, one transaction. Prints the seconds for each database, beside the target.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import support  # noqa: E402
from sqlalchemy import delete, func, insert, select  # noqa: E402

from scripts.postgres import start_postgres  # noqa: E402
from transit import migrate  # noqa: E402
from transit.db import make_engine, make_session_factory  # noqa: E402
from transit.models import RosterEntry  # noqa: E402
from transit.names import Keys  # noqa: E402
from transit.services import schools  # noqa: E402
from transit.uow import UnitOfWork  # noqa: E402

TARGET_SECONDS = 10.0
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Gia", "Bảo"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Khánh", "Linh", "Mai", "Nam", "Phúc"]
PROGRAMMES = ["general_school", "university", "college", "vocational", "work_study", "phổ thông"]


def roster(rows: int) -> str:
    chance = random.Random(7)  # noqa: S311  test data
    lines = ["student_code,full_name,date_of_birth,level,programme,enrolment_end"]
    for n in range(rows):
        born = date(2000, 1, 1) + timedelta(days=chance.randrange(7_000))
        written = born.isoformat() if n % 2 else born.strftime("%d/%m/%Y")
        name = f"{chance.choice(FAMILY)} {chance.choice(MIDDLE)} {chance.choice(GIVEN)}"
        programme = chance.choice(PROGRAMMES)
        lines.append(f"S{n:07d},{name},{written},Năm {n % 5 + 1},{programme},2027-05-31")
    return "\n".join(lines) + "\n"


def import_into(url: str, text: str, rows: int) -> tuple[float, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with UnitOfWork(factory) as uow:
        schools.create_school("DH-BENCH", "Đại học Bench", (6, 30), now, uow)
        uow.commit()
    began = time.perf_counter()
    with UnitOfWork(factory) as uow:
        report = schools.import_roster(
            "DH-BENCH",
            "2026-2027",
            text,
            keys=Keys(b"b" * 32),
            actor="bench",
            now=now,
            uow=uow,
        )
        uow.commit()
    seconds = time.perf_counter() - began
    with UnitOfWork(factory) as uow:
        stored = uow.session.scalar(select(func.count()).select_from(RosterEntry))
    # The floor: the same stored rows, deleted and inserted again with one executemany.
    table = RosterEntry.__table__
    with engine.begin() as connection:
        kept = [dict(row._mapping) for row in connection.execute(select(table))]
        connection.execute(delete(table))
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(table), kept)
    raw = time.perf_counter() - began
    engine.dispose()
    if report.rows != rows or stored != rows:
        raise SystemExit(f"imported {report.rows}, stored {stored}, expected {rows}")
    return seconds, raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    text = roster(args.rows)
    print(
        f"python {platform.python_version()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus; a roster of {args.rows:,} rows ({len(text) / 1e6:.1f} MB)"
    )
    with tempfile.TemporaryDirectory() as folder:
        lite, lite_raw = import_into(f"sqlite:///{folder}/bench.sqlite3", text, args.rows)
    print(
        f"SQLite (a file, WAL):            {lite:5.1f} s   target < {TARGET_SECONDS:.0f} s"
        f"   (the stored rows inserted raw: {lite_raw:.1f} s)"
    )
    server = start_postgres()
    try:
        server.execute("CREATE DATABASE bench")
        seconds, raw = import_into(server.url("bench"), text, args.rows)
    finally:
        server.stop()
    print(
        f"PostgreSQL (private, fsync off): {seconds:5.1f} s   target < {TARGET_SECONDS:.0f} s"
        f"   (the stored rows inserted raw: {raw:.1f} s)"
    )
    support.write_figures(
        args.json,
        [
            support.Figure(
                name=f"School roster of {args.rows:,} students imported (checked, hashed, "
                "one transaction), PostgreSQL",
                value=seconds,
                unit="s",
                shown=f"{seconds:.1f} s (SQLite {lite:.1f} s)",
                target=f"< {TARGET_SECONDS:.0f} s",
                met=seconds < TARGET_SECONDS and lite < TARGET_SECONDS,
                baseline=f"the stored rows inserted raw {raw:.1f} s (SQLite {lite_raw:.1f} s)",
                bench=f"bench/roster_import.py --rows {args.rows}",
            )
        ],
    )


if __name__ == "__main__":
    main()
