"""A transit card on the real path: pyscard -> pcscd -> vpcd -> the emulator in its own process."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cards.application import MasterKeys, charge, open_for_tap, personalize, read
from cards.client import DesfireClient
from cards.connection import CardRemoved
from cards.emulator.process import start_card_process
from cards.emulator.vpcd import DESFIRE_EV1_ATR
from fares import Tap, load_hanoi_tariff, price_tap
from readers.pcsc import Card, Reader

UID = bytes.fromhex("04A1B2C3D4E5F6")
MASTERS = MasterKeys(*(bytes([0x20 + n]) * 16 for n in range(6)))
HANOI = load_hanoi_tariff()
START = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


class Tapped:
    """The emulator holding the card in the field, and the reader's connection to it."""

    def __init__(self, reader: Reader, state: Path, *extra: str) -> None:
        self.process = start_card_process(
            "cards.emulator", ["--uid", UID.hex(), "--state", str(state), *extra]
        )
        card = reader.wait_for_card(timeout=10)
        if card is None:
            _, err = self.process.communicate(timeout=5)
            raise AssertionError(f"the card never reached the reader: {err.decode()}")
        self.card: Card = card
        self.reader = reader

    def leave(self, torn: bool = False) -> dict[str, object]:
        """Take the card away (a torn card has left by itself) and report what it saw."""
        self.card.close()
        if not torn:
            self.process.terminate()
        out, err = self.process.communicate(timeout=10)
        assert self.reader.wait_for_removal(timeout=5)
        lines = out.decode().splitlines()
        return json.loads(lines[-1]) if lines else {"stderr": err.decode()}


def issue(reader: Reader, state: Path, balance: int = 500_000) -> None:
    tapped = Tapped(reader, state)
    try:
        assert tapped.card.atr == DESFIRE_EV1_ATR
        uid = tapped.card.transmit(bytes.fromhex("FF CA 00 00 00"))[:-2]
        assert uid == UID
        personalize(
            DesfireClient(tapped.card),
            uid,
            MASTERS,
            card_number=9_704_000_000_002,
            category_code=1,
            valid_until=None,
            balance=balance,
            issued=date(2026, 11, 28),
        )
    finally:
        tapped.leave()


def one_tap(card: Card, when: datetime, route: str) -> int:
    client = DesfireClient(card)
    open_for_tap(client, UID, MASTERS)
    state = read(client, UID)
    tap = Tap(when, route, "HN0001")
    decision = price_tap(state.fare, tap, HANOI)
    assert decision.accepted, decision.explanation
    return charge(client, state, decision, tap).state.balance


def test_issue_read_charge_a_hundred_times_tear_and_read_again(
    reader: Reader, tmp_path: Path
) -> None:
    state_file = tmp_path / "card.json"
    issue(reader, state_file, balance=2_000_000)

    tapped = Tapped(reader, state_file)
    try:
        balance = 2_000_000
        for n in range(100):
            balance = one_tap(tapped.card, START + timedelta(minutes=10 * n), "32")
        assert balance == 2_000_000 - 100 * 10_000
        client = DesfireClient(tapped.card)
        open_for_tap(client, UID, MASTERS)
        card_state = read(client, UID, with_log=True)
        assert card_state.balance == balance
        assert card_state.counters.transactions == 100
        assert len(card_state.log) == 8
    finally:
        tapped.leave()

    # The card is pulled away during the next charge, after its 8th APDU.
    torn = Tapped(reader, state_file, "--tear-after", "8")
    with pytest.raises(CardRemoved):
        one_tap(torn.card, START + timedelta(days=1), "107")
    assert torn.leave(torn=True) == {"apdus": 8, "torn": True}

    again = Tapped(reader, state_file)
    try:
        client = DesfireClient(again.card)
        open_for_tap(client, UID, MASTERS)
        after = read(client, UID, with_log=True)
    finally:
        again.leave()
    # Torn before CommitTransaction: nothing of the half-done charge stayed on the card.
    assert after.balance == balance
    assert after.counters.transactions == 100
    assert after.log == card_state.log


def test_the_emulator_refuses_a_state_file_of_another_card(tmp_path: Path) -> None:
    state_file = tmp_path / "card.json"
    state_file.write_text(
        json.dumps({"uid": "04000000000001", "picc": {}, "applications": {}}), encoding="utf-8"
    )
    result = subprocess.run(
        ["python", "-m", "cards.emulator", "--uid", UID.hex(), "--state", str(state_file)],
        capture_output=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert b"error:" in result.stderr
