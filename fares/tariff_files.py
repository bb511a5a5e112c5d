"""The files of a tariff version folder, declared: their columns, and what a row becomes.

Each file is a `FileSpec` of `fares.gtfs_csv`, the CSV reader shared with the network import:
the reader checks the header against the columns and the key (if any) for being given and
unique; the file's builder reads the values a row needs in the order of its rules and returns
what the row stands for. What the files read so far said, and what a builder remembers from one
row to the next, is in `SoFar`; `fares.loader` reads the files in the order they refer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from fares.gtfs_csv import (
    MINOR_UNITS,
    Column,
    FileSpec,
    Invalid,
    Row,
    Table,
    calendar_date,
    choice,
    clock_seconds,
    currency_amount,
    whole_number,
)
from fares.model import (
    CARD_EPOCH_DATE,
    MAX_AMOUNT,
    MAX_CAP_SLOTS,
    MAX_CARD_DAY,
    MAX_RUN_TRANSFERS,
    SECONDS_PER_DAY,
    card_day,
    key_of,
)
from fares.tariff import (
    ANY_CATEGORY,
    CapPeriod,
    FareCap,
    FreePeriod,
    LegRule,
    PassCoverage,
    PassProduct,
    PassValidity,
    RiderCategory,
    Service,
    Timeframe,
    TransferRule,
)

VERSION_FILE = "tariff_version.txt"
_OFFSET = re.compile(r"^([+-])(\d{2}):([0-5]\d)$")
_CURRENCY = re.compile(r"[A-Z]{3}")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Head:
    """The one row of tariff_version.txt."""

    version_id: str
    effective_from: date
    utc_offset: int
    currency: str
    fare_media_id: str
    day_start: int
    passback_seconds: int
    assumed_leg_seconds: int
    same_stop_exit_seconds: int = 1200


@dataclass
class SoFar:
    """What the files of one version folder said so far."""

    head: Head | None = None
    media: set[str] | None = None
    categories: dict[str, RiderCategory] = field(default_factory=dict)
    networks: set[str] | None = None
    route_networks: dict[str, str] = field(default_factory=dict)
    areas: set[str] | None = None
    stop_areas: dict[str, set[str]] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    timeframe_groups: set[str] = field(default_factory=set)
    # product -> category -> amount in minor units of the currency (VND has none: 8000 is 8000)
    prices: dict[str, dict[str, int]] = field(default_factory=dict)
    leg_groups: set[str] = field(default_factory=set)
    pass_products: dict[str, PassProduct] = field(default_factory=dict)
    # What a file's builder remembers from one row to the next.
    attributes: dict[str, Row] = field(default_factory=dict)
    attributes_table: Table | None = None
    default_rows: list[Row] = field(default_factory=list)
    category_codes: dict[int, Row] = field(default_factory=dict)
    route_keys: dict[int, str] = field(default_factory=dict)
    price_lines: dict[tuple[str, str], int] = field(default_factory=dict)
    leg_group_keys: dict[int, str] = field(default_factory=dict)
    transfer_keys: dict[int, int] = field(default_factory=dict)
    pass_codes: dict[int, int] = field(default_factory=dict)
    cap_codes: dict[int, int] = field(default_factory=dict)
    caps_per_category: Counter[str] = field(default_factory=Counter)
    _amount: tuple[str, Callable[[str], int]] | None = None

    @property
    def currency(self) -> str:
        """The tariff's currency, "" until tariff_version.txt gave one."""
        return self.head.currency if self.head else ""

    @property
    def amount(self) -> Callable[[str], int] | None:
        """The parser of the tariff's currency amounts, None while the currency is not known."""
        head = self.head
        if head is None or head.currency not in MINOR_UNITS:
            return None
        if self._amount is None or self._amount[0] != head.currency:
            parse = currency_amount(head.currency, MINOR_UNITS[head.currency])
            self._amount = (head.currency, parse)
        return self._amount[1]

    @property
    def medium(self) -> str:
        """The fare medium the tariff prices, "" for every medium."""
        return self.head.fare_media_id if self.head else ""


def _its_id(column: Column[str]) -> Callable[[Row, SoFar], str]:
    """The builder of a file whose rows only name what other files refer to."""
    return lambda row, _: row.raw(column.name)


# -- tariff_version.txt ------------------------------------------------------------------------


