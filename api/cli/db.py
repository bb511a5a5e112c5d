"""`flask db ...`: the database schema, the taps table's monthly partitions, and pruning what
is kept no longer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from flask.cli import AppGroup

from api.deps import backend, unit_of_work
from transit import migrate, partitions
from transit.services import credentials

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


@group.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    default=credentials.KEEP_EXPIRED.days,
    show_default=True,
    help="days an expired QR credential is kept (late taps are proved against it)",
)
def db_prune(keep_days: int) -> None:
    """Delete what is kept no longer: QR credentials long expired. Run it daily."""
    with unit_of_work() as uow:
        gone = credentials.prune(datetime.now(UTC), uow, timedelta(days=keep_days))
        uow.commit()
    click.echo(f"{gone} expired QR credentials deleted")


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
