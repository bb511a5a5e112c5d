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
from fares.model import MAX_AMOUNT, MAX_CAP_SLOTS, MAX_PASSES, CapSlot, FareState, PaidBy, Pass

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

FARE_RECORD_VERSION = 1
# version, category code, category valid-until, last boarding time, last route key,
# last leg group key, last leg fare, run start, run transfer rule key, run transfers, run fare
_FARE_HEAD_FORMAT = "BBHIIIIIIBI"
_CAP_SLOT_FORMAT = "BHI"  # cap code, period start day, amount charged in the period
FARE_RECORD_FORMAT = "<" + _FARE_HEAD_FORMAT + _CAP_SLOT_FORMAT * MAX_CAP_SLOTS + "3x"
FARE_RECORD_SIZE = struct.calcsize(FARE_RECORD_FORMAT)
# pass code, category code, valid from day, valid until day, route key, reserved
PASS_RECORD_FORMAT = "<BBHHI6x"  # noqa: S105  a struct format, not a password
PASS_RECORD_SIZE = struct.calcsize(PASS_RECORD_FORMAT)
FARE_STATE_SIZE = FARE_RECORD_SIZE + MAX_PASSES * PASS_RECORD_SIZE
_EMPTY_PASS = bytes(PASS_RECORD_SIZE)
_FARE_RECORD = struct.Struct(FARE_RECORD_FORMAT)
_PASS_RECORD = struct.Struct(PASS_RECORD_FORMAT)

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


BOARDING_KIND = 1
LOAD_KIND = 2
PASS_KIND = 3
PROFILE_KIND = 4


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
        cap_fields.extend(slot)
    cap_fields.extend([0] * (3 * (MAX_CAP_SLOTS - len(state.caps))))
    try:
        head = _FARE_RECORD.pack(
            FARE_RECORD_VERSION,
            state.category_code,
            state.category_valid_until,
            state.last_boarding,
            state.last_route_key,
            state.last_leg_group_key,
            min(state.last_leg_fare, MAX_AMOUNT),
            state.run_start,
            state.run_rule_key,
            min(state.run_transfers, 0xFF),
            min(state.run_fare, MAX_AMOUNT),
            *cap_fields,
        )
    except struct.error as error:
        raise RecordError(f"fare state does not fit its record: {error}") from error
    passes = b"".join(pack_pass(entry) for entry in state.passes)
    return head + passes + _EMPTY_PASS * (MAX_PASSES - len(state.passes))


def unpack_fare_state(data: bytes) -> FareState:
    """Read the record written by `pack_fare_state`."""
    if len(data) != FARE_STATE_SIZE:
        raise RecordError(f"a fare state record is {FARE_STATE_SIZE} bytes, not {len(data)}")
    fields = _FARE_RECORD.unpack(data[:FARE_RECORD_SIZE])
    if fields[0] != FARE_RECORD_VERSION:
        raise RecordError(f"unknown fare state record version {fields[0]}")
    slots = fields[11:]
    caps = tuple(
        CapSlot(slots[i], slots[i + 1], slots[i + 2])
        for i in range(0, 3 * MAX_CAP_SLOTS, 3)
        if slots[i] != 0
    )
    passes = []
    for offset in range(FARE_RECORD_SIZE, FARE_STATE_SIZE, PASS_RECORD_SIZE):
        chunk = data[offset : offset + PASS_RECORD_SIZE]
        if chunk[0] != 0:
            passes.append(unpack_pass(chunk))
    return FareState(
        fields[1],
        fields[2],
        fields[3],
        fields[4],
        fields[5],
        fields[6],
        fields[7],
        fields[8],
        fields[9],
        fields[10],
        caps,
        tuple(passes),
    )
