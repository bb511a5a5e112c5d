"""The transit application on the card: its layout, its records, and what validators do with it.

One application holds everything an offline validator needs. Its files, keys and access rights
are described in docs/card-layout.md; in short:

    file 0x01 TICKET  backup data, 92 bytes: profile (16) | counters (12) | fare record (64)
    file 0x02 PASSES  backup data, 64 bytes: four 16-byte pass slots (read only when any is set)
    file 0x03 PURSE   value file, 0 to MAX_BALANCE VND
    file 0x04 LOG     cyclic record file, 20-byte records, the last 8 events

Backup, value and record files only change at CommitTransaction, so a card pulled away during
a charge keeps either its whole old state or its whole new one.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Self

from cards.client import DesfireClient
from cards.connection import ApplicationNotFound, BoundaryError, CardError
from cards.desfire import (
    DENY,
    KS_CONFIGURATION_CHANGEABLE,
    KS_FREE_DIRECTORY,
    KS_MASTER_KEY_CHANGEABLE,
    PICC_AID,
    AccessRights,
    CommMode,
    DataFileSettings,
    Operation,
    RecordFileSettings,
    ValueFileSettings,
    comm_mode_for,
    pack_aid,
)
from cards.diversify import diversify_aes128
from fares.model import (
    FARE_RECORD_SIZE,
    MAX_PASSES,
    PASS_RECORD_SIZE,
    Decision,
    FareState,
    PaidBy,
    Pass,
    Tap,
    card_day_or_none,
    card_seconds,
    key_of,
)

TRANSIT_AID = 0x4E4801
SYSTEM_ID = b"HN-BUS"
LAYOUT_VERSION = 1
MAX_BALANCE = 5_000_000  # VND; a lost card should not carry a month's wages
ZERO_KEY = bytes(16)

# Key numbers of the application.
ISSUER, READ, DEBIT, LOAD, PROFILE = range(5)
KEY_NAMES = ("issuer", "read", "debit", "load", "profile")
KEY_FILE_NAMES = ("picc", *KEY_NAMES)

TICKET, PASSES, PURSE, LOG = 0x01, 0x02, 0x03, 0x04

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


@dataclass(frozen=True)
class MasterKeys:
    """The issuer's AES-128 master keys; each card's keys are diversified from them."""

    picc: bytes
    issuer: bytes
    read: bytes
    debit: bytes
    load: bytes
    profile: bytes

    def __post_init__(self) -> None:
        for name in ("picc", *KEY_NAMES):
            if len(getattr(self, name)) != 16:
                raise ValueError(f"the {name} master key must be 16 bytes")

    def __repr__(self) -> str:
        return "MasterKeys(<secret>)"

    @classmethod
    def from_json(cls, text: str) -> MasterKeys:
        """Keys from the key file's JSON: {"picc": "<32 hex>", "issuer": ..., ...}."""
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise ValueError(f"not a key file: {error}") from None
        keys: dict[str, bytes] = {}
        for name in KEY_FILE_NAMES:
            value = raw.get(name) if isinstance(raw, dict) else None
            try:
                key = bytes.fromhex(value) if isinstance(value, str) else b""
            except ValueError:
                key = b""
            if len(key) != 16:
                raise ValueError(f"'{name}' must be 32 hex digits (an AES-128 key)")
            keys[name] = key
        return cls(**keys)

    def for_card(self, uid: bytes) -> CardKeys:
        """The keys of one card (NXP AN10922 diversification with its UID)."""
        aid = pack_aid(TRANSIT_AID)
        return CardKeys(
            picc=diversify_aes128(self.picc, uid, b"", SYSTEM_ID),
            app=tuple(
                diversify_aes128(getattr(self, name), uid, aid, SYSTEM_ID) for name in KEY_NAMES
            ),
        )


@dataclass(frozen=True)
class CardKeys:
    picc: bytes
    app: tuple[bytes, ...]

    def __repr__(self) -> str:
        return "CardKeys(<secret>)"


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


@dataclass(frozen=True)
class CardState:
    """What a validator reads from a card before deciding a tap."""

    uid: bytes
    profile: Profile
    counters: Counters
    fare: FareState
    balance: int
    log: list[LogRecord] = field(default_factory=list)