def _effective_date(text: str) -> date:
    day = calendar_date(text)
    if day < CARD_EPOCH_DATE:
        raise Invalid(f"must not be before {CARD_EPOCH_DATE}, the card epoch")
    return day


def _utc_offset(text: str) -> int:
    match = _OFFSET.match(text)
    if not match or int(match[2]) > 14:
        raise Invalid(f"must be like +07:00, not {text!r}")
    sign = -1 if match[1] == "-" else 1
    return sign * (int(match[2]) * 3600 + int(match[3]) * 60)


def _day_start(text: str) -> int:
    seconds = clock_seconds(text)
    if seconds >= SECONDS_PER_DAY:
        raise Invalid("must be before 24:00:00")
    return seconds


VERSION_ID = Column("tariff_version_id", str, required=True)
EFFECTIVE_FROM = Column("effective_from", _effective_date, required=True)
UTC_OFFSET = Column("utc_offset", _utc_offset, required=True)
CURRENCY = Column("currency", str, required=True)
SERVICE_DAY_START = Column("service_day_start", _day_start)
PASSBACK_SECONDS = Column("passback_seconds", whole_number(0, 86_400), default=0)
ASSUMED_LEG_SECONDS = Column("assumed_leg_seconds", whole_number(0, 86_400), default=0)
SAME_STOP_EXIT_SECONDS = Column("same_stop_exit_seconds", whole_number(0, 86_400), default=1200)
VERSION_MEDIUM = Column("fare_media_id", str)


def _head(row: Row, said: SoFar) -> Head | None:
    version_id = row.text(VERSION_ID)
    effective = row.value(EFFECTIVE_FROM)
    offset = row.value(UTC_OFFSET)
    # A malformed currency is reported here and still compared with the products' below.
    currency = row.text(CURRENCY)
    if currency and not _CURRENCY.fullmatch(currency):
        row.report(f"currency must be an ISO 4217 code like VND, not {currency!r}")
    elif currency and currency not in MINOR_UNITS:
        # Amounts are read exactly in minor units; a guessed number of decimals could misread
        # every price a hundredfold.
        row.report(
            f"currency {currency} is not in the table of ISO 4217 minor units "
            f"(fares.gtfs_csv.MINOR_UNITS); add it there with its decimal places"
        )
    day_start = row.value(SERVICE_DAY_START)
    passback = row.value(PASSBACK_SECONDS)
    assumed = row.value(ASSUMED_LEG_SECONDS)
    if not version_id or effective is None or offset is None or not currency:
        return None
    if passback is None or assumed is None:
        return None
    same_stop = row.value(SAME_STOP_EXIT_SECONDS)
    if same_stop is None:
        return None
    medium = row.text(VERSION_MEDIUM)
    return Head(
        version_id,
        effective,
        offset,
        currency,
        medium,
        day_start or 0,
        passback,
        assumed,
        same_stop,
    )


TARIFF_VERSION = FileSpec(
    VERSION_FILE,
    (
        VERSION_ID,
        EFFECTIVE_FROM,
        UTC_OFFSET,
        CURRENCY,
        SERVICE_DAY_START,
        PASSBACK_SECONDS,
        ASSUMED_LEG_SECONDS,
        SAME_STOP_EXIT_SECONDS,
        VERSION_MEDIUM,
    ),
    _head,
    required=True,
)

# -- fare_media.txt ----------------------------------------------------------------------------

FARE_MEDIA_ID = Column("fare_media_id", str, required=True)
FARE_MEDIA_TYPE = Column("fare_media_type", whole_number(0, 4), required=True)


def _fare_medium(row: Row, said: SoFar) -> None:
    row.value(FARE_MEDIA_TYPE)


FARE_MEDIA: FileSpec[None, SoFar] = FileSpec(
    "fare_media.txt", (FARE_MEDIA_ID, FARE_MEDIA_TYPE), _fare_medium
)

# -- rider_categories.txt and rider_category_attributes.txt ------------------------------------

CATEGORY_ID = Column("rider_category_id", str, required=True)
CATEGORY_NAME = Column("rider_category_name", str, required=True)
IS_DEFAULT = Column("is_default_fare_category", whole_number(0, 1), in_header=True, default=0)
CATEGORY_CODE = Column("category_code", whole_number(1, 255), required=True)
RIDES_FREE = Column("rides_free", whole_number(0, 1), default=0)


