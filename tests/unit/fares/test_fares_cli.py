"""`python -m fares price`: one row per tap, the new state, errors as file:line: reason."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from cards.layout import unpack_fare_state
from fares.cli import main

ROOT = Path(__file__).resolve().parents[3]
TAPS = (
    "time,route_id,stop_id\n"
    "2024-10-31T08:00:00+07:00,09,S1\n"
    "2024-11-01T08:00:00+07:00,107,S2\n"
    "2024-11-01T08:01:00+07:00,107,S2\n"
)


def make_taps_file(tmp_path: Path, text: str = TAPS) -> Path:
    path = tmp_path / "taps.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run(args: list[str]) -> tuple[int, list[list[str]], str]:
    out = io.StringIO()
    status = main(args, out)
    lines = out.getvalue().splitlines()
    rows = list(csv.reader(lines[:-1]))
    return status, rows, lines[-1] if lines else ""


def test_prices_each_tap_with_the_shipped_hanoi_tariff(tmp_path: Path) -> None:
    status, rows, state_line = run(["price", "--taps", str(make_taps_file(tmp_path))])
    assert status == 0
    assert rows[0] == [
        "time", "route_id", "stop_id", "direction", "result", "amount", "paid_by", "explanation",
    ]  # fmt: skip
    assert [(r[4], r[5], r[6]) for r in rows[1:]] == [
        ("accept", "7000", "stored_value"),
        ("accept", "20000", "stored_value"),
        ("deny:passback", "0", "nothing"),
    ]
    assert state_line.startswith("state: 02")
    assert unpack_fare_state(bytes.fromhex(state_line.removeprefix("state: "))).category_code == 1


def test_the_state_file_is_read_and_written_as_hex(tmp_path: Path) -> None:
    state_file = tmp_path / "card.hex"
    taps = make_taps_file(tmp_path)
    run(["price", "--taps", str(taps), "--category", "merit", "--state", str(state_file)])
    written = unpack_fare_state(bytes.fromhex(state_file.read_text(encoding="ascii")))
    assert written.category_code == 7
    status, rows, _ = run(["price", "--taps", str(taps), "--state", str(state_file)])
    assert status == 0
    assert {r[6] for r in rows[1:]} == {"free_category", "nothing"}


def test_a_pass_can_be_put_on_the_card(tmp_path: Path) -> None:
    taps = make_taps_file(tmp_path, "time,route_id,stop_id\n2024-11-04T07:00:00+07:00,32,S\n")
    status, rows, _ = run(
        ["price", "--taps", str(taps), "--category", "student", "--pass", "pass_one_route@32"]
    )
    assert (status, rows[1][5], rows[1][6]) == (0, "0", "pass")


def test_bad_taps_are_reported_by_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taps = make_taps_file(
        tmp_path, "time,route_id,stop_id\n2024-11-01T08:00:00,09,S\nyesterday,09,S\n"
    )
    assert main(["price", "--taps", str(taps)], io.StringIO()) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{taps}:2: time '2024-11-01T08:00:00' needs a UTC offset like +07:00",
        f"{taps}:3: time must be ISO 8601, not 'yesterday'",
    ]


def test_a_bad_tariff_exits_non_zero_with_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taps = make_taps_file(tmp_path)
    assert main(["price", "--tariff", str(tmp_path), "--taps", str(taps)], io.StringIO()) == 2
    assert "tariff_version.txt:1: missing" in capsys.readouterr().err


def test_an_unknown_category_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taps = make_taps_file(tmp_path)
    assert main(["price", "--taps", str(taps), "--category", "vip"], io.StringIO()) == 2
    assert "--category:1: unknown rider category 'vip'" in capsys.readouterr().err


def test_runs_as_python_dash_m_fares(tmp_path: Path) -> None:
    taps = make_taps_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "fares", "price", "--taps", str(taps)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "deny:passback" in result.stdout


def test_prices_a_day_of_tap_on_and_tap_off(tmp_path: Path) -> None:
    taps = (
        "time,route_id,stop_id,direction,vehicle_id\n"
        "2026-12-01T07:30:00+07:00,32,HN0010,both,29B-032.07\n"
        "2026-12-01T07:52:00+07:00,32,HN0012,both,29B-032.07\n"
        "2026-12-01T08:10:00+07:00,2A,M2A01P,entry,\n"
        "2026-12-01T08:40:00+07:00,2A,M2A12P,exit,\n"
    )
    status, rows, _ = run(["price", "--taps", str(make_taps_file(tmp_path, taps))])
    assert status == 0
    assert [(r[3], r[5], r[6]) for r in rows[1:]] == [
        ("entry", "10000", "stored_value"),
        ("exit", "0", "at_entry"),
        ("entry", "0", "at_exit"),
        ("exit", "15000", "stored_value"),
    ]


def test_a_tap_with_an_unknown_direction_is_a_problem_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taps = "time,route_id,stop_id,direction\n2026-12-01T07:30:00+07:00,32,HN0010,sideways\n"
    status, _, _ = run(["price", "--taps", str(make_taps_file(tmp_path, taps))])
    assert status == 2
    assert "taps.csv:2: direction must be entry, exit or both, not 'sideways'" in (
        capsys.readouterr().err
    )
