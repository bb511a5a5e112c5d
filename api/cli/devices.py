"""`flask devices ...`: the validators on the buses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from api.cli.errors import reports_errors
from api.deps import unit_of_work
from transit.services import devices

group = AppGroup("devices", help="Validators on the buses.")


@group.command("register")
@click.option("--route", "route_id", required=True, help="The route the bus serves.")
def devices_register(route_id: str) -> None:
    """Create a validator; prints its id and private key once (only the public key is kept)."""
    with unit_of_work() as uow:
        registered = devices.register_device(route_id, datetime.now(UTC), uow)
        uow.commit()
    click.echo(json.dumps(registered.__dict__))


@group.command("disable")
@click.argument("device_id")
@reports_errors(
    reasons={devices.DeviceNotFound: lambda error: f"no device {error.params['device_id']}"}
)
def devices_disable(device_id: str) -> None:
    """Refuse every further request from a validator (lost, stolen, retired)."""
    with unit_of_work() as uow:
        devices.disable_device(device_id, uow)
        uow.commit()
    click.echo(f"{device_id} disabled")
