"""Operator commands: `flask --app wsgi db ...` and `flask --app wsgi network import PATH`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from api.deps import backend, unit_of_work
from transit import gtfs, migrate
from transit.services import network

db_cli = AppGroup("db", help="The database schema.")
network_cli = AppGroup("network", help="The bus network (GTFS).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(backend().engine, revision)
    click.echo(f"database at {migrate.current_revision(backend().engine)}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    migrate.downgrade(backend().engine, revision)
    click.echo(f"database at {migrate.current_revision(backend().engine)}")


@db_cli.command("current")
def db_current() -> None:
    """Print the database's revision and the code's."""
    current = migrate.current_revision(backend().engine)
    head = backend().head_revision
    click.echo(f"database: {current or 'empty'}; code: {head}")
    if current != head:
        raise click.exceptions.Exit(1)


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.make_revision(backend().engine, message)


@network_cli.command("import")
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


def register(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(network_cli)
