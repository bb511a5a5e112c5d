"""`flask cards issue`: personalize the blank card in a real reader and register it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

import issuing
from api.deps import unit_of_work
from cards.application import open_for_tap, read
from cards.client import DesfireClient
from cards.emulator.process import start_card_process
from readers.pcsc import Pcsc, Reader
from transit.keystore import load_master_keys
from transit.models import Card
from transit.services.cards import check_code_matches, luhn_valid

UID = bytes.fromhex("04C0FFEE000001")


@pytest.fixture
def station(app: Flask, pcscd: str, tmp_path: Path) -> Iterator[tuple[Flask, Reader, Path]]:
    """An issuing station: its PC/SC reader plugged in as wsgi.py does, keys made, a blank card
    lying on the reader."""
    issuing.install(app)
    app.config["CARD_KEYS_FILE"] = str(tmp_path / "keys.json")
    assert app.test_cli_runner().invoke(args=["cards", "keygen"]).exit_code == 0
    state = tmp_path / "card.json"
    with Pcsc() as context:
        reader = context.reader(pcscd)
        assert reader.wait_for_removal(timeout=5)
        card = start_card_process("cards.emulator", ["--uid", UID.hex(), "--state", str(state)])
        try:
            lying = reader.wait_for_card(timeout=10)
            assert lying is not None, "the blank card never reached the reader"
            lying.close()
            yield app, reader, state
        finally:
            card.terminate()
            card.communicate(timeout=10)
            assert reader.wait_for_removal(timeout=5)


def issue(app: Flask, *options: str) -> Result:
    return app.test_cli_runner().invoke(
        args=["cards", "issue", "--reader", "Virtual PCD 00 00", "--wait", "10", *options]
    )


def registered(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context(), unit_of_work() as uow:
        return [(c.uid, c.card_number, c.status) for c in uow.session.scalars(select(Card))]


def test_a_blank_card_is_issued_registered_and_readable(
    station: tuple[Flask, Reader, Path],
) -> None:
    app, reader, _ = station
    result = issue(
        app, "--category", "student", "--valid-until", "2099-05-31", "--balance", "50000"
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["uid"] == UID.hex().upper()
    assert luhn_valid(printed["card_number"])
    assert printed["category"] == "student"
    assert registered(app) == [(UID.hex().upper(), printed["card_number"], "active")]
    with app.app_context(), unit_of_work() as uow:
        card = uow.session.scalars(select(Card)).one()
        assert check_code_matches(printed["check_code"], card.check_code_hash)
        assert printed["check_code"] not in card.check_code_hash

    masters = load_master_keys(Path(app.config["CARD_KEYS_FILE"]))
    connection = reader.wait_for_card(timeout=5)
    assert connection is not None
    with connection:
        client = DesfireClient(connection)
        open_for_tap(client, UID, masters)
        state = read(client, UID)
    assert state.balance == 50_000
    assert state.profile.card_number == int(printed["card_number"])
    assert state.fare.category_code == 2  # student in the Hanoi tariff
    assert state.fare.category_valid_until != 0


def test_a_card_already_issued_is_refused_and_nothing_changes(
    station: tuple[Flask, Reader, Path],
) -> None:
    app, _, state = station
    assert issue(app).exit_code == 0
    before = (registered(app), state.read_text())
    again = issue(app)
    assert again.exit_code == 1
    assert "already issued" in again.output
    assert (registered(app), state.read_text()) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--category", "pilot"), "unknown category 'pilot'"),
        (("--valid-until", "2001-01-01"), "is in the past"),
        (("--balance", "-1"), "must be 0 to"),
        (("--balance", "9000000"), "must be 0 to"),
    ],
)
def test_bad_options_are_refused_before_the_card_is_touched(
    station: tuple[Flask, Reader, Path], options: tuple[str, ...], message: str
) -> None:
    app, _, state = station
    before = state.read_text()
    result = issue(app, *options)
    assert result.exit_code == 2
    assert message in result.output
    assert registered(app) == []
    assert state.read_text() == before


def test_without_a_key_file_nothing_is_issued(app: Flask, tmp_path: Path) -> None:
    app.config["CARD_KEYS_FILE"] = str(tmp_path / "missing.json")
    result = issue(app)
    assert result.exit_code == 1
    assert "no key file" in result.output
    assert registered(app) == []
