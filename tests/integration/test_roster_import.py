"""Schools and rosters through the operator commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from api.deps import unit_of_work
from transit.models import Roster, RosterEntry, SchoolAdmin

GOOD = (
    "student_code,full_name,date_of_birth,level,programme,enrolment_end\n"
    "HS-001,Nguyễn Văn An,2010-05-01,Lớp 10,general_school,2027-05-31\n"
    "HS-002,Trần Thị Bình,31/12/2009,Lớp 11,phổ thông,2027-05-31\n"
    "SV-003,Lê Văn Cường,2004-02-29,Năm 3,vừa học vừa làm,2027-06-30\n"
)


@pytest.fixture
def school(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["schools", "create", "THPT-CVA", "THPT Chu Văn An"])
    assert result.exit_code == 0, result.output
    return "THPT-CVA"


def roster(tmp_path: Path, text: str, name: str = "roster.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def entries(app: Flask) -> list[tuple[str, int, bool]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            (r.school_year, int(r.rows), bool(r.active))
            for r in uow.session.scalars(select(Roster).order_by(Roster.imported_at))
        ]


def test_a_roster_is_imported_as_keyed_hashes(app: Flask, school: str, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        args=["schools", "import-roster", school, roster(tmp_path, GOOD), "--year", "2026-2027"]
    )
    assert result.exit_code == 0, result.output
    assert "3 students for 2026-2027" in result.output
    assert entries(app) == [("2026-2027", 3, True)]
    with app.app_context(), unit_of_work() as uow:
        stored = [
            {c.key: getattr(e, c.key) for c in RosterEntry.__table__.columns}
            for e in uow.session.scalars(select(RosterEntry))
        ]
    text = json.dumps(stored, default=str, ensure_ascii=False).casefold()
    for personal in ("hs-001", "nguyễn", "nguyen", "2010-05-01", "bình"):
        assert personal not in text
    assert sorted(e["programme"] for e in stored) == [
        "general_school",
        "general_school",
        "work_study",
    ]


def test_a_bad_roster_lists_every_problem_and_changes_nothing(
    app: Flask, school: str, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(
        args=["schools", "import-roster", school, roster(tmp_path, GOOD), "--year", "2026-2027"]
    )
    assert first.exit_code == 0, first.output
    bad = GOOD + (
        "HS-004,,2010-13-01,Lớp 10,evening,2027-05-31\n"
        "HS-001,Nguyễn Văn An,2010-05-01,Lớp 10,general_school,2027-05-31\n"
        "HS-005,Phạm Văn Dũng,2011-01-01,Lớp 9,general_school,2031-05-31x\n"
    )
    path = roster(tmp_path, bad, "bad.csv")
    result = runner.invoke(args=["schools", "import-roster", school, path, "--year", "2026-2027"])
    assert result.exit_code == 1
    assert f"{path}:5: full_name: 1 to 200 characters" in result.output
    assert f"{path}:5: date_of_birth: '2010-13-01' is not a date" in result.output
    assert f"{path}:5: programme: one of" in result.output
    assert f"{path}:6: student_code: the same student as row 2" in result.output
    assert f"{path}:7: enrolment_end: '2031-05-31x' is not a date" in result.output
    assert "5 problem(s); nothing was imported" in result.output
    assert entries(app) == [("2026-2027", 3, True)]  # the roster in force is untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("student_code,full_name\nHS-1,An\n", "date_of_birth: missing column"),
        (GOOD.replace("level,", "level,nickname,"), "nickname: unknown column"),
        (GOOD.splitlines()[0] + "\n", "the roster has no students"),
    ],
)
def test_a_roster_without_the_right_columns_is_refused(
    app: Flask, school: str, tmp_path: Path, text: str, message: str
) -> None:
    result = app.test_cli_runner().invoke(
        args=["schools", "import-roster", school, roster(tmp_path, text), "--year", "2026-2027"]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert entries(app) == []


def test_a_new_roster_replaces_the_old_one_for_that_year(
    app: Flask, school: str, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    path = roster(tmp_path, GOOD)
    for _ in range(2):
        result = runner.invoke(
            args=["schools", "import-roster", school, path, "--year", "2026-2027"]
        )
        assert result.exit_code == 0, result.output
    assert "1 earlier roster(s) replaced" in result.output
    assert entries(app) == [("2026-2027", 3, False), ("2026-2027", 3, True)]
    bad_year = runner.invoke(args=["schools", "import-roster", school, path, "--year", "2026"])
    assert bad_year.exit_code == 1
    assert "is not like 2026-2027" in bad_year.output


def test_schools_and_administrators(app: Flask, school: str) -> None:
    runner = app.test_cli_runner()
    again = runner.invoke(args=["schools", "create", "thpt-cva", "Another"])
    assert (again.exit_code, "there is a school THPT-CVA already" in again.output) == (1, True)
    made = runner.invoke(
        args=["schools", "add-admin", school, "Clerk@School.edu.vn", "--name", "Cô Lan"]
    )
    assert made.exit_code == 0, made.output
    printed = json.loads(made.stdout.strip().splitlines()[-1])
    assert printed["enrol_url"].startswith("http://127.0.0.1:8000/school/enrol?token=")
    assert "works once" in made.stderr
    token = printed["enrol_url"].split("token=")[1]
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalars(select(SchoolAdmin)).one()
        assert admin.email == "clerk@school.edu.vn"
        assert admin.enrolled_at is None
        assert token not in (admin.enrol_token_hash or "")  # only its hash is kept
        assert uow.session.scalar(select(func.count()).select_from(SchoolAdmin)) == 1
    nameless = runner.invoke(args=["schools", "add-admin", school, "b@school.vn", "--name", " "])
    assert nameless.exit_code == 1
    assert "needs a name" in nameless.output
    unknown = runner.invoke(
        args=["schools", "import-roster", "NOPE", __file__, "--year", "2026-2027"]
    )
    assert unknown.exit_code == 1
