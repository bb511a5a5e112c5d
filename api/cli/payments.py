"""`flask payments reconcile`: our payments against the payment provider's."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from api.cli.errors import reports_errors
from api.deps import unit_of_work
from api.payments import provider
from transit.payments import ProviderUnavailable
from transit.services import payments

group = AppGroup("payments", help="Payments and their provider.")


@group.command("reconcile")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day (UTC) to compare.",
)
@reports_errors(
    reasons={ProviderUnavailable: lambda error: f"the payment provider did not answer: {error}"}
)
def payments_reconcile(since: datetime) -> None:
    """Compare our payments with the provider's; list every mismatch (exit 1 if any)."""
    start = since.replace(tzinfo=UTC)
    with unit_of_work() as uow:
        mismatches = payments.reconcile(provider(), start, uow)
    for found in mismatches:
        click.echo(f"{found.payment_id or '-'}\t{found.ref or '-'}\t{found.problem}")
    if mismatches:
        click.echo(f"{len(mismatches)} mismatch(es) since {start.date().isoformat()}", err=True)
        raise SystemExit(1)
    click.echo(f"no mismatches since {start.date().isoformat()}")
