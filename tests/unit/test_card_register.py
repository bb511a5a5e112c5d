"""Card numbers, check codes and the master key file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from transit.keystore import KeyFileError, create_key_file, load_master_keys
from transit.services.cards import (
    CHECK_CODE_ALPHABET,
    card_number,
    check_code_matches,
    hash_check_code,
    luhn_digit,
    luhn_valid,
    new_check_code,
)


@pytest.mark.parametrize(
    ("digits", "check"),
    [("7992739871", "3"), ("4539578763621486"[:-1], "6"), ("0", "0"), ("840100000000001", "6")],
)
def test_the_luhn_digit_is_the_standard_one(digits: str, check: str) -> None:
    assert luhn_digit(digits) == check


def test_a_card_number_is_prefix_serial_and_check_digit() -> None:
    number = card_number("8401", 42)
    assert number == "840100000000042" + luhn_digit("840100000000042")
    assert len(number) == 16
    assert luhn_valid(number)


def test_one_mistyped_digit_breaks_the_check() -> None:
    number = card_number("8401", 12345)
    for position in range(len(number)):
        wrong = str((int(number[position]) + 1) % 10)
        assert not luhn_valid(number[:position] + wrong + number[position + 1 :])


def test_check_codes_avoid_characters_people_confuse() -> None:
    code = new_check_code()
    assert len(code) == 8
    assert set(code) <= set(CHECK_CODE_ALPHABET)
    assert not set("01OIL") & set(CHECK_CODE_ALPHABET)


def test_a_check_code_is_stored_only_as_a_salted_hash() -> None:
    code = new_check_code()
    stored = hash_check_code(code)
    assert code not in stored
    assert stored != hash_check_code(code)  # salted
    assert check_code_matches(code, stored)
    assert check_code_matches(f" {code[:4].lower()}-{code[4:]} ", stored)  # as people type it
    assert not check_code_matches("23456789", stored)


def test_a_new_key_file_is_private_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    keys = load_master_keys(path)
    assert len({keys.picc, keys.issuer, keys.read, keys.debit, keys.load, keys.profile}) == 6
    assert "secret" in repr(keys)
    assert keys.debit.hex() not in repr(keys)


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key_file(path)
    before = path.read_text()
    with pytest.raises(FileExistsError):
        create_key_file(path)
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (None, 0o600, "no key file"),
        ('{"picc": "00"}', 0o600, "'picc' must be 32 hex digits"),
        ("not json", 0o600, "not a key file"),
        (
            json.dumps(
                dict.fromkeys(["picc", "issuer", "read", "debit", "load", "profile"], "11" * 16)
            ),
            0o644,
            "readable by others",
        ),
    ],
)
def test_a_bad_key_file_is_a_clear_error(
    tmp_path: Path, content: str | None, mode: int, message: str
) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
        os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=message):
        load_master_keys(path)
