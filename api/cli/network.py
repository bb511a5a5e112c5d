"""`flask network import`: the bus network from a GTFS feed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from api.deps import unit_of_work
from transit import gtfs
from transit.services import network

group = AppGroup("network", help="The bus network (GTFS).")


@group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
def network_import(path: Path) -> None:
    """Import a GTFS feed (a .zip or a folder); importing it again changes nothing."""
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        feed = gtfs.read_feed(path, progress=progress)
    except gtfs.FeedError as error:
        if progress:
            progress.done()
        click.echo(f"{path}: {len(error.problems)} problem(s); nothing was imported.", err=True)
        for item in error.problems:
            click.echo(str(item), err=True)
        raise click.exceptions.Exit(1) from None
    if progress:
        progress.done()
    with unit_of_work() as uow:
        summary = network.import_feed(feed, uow, now=datetime.now(UTC))
        uow.commit()
    for name, counts in (
        ("agencies", summary.agencies),
        ("routes", summary.routes),
        ("stops", summary.stops),
    ):
        click.echo(
            f"{name}: {counts.created} new, {counts.updated} updated, "
            f"{counts.unchanged} unchanged, {counts.deactivated} withdrawn"
        )
    click.echo(f"route directions: {summary.patterns}")


class _Progress:
    """One status line on the terminal, rewritten as rows are read."""

    def __init__(self) -> None:
        self._width = 0

    def __call__(self, file_name: str, rows: int) -> None:
        line = f"reading {file_name}: {rows:,} rows"
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def done(self) -> None:
        sys.stderr.write("\r" + " " * self._width + "\r")
        sys.stderr.flush()
