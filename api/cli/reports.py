"""`flask reports od` and `flask reports tides`: ridership, for planners and for other tools.

Both read and never write the database; docs/reports.md says what each one counts.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from api.auth import derived_key
from api.cli.errors import reports_errors
from api.deps import unit_of_work
from transit.services import reports

group = AppGroup("reports", help="Ridership reports.")

_DAY = click.DateTime(formats=["%Y-%m-%d"])
UNKNOWN_STOP = "(unknown)"


def _period(since: datetime, until: datetime) -> tuple[date, date]:
    return since.date(), until.date()


@group.command("od")
@click.option("--from", "since", required=True, type=_DAY, help="First day (Hanoi), YYYY-MM-DD.")
@click.option("--to", "until", required=True, type=_DAY, help="Last day (Hanoi), included.")
@click.option("--route", "route_id", default=None, help="Only this route's journeys.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table.")
@reports_errors()
def reports_od(since: datetime, until: datetime, route_id: str | None, as_csv: bool) -> None:
    """Origin-destination matrix: journeys per stop pair and hour they began."""
    start, end = _period(since, until)
    with unit_of_work() as uow:
        rows = reports.od_matrix(uow, start, end, route_id)
        stops = {row.origin_stop_id for row in rows} | {row.destination_stop_id for row in rows}
        names = reports.stop_names(uow, stops - {""})
    if as_csv:
        _write_csv(rows, names)
        return
    table = [("Route", "From", "To", "Hour", "Journeys")] + [
        (
            row.route_id,
            _name(row.origin_stop_id, names),
            _name(row.destination_stop_id, names),
            f"{row.hour:02d}:00",
            str(row.journeys),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(5)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line[:4], widths, strict=False)]
        click.echo("  ".join([*cells, line[4].rjust(widths[4])]).rstrip())
    total = sum(row.journeys for row in rows)
    click.echo(f"{total} journey(s), {start.isoformat()} to {end.isoformat()}")


def _name(stop_id: str, names: dict[str, str]) -> str:
    if not stop_id:
        return UNKNOWN_STOP
    return names.get(stop_id, stop_id)


def _write_csv(rows: list[reports.OdRow], names: dict[str, str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        (
            "route_id",
            "origin_stop_id",
            "origin_name",
            "destination_stop_id",
            "destination_name",
            "hour",
            "journeys",
        )
    )
    for row in rows:
        writer.writerow(
            (
                row.route_id,
                row.origin_stop_id,
                names.get(row.origin_stop_id, ""),
                row.destination_stop_id,
                names.get(row.destination_stop_id, ""),
                row.hour,
                row.journeys,
            )
        )
    click.echo(buffer.getvalue(), nl=False)


@group.command("tides")
@click.option("--from", "since", required=True, type=_DAY, help="First service day, YYYY-MM-DD.")
@click.option("--to", "until", required=True, type=_DAY, help="Last service day, included.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the package (created; its four files are replaced).",
)
@reports_errors()
def reports_tides(since: datetime, until: datetime, out_dir: Path) -> None:
    """Write the period's accepted taps as a TIDES v1.0 data package."""
    start, end = _period(since, until)
    with unit_of_work() as uow:
        summary = reports.tides_package(
            uow, start, end, out_dir, token_key=derived_key("tides-token")
        )
    click.echo(
        f"{out_dir}: {summary.passenger_events} passenger events, "
        f"{summary.fare_transactions} fare transactions, {summary.devices} devices "
        f"({start.isoformat()} to {end.isoformat()})"
    )