def _category(row: Row, said: SoFar) -> RiderCategory | None:
    category_id = row.raw(CATEGORY_ID.name)
    name = row.text(CATEGORY_NAME)
    is_default = row.value(IS_DEFAULT)
    if is_default:
        said.default_rows.append(row)
        if len(said.default_rows) > 1:
            first = said.default_rows[0].line
            row.report(f"a second default category; line {first} is one")
    attribute = said.attributes.get(category_id)
    if attribute is None:
        if said.attributes_table is not None and said.attributes_table.present:
            said.attributes_table.report_file(f"no row for rider category {category_id!r}")
        return None
    attributes = _category_attributes(attribute, said)
    if attributes is None:
        return None
    code, free = attributes
    return RiderCategory(category_id, name, code, bool(is_default), free)


def _category_attributes(row: Row, said: SoFar) -> tuple[int, bool] | None:
    """Read for the category the row belongs to, when that category is built."""
    code = row.value(CATEGORY_CODE)
    free = row.value(RIDES_FREE)
    if code is None or free is None:
        return None
    if code in said.category_codes:
        row.report(f"category_code {code} repeats line {said.category_codes[code].line}")
        return None
    said.category_codes[code] = row
    return code, bool(free)


RIDER_CATEGORIES = FileSpec(
    "rider_categories.txt",
    (CATEGORY_ID, CATEGORY_NAME, IS_DEFAULT),
    _category,
    key=CATEGORY_ID,
    required=True,
)
CATEGORY_ATTRIBUTES = FileSpec(
    "rider_category_attributes.txt",
    (CATEGORY_ID, CATEGORY_CODE, RIDES_FREE),
    _category_attributes,
    key=CATEGORY_ID,
    required=True,
)

# -- networks.txt and route_networks.txt -------------------------------------------------------

NETWORK_ID = Column("network_id", str, required=True)
ROUTE_ID = Column("route_id", str, required=True)


def _route_network(row: Row, said: SoFar) -> None:
    route_id = row.raw(ROUTE_ID.name)
    network = row.text(NETWORK_ID)
    if said.networks is not None and network and network not in said.networks:
        row.report(f"network_id {network!r} is not in networks.txt")
    key = key_of(route_id)
    if key == 0 or key in said.route_keys:
        row.report(f"route_id {route_id!r} has the same card key as {said.route_keys.get(key)!r}")
    said.route_keys[key] = route_id
    said.route_networks[route_id] = network


NETWORKS = FileSpec("networks.txt", (NETWORK_ID,), _its_id(NETWORK_ID), key=NETWORK_ID)
ROUTE_NETWORKS: FileSpec[None, SoFar] = FileSpec(
    "route_networks.txt", (NETWORK_ID, ROUTE_ID), _route_network, key=ROUTE_ID
)

# -- areas.txt and stop_areas.txt --------------------------------------------------------------

AREA_ID = Column("area_id", str, required=True)
STOP_ID = Column("stop_id", str, required=True)


def _stop_area(row: Row, said: SoFar) -> None:
    area = row.text(AREA_ID)
    stop = row.text(STOP_ID)
    if said.areas is not None and area and area not in said.areas:
        row.report(f"area_id {area!r} is not in areas.txt")
    if stop in said.stop_areas and area in said.stop_areas[stop]:
        row.report(f"stop {stop!r} is already in area {area!r}")
    said.stop_areas.setdefault(stop, set()).add(area)


AREAS = FileSpec("areas.txt", (AREA_ID,), _its_id(AREA_ID), key=AREA_ID)
STOP_AREAS: FileSpec[None, SoFar] = FileSpec("stop_areas.txt", (AREA_ID, STOP_ID), _stop_area)

# -- calendar.txt ------------------------------------------------------------------------------

SERVICE_ID = Column("service_id", str, required=True)
WEEKDAYS = tuple(Column(day, whole_number(0, 1), required=True) for day in _WEEKDAYS)
START_DATE = Column("start_date", calendar_date, required=True)
END_DATE = Column("end_date", calendar_date, required=True)


def _service(row: Row, said: SoFar) -> Service | None:
    flags = [row.value(weekday) for weekday in WEEKDAYS]
    start = row.value(START_DATE)
    end = row.value(END_DATE)
    if start and end and end < start:
        row.report("end_date is before start_date")
    if not start or not end or None in flags:
        return None
    weekdays = frozenset(i for i, flag in enumerate(flags) if flag)
    return Service(row.raw(SERVICE_ID.name), weekdays, start, end)