def _mode(file_no: int, operation: Operation, key_no: int) -> CommMode:
    settings = FILES[file_no]
    return comm_mode_for(settings.comm_mode, settings.access, operation, key_no)


def personalize(
    client: DesfireClient,
    uid: bytes,
    masters: MasterKeys,
    *,
    card_number: int,
    category_code: int,
    valid_until: date | None,
    balance: int,
    issued: date,
    picc_key: bytes = ZERO_KEY,
) -> CardState:
    """Turn a blank card into a transit card: application, files, diversified keys."""
    if not 0 <= balance <= MAX_BALANCE:
        raise ValueError(f"an initial balance must be between 0 and {MAX_BALANCE:,} VND")
    keys = masters.for_card(uid)
    client.select_application(PICC_AID)
    client.authenticate(0, picc_key)
    client.create_application(TRANSIT_AID, APP_KEY_SETTINGS, len(KEY_NAMES))
    client.select_application(TRANSIT_AID)
    client.authenticate(ISSUER, ZERO_KEY)
    for file_no, settings in FILES.items():
        if isinstance(settings, ValueFileSettings):
            client.create_value_file(file_no, settings, balance)
        elif isinstance(settings, RecordFileSettings):
            client.create_cyclic_record_file(file_no, settings)
        else:
            client.create_backup_data_file(file_no, settings)
    profile = Profile(card_number=card_number, issued_day=card_day_or_none(issued))
    fare = FareState.new(category_code, valid_until)
    counters = Counters(purse=balance)
    ticket = profile.pack() + counters.pack() + fare.pack()[:FARE_RECORD_SIZE]
    # The ticket's write right is the load key's, still the factory zero key at this point.
    client.authenticate(LOAD, ZERO_KEY)
    client.write_data(TICKET, 0, ticket, mode=_mode(TICKET, Operation.WRITE, LOAD))
    client.commit_transaction()
    client.authenticate(ISSUER, ZERO_KEY)
    for key_no in (READ, DEBIT, LOAD, PROFILE):
        client.change_key(key_no, keys.app[key_no], version=1, old_key=ZERO_KEY)
    client.change_key(ISSUER, keys.app[ISSUER], version=1)  # ends the session
    client.select_application(PICC_AID)
    client.authenticate(0, picc_key)
    client.change_key(0, keys.picc, version=1)
    return CardState(uid, profile, counters, fare, balance)


def open_for_tap(client: DesfireClient, uid: bytes, masters: MasterKeys) -> None:
    """Select the transit application and authenticate with this card's debit key."""
    try:
        client.select_application(TRANSIT_AID)
    except ApplicationNotFound as error:
        raise TransitCardError("not a transit card: no transit application") from error
    client.authenticate(DEBIT, masters.for_card(uid).app[DEBIT])


def read(
    client: DesfireClient, uid: bytes, *, with_log: bool = False, verify_purse: bool = False
) -> CardState:
    """Read profile, counters, fare state and passes (after `open_for_tap`).

    The balance comes from the purse mirror; `verify_purse` also asks the value file (one more
    APDU) and refuses a card whose mirror disagrees.
    """
    ticket = client.read_data(TICKET, 0, TICKET_SIZE, mode=_mode(TICKET, Operation.READ, DEBIT))
    if len(ticket) != TICKET_SIZE:
        raise TransitCardError(f"the ticket file holds {len(ticket)} bytes, not {TICKET_SIZE}")
    profile = Profile.unpack(ticket[:PROFILE_SIZE])
    counters = Counters.unpack(ticket[PROFILE_SIZE : PROFILE_SIZE + COUNTERS_SIZE])
    passes = bytes(PASSES_SIZE)
    if profile.pass_count:
        passes = client.read_data(PASSES, 0, PASSES_SIZE, mode=_mode(PASSES, Operation.READ, DEBIT))
    fare = FareState.unpack(ticket[PROFILE_SIZE + COUNTERS_SIZE :] + passes)
    balance = counters.purse
    if verify_purse:
        purse = _get_purse(client)
        if purse != balance:
            raise TransitCardError(f"purse holds {purse} VND but its mirror says {balance} VND")
    log: list[LogRecord] = []
    if with_log:
        raw = _read_log(client)
        log = [
            LogRecord.unpack(raw[i : i + LOG_RECORD_SIZE])
            for i in range(0, len(raw), LOG_RECORD_SIZE)
        ]
    return CardState(uid, profile, counters, fare, balance, log)


