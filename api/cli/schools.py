"""`flask schools ...`: schools, their administrators and their rosters."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import click
from flask import current_app
from flask.cli import AppGroup

from api.auth import derived_key, vault
from api.cli.errors import reports_errors
from api.deps import unit_of_work
from transit.names import Keys
from transit.services import schools

DEVELOPMENT_URL = "http://127.0.0.1:8000"  # where `make run` serves
group = AppGroup("schools", help="Schools, their administrators and rosters.")


def _keys() -> Keys:
    return Keys(derived_key("roster-keys"))


@group.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--year-end", default="05-31", show_default=True, help="MM-DD the school year ends.")
@reports_errors()
def schools_create(code: str, name: str, year_end: str) -> None:
    """Add a school (CODE: short, e.g. THPT-CVA)."""
    try:
        month, day = (int(part) for part in year_end.split("-"))
    except ValueError:
        raise click.BadParameter("MM-DD, e.g. 05-31", param_hint="--year-end") from None
    with unit_of_work() as uow:
        school = schools.create_school(code, name, (month, day), datetime.now(UTC), uow)
        uow.commit()
        click.echo(json.dumps({"school_id": school.school_id, "code": school.code}))


def _enrolment_link(made: schools.NewAdmin) -> str:
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    if not base:
        if current_app.config["ENV"] == "production":
            raise click.ClickException(
                "set TRANSIT_PUBLIC_URL (https://…) to print a link people can open"
            )
        base = DEVELOPMENT_URL
    return f"{base}/school/enrol?{urlencode({'token': made.enrol_token})}"


def _print_enrolment(made: schools.NewAdmin) -> None:
    """The link on stdout as JSON (for scripts), what to do with it on stderr (for people)."""
    link = _enrolment_link(made)
    expires = made.expires_at.isoformat(timespec="minutes")
    click.echo(
        json.dumps({"admin_id": made.admin.admin_id, "enrol_url": link, "expires_at": expires})
    )
    click.echo(
        f"Send this link to {made.admin.email} only; it works once, until {expires} (UTC). "
        "On it they choose a password and set up the authenticator app on their phone.",
        err=True,
    )


@group.command("add-admin")
@click.argument("code")
@click.argument("email")
@click.option("--name", required=True)
@reports_errors()
def schools_add_admin(code: str, email: str, name: str) -> None:
    """Add an administrator to one school; prints their one-time enrolment link."""
    with unit_of_work() as uow:
        made = schools.add_admin(
            code,
            email,
            name,
            actor=getpass.getuser(),
            vault=vault(),
            now=datetime.now(UTC),
            uow=uow,
        )
        _enrolment_link(made)  # before the commit: no administrator without a link
        uow.commit()
        _print_enrolment(made)


@group.command("reset-admin")
@click.argument("email")
@reports_errors()
def schools_reset_admin(email: str) -> None:
    """For a lost phone or a forgotten password: end EMAIL's sessions, stop their password and
    authenticator, and print a new one-time enrolment link."""
    with unit_of_work() as uow:
        made = schools.reset_admin(
            email, actor=getpass.getuser(), vault=vault(), now=datetime.now(UTC), uow=uow
        )
        _enrolment_link(made)  # before the commit: nobody locked out without a new link
        uow.commit()
        _print_enrolment(made)


@group.command("import-roster")
@click.argument("code")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", "school_year", required=True, help="The school year, e.g. 2026-2027.")
@reports_errors()
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
        uow.commit()
    click.echo(
        f"{report.rows:,} students for {report.school_year} (roster {report.roster_id}); "
        f"{report.replaced} earlier roster(s) replaced"
    )
