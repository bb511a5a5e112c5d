"""Values the fare engine takes and gives: taps, the card's fare state, passes, decisions.

The values are `NamedTuple`s rather than frozen dataclasses: they are immutable and typed all
the same, and a validator builds two of them per tap, where a frozen dataclass's `__init__`
costs several times more. They hold no bytes: `cards.layout` packs the fare state and passes
into the card's records.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import NamedTuple, Self

# Times on the card are whole seconds since this instant, dates are whole days since its date.
CARD_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CARD_EPOCH_DATE = date(2020, 1, 1)
CARD_EPOCH_UNIX = 1_577_836_800
SECONDS_PER_DAY = 86_400
MAX_CARD_SECONDS = 0xFFFF_FFFF
NO_DATE = 0xFFFF  # a category or pass date that never ends
MAX_CARD_DAY = NO_DATE - 1
MAX_AMOUNT = 0xFF_FFFF  # a card stores amounts in 3 bytes: 16,777,215 minor units
MAX_RUN_TRANSFERS = 63  # the card keeps a run's transfer count in 6 bits

# What a card has room for.
MAX_CAP_SLOTS = 4
MAX_PASSES = 4


def key_of(identifier: str) -> int:
    """The 32-bit key a card stores instead of a GTFS id (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(identifier.encode("utf-8"))


def stop_key_of(stop_id: str) -> int:
    """The 24-bit key a card stores for the stop where its open journey began ("" is 0)."""
    return key_of(stop_id) & 0xFF_FFFF if stop_id else 0


def vehicle_key_of(vehicle_id: str) -> int:
    """The 16-bit key a card stores for the vehicle of its open journey ("" is 0).

    It only tells one bus of the route from another within hours, so 16 bits are enough.
    """
    return key_of(vehicle_id) & 0xFFFF if vehicle_id else 0


def card_seconds(moment: datetime) -> int:
    """Seconds since the card epoch for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"a tap time needs a UTC offset: {moment.isoformat()}")
    seconds = int(moment.timestamp()) - CARD_EPOCH_UNIX
    if not 0 <= seconds <= MAX_CARD_SECONDS:
        raise ValueError(f"{moment.isoformat()} is outside what a card can store")
    return seconds


def card_day(day: date) -> int:
    """Days since the card epoch's date."""
    return (day - CARD_EPOCH_DATE).days


def date_of_card_day(day: int) -> date:
    """The date of a card day number."""
    return CARD_EPOCH_DATE + timedelta(days=day)


def card_day_or_none(day: date | None) -> int:
    """A card day for an optional end date (none means it never ends)."""
    if day is None:
        return NO_DATE
    number = card_day(day)
    if not 0 <= number <= MAX_CARD_DAY:
        raise ValueError(f"{day.isoformat()} is outside what a card can store")
    return number


class PaidBy(StrEnum):
    """What paid for a tap."""

    STORED_VALUE = "stored_value"
    PASS = "pass"  # noqa: S105  what paid, not a password
    FREE_CATEGORY = "free_category"
    TRANSFER = "transfer"
    CAP = "cap"
    FREE_FARE = "free_fare"
    FREE_DAY = "free_day"  # a day the tariff makes free for everyone
    AT_EXIT = "at_exit"  # an entry whose fare is charged at the exit (the metro)
    AT_ENTRY = "at_entry"  # a tap off: the journey was paid when it began
    NOTHING = "nothing"  # the tap was refused


class Direction(StrEnum):
    """Which way a tap goes: a validator is configured for one of these."""

    ENTRY = "entry"  # boarding, or an entry gate
    EXIT = "exit"  # alighting, or an exit gate
    BOTH = "both"  # a bus door: the card's open journey decides


class Journey(IntEnum):
    """The card's open journey, as the fare record holds it."""

    NONE = 0
    CHARGED = 1  # opened and paid at entry (a bus); a tap off only records where it ended
    AT_EXIT = 2  # opened at entry, priced at exit from the two stops (the metro)


class Denial(NamedTuple):
    """Why a tap was refused: a stable code and a text a driver can read in both languages."""

    code: str
    text_vi: str
    text_en: str


PASSBACK = Denial(
    "passback",
    "Thẻ vừa được quẹt trên tuyến này",
    "This card was just used on this route",
)
NO_TARIFF = Denial(
    "no_tariff",
    "Chưa có bảng giá vé cho thời điểm này",
    "No tariff is in force at this time",
)
NO_FARE_RULE = Denial(
    "no_fare_rule",
    "Không có giá vé cho tuyến này",
    "There is no fare for this route",
)
CATEGORY_NOT_ELIGIBLE = Denial(
    "category_not_eligible",
    "Đối tượng của thẻ không được dùng cho chuyến này",
    "This card's rider category cannot pay for this ride",
)
# The engine does not see the purse; the validator refuses with this when the purse is short.
INSUFFICIENT_BALANCE = Denial(
    "insufficient_balance",
    "Số dư trong thẻ không đủ",
    "Not enough balance on the card",
)
DENIALS: dict[str, Denial] = {
    denial.code: denial
    for denial in (PASSBACK, NO_TARIFF, NO_FARE_RULE, CATEGORY_NOT_ELIGIBLE, INSUFFICIENT_BALANCE)
}


class Tap(NamedTuple):
    """A card presented to a validator: boarding or entering, alighting or leaving, or either."""

    time: datetime
    route_id: str
    stop_id: str = ""
    device_id: str = ""
    direction: Direction = Direction.ENTRY
    vehicle_id: str = ""  # the bus a door validator is on; "" for a gate


class CapSlot(NamedTuple):
    """What the card has paid towards one fare cap in its current period."""

    cap_code: int
    period_start: int  # card day on which the period began
    amount: int


class Pass(NamedTuple):
    """A pass (contract) on the card: which product, for whom, on which days, on which route."""

    pass_code: int
    category_code: int
    valid_from: int  # card day, inclusive
    valid_until: int  # card day, inclusive
    route_key: int = 0  # key_of(route_id) for a one-route pass, 0 otherwise


class FareState(NamedTuple):
    """Everything the engine needs from the card, and gives back to be written to it."""

    category_code: int
    category_valid_until: int = NO_DATE  # card day, inclusive
    last_boarding: int = 0  # card seconds of the last accepted boarding, 0 for none
    last_route_key: int = 0
    last_leg_group_key: int = 0
    last_leg_fare: int = 0
    run_start: int = 0  # card seconds of the first boarding of the current transfer run
    run_rule_key: int = 0  # the transfer rule of the current run, 0 for none
    run_transfers: int = 0
    run_fare: int = 0  # fares of the legs in the current run, before caps
    caps: tuple[CapSlot, ...] = ()
    passes: tuple[Pass, ...] = ()
    # The open journey: where and when it began, and whether its fare is paid or still due.
    journey: int = Journey.NONE
    entry_time: int = 0  # card seconds; the route is `last_route_key`
    entry_stop_key: int = 0  # stop_key_of(stop_id)
    entry_vehicle_key: int = 0  # vehicle_key_of(vehicle_id), 0 at a gate

    @classmethod
    def new(
        cls, category_code: int, valid_until: date | None = None, passes: tuple[Pass, ...] = ()
    ) -> Self:
        """A fresh card's state for a rider category, optionally ending on a date."""
        return cls(category_code, card_day_or_none(valid_until), passes=passes)


class Decision(NamedTuple):
    """The engine's answer to a tap: accept or deny, how much, why, and the card's new state."""

    accepted: bool
    amount: int
    paid_by: PaidBy
    state: FareState
    explanation: str
    denial: Denial | None = None
    fare: int = 0  # the leg's fare after transfers, before caps, passes and free categories
    category_id: str = ""  # the category the tap was priced for
    tariff_version_id: str = ""
    leg_rule: str = ""  # file:line of the leg rule, "" when none
    transfer_rule: str = ""
    cap_id: str = ""
    pass_product_id: str = ""
    direction: Direction = Direction.ENTRY  # what the tap was taken as ("both" resolved)
    required: int = 0  # the balance the purse must hold: the amount, or the dearest fare ahead
    unfinished: int = 0  # the part of `amount` charged for an earlier journey left open
    journey_start: int = 0  # an exit: card seconds of the entry of the journey it ends, 0 none
