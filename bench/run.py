"""Every benchmark in bench/, one after another, and one table of their figures.

    python bench/run.py [--quick] [--only NAME ...]      (make bench; make bench BENCH_ARGS=--quick)

Each benchmark runs in its own process with its own servers and prints its detailed report as
it goes; then this prints the table of all figures, each beside its target and its baseline
from the same run, as Markdown (the README's table is pasted from it), and writes it with the
machine's description to bench/results.json. --quick runs every benchmark small, to check that
they work; its figures are not the ones to report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import support

HERE = Path(__file__).resolve().parent
# (name, arguments for the full run, arguments for --quick)
BENCHES = [
    ("fare_engine", [], ["--taps", "50000", "--repeat", "2"]),
    ("card_io", ["--taps", "400"], ["--taps", "50"]),
    ("ingest", ["--batches", "40"], ["--batches", "5"]),
    ("api_history", [], ["--seconds", "3", "--clients", "10"]),
    ("roster_import", [], ["--rows", "10000"]),
    (
        "qr_tickets",
        [],
        [
            *("--codes", "200", "--taps", "50", "--frames", "20"),
            *("--issues", "200", "--riders", "50"),
        ],
    ),
    (
        "scale",
        [],
        [
            *("--days", "2", "--boardings", "20000", "--cards", "40000"),
            *("--seconds", "3", "--statements", "20", "--batches", "3", "--clients", "10"),
        ],
    ),
]


def commit() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],  # noqa: S607  git from PATH, as make has
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def table(figures: list[dict[str, object]]) -> str:
    lines = [
        "| Figure | Measured | Target | Baseline, same run | Measured by |",
        "|---|---|---|---|---|",
    ]
    for figure in figures:
        met = figure["met"]
        target = str(figure["target"] or "")
        if target:
            target += " ✓" if met else " ✗ not met"
        lines.append(
            f"| {figure['name']} | {figure['shown']} | {target} | {figure['baseline']} "
            f"| `{figure['bench']}` |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, to check they work")
    parser.add_argument("--only", nargs="+", choices=[name for name, _, _ in BENCHES])
    parser.add_argument("--output", default=str(HERE / "results.json"))
    args = parser.parse_args()
    figures: list[dict[str, object]] = []
    durations: dict[str, float] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, full, quick in BENCHES:
            if args.only and name not in args.only:
                continue
            out = Path(scratch) / f"{name}.json"
            command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            began = time.perf_counter()
            done = subprocess.run([*command, "--json", str(out)], check=False)
            durations[name] = round(time.perf_counter() - began, 1)
            if done.returncode != 0 or not out.exists():
                failed.append(name)
                print(f"=== {name} FAILED (exit {done.returncode})", flush=True)
                continue
            figures += json.loads(out.read_text())
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "quick": args.quick,
        "machine": support.machine(),
        "durations_s": durations,
        "failed": failed,
        "figures": figures,
    }
    Path(args.output).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(
        f"\n{support.describe()}; commit {results['commit']}" + (" (--quick)" if args.quick else "")
    )
    print(table(figures))
    print(f"\nwritten to {args.output}; took {sum(durations.values()) / 60:.1f} min")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    unmet = [f["name"] for f in figures if f["met"] is False]
    if unmet:
        print("targets not met: " + "; ".join(str(n) for n in unmet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
