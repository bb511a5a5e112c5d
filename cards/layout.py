"""The transit application's layout on the card: the one place a record's bytes are defined.

One application holds everything an offline validator needs. Its files, keys and access rights
are described in docs/card-layout.md; in short:

    file 0x01 TICKET  backup data, 92 bytes: profile (16) | counters (12) | fare record (64)
    file 0x02 PASSES  backup data, 64 bytes: four 16-byte pass slots (read only when any is set)
    file 0x03 PURSE   value file, 0 to MAX_BALANCE VND
    file 0x04 LOG     cyclic record file, 20-byte records, the last 8 events

The fare engine's values (`fares.FareState`, `fares.Pass`) know nothing of bytes: this module
packs them. What a validator does with these files is in `cards.application`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from cards.connection import CardError
from cards.desfire import (
    DENY,
    KS_CONFIGURATION_CHANGEABLE,
    KS_FREE_DIRECTORY,
    KS_MASTER_KEY_CHANGEABLE,
    AccessRights,
    CommMode,
    DataFileSettings,
    RecordFileSettings,
    ValueFileSettings,
)
from fares.model import (
    MAX_AMOUNT,
    MAX_CAP_SLOTS,
    MAX_PASSES,
    MAX_RUN_TRANSFERS,
    CapSlot,
    FareState,
    PaidBy,
    Pass,
)

TRANSIT_AID = 0x4E4801
SYSTEM_ID = b"HN-BUS"
LAYOUT_VERSION = 1
MAX_BALANCE = 5_000_000  # VND; a lost card should not carry a month's wages

# Key numbers of the application.
ISSUER, READ, DEBIT, LOAD, PROFILE = range(5)
KEY_NAMES = ("issuer", "read", "debit", "load", "profile")
KEY_FILE_NAMES = ("picc", *KEY_NAMES)

TICKET, PASSES, PURSE, LOG = 0x01, 0x02, 0x03, 0x04

# -- the fare state: a 64-byte fare record (in TICKET) and four 16-byte pass slots (PASSES) --

# Version 2 holds the open journey (tap on, tap off) and keeps four cap slots in the same 64
# bytes: amounts take 3 bytes (fares.MAX_AMOUNT), the run's transfer count shares a byte with the
# journey's state, the entry stop key is 24 bits and the vehicle key 16 (fares.stop_key_of,
# vehicle_key_of). A tap reads versions 1 and 2 and always writes 2, so a card is upgraded by its
# next tap, in the same transaction as the charge: a tear leaves the whole old record or the
# whole new one.
FARE_RECORD_VERSION = 2
# version, category code, category valid-until, last boarding time, last route key,
# last leg group key, last leg fare (3 bytes), run start, run transfer rule key, run fare
# (3 bytes), run transfers (low 6 bits) | journey state (high 2 bits), journey entry time,
# entry stop key (3 bytes), entry vehicle key
_FARE_HEAD_FORMAT = "BBHIIIHBIIHBBIHBH"
_CAP_SLOT_FORMAT = "BHHB"  # cap code, period start day, amount charged in the period (3 bytes)
FARE_RECORD_FORMAT = "<" + _FARE_HEAD_FORMAT + _CAP_SLOT_FORMAT * MAX_CAP_SLOTS
FARE_RECORD_SIZE = struct.calcsize(FARE_RECORD_FORMAT)
# Version 1 (2024): no journey, 4-byte amounts, three bytes of padding.
_V1_HEAD_FORMAT = "BBHIIIIIIBI"
_FARE_RECORD_V1 = struct.Struct("<" + _V1_HEAD_FORMAT + "BHI" * MAX_CAP_SLOTS + "3x")
_HEAD_FIELDS = len(_FARE_HEAD_FORMAT)
_V1_HEAD_FIELDS = len(_V1_HEAD_FORMAT)
_TRANSFERS_MASK = 0x3F
_JOURNEY_SHIFT = 6
# pass code, category code, valid from day, valid until day, route key, reserved
PASS_RECORD_FORMAT = "<BBHHI6x"  # noqa: S105  a struct format, not a password
PASS_RECORD_SIZE = struct.calcsize(PASS_RECORD_FORMAT)
FARE_STATE_SIZE = FARE_RECORD_SIZE + MAX_PASSES * PASS_RECORD_SIZE
_EMPTY_PASS = bytes(PASS_RECORD_SIZE)
_FARE_RECORD = struct.Struct(FARE_RECORD_FORMAT)
_PASS_RECORD = struct.Struct(PASS_RECORD_FORMAT)
if not FARE_RECORD_SIZE == _FARE_RECORD_V1.size == 64:
    raise RuntimeError("the ticket file's size is fixed on cards already issued: 64 bytes")

# -- the other records --

_PROFILE = struct.Struct("<BBQHB3x")  # layout version, flags, card number, issued day, passes
# last applied pending-load sequence, transaction counter, the purse's value as last written
_COUNTERS = struct.Struct("<IIi")
_LOG_RECORD = struct.Struct("<IIIiHBB")
PROFILE_SIZE = _PROFILE.size
COUNTERS_SIZE = _COUNTERS.size
TICKET_SIZE = PROFILE_SIZE + COUNTERS_SIZE + FARE_RECORD_SIZE
PASSES_SIZE = MAX_PASSES * PASS_RECORD_SIZE
LOG_RECORD_SIZE = _LOG_RECORD.size
LOG_RECORDS = 8
BLOCKED = 0x01
# How the log records what paid; stable numbers, since cards keep them for years.
PAID_BY_CODES = {
    PaidBy.NOTHING: 0,
    PaidBy.STORED_VALUE: 1,
    PaidBy.PASS: 2,
    PaidBy.FREE_CATEGORY: 3,
    PaidBy.TRANSFER: 4,
    PaidBy.CAP: 5,
    PaidBy.FREE_FARE: 6,
    PaidBy.FREE_DAY: 7,
    PaidBy.AT_EXIT: 8,
    PaidBy.AT_ENTRY: 9,
}

# Rights as (read, write, read&write, change). The validator's tap runs under the debit key
# alone, so it must read everything it prices from and write what a tap changes. A pending load
# runs under the load key alone: the credit and the ticket's counters must commit together, and
# a transaction does not survive a change of key.
FILES: dict[int, DataFileSettings | ValueFileSettings | RecordFileSettings] = {
    TICKET: DataFileSettings(
        CommMode.MACED, AccessRights(READ, LOAD, DEBIT, ISSUER), TICKET_SIZE, backup=True
    ),
    PASSES: DataFileSettings(
        CommMode.MACED, AccessRights(READ, LOAD, DEBIT, ISSUER), PASSES_SIZE, backup=True
    ),
    # Debit with the debit key; Credit (read&write) only with the load key; no limited credit.
    PURSE: ValueFileSettings(
        CommMode.MACED, AccessRights(DEBIT, DENY, LOAD, ISSUER), lower=0, upper=MAX_BALANCE
    ),
    LOG: RecordFileSettings(
        CommMode.MACED,
        AccessRights(READ, LOAD, DEBIT, ISSUER),
        LOG_RECORD_SIZE,
        LOG_RECORDS + 1,  # a cyclic file holds one record fewer than it is created with
    ),
}
APP_KEY_SETTINGS = KS_MASTER_KEY_CHANGEABLE | KS_FREE_DIRECTORY | KS_CONFIGURATION_CHANGEABLE


class TransitCardError(CardError):
    """The card does not hold a valid transit application."""


class RecordError(ValueError):
    """Bytes that are not a fare state or pass record this code can read."""


@dataclass(frozen=True)
class Profile:
    """Who the card is: its printed number, when it was issued, whether it is blocked."""

    card_number: int
    issued_day: int
    flags: int = 0
    pass_count: int = 0

    @property
    def blocked(self) -> bool:
        return bool(self.flags & BLOCKED)

    def pack(self) -> bytes:
        return _PROFILE.pack(
            LAYOUT_VERSION, self.flags, self.card_number, self.issued_day, self.pass_count
        )

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        version, flags, number, issued, passes = _PROFILE.unpack(data)
        if version != LAYOUT_VERSION:
            raise TransitCardError(f"unknown card layout version {version}")
        return cls(number, issued, flags, passes)


@dataclass(frozen=True)
class Counters:
    """The last pending load applied (so none is applied twice), the card's tap counter, and a
    mirror of the purse.

    The mirror is rewritten in every transaction that changes the purse and committed with it,
    so the two cannot part; it spares each tap a GetValue. The value file stays the authority:
    the card itself refuses a debit below zero, whatever the mirror says.
    """

    last_load_seq: int = 0
    transactions: int = 0
    purse: int = 0

    def pack(self) -> bytes:
        return _COUNTERS.pack(self.last_load_seq, self.transactions, self.purse)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        return cls(*_COUNTERS.unpack(data))


BOARDING_KIND = 1  # an entry (boarding, or an entry gate)
LOAD_KIND = 2
PASS_KIND = 3
PROFILE_KIND = 4
ALIGHTING_KIND = 5  # an exit (tapping off, or an exit gate)
TAP_KINDS = (BOARDING_KIND, ALIGHTING_KIND)


@dataclass(frozen=True)
class LogRecord:
    """One event in the card's own trip log."""

    time: int  # card seconds
    route_key: int
    amount: int
    balance_after: int
    transaction: int
    paid_by: int
    kind: int = BOARDING_KIND  # or LOAD_KIND

    def pack(self) -> bytes:
        return _LOG_RECORD.pack(
            self.time,
            self.route_key,
            self.amount,
            self.balance_after,
            self.transaction & 0xFFFF,
            self.paid_by,
            self.kind,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        return cls(*_LOG_RECORD.unpack(data))


def pack_pass(entry: Pass) -> bytes:
    """The 16-byte pass record."""
    return _PASS_RECORD.pack(
        entry.pass_code, entry.category_code, entry.valid_from, entry.valid_until, entry.route_key
    )


def unpack_pass(data: bytes) -> Pass:
    """Read a 16-byte pass record."""
    if len(data) != PASS_RECORD_SIZE:
        raise RecordError(f"a pass record is {PASS_RECORD_SIZE} bytes, not {len(data)}")
    code, category, valid_from, valid_until, route_key = _PASS_RECORD.unpack(data)
    if code == 0:
        raise RecordError("an empty pass slot is not a pass")
    return Pass(code, category, valid_from, valid_until, route_key)


def pack_fare_state(state: FareState) -> bytes:
    """The fixed-size record: 64 bytes of fare state, then 4 pass slots of 16 bytes."""
    if len(state.caps) > MAX_CAP_SLOTS:
        raise RecordError(f"a card holds at most {MAX_CAP_SLOTS} cap slots")
    if len(state.passes) > MAX_PASSES:
        raise RecordError(f"a card holds at most {MAX_PASSES} passes")
    cap_fields: list[int] = []
    for slot in state.caps:
        amount = min(slot.amount, MAX_AMOUNT)
        cap_fields.extend((slot.cap_code, slot.period_start, amount & 0xFFFF, amount >> 16))
    cap_fields.extend([0] * (4 * (MAX_CAP_SLOTS - len(state.caps))))
    leg_fare = min(state.last_leg_fare, MAX_AMOUNT)
    run_fare = min(state.run_fare, MAX_AMOUNT)
    if state.entry_stop_key > 0xFF_FFFF or state.entry_vehicle_key > 0xFFFF:
        raise RecordError("a journey's stop key is 24 bits and its vehicle key 16 bits")
    try:
        head = _FARE_RECORD.pack(
            FARE_RECORD_VERSION,
            state.category_code,
            state.category_valid_until,
            state.last_boarding,
            state.last_route_key,
            state.last_leg_group_key,
            leg_fare & 0xFFFF,
            leg_fare >> 16,
            state.run_start,
            state.run_rule_key,
            run_fare & 0xFFFF,
            run_fare >> 16,
            min(state.run_transfers, MAX_RUN_TRANSFERS) | state.journey << _JOURNEY_SHIFT,
            state.entry_time,
            state.entry_stop_key & 0xFFFF,
            state.entry_stop_key >> 16,
            state.entry_vehicle_key,
            *cap_fields,
        )
    except struct.error as error:
        raise RecordError(f"fare state does not fit its record: {error}") from error
    passes = b"".join(pack_pass(entry) for entry in state.passes)
    return head + passes + _EMPTY_PASS * (MAX_PASSES - len(state.passes))


def unpack_fare_state(data: bytes) -> FareState:
    """Read the record written by `pack_fare_state`, or a version 1 record (read as having no
    open journey)."""
    if len(data) != FARE_STATE_SIZE:
        raise RecordError(f"a fare state record is {FARE_STATE_SIZE} bytes, not {len(data)}")
    version = data[0]
    if version == FARE_RECORD_VERSION:
        f = _FARE_RECORD.unpack(data[:FARE_RECORD_SIZE])
        slots = f[_HEAD_FIELDS:]
        caps = tuple(
            CapSlot(slots[i], slots[i + 1], slots[i + 2] | slots[i + 3] << 16)
            for i in range(0, 4 * MAX_CAP_SLOTS, 4)
            if slots[i] != 0
        )
        state = FareState(
            category_code=f[1],
            category_valid_until=f[2],
            last_boarding=f[3],
            last_route_key=f[4],
            last_leg_group_key=f[5],
            last_leg_fare=f[6] | f[7] << 16,
            run_start=f[8],
            run_rule_key=f[9],
            run_fare=f[10] | f[11] << 16,
            run_transfers=f[12] & _TRANSFERS_MASK,
            caps=caps,
            journey=f[12] >> _JOURNEY_SHIFT,
            entry_time=f[13],
            entry_stop_key=f[14] | f[15] << 16,
            entry_vehicle_key=f[16],
        )
    elif version == 1:
        f = _FARE_RECORD_V1.unpack(data[:FARE_RECORD_SIZE])
        slots = f[_V1_HEAD_FIELDS:]
        caps = tuple(
            CapSlot(slots[i], slots[i + 1], min(slots[i + 2], MAX_AMOUNT))
            for i in range(0, 3 * MAX_CAP_SLOTS, 3)
            if slots[i] != 0
        )
        state = FareState(
            category_code=f[1],
            category_valid_until=f[2],
            last_boarding=f[3],
            last_route_key=f[4],
            last_leg_group_key=f[5],
            last_leg_fare=min(f[6], MAX_AMOUNT),
            run_start=f[7],
            run_rule_key=f[8],
            run_transfers=min(f[9], MAX_RUN_TRANSFERS),
            run_fare=min(f[10], MAX_AMOUNT),
            caps=caps,
        )
    else:
        raise RecordError(f"unknown fare state record version {version}")
    passes = []
    for offset in range(FARE_RECORD_SIZE, FARE_STATE_SIZE, PASS_RECORD_SIZE):
        chunk = data[offset : offset + PASS_RECORD_SIZE]
        if chunk[0] != 0:
            passes.append(unpack_pass(chunk))
    return state._replace(passes=tuple(passes))
