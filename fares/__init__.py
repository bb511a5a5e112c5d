"""The fare engine and the eligibility rules: pure Python, no I/O, no clock.

Tariffs are GTFS-Fares v2 data plus extension files (docs/tariff-format.md); only the tariff
loader reads files. `price_tap` prices a tap from the card's fare state; time and tariff are
arguments. Eligibility rules live in `fares.eligibility`.
"""

from fares.engine import price_tap
from fares.loader import HANOI_TARIFF_DIR, load_hanoi_tariff, load_tariff
from fares.model import (
    CATEGORY_NOT_ELIGIBLE,
    DENIALS,
    INSUFFICIENT_BALANCE,
    NO_FARE_RULE,
    NO_TARIFF,
    PASSBACK,
    CapSlot,
    Decision,
    Denial,
    Direction,
    FareState,
    Journey,
    PaidBy,
    Pass,
    Tap,
    card_day,
    card_seconds,
    date_of_card_day,
    key_of,
)
from fares.passes import issue_pass, pass_price, pass_validity
from fares.tariff import Tariff, TariffError, TariffVersion

__all__ = [
    "CATEGORY_NOT_ELIGIBLE",
    "DENIALS",
    "HANOI_TARIFF_DIR",
    "INSUFFICIENT_BALANCE",
    "NO_FARE_RULE",
    "NO_TARIFF",
    "PASSBACK",
    "CapSlot",
    "Decision",
    "Denial",
    "Direction",
    "FareState",
    "Journey",
    "PaidBy",
    "Pass",
    "Tap",
    "Tariff",
    "TariffError",
    "TariffVersion",
    "card_day",
    "card_seconds",
    "date_of_card_day",
    "issue_pass",
    "key_of",
    "load_hanoi_tariff",
    "load_tariff",
    "pass_price",
    "pass_validity",
    "price_tap",
]
