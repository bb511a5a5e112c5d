"""`flask cards ...`: card keys, issuing, and customer service's credits, blocks and ages.

Issuing writes a blank card in a reader, but api/ never imports readers/: the backend runs
without pyscard, and a server has no reader. So the reader is a seam, `CardReader`, plugged into
the app from outside api/ (`issuing.install`, called by wsgi.py); this module only sees a
`CardConnection`.
"""

from __future__ import annotations

import getpass
import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from api.cli.errors import reports_errors
from api.deps import unit_of_work
from cards.connection import CardConnection, TransportError
from fares import card_seconds, load_hanoi_tariff
from transit.keystore import KeyFileError, create_key_file, load_master_keys
from transit.localtime import local_date
from transit.models import Card
from transit.services import cards, denylist, eligibility, loads

group = AppGroup("cards", help="Card keys and card issuing.")

# The names the issue form uses, beside the tariff's own category ids.
CATEGORY_ALIASES = {"disabled": "disability", "poor": "poor_household"}
READER = "card_reader"


class CardReader(Protocol):
    """An issuing station's reader: the card put on the reader named `name` (or part of it)
    within `wait` seconds, connected for the `with` block; None if no card came."""

    def __call__(self, name: str, wait: float) -> AbstractContextManager[CardConnection | None]: ...


def plug_in_reader(app: Flask, reader: CardReader) -> None:
    """Give `flask cards issue` the reader it writes cards in."""
    app.extensions[READER] = reader


@group.command("keygen")
def cards_keygen() -> None:
    """Create the master key file named by TRANSIT_CARD_KEYS_FILE (never overwrites one)."""
    path = Path(current_app.config["CARD_KEYS_FILE"])
    try:
        create_key_file(path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; keys are never overwritten") from None
    click.echo(f"wrote new master keys to {path} (mode 600); back it up in the key safe")


@group.command("issue")
@click.option("--reader", "reader_name", required=True, help="The reader's name, or part of it.")
@click.option("--category", default="adult", show_default=True, help="Rider category id.")
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the category.")
@click.option("--balance", type=int, default=0, show_default=True, help="Initial balance, VND.")
@click.option(
    "--wait", type=float, default=30, show_default=True, help="Seconds to wait for a card."
)
@reports_errors(reasons={KeyFileError: str, TransportError: lambda error: f"reader: {error}"})
def cards_issue(
    reader_name: str, category: str, valid_until: datetime | None, balance: int, wait: float
) -> None:
    """Personalize the blank card in the reader and register it; prints JSON."""
    now = datetime.now(UTC)
    today = local_date(now)
    until = valid_until.date() if valid_until else None
    category_id = CATEGORY_ALIASES.get(category, category)
    version = load_hanoi_tariff().version_at(card_seconds(now))
    rider = version.categories.get(category_id) if version else None
    if rider is None:
        known = ", ".join(sorted(version.categories)) if version else "none"
        raise click.BadParameter(
            f"unknown category {category!r}; known: {known}", param_hint="--category"
        )
    if until is not None and until < today:
        raise click.BadParameter(f"{until} is in the past", param_hint="--valid-until")
    if not 0 <= balance <= cards.MAX_BALANCE:
        raise click.BadParameter(f"must be 0 to {cards.MAX_BALANCE:,} VND", param_hint="--balance")
    masters = load_master_keys(Path(current_app.config["CARD_KEYS_FILE"]))
    reader: CardReader | None = current_app.extensions.get(READER)
    if reader is None:
        raise click.ClickException(
            "no card reader is plugged into this app; issue cards with `flask --app wsgi`"
        )
    with reader(reader_name, wait) as card:
        if card is None:
            raise click.ClickException(f"no card was put on the reader within {wait:g} s")
        issued = cards.issue_card(
            card,
            masters,
            unit_of_work,
            category_id=category_id,
            category_code=rider.code,
            valid_until=until,
            balance=balance,
            prefix=current_app.config["CARD_NUMBER_PREFIX"],
            now=now,
            today=today,
        )
    click.echo(
        json.dumps(
            {
                "card_id": issued.card_id,
                "card_number": issued.card_number,
                "check_code": issued.check_code,
                "uid": issued.uid,
                "category": category_id,
                "valid_until": until.isoformat() if until else None,
                "balance": balance,
            }
        )
    )


@group.command("credit")
@click.argument("card_number")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why, for the audit log.")
@reports_errors()
def cards_credit(card_number: str, amount: int, reason: str) -> None:
    """Add money to a card; it reaches the card at its next tap on any validator."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        action = loads.create_credit(card_number, amount, reason, actor, datetime.now(UTC), uow)
        uow.commit()
    click.echo(
        json.dumps(
            {
                "card_uid": action.card_uid,
                "seq": action.seq,
                "amount": action.amount,
                "reason": action.reason,
                "created_by": action.created_by,
            }
        )
    )


@group.command("block")
@click.argument("card_number")
@click.option(
    "--reason", required=True, type=click.Choice([r.value for r in denylist.BLOCK_REASONS])
)
@reports_errors()
def cards_block(card_number: str, reason: str) -> None:
    """Block a card: every validator refuses it from its next sync, showing the reason."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        entry = denylist.block_card(card_number, reason, actor, datetime.now(UTC), uow)
        uow.commit()
    click.echo(json.dumps({"card_uid": entry.card_uid, "reason": entry.reason}))


@group.command("verify-age")
@click.argument("card_number")
@click.option("--born", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--evidence", required=True, help="How the date of birth was verified.")
@reports_errors()
def cards_verify_age(card_number: str, born: datetime, evidence: str) -> None:
    """Free travel by age (under 6, 60 and over) from a verified date of birth; audited."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        card = uow.session.scalar(select(Card).where(Card.card_number == card_number))
        if card is None:
            raise click.ClickException(f"no card {card_number}")
        category, until = eligibility.grant_age_category(
            card,
            born.date(),
            evidence=evidence,
            actor=actor,
            now=datetime.now(UTC),
            uow=uow,
        )
        uow.commit()
    click.echo(json.dumps({"category": category, "valid_until": until and until.isoformat()}))