def _get_purse(client: DesfireClient) -> int:
    return client.get_value(PURSE, mode=_mode(PURSE, Operation.VALUE_ACCESS, DEBIT))


def _read_log(client: DesfireClient) -> bytes:
    try:
        return client.read_records(
            LOG, 0, 0, record_size=LOG_RECORD_SIZE, mode=_mode(LOG, Operation.READ, DEBIT)
        )
    except BoundaryError:
        return b""  # an empty record file answers "no records" with a boundary error


@dataclass(frozen=True)
class Charge:
    """What a charge wrote: the card's state as it now is."""

    state: CardState
    record: LogRecord


class InsufficientBalance(TransitCardError):
    """The purse holds less than the fare."""


def charge(client: DesfireClient, state: CardState, decision: Decision, tap: Tap) -> Charge:
    """Debit, fare state and log record for an accepted tap: committed together or not at all."""
    if not decision.accepted:
        raise ValueError("only an accepted tap is charged")
    amount = decision.amount
    new_fare = decision.state
    if amount < 0:
        raise ValueError("a charge cannot be negative")
    if amount > state.balance:
        raise InsufficientBalance(f"balance {state.balance} VND is less than {amount} VND")
    counters = replace(
        state.counters,
        transactions=state.counters.transactions + 1,
        purse=state.balance - amount,
    )
    if amount:
        try:
            client.debit(PURSE, amount, mode=_mode(PURSE, Operation.VALUE_ACCESS, DEBIT))
        except BoundaryError as error:
            # Only a mirror that disagrees with the purse gets here; the card refused the debit.
            raise InsufficientBalance(f"the card refused to debit {amount} VND") from error
    packed = new_fare.pack()
    body = counters.pack() + packed[:FARE_RECORD_SIZE]
    client.write_data(TICKET, PROFILE_SIZE, body, mode=_mode(TICKET, Operation.WRITE, DEBIT))
    profile = state.profile
    if new_fare.passes != state.fare.passes:
        client.write_data(
            PASSES, 0, packed[FARE_RECORD_SIZE:], mode=_mode(PASSES, Operation.WRITE, DEBIT)
        )
        profile = replace(profile, pass_count=len(new_fare.passes))
        client.write_data(TICKET, 0, profile.pack(), mode=_mode(TICKET, Operation.WRITE, DEBIT))
    record = LogRecord(
        time=card_seconds(tap.time),
        route_key=key_of(tap.route_id),
        amount=amount,
        balance_after=state.balance - amount,
        transaction=counters.transactions,
        paid_by=PAID_BY_CODES[decision.paid_by],
    )
    client.write_record(LOG, 0, record.pack(), mode=_mode(LOG, Operation.WRITE, DEBIT))
    client.commit_transaction()
    new_state = replace(
        state,
        profile=profile,
        counters=counters,
        fare=new_fare,
        balance=state.balance - amount,
    )
    return Charge(new_state, record)


def apply_credit(
    client: DesfireClient,
    state: CardState,
    masters: MasterKeys,
    *,
    seq: int,
    amount: int,
    time: int,
) -> CardState:
    """Apply pending credit number `seq`: credit, counters and a log record in one transaction.

    Runs under the load key and leaves the card authenticated with it; authenticate with the
    debit key again before charging. A `seq` the card has already applied is refused, so a load
    two validators both hold reaches the card once.
    """
    if seq <= state.counters.last_load_seq:
        raise ValueError(
            f"load {seq} was applied already (card is at {state.counters.last_load_seq})"
        )
    if not 0 < amount <= MAX_BALANCE - state.balance:
        raise ValueError(f"a credit of {amount} VND does not fit the purse")
    client.authenticate(LOAD, masters.for_card(state.uid).app[LOAD])
    counters = replace(
        state.counters,
        last_load_seq=seq,
        transactions=state.counters.transactions + 1,
        purse=state.balance + amount,
    )
    client.credit(PURSE, amount, mode=_mode(PURSE, Operation.CREDIT, LOAD))
    client.write_data(
        TICKET, PROFILE_SIZE, counters.pack(), mode=_mode(TICKET, Operation.WRITE, LOAD)
    )
    record = LogRecord(
        time=time,
        route_key=0,
        amount=amount,
        balance_after=counters.purse,
        transaction=counters.transactions,
        paid_by=0,
        kind=LOAD_KIND,
    )
    client.write_record(LOG, 0, record.pack(), mode=_mode(LOG, Operation.WRITE, LOAD))
    client.commit_transaction()
    return replace(state, counters=counters, balance=counters.purse)


