"""`flask --app wsgi demo seed`: a rider, cards and a week of journeys for `make run`.

The week's taps reach the server as a validator's would: each demo validator signs its journal
in batches and posts it to the validator API, in process, so the server ingests them exactly as
it ingests a bus's (shadow balances, card counters, alerts). Refused in production.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from flask.cli import AppGroup

from api.auth import derived_key
from api.cli.errors import reports_errors
from api.deps import unit_of_work
from transit.services import demo, tariffs
from transit.services.devices import RegisteredDevice
from wire import Tap, signing

group = AppGroup("demo", help="Demo data for a development server.")

TAPS_PATH = "/api/v1/validator/taps"
BATCH_SIZE = 500  # what the validator's sync client sends at most at once
USER_AGENT = "transit-validator/demo-seed"


@group.command("seed")
@reports_errors(prefix="demo seed: ")
def demo_seed() -> None:
    """A demo rider with a card, a card to link, and a week of journeys; once only."""
    if current_app.config["ENV"] == "production":
        click.echo("demo seed: refused in production", err=True)
        raise click.exceptions.Exit(1)
    now = datetime.now(UTC)
    with unit_of_work() as uow:
        if demo.demo_rider(uow) is not None:
            click.echo(
                f"demo seed: the demo rider {demo.DEMO_PHONE} exists already, nothing changed "
                f"(password {demo.DEMO_PASSWORD})"
            )
            return
        week = demo.prepare_week(
            now, uow, tariff=tariffs.tariff(), prefix=current_app.config["CARD_NUMBER_PREFIX"]
        )
        uow.commit()
    uploaded = sum(_upload(device, week.journals[device.device_id]) for device in week.validators)
    # Last, so that a seed that failed on the way leaves no demo rider and is run again in full.
    with unit_of_work() as uow:
        demo.register_rider(week.weeks[0].card, now, uow, code_key=derived_key("one-time-codes"))
        uow.commit()
    _report(week, uploaded)


def _upload(device: RegisteredDevice, journal: list[Tap]) -> int:
    """Post a validator's journal in signed batches; every tap must be accepted."""
    seed = bytes.fromhex(device.private_key)
    client = current_app.test_client()
    for start in range(0, len(journal), BATCH_SIZE):
        batch = journal[start : start + BATCH_SIZE]
        body = json.dumps({"taps": [tap.to_json() for tap in batch]}, ensure_ascii=False).encode()
        headers = _signed(seed, device.device_id, "POST", TAPS_PATH, body)
        # What the journal still holds unacknowledged, this batch included.
        headers["X-Backlog"] = str(len(journal) - start)
        headers["User-Agent"] = USER_AGENT
        answer = client.post(TAPS_PATH, data=body, headers=headers, content_type="application/json")
        results = (answer.get_json(silent=True) or {}).get("results", [])
        refused = [r for r in results if r.get("status") != "accepted"]
        if answer.status_code != 200 or refused or len(results) != len(batch):
            raise click.ClickException(
                f"demo seed: the validator API refused the demo taps of route {device.route_id}: "
                f"{answer.status_code} {refused or answer.get_data(as_text=True)}"
            )
    return len(journal)


def _signed(seed: bytes, device_id: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """The four headers of docs/validator-protocol.md, as the validator's sync client signs."""
    timestamp = int(time.time())
    nonce = signing.new_nonce()
    message = signing.canonical_request(method, path, timestamp, nonce, body)
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    return signing.signed_headers(device_id, timestamp, nonce, signature)


def _report(week: demo.DemoWeek, uploaded: int) -> None:
    linked, other = week.weeks
    routes = ", ".join(device.route_id for device in week.validators)
    click.echo(
        f"""demo seed: a demo rider, two cards and a week of journeys.

Sign in as the demo rider (POST /api/v1/auth/login):
  phone     {demo.DEMO_PHONE}
  password  {demo.DEMO_PASSWORD}

Card linked to the demo rider:
  card number  {linked.card.card_number}   (card_id {linked.card.card_id})
  balance      {linked.card.initial_balance:,} đ issued, {linked.balance:,} đ after \
{linked.journeys} journeys ({linked.fares:,} đ of fares)

Card not linked, for you to link (POST /api/v1/cards with its number and check code):
  card number  {other.card.card_number}
  check code   {other.card.check_code}
  balance      {other.card.initial_balance:,} đ issued, {other.balance:,} đ after \
{other.journeys} journeys ({other.fares:,} đ of fares)

Journeys: the {demo.DAYS} days before now, priced by tariff {", ".join(week.tariff_versions)}; \
{uploaded} taps signed and uploaded to {TAPS_PATH} by {len(week.validators)} demo validators \
(one per route: {routes}), all accepted.
No card was personalized: there is no card reader here, so the cards exist only in the card \
register (`make demo-bus` personalizes virtual ones)."""
    )