CALENDAR = FileSpec(
    "calendar.txt", (SERVICE_ID, *WEEKDAYS, START_DATE, END_DATE), _service, key=SERVICE_ID
)

# -- timeframes.txt ----------------------------------------------------------------------------

TIMEFRAME_GROUP_ID = Column("timeframe_group_id", str, required=True)
START_TIME = Column("start_time", clock_seconds)
END_TIME = Column("end_time", clock_seconds)
FRAME_SERVICE_ID = Column("service_id", str)


def _timeframe(row: Row, said: SoFar) -> Timeframe | None:
    group = row.text(TIMEFRAME_GROUP_ID)
    start = row.value(START_TIME)
    end = row.value(END_TIME)
    if (row.raw(START_TIME.name) == "") != (row.raw(END_TIME.name) == ""):
        row.report("start_time and end_time go together: give both or neither")
        return None
    if start is not None and end is not None and start >= end:
        row.report("end_time must be after start_time (split a frame across midnight)")
        return None
    service_id = row.text(FRAME_SERVICE_ID)
    if service_id and service_id not in said.services:
        row.report(f"service_id {service_id!r} is not in calendar.txt")
        return None
    if not group:
        return None
    return Timeframe(
        group,
        0 if start is None else start,
        SECONDS_PER_DAY if end is None else end,
        service_id,
    )


TIMEFRAMES = FileSpec(
    "timeframes.txt", (TIMEFRAME_GROUP_ID, START_TIME, END_TIME, FRAME_SERVICE_ID), _timeframe
)

# -- fare_products.txt -------------------------------------------------------------------------

PRODUCT_ID = Column("fare_product_id", str, required=True)
AMOUNT = Column("amount", str, required=True)  # a currency amount, read in minor units
PRODUCT_CURRENCY = Column("currency", str, required=True)
PRODUCT_CATEGORY = Column("rider_category_id", str)
PRODUCT_MEDIUM = Column("fare_media_id", str)


def _amount(row: Row, column: Column[str], said: SoFar) -> int | None:
    """A currency amount in minor units; None when empty, refused (reported) or unreadable
    because the tariff's currency is not known (reported on tariff_version.txt)."""
    raw = row.text(column)
    parse = said.amount
    if not raw or parse is None:
        return None
    try:
        return parse(raw)
    except Invalid as invalid:
        row.report(f"{column.name} {invalid}")
        return None


def _price(row: Row, said: SoFar) -> None:
    product = row.text(PRODUCT_ID)
    category = row.reference(PRODUCT_CATEGORY, said.categories, "rider category")
    row_medium = row.text(PRODUCT_MEDIUM)
    if row_medium and said.media is not None and row_medium not in said.media:
        row.report(f"fare_media_id {row_medium!r} is not in fare_media.txt")
    currency = said.currency
    row_currency = row.text(PRODUCT_CURRENCY)
    if currency and row_currency and row_currency != currency:
        row.report(f"currency {row_currency} differs from the tariff's {currency}")
    amount = _amount(row, AMOUNT, said)
    if amount is not None and abs(amount) > MAX_AMOUNT:
        row.report(f"amount {row.raw(AMOUNT.name)} is too large")
        amount = None
    if not product or amount is None:
        return
    said.prices.setdefault(product, {})
    medium = said.medium
    if medium and row_medium and row_medium != medium:
        return
    pair = (product, category or ANY_CATEGORY)
    if pair in said.price_lines:
        row.report(
            f"a second price of {product!r} for "
            f"{category or 'every rider'} (line {said.price_lines[pair]})"
        )
        return
    said.price_lines[pair] = row.line
    said.prices[product][category or ANY_CATEGORY] = amount


FARE_PRODUCTS: FileSpec[None, SoFar] = FileSpec(
    "fare_products.txt",
    (PRODUCT_ID, AMOUNT, PRODUCT_CURRENCY, PRODUCT_CATEGORY, PRODUCT_MEDIUM),
    _price,
    required=True,
)

# -- fare_leg_rules.txt ------------------------------------------------------------------------

