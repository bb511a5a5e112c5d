"""The path a validator's APDU takes: pyscard -> pcscd -> vpcd -> a virtual card's process."""

from __future__ import annotations

import subprocess

import pytest

from cards.connection import CardRemoved
from cards.emulator.process import start_card_process
from cards.emulator.vpcd import DESFIRE_EV1_ATR
from readers.pcsc import Pcsc, Reader, ReaderNotFound
from tests.support.fake_chip import UID


def tap(*args: str) -> subprocess.Popen[bytes]:
    return start_card_process("tests.support.fake_chip", args)


def finish(card: subprocess.Popen[bytes]) -> str:
    card.terminate()
    out, _ = card.communicate(timeout=10)
    return out.decode()


def test_a_card_in_the_field_shows_the_desfire_atr_and_its_uid(reader: Reader) -> None:
    card = tap()
    try:
        connection = reader.wait_for_card(timeout=10)
        assert connection is not None
        with connection:
            assert connection.atr == DESFIRE_EV1_ATR
            assert connection.transmit(bytes.fromhex("FF CA 00 00 00")) == UID + b"\x90\x00"
    finally:
        finish(card)


def test_apdus_pass_through_unchanged_both_ways(reader: Reader) -> None:
    card = tap()
    try:
        connection = reader.wait_for_card(timeout=10)
        assert connection is not None
        with connection:
            for n in range(1, 50):
                data = bytes(range(n))
                apdu = bytes([0x90, 0xBD, 0, 0, n]) + data + b"\x00"
                assert connection.transmit(apdu) == data[::-1] + b"\x90\x00"
    finally:
        finish(card)


def test_a_card_pulled_away_mid_command_is_card_removed(reader: Reader) -> None:
    card = tap("--tear-after", "3")
    connection = reader.wait_for_card(timeout=10)
    assert connection is not None
    with connection:
        connection.transmit(bytes.fromhex("90 60 00 00 00"))
        connection.transmit(bytes.fromhex("90 AF 00 00 00"))
        with pytest.raises(CardRemoved):
            connection.transmit(bytes.fromhex("90 AF 00 00 00"))
    out, _ = card.communicate(timeout=10)
    assert out.decode().strip() == "apdus=3 torn=True"
    assert reader.wait_for_removal(timeout=5)


def test_waiting_with_no_card_gives_up_after_the_timeout(reader: Reader) -> None:
    assert reader.wait_for_card(timeout=0.5) is None


def test_an_unknown_reader_name_is_a_clear_error(pcscd: str) -> None:
    with Pcsc() as context, pytest.raises(ReaderNotFound, match="0 readers match"):
        context.reader("ACS ACR1252")