class CardFull(TransitCardError):
    """The card already holds as many valid passes as it has room for."""


def apply_pass(
    client: DesfireClient,
    state: CardState,
    masters: MasterKeys,
    *,
    seq: int,
    entry: Pass,
    time: int,
    today: int,
) -> CardState:
    """Apply pending action `seq`, a pass: the pass, the counters and a log record, atomically.

    Passes that ended before `today` (a card day, local) make room; a card whose slots hold
    only valid passes is refused (CardFull) and keeps the action for later. Like a credit, it
    runs under the load key, and a `seq` the card has applied already is refused.
    """
    if seq <= state.counters.last_load_seq:
        raise ValueError(
            f"load {seq} was applied already (card is at {state.counters.last_load_seq})"
        )
    kept = tuple(p for p in state.fare.passes if p.valid_until >= today)
    if len(kept) >= MAX_PASSES:
        raise CardFull(f"the card holds {MAX_PASSES} valid passes")
    fare = state.fare._replace(passes=(*kept, entry))
    profile = replace(state.profile, pass_count=len(fare.passes))
    counters = replace(
        state.counters,
        last_load_seq=seq,
        transactions=state.counters.transactions + 1,
    )
    client.authenticate(LOAD, masters.for_card(state.uid).app[LOAD])
    packed = fare.pack()
    client.write_data(
        PASSES, 0, packed[FARE_RECORD_SIZE:], mode=_mode(PASSES, Operation.WRITE, LOAD)
    )
    client.write_data(
        TICKET, 0, profile.pack() + counters.pack(), mode=_mode(TICKET, Operation.WRITE, LOAD)
    )
    record = LogRecord(
        time=time,
        route_key=entry.route_key,
        amount=0,
        balance_after=state.balance,
        transaction=counters.transactions,
        paid_by=0,
        kind=PASS_KIND,
    )
    client.write_record(LOG, 0, record.pack(), mode=_mode(LOG, Operation.WRITE, LOAD))
    client.commit_transaction()
    return replace(state, profile=profile, counters=counters, fare=fare)


def apply_profile(
    client: DesfireClient,
    state: CardState,
    masters: MasterKeys,
    *,
    seq: int,
    category_code: int,
    valid_until: int,
    time: int,
) -> CardState:
    """Apply pending action `seq`, a new rider category: the fare record's category and its
    last valid day (a card day; NO_DATE for none), with the counters and a log record.

    The rest of the fare record (its recent legs, caps and passes) is kept. Like a credit,
    it runs under the load key, and a `seq` the card has applied already is refused.
    """
    if seq <= state.counters.last_load_seq:
        raise ValueError(
            f"load {seq} was applied already (card is at {state.counters.last_load_seq})"
        )
    fare = state.fare._replace(category_code=category_code, category_valid_until=valid_until)
    counters = replace(
        state.counters,
        last_load_seq=seq,
        transactions=state.counters.transactions + 1,
    )
    client.authenticate(LOAD, masters.for_card(state.uid).app[LOAD])
    body = counters.pack() + fare.pack()[:FARE_RECORD_SIZE]
    client.write_data(TICKET, PROFILE_SIZE, body, mode=_mode(TICKET, Operation.WRITE, LOAD))
    record = LogRecord(
        time=time,
        route_key=0,
        amount=0,
        balance_after=state.balance,
        transaction=counters.transactions,
        paid_by=0,
        kind=PROFILE_KIND,
    )
    client.write_record(LOG, 0, record.pack(), mode=_mode(LOG, Operation.WRITE, LOAD))
    client.commit_transaction()
    return replace(state, counters=counters, fare=fare)