LEG_PRODUCT_ID = Column("fare_product_id", str, required=True)
LEG_NETWORK_ID = Column("network_id", str)
FROM_AREA_ID = Column("from_area_id", str)
TO_AREA_ID = Column("to_area_id", str)
FROM_TIMEFRAME = Column("from_timeframe_group_id", str)
TO_TIMEFRAME = Column("to_timeframe_group_id", str)
RULE_PRIORITY = Column("rule_priority", whole_number(minimum=0), default=0)
LEG_GROUP_ID = Column("leg_group_id", str)


def _leg_rule(row: Row, said: SoFar) -> LegRule | None:
    prices = said.prices
    product = row.text(LEG_PRODUCT_ID)
    if product and product not in prices:
        row.report(f"fare_product_id {product!r} is not in fare_products.txt")
        return None
    network = row.reference(LEG_NETWORK_ID, said.networks or set(), "network")
    from_area = row.reference(FROM_AREA_ID, said.areas or set(), "area")
    to_area = row.reference(TO_AREA_ID, said.areas or set(), "area")
    groups = said.timeframe_groups
    from_frame = row.reference(FROM_TIMEFRAME, groups, "timeframe group")
    to_frame = row.reference(TO_TIMEFRAME, groups, "timeframe group")
    priority = row.value(RULE_PRIORITY)
    leg_group = row.text(LEG_GROUP_ID)
    key = key_of(leg_group) if leg_group else 0
    if leg_group and (key == 0 or said.leg_group_keys.get(key, leg_group) != leg_group):
        row.report(f"leg_group_id {leg_group!r} has the same card key as another")
        return None
    if leg_group:
        said.leg_group_keys[key] = leg_group
    if product and min(prices[product].values(), default=0) < 0:
        row.report(f"fare_product_id {product!r} has a negative price; a leg cannot")
        return None
    if priority is None or not product:
        return None
    return LegRule(
        f"{row.table.file}:{row.line}",
        leg_group,
        key,
        network,
        from_area,
        to_area,
        from_frame,
        to_frame,
        product,
        priority,
        prices[product],
    )


FARE_LEG_RULES = FileSpec(
    "fare_leg_rules.txt",
    (
        LEG_PRODUCT_ID,
        LEG_NETWORK_ID,
        FROM_AREA_ID,
        TO_AREA_ID,
        FROM_TIMEFRAME,
        TO_TIMEFRAME,
        RULE_PRIORITY,
        LEG_GROUP_ID,
    ),
    _leg_rule,
    required=True,
)

# -- fare_transfer_rules.txt -------------------------------------------------------------------

FROM_LEG_GROUP = Column("from_leg_group_id", str, in_header=True)
TO_LEG_GROUP = Column("to_leg_group_id", str, in_header=True)
TRANSFER_COUNT = Column("transfer_count", whole_number(-1, MAX_RUN_TRANSFERS))
DURATION_LIMIT = Column("duration_limit", whole_number(minimum=1))
DURATION_LIMIT_TYPE = Column("duration_limit_type", whole_number(0, 3))
FARE_TRANSFER_TYPE = Column("fare_transfer_type", whole_number(0, 2), required=True)
TRANSFER_PRODUCT = Column("fare_product_id", str)
TRANSFER_COLUMNS = (
    FROM_LEG_GROUP,
    TO_LEG_GROUP,
    TRANSFER_COUNT,
    DURATION_LIMIT,
    DURATION_LIMIT_TYPE,
    FARE_TRANSFER_TYPE,
    TRANSFER_PRODUCT,
)


def _transfer_rule(row: Row, said: SoFar) -> TransferRule | None:
    from_group = row.reference(FROM_LEG_GROUP, said.leg_groups, "leg group")
    to_group = row.reference(TO_LEG_GROUP, said.leg_groups, "leg group")
    count = row.value(TRANSFER_COUNT)
    if count == 0:
        row.report("transfer_count must be -1 (unlimited) or at least 1")
    given = row.raw(TRANSFER_COUNT.name) != ""
    if from_group == to_group and not given:
        row.report("transfer_count is required when from and to leg groups are the same")
    if from_group != to_group and given:
        row.report("transfer_count is forbidden when from and to leg groups differ")
    limit = row.value(DURATION_LIMIT)
    limit_type = row.value(DURATION_LIMIT_TYPE)
    if (row.raw(DURATION_LIMIT.name) == "") != (row.raw(DURATION_LIMIT_TYPE.name) == ""):
        row.report("duration_limit and duration_limit_type go together")
    transfer_type = row.value(FARE_TRANSFER_TYPE)
    product = row.text(TRANSFER_PRODUCT)
    if product and product not in said.prices:
        row.report(f"fare_product_id {product!r} is not in fare_products.txt")
    if not row.ok or transfer_type is None:
        return None
    # The rule's key on cards stays the same while the row's values do.
    key = key_of(",".join(row.raw(column.name) for column in TRANSFER_COLUMNS))
    if key == 0 or key in said.transfer_keys:
        row.report(f"the same transfer rule as line {said.transfer_keys.get(key)}")
        return None
    said.transfer_keys[key] = row.line
    return TransferRule(
        f"{row.table.file}:{row.line}",
        key,
        from_group,
        to_group,
        count,
        limit,
        limit_type,
        transfer_type,
        product,
        said.prices[product] if product else {ANY_CATEGORY: 0},
    )


