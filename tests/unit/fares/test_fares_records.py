"""The fare state and pass records: fixed sizes, exact layout, round trips, refusals."""

from __future__ import annotations

import struct
from datetime import date

import pytest

from cards.layout import (
    FARE_RECORD_SIZE,
    FARE_STATE_SIZE,
    PASS_RECORD_SIZE,
    RecordError,
    pack_fare_state,
    pack_pass,
    unpack_fare_state,
    unpack_pass,
)
from fares import CapSlot, FareState, Pass
from fares.model import NO_DATE, Journey


def make_pass(code: int = 2, route_key: int = 0xDEADBEEF) -> Pass:
    return Pass(code, 2, 1766, 1795, route_key)


def make_state() -> FareState:
    return FareState(
        category_code=2,
        category_valid_until=2_007,
        last_boarding=152_000_000,
        last_route_key=0x01020304,
        last_leg_group_key=0x0A0B0C0D,
        last_leg_fare=10_000,
        run_start=151_999_000,
        run_rule_key=0xCAFEF00D,
        run_transfers=3,
        run_fare=12_000,
        caps=(CapSlot(1, 1_766, 30_000), CapSlot(2, 1_763, 90_000)),
        passes=(make_pass(), make_pass(1, 0)),
        journey=Journey.AT_EXIT,
        entry_time=152_000_600,
        entry_stop_key=0x0A1B2C,
        entry_vehicle_key=0xBEEF,
    )


def test_the_records_have_their_documented_sizes() -> None:
    assert (FARE_RECORD_SIZE, PASS_RECORD_SIZE, FARE_STATE_SIZE) == (64, 16, 128)
    assert len(pack_fare_state(make_state())) == len(pack_fare_state(FareState(1))) == 128


def test_a_fare_state_round_trips() -> None:
    state = make_state()
    assert unpack_fare_state(pack_fare_state(state)) == state


def test_the_fare_record_layout_is_little_endian_at_fixed_offsets() -> None:
    data = pack_fare_state(make_state())
    assert data[0:4] == bytes.fromhex("02 02 D7 07")  # version 2, category, valid-until 2007
    assert data[8:12] == bytes.fromhex("04 03 02 01")  # last route key
    assert data[16:19] == bytes.fromhex("10 27 00")  # last leg fare 10000 in 3 bytes
    assert data[27:30] == bytes.fromhex("E0 2E 00")  # run fare 12000
    assert data[30] == 0x83  # journey 2 (priced at exit) in the high bits, 3 transfers
    assert data[31:35] == (152_000_600).to_bytes(4, "little")  # entry time
    assert data[35:38] == bytes.fromhex("2C 1B 0A")  # entry stop key, 24 bits
    assert data[38:40] == bytes.fromhex("EF BE")  # vehicle key, 16 bits
    assert data[40:46] == bytes.fromhex("01 E6 06 30 75 00")  # cap 1, day 1766, 30000
    assert data[46:52] == bytes.fromhex("02 E3 06 90 5F 01")  # cap 2, day 1763, 90000
    assert data[52:64] == bytes(12)  # two empty cap slots
    assert data[64:80] == pack_pass(make_pass())
    assert data[96:128] == bytes(32)


def test_a_pass_record_round_trips() -> None:
    held = make_pass()
    assert pack_pass(held) == bytes.fromhex("02 02 E6 06 03 07 EF BE AD DE 00 00 00 00 00 00")
    assert unpack_pass(pack_pass(held)) == held


def test_a_new_state_without_an_end_date_stores_no_date() -> None:
    assert FareState.new(4).category_valid_until == NO_DATE
    assert FareState.new(2, date(2020, 1, 31)).category_valid_until == 30


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(127), "128 bytes, not 127"),
        (bytes([3]) + bytes(127), "unknown fare state record version 3"),
    ],
)
def test_a_record_that_is_not_a_fare_state_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        unpack_fare_state(data)


def test_too_many_passes_do_not_fit() -> None:
    with pytest.raises(RecordError, match="at most 4 passes"):
        pack_fare_state(FareState(1, passes=(make_pass(),) * 5))


def test_an_empty_pass_slot_is_not_a_pass() -> None:
    with pytest.raises(RecordError, match="empty pass slot"):
        unpack_pass(bytes(16))


def test_a_version_1_record_is_read_with_no_open_journey_and_written_as_version_2() -> None:
    """The 2024 record: 4-byte amounts and keys, four 7-byte cap slots, three spare bytes."""
    old = struct.pack(
        "<BBHIIIIIIBI" + "BHI" * 4 + "3x",
        1, 2, 2_007, 152_000_000, 0x01020304, 0x0A0B0C0D, 10_000, 151_999_000, 0xCAFEF00D, 3,
        12_000, 1, 1_766, 30_000, 2, 1_763, 90_000, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    passes = pack_pass(make_pass()) + pack_pass(make_pass(1, 0)) + bytes(32)
    state = unpack_fare_state(old + passes)
    assert state == make_state()._replace(
        journey=Journey.NONE, entry_time=0, entry_stop_key=0, entry_vehicle_key=0
    )
    assert pack_fare_state(state)[0] == 2
