"""Operator commands, `flask --app wsgi AREA ...`: one module and one command group per area.

The areas are db, network, cards, devices, payments, schools, reports and demo; `errors` turns
what a command expects to fail into the operator's message and exit status.
"""

from __future__ import annotations

from flask import Flask

from api.cli import cards, db, demo, devices, network, payments, reports, schools


def register(app: Flask) -> None:
    """Add every command group to the app's `flask` command."""
    for area in (db, network, cards, devices, payments, schools, reports, demo):
        app.cli.add_command(area.group)