FARE_TRANSFER_RULES = FileSpec("fare_transfer_rules.txt", TRANSFER_COLUMNS, _transfer_rule)

# -- pass_products.txt (extension) -------------------------------------------------------------

PASS_PRODUCT_ID = Column("pass_product_id", str, required=True)
PASS_CODE = Column("pass_code", whole_number(1, 255), required=True)
COVERAGE = Column("coverage", choice(PassCoverage), required=True)
PASS_NETWORK_ID = Column("network_id", str)
VALIDITY = Column("validity", choice(PassValidity), required=True)
VALIDITY_LENGTH = Column("validity_length", whole_number(1, 366), required=True)
PASS_NAME = Column("pass_product_name", str)


def _pass_product(row: Row, said: SoFar) -> PassProduct | None:
    product_id = row.raw(PASS_PRODUCT_ID.name)
    if product_id not in said.prices:
        row.report(f"pass_product_id {product_id!r} has no prices in fare_products.txt")
    code = row.value(PASS_CODE)
    if code is not None and code in said.pass_codes:
        row.report(f"pass_code {code} repeats line {said.pass_codes[code]}")
    coverage = row.value(COVERAGE)
    network = row.reference(PASS_NETWORK_ID, said.networks or set(), "network")
    validity = row.value(VALIDITY)
    length = row.value(VALIDITY_LENGTH)
    prices = said.prices.get(product_id, {})
    if ANY_CATEGORY in prices:
        row.report("a pass needs a price per rider category (who may buy it)")
    if min(prices.values(), default=0) < 0:
        row.report(f"pass_product_id {product_id!r} has a negative price; a pass cannot")
    for category in prices:
        if category in said.categories and said.categories[category].rides_free:
            row.report(f"category {category!r} rides free; it needs no pass")
    if code is None or coverage is None or validity is None or length is None:
        return None
    said.pass_codes[code] = row.line
    return PassProduct(
        f"{row.table.file}:{row.line}",
        product_id,
        row.text(PASS_NAME) or product_id,
        code,
        coverage,
        network,
        validity,
        length,
        dict(prices),
    )


PASS_PRODUCTS = FileSpec(
    "pass_products.txt",
    (PASS_PRODUCT_ID, PASS_CODE, COVERAGE, PASS_NETWORK_ID, VALIDITY, VALIDITY_LENGTH, PASS_NAME),
    _pass_product,
    key=PASS_PRODUCT_ID,
)

# -- fare_caps.txt (extension) -----------------------------------------------------------------

CAP_ID = Column("cap_id", str, required=True)
CAP_CODE = Column("cap_code", whole_number(1, 255), required=True)
CAP_CATEGORY = Column("rider_category_id", str)
CAP_NETWORK_ID = Column("network_id", str)
PERIOD = Column("period", choice(CapPeriod), required=True)
PERIOD_DAYS = Column("period_days", whole_number(1, MAX_CARD_DAY))
CAP_AMOUNT = Column("amount", str)  # a currency amount, like fare_products.amount
CAP_PASS = Column("pass_product_id", str)


