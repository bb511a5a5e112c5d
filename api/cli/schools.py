"""`flask schools ...`: schools, their administrators and their rosters."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from api.auth import derived_key, vault
from api.cli.errors import reports_errors
from api.deps import unit_of_work
from transit.names import Keys
from transit.services import schools

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


@group.command("add-admin")
@click.argument("code")
@click.argument("email")
@click.option("--name", required=True)
@click.password_option(help="At least 12 characters; asked for when left out.")
@reports_errors()
def schools_add_admin(code: str, email: str, name: str, password: str) -> None:
    """Add an administrator to one school; prints the TOTP set-up link once."""
    with unit_of_work() as uow:
        made = schools.add_admin(
            code, email, name, password, vault=vault(), now=datetime.now(UTC), uow=uow
        )
        uow.commit()
        click.echo(json.dumps({"admin_id": made.admin.admin_id, "totp_uri": made.totp_uri}))


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
