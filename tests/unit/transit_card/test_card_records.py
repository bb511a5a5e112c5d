"""Each record of the transit application round-trips through its bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.layout import (
    COUNTERS_SIZE,
    LOG_RECORD_SIZE,
    PROFILE_SIZE,
    Counters,
    LogRecord,
    Profile,
    TransitCardError,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i32 = st.integers(-(2**31), 2**31 - 1)


@given(st.builds(Profile, st.integers(0, 2**64 - 1), u16, u8, u8))
def test_a_profile_round_trips(profile: Profile) -> None:
    data = profile.pack()
    assert len(data) == PROFILE_SIZE
    assert Profile.unpack(data) == profile


@given(st.builds(Counters, u32, u32, i32))
def test_counters_round_trip(counters: Counters) -> None:
    data = counters.pack()
    assert len(data) == COUNTERS_SIZE
    assert Counters.unpack(data) == counters


@given(st.builds(LogRecord, u32, u32, u32, i32, u16, u8, u8))
def test_a_log_record_round_trips(record: LogRecord) -> None:
    data = record.pack()
    assert len(data) == LOG_RECORD_SIZE
    assert LogRecord.unpack(data) == record


def test_a_profile_of_an_unknown_layout_version_is_refused() -> None:
    data = bytearray(Profile(card_number=1, issued_day=2).pack())
    data[0] = 99
    with pytest.raises(TransitCardError, match="layout version 99"):
        Profile.unpack(bytes(data))


def test_the_blocked_flag_reads_back() -> None:
    assert Profile.unpack(Profile(1, 2, flags=0x01).pack()).blocked
    assert not Profile.unpack(Profile(1, 2).pack()).blocked
