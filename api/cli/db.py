"""`flask db ...`: the database schema and the taps table's monthly partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from api.deps import backend
from transit import migrate, partitions

group = AppGroup("db", help="The database schema.")


@group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(backend().engine, revision)
    click.echo(f"database at {migrate.current_revision(backend().engine)}")
    if revision == "head":
        _ensure_partitions()


@group.command("partitions")
def db_partitions() -> None:
    """Create the coming months' partitions of the taps table (PostgreSQL); run it daily."""
    if not _ensure_partitions():
        click.echo("no partitions to create")


def _ensure_partitions() -> bool:
    with backend().engine.begin() as connection:
        created = partitions.ensure(connection, datetime.now(UTC))
    for month in created:
        click.echo(f"taps partition for {month} created")
    return bool(created)


@group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    migrate.downgrade(backend().engine, revision)
    click.echo(f"database at {migrate.current_revision(backend().engine)}")


@group.command("current")
def db_current() -> None:
    """Print the database's revision and the code's."""
    current = migrate.current_revision(backend().engine)
    head = backend().head_revision
    click.echo(f"database: {current or 'empty'}; code: {head}")
    if current != head:
        raise click.exceptions.Exit(1)


@group.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.make_revision(backend().engine, message)
