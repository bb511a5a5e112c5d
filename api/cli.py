"""Operator commands: `flask --app wsgi db|network|cards|devices|payments|schools ...`."""

from __future__ import annotations

import base64
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import click
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from api.auth import derived_key
from api.demo import demo_cli
from api.deps import backend, unit_of_work
from fares import card_seconds, load_hanoi_tariff
from transit import gtfs, migrate, partitions
from transit.errors import DomainError
from transit.keystore import KeyFileError, create_key_file, load_master_keys
from transit.models import Card
from transit.names import Keys
from transit.services import cards, devices, eligibility, network, payments, schools, sync

db_cli = AppGroup("db", help="The database schema.")
network_cli = AppGroup("network", help="The bus network (GTFS).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(backend().engine, revision)
    click.echo(f"database at {migrate.current_revision(backend().engine)}")
    if revision == "head":
        _ensure_partitions()


@db_cli.command("partitions")
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


cards_cli = AppGroup("cards", help="Card keys and card issuing.")

# The names the issue form uses, beside the tariff's own category ids.
CATEGORY_ALIASES = {"disabled": "disability", "poor": "poor_household"}
VIETNAM = timezone(timedelta(hours=7))


@cards_cli.command("keygen")
def cards_keygen() -> None:
    """Create the master key file named by TRANSIT_CARD_KEYS_FILE (never overwrites one)."""
    path = Path(current_app.config["CARD_KEYS_FILE"])
    try:
        create_key_file(path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; keys are never overwritten") from None
    click.echo(f"wrote new master keys to {path} (mode 600); back it up in the key safe")


@cards_cli.command("issue")
@click.option("--reader", "reader_name", required=True, help="The reader's name, or part of it.")
@click.option("--category", default="adult", show_default=True, help="Rider category id.")
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the category.")
@click.option("--balance", type=int, default=0, show_default=True, help="Initial balance, VND.")
@click.option(
    "--wait", type=float, default=30, show_default=True, help="Seconds to wait for a card."
)
def cards_issue(
    reader_name: str, category: str, valid_until: datetime | None, balance: int, wait: float
) -> None:
    """Personalize the blank card in the reader and register it; prints JSON."""
    now = datetime.now(UTC)
    today = now.astimezone(VIETNAM).date()
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
    try:
        masters = load_master_keys(Path(current_app.config["CARD_KEYS_FILE"]))
    except KeyFileError as error:
        raise click.ClickException(str(error)) from None
    try:
        # The backend runs without pyscard; only an issuing station needs it.
        from readers.pcsc import Pcsc, TransportError
    except ImportError:
        raise click.ClickException(
            "issuing needs pyscard: pip install -r requirements-reader.txt"
        ) from None

    try:
        with Pcsc() as context:
            card = context.reader(reader_name).wait_for_card(timeout=wait)
            if card is None:
                raise click.ClickException(f"no card was put on the reader within {wait:g} s")
            with card:
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
    except DomainError as error:
        raise click.ClickException(error.detail or error.code) from None
    except TransportError as error:
        raise click.ClickException(f"reader: {error}") from None
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


devices_cli = AppGroup("devices", help="Validators on the buses.")


@devices_cli.command("register")
@click.option("--route", "route_id", required=True, help="The route the bus serves.")
def devices_register(route_id: str) -> None:
    """Create a validator; prints its id and private key once (only the public key is kept)."""
    with unit_of_work() as uow:
        registered = devices.register_device(route_id, datetime.now(UTC), uow)
        uow.commit()
    click.echo(json.dumps(registered.__dict__))


@devices_cli.command("disable")
@click.argument("device_id")
def devices_disable(device_id: str) -> None:
    """Refuse every further request from a validator (lost, stolen, retired)."""
    with unit_of_work() as uow:
        try:
            devices.disable_device(device_id, uow)
        except DomainError as error:
            raise click.ClickException(f"no device {device_id}") from error
        uow.commit()
    click.echo(f"{device_id} disabled")


@cards_cli.command("credit")
@click.argument("card_number")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why, for the audit log.")
def cards_credit(card_number: str, amount: int, reason: str) -> None:
    """Add money to a card; it reaches the card at its next tap on any validator."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        try:
            action = sync.create_credit(card_number, amount, reason, actor, datetime.now(UTC), uow)
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
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


@cards_cli.command("block")
@click.argument("card_number")
@click.option("--reason", required=True, type=click.Choice(sync.BLOCK_REASONS))
def cards_block(card_number: str, reason: str) -> None:
    """Block a card: every validator refuses it from its next sync, showing the reason."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        try:
            entry = sync.block_card(card_number, reason, actor, datetime.now(UTC), uow)
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
        uow.commit()
    click.echo(json.dumps({"card_uid": entry.card_uid, "reason": entry.reason}))


@cards_cli.command("verify-age")
@click.argument("card_number")
@click.option("--born", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--evidence", required=True, help="How the date of birth was verified.")
def cards_verify_age(card_number: str, born: datetime, evidence: str) -> None:
    """Free travel by age (under 6, 60 and over) from a verified date of birth; audited."""
    actor = getpass.getuser()
    with unit_of_work() as uow:
        card = uow.session.scalar(select(Card).where(Card.card_number == card_number))
        if card is None:
            raise click.ClickException(f"no card {card_number}")
        try:
            category, until = eligibility.grant_age_category(
                card,
                born.date(),
                evidence=evidence,
                actor=actor,
                now=datetime.now(UTC),
                uow=uow,
            )
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
        uow.commit()
    click.echo(json.dumps({"category": category, "valid_until": until and until.isoformat()}))


payments_cli = AppGroup("payments", help="Payments and their provider.")


@payments_cli.command("reconcile")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day (UTC) to compare.",
)
def payments_reconcile(since: datetime) -> None:
    """Compare our payments with the provider's; list every mismatch (exit 1 if any)."""
    from api.payments import provider
    from transit.payments import ProviderUnavailable

    start = since.replace(tzinfo=UTC)
    with unit_of_work() as uow:
        try:
            mismatches = payments.reconcile(provider(), start, uow)
        except ProviderUnavailable as error:
            raise click.ClickException(f"the payment provider did not answer: {error}") from None
    for found in mismatches:
        click.echo(f"{found.payment_id or '-'}\t{found.ref or '-'}\t{found.problem}")
    if mismatches:
        click.echo(f"{len(mismatches)} mismatch(es) since {start.date().isoformat()}", err=True)
        raise SystemExit(1)
    click.echo(f"no mismatches since {start.date().isoformat()}")


schools_cli = AppGroup("schools", help="Schools, their administrators and rosters.")


def _keys() -> Keys:
    return Keys(derived_key("roster-keys"))


def vault() -> Fernet:
    """Encrypts administrators' TOTP secrets, with a key derived from SECRET_KEY."""
    return Fernet(base64.urlsafe_b64encode(derived_key("admin-totp")))


@schools_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--year-end", default="05-31", show_default=True, help="MM-DD the school year ends.")
def schools_create(code: str, name: str, year_end: str) -> None:
    """Add a school (CODE: short, e.g. THPT-CVA)."""
    try:
        month, day = (int(part) for part in year_end.split("-"))
    except ValueError:
        raise click.BadParameter("MM-DD, e.g. 05-31", param_hint="--year-end") from None
    with unit_of_work() as uow:
        try:
            school = schools.create_school(code, name, (month, day), datetime.now(UTC), uow)
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
        uow.commit()
        click.echo(json.dumps({"school_id": school.school_id, "code": school.code}))


@schools_cli.command("add-admin")
@click.argument("code")
@click.argument("email")
@click.option("--name", required=True)
@click.password_option(help="At least 12 characters; asked for when left out.")
def schools_add_admin(code: str, email: str, name: str, password: str) -> None:
    """Add an administrator to one school; prints the TOTP set-up link once."""
    with unit_of_work() as uow:
        try:
            made = schools.add_admin(
                code, email, name, password, vault=vault(), now=datetime.now(UTC), uow=uow
            )
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
        uow.commit()
        click.echo(json.dumps({"admin_id": made.admin.admin_id, "totp_uri": made.totp_uri}))


@schools_cli.command("import-roster")
@click.argument("code")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", "school_year", required=True, help="The school year, e.g. 2026-2027.")
def schools_import_roster(code: str, path: Path, school_year: str) -> None:
    """Replace a school's roster for a year with a CSV file, or change nothing."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text") from None
    lines = max(text.count("\n") - 1, 1)
    actor = getpass.getuser()
    with (
        unit_of_work() as uow,
        click.progressbar(length=lines, label="checking", file=sys.stderr) as bar,
    ):
        try:
            report = schools.import_roster(
                code,
                school_year,
                text,
                keys=_keys(),
                actor=actor,
                now=datetime.now(UTC),
                uow=uow,
                progress=bar.update,
            )
        except schools.RosterInvalid as invalid:
            for problem in invalid.errors:
                click.echo(f"{path}:{problem.row}: {problem.column}: {problem.reason}", err=True)
            raise click.ClickException(
                f"{len(invalid.errors)} problem(s); nothing was imported"
            ) from None
        except DomainError as error:
            raise click.ClickException(error.detail or error.code) from None
        uow.commit()
    click.echo(
        f"{report.rows:,} students for {report.school_year} (roster {report.roster_id}); "
        f"{report.replaced} earlier roster(s) replaced"
    )


def register(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(network_cli)
    app.cli.add_command(cards_cli)
    app.cli.add_command(devices_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(schools_cli)
    app.cli.add_command(demo_cli)