def _cap(row: Row, said: SoFar) -> FareCap | None:
    code = row.value(CAP_CODE)
    if code is not None and code in said.cap_codes:
        row.report(f"cap_code {code} repeats line {said.cap_codes[code]}")
        return None
    categories, passes = said.categories, said.pass_products
    category = row.reference(CAP_CATEGORY, categories, "rider category")
    network = row.reference(CAP_NETWORK_ID, said.networks or set(), "network")
    period = row.value(PERIOD)
    days = row.value(PERIOD_DAYS)
    days_given = row.raw(PERIOD_DAYS.name) != ""
    if period is CapPeriod.ROLLING and days is None and not days_given:
        row.report("period_days is required for a rolling period")
    if period not in (None, CapPeriod.ROLLING) and days_given:
        row.report("period_days is only for a rolling period")
    amount = _amount(row, CAP_AMOUNT, said)
    if amount is not None and not 1 <= amount <= MAX_AMOUNT:
        row.report(f"amount must be more than 0 and at most {MAX_AMOUNT} minor units")
        amount = None
    pass_id = row.reference(CAP_PASS, passes, "pass product")
    if (row.raw(CAP_AMOUNT.name) == "") == (pass_id == ""):
        row.report("give exactly one of amount and pass_product_id")
        return None
    if code is None or period is None or (period is CapPeriod.ROLLING and days is None):
        return None
    amounts: dict[str, int] = {}
    for member in [category] if category else list(categories):
        if amount is not None:
            amounts[member] = amount
        elif pass_id in passes and member in passes[pass_id].prices:
            amounts[member] = passes[pass_id].prices[member]
        elif category:
            row.report(f"pass {pass_id!r} has no price for {category!r}")
    for member in amounts:
        said.caps_per_category[member] += 1
        if said.caps_per_category[member] == MAX_CAP_SLOTS + 1:
            row.report(
                f"category {member!r} has more than {MAX_CAP_SLOTS} caps; "
                f"a card keeps {MAX_CAP_SLOTS} cap totals"
            )
    said.cap_codes[code] = row.line
    return FareCap(
        f"{row.table.file}:{row.line}",
        row.raw(CAP_ID.name),
        code,
        category,
        network,
        period,
        days or 1,
        amount,
        pass_id,
        amounts,
    )


FARE_CAPS = FileSpec(
    "fare_caps.txt",
    (CAP_ID, CAP_CODE, PERIOD, CAP_CATEGORY, CAP_NETWORK_ID, PERIOD_DAYS, CAP_AMOUNT, CAP_PASS),
    _cap,
    key=CAP_ID,
)

# -- pass_networks.txt (extension) -------------------------------------------------------------

PASS_NETWORK_PRODUCT = Column("pass_product_id", str, required=True)
PASS_NETWORK = Column("network_id", str, required=True)


def _pass_network(row: Row, said: SoFar) -> tuple[str, str] | None:
    product_id = row.reference(PASS_NETWORK_PRODUCT, said.pass_products, "pass product")
    network = row.reference(PASS_NETWORK, said.networks or set(), "network")
    if not product_id or not network:
        return None
    product = said.pass_products[product_id]
    if product.coverage is not PassCoverage.NETWORK:
        row.report(f"pass {product_id!r} covers one route; only a network pass lists networks")
        return None
    if product.network_id:
        row.report(f"pass {product_id!r} names network_id {product.network_id!r} already")
        return None
    return product_id, network


PASS_NETWORKS = FileSpec("pass_networks.txt", (PASS_NETWORK_PRODUCT, PASS_NETWORK), _pass_network)

# -- fare_free_periods.txt (extension) ---------------------------------------------------------

FREE_PERIOD_ID = Column("free_period_id", str, required=True)
FREE_PERIOD_NAME = Column("free_period_name", str, required=True)
FREE_START = Column("start_date", calendar_date, required=True)
FREE_END = Column("end_date", calendar_date, required=True)


def _free_period(row: Row, said: SoFar) -> FreePeriod | None:
    start = row.value(FREE_START)
    end = row.value(FREE_END)
    if start is None or end is None:
        return None
    if end < start:
        row.report(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
        return None
    first, last = card_day(start), card_day(end)
    if first < 0 or last > MAX_CARD_DAY:
        row.report("the period is outside what a card can date (2020 to 2199)")
        return None
    return FreePeriod(
        f"{row.table.file}:{row.line}",
        row.raw(FREE_PERIOD_ID.name),
        row.text(FREE_PERIOD_NAME),
        start,
        end,
        first,
        last,
    )


FARE_FREE_PERIODS = FileSpec(
    "fare_free_periods.txt",
    (FREE_PERIOD_ID, FREE_PERIOD_NAME, FREE_START, FREE_END),
    _free_period,
    key=FREE_PERIOD_ID,
)
