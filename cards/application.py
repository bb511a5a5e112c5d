"""What validators and issuing stations do with the transit application on a card.

Personalize a blank card, open it for a tap, read it, charge a tap, and apply pending loads,
passes and profile changes. Every change is one DESFire transaction: backup, value and record
files only change at CommitTransaction, so a card pulled away during a charge keeps either its
whole old state or its whole new one. The bytes of each file are in `cards.layout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date

from cards.client import DesfireClient
from cards.connection import ApplicationNotFound, BoundaryError
from cards.desfire import (
    PICC_AID,
    CommMode,
    Operation,
    RecordFileSettings,
    ValueFileSettings,
    comm_mode_for,
    pack_aid,
)
from cards.diversify import diversify_aes128
from cards.layout import (
    ALIGHTING_KIND,
    APP_KEY_SETTINGS,
    BOARDING_KIND,
    COUNTERS_SIZE,
    DEBIT,
    FARE_RECORD_SIZE,
    FILES,
    ISSUER,
    KEY_FILE_NAMES,
    KEY_NAMES,
    LOAD,
    LOAD_KIND,
    LOG,
    LOG_RECORD_SIZE,
    MAX_BALANCE,
    PAID_BY_CODES,
    PASS_KIND,
    PASSES,
    PASSES_SIZE,
    PROFILE,
    PROFILE_KIND,
    PROFILE_SIZE,
    PURSE,
    READ,
    SYSTEM_ID,
    TICKET,
    TICKET_SIZE,
    TRANSIT_AID,
    Counters,
    LogRecord,
    Profile,
    TransitCardError,
    pack_fare_state,
    unpack_fare_state,
)
from fares.model import (
    MAX_PASSES,
    Decision,
    Direction,
    FareState,
    Pass,
    Tap,
    card_day_or_none,
    card_seconds,
    key_of,
)

ZERO_KEY = bytes(16)


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
    ticket = profile.pack() + counters.pack() + pack_fare_state(fare)[:FARE_RECORD_SIZE]
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
    fare = unpack_fare_state(ticket[PROFILE_SIZE + COUNTERS_SIZE :] + passes)
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
    packed = pack_fare_state(new_fare)
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
        kind=ALIGHTING_KIND if decision.direction == Direction.EXIT else BOARDING_KIND,
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
    packed = pack_fare_state(fare)
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
    body = counters.pack() + pack_fare_state(fare)[:FARE_RECORD_SIZE]
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
