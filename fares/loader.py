"""Read a tariff folder (GTFS-Fares v2 files plus our extension files) into a `Tariff`.

This is the only module of `fares` that reads files. Every problem found is collected, and a
folder with any problem raises one `TariffError` listing them all as `file:line: reason`.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fares.model import (
    CARD_EPOCH_DATE,
    MAX_AMOUNT,
    MAX_CAP_SLOTS,
    MAX_CARD_DAY,
    SECONDS_PER_DAY,
    card_day,
    key_of,
)
from fares.tariff import (
    ANY_CATEGORY,
    CapPeriod,
    FareCap,
    LegRule,
    PassCoverage,
    PassProduct,
    PassValidity,
    RiderCategory,
    Service,
    Tariff,
    TariffError,
    TariffVersion,
    Timeframe,
    TransferRule,
)

VERSION_FILE = "tariff_version.txt"
HANOI_TARIFF_DIR = Path(__file__).resolve().parent / "tariffs" / "hanoi"
_TIME = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
_OFFSET = re.compile(r"^([+-])(\d{2}):([0-5]\d)$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def load_hanoi_tariff() -> Tariff:
    """The Hanoi tariff shipped with the package, every version."""
    return load_tariff(HANOI_TARIFF_DIR, name="hanoi")


def load_tariff(folder: Path | str, name: str | None = None) -> Tariff:
    """Load a tariff: one version folder, or a folder whose subfolders are its versions."""
    root = Path(folder)
    problems: list[str] = []
    if not root.is_dir():
        raise TariffError([f"{root}:1: not a folder"])
    if (root / VERSION_FILE).is_file():
        version_folders = [(root, "")]
    else:
        version_folders = [
            (child, f"{child.name}/")
            for child in sorted(root.iterdir())
            if (child / VERSION_FILE).is_file()
        ]
    if not version_folders:
        raise TariffError(
            [f"{VERSION_FILE}:1: missing, in {root} and in every subfolder: no tariff version"]
        )
    versions = []
    for path, prefix in version_folders:
        version = _VersionLoader(path, prefix, problems).load()
        if version is not None:
            versions.append(version)
    _check_across_versions(versions, problems)
    if problems:
        raise TariffError(problems)
    versions.sort(key=lambda v: v.effective_from)
    for version in versions:
        version.index()
    return Tariff(name or root.name, tuple(versions))


def _check_across_versions(versions: list[TariffVersion], problems: list[str]) -> None:
    """Codes written on cards must mean the same thing in every version."""
    seen_dates: dict[date, str] = {}
    codes: dict[tuple[str, int], tuple[str, str]] = {}
    for version in versions:
        where = f"{version.folder}{VERSION_FILE}:2"
        if version.effective_from in seen_dates:
            problems.append(
                f"{where}: effective_from {version.effective_from} is also the date of "
                f"{seen_dates[version.effective_from]}"
            )
        seen_dates[version.effective_from] = version.folder or version.version_id
        owned: list[tuple[str, int, str, str]] = [
            ("category", c.code, c.category_id, f"{version.folder}rider_category_attributes.txt")
            for c in version.categories.values()
        ]
        owned += [
            ("pass", p.code, p.pass_product_id, f"{version.folder}pass_products.txt")
            for p in version.pass_products.values()
        ]
        owned += [("cap", c.code, c.cap_id, f"{version.folder}fare_caps.txt") for c in version.caps]
        for kind, code, ident, file in owned:
            earlier = codes.setdefault((kind, code), (ident, version.version_id))
            if earlier[0] != ident:
                problems.append(
                    f"{file}:1: {kind} code {code} is {ident!r} here but {earlier[0]!r} in "
                    f"version {earlier[1]}; codes on cards must keep their meaning"
                )


@dataclass(frozen=True, slots=True)
class _Head:
    """The one row of tariff_version.txt."""

    version_id: str
    effective_from: date
    utc_offset: int
    currency: str
    fare_media_id: str
    day_start: int
    passback_seconds: int
    assumed_leg_seconds: int


@dataclass
class _Row:
    table: _Table
    line: int
    values: dict[str, str]

    def error(self, reason: str) -> None:
        self.table.problems.append(f"{self.table.where}:{self.line}: {reason}")

    def text(self, name: str, *, required: bool = False) -> str:
        value = self.values.get(name, "")
        if required and not value and name in self.table.columns:
            self.error(f"{name} is required")
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int | None:
        raw = self.text(name, required=required)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.error(f"{name} must be a whole number, not {raw!r}")
            return None
        if minimum is not None and value < minimum:
            self.error(f"{name} must be at least {minimum}, not {value}")
            return None
        if maximum is not None and value > maximum:
            self.error(f"{name} must be at most {maximum}, not {value}")
            return None
        return value

    def choice(self, name: str, allowed: dict[str, int], *, required: bool = False) -> int | None:
        raw = self.text(name, required=required)
        if not raw:
            return None
        if raw not in allowed:
            self.error(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
            return None
        return allowed[raw]

    def clock(self, name: str) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        match = _TIME.match(raw)
        if not match:
            self.error(f"{name} must be HH:MM:SS, not {raw!r}")
            return None
        hours, minutes, seconds = (int(part) for part in match.groups())
        value = hours * 3600 + minutes * 60 + seconds
        if value > SECONDS_PER_DAY:
            self.error(f"{name} must not be later than 24:00:00, not {raw!r}")
            return None
        return value

    def day(self, name: str, *, required: bool = False) -> date | None:
        raw = self.text(name, required=required)
        if not raw:
            return None
        try:
            if len(raw) == 8 and raw.isdigit():
                return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            return date.fromisoformat(raw)
        except ValueError:
            self.error(f"{name} must be a date (YYYY-MM-DD or YYYYMMDD), not {raw!r}")
            return None

    def reference(self, name: str, known: Container[str], what: str) -> str:
        value = self.text(name)
        if value and value not in known:
            self.error(f"{name} {value!r} is not a known {what}")
        return value


@dataclass
class _Table:
    where: str
    problems: list[str]
    columns: set[str] = field(default_factory=set)
    rows: list[_Row] = field(default_factory=list)
    present: bool = False

    def __iter__(self) -> Iterator[_Row]:
        return iter(self.rows)

    def header_error(self, reason: str) -> None:
        self.problems.append(f"{self.where}:1: {reason}")


class _VersionLoader:
    """Reads one version folder; problems go into the shared list."""

    def __init__(self, folder: Path, prefix: str, problems: list[str]) -> None:
        self.folder = folder
        self.prefix = prefix
        self.problems = problems

    def table(self, name: str, required_columns: tuple[str, ...], *, required: bool) -> _Table:
        table = _Table(f"{self.prefix}{name}", self.problems)
        path = self.folder / name
        if not path.is_file():
            if required:
                table.header_error("required file is missing")
            return table
        table.present = True
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    table.header_error("file is empty; the first line must name the columns")
                    return table
                names = [column.strip() for column in header]
                table.columns = set(names)
                for column, count in Counter(names).items():
                    if count > 1:
                        table.header_error(f"column {column} appears {count} times")
                for column in required_columns:
                    if column not in table.columns:
                        table.header_error(f"missing column {column}")
                for fields in reader:
                    if not any(value.strip() for value in fields):
                        continue
                    row = _Row(table, reader.line_num, {})
                    if len(fields) != len(names):
                        row.error(f"has {len(fields)} fields but the header has {len(names)}")
                        continue
                    row.values = {n: v.strip() for n, v in zip(names, fields, strict=True)}
                    table.rows.append(row)
        except UnicodeDecodeError as error:
            table.header_error(f"not UTF-8 text: {error.reason}")
        except csv.Error as error:
            table.header_error(f"not CSV: {error}")
        return table

    def unique(self, table: _Table, column: str) -> dict[str, _Row]:
        """Rows by a column that must be unique and non-empty."""
        found: dict[str, _Row] = {}
        for row in table:
            value = row.text(column, required=True)
            if not value:
                continue
            if value in found:
                row.error(f"{column} {value!r} repeats line {found[value].line}")
                continue
            found[value] = row
        return found

    def load(self) -> TariffVersion | None:
        count = len(self.problems)
        head = self.version_head()
        media = self.fare_media()
        categories = self.categories()
        networks, route_networks = self.networks()
        areas, stop_areas = self.areas()
        services = self.services()
        timeframes = self.timeframes(services)
        medium = head.fare_media_id if head else ""
        if head and medium and media is not None and medium not in media:
            self.problems.append(
                f"{self.prefix}{VERSION_FILE}:2: fare_media_id {medium!r} is not in fare_media.txt"
            )
        currency = head.currency if head else ""
        prices = self.products(categories, media, medium, currency)
        leg_rules, uses_priority = self.leg_rules(prices, networks, areas, timeframes)
        transfer_rules = self.transfer_rules(prices, leg_rules)
        pass_products = self.pass_products(prices, networks, categories)
        caps = self.caps(categories, networks, pass_products)
        default = [c for c in categories.values() if c.is_default]
        if len(self.problems) > count or head is None or len(default) != 1:
            return None
        return TariffVersion(
            version_id=head.version_id,
            folder=self.prefix,
            effective_from=head.effective_from,
            effective_seconds=card_day(head.effective_from) * SECONDS_PER_DAY - head.utc_offset,
            utc_offset=head.utc_offset,
            currency=currency,
            fare_media_id=medium,
            day_start=head.day_start,
            passback_seconds=head.passback_seconds,
            assumed_leg_seconds=head.assumed_leg_seconds,
            categories=categories,
            default_category=default[0],
            route_networks=route_networks,
            stop_areas=stop_areas,
            leg_rules=tuple(leg_rules),
            uses_priority=uses_priority,
            transfer_rules=tuple(transfer_rules),
            caps=tuple(caps),
            pass_products=pass_products,
            timeframes=tuple(timeframes),
            services=services,
        )

    def version_head(self) -> _Head | None:
        table = self.table(
            VERSION_FILE, ("tariff_version_id", "effective_from", "utc_offset", "currency"),
            required=True,
        )  # fmt: skip
        if not table.present:
            return None
        if len(table.rows) != 1:
            table.header_error(f"must have exactly one data row, not {len(table.rows)}")
            return None
        row = table.rows[0]
        version_id = row.text("tariff_version_id", required=True)
        effective = row.day("effective_from", required=True)
        if effective is not None and effective < CARD_EPOCH_DATE:
            row.error(f"effective_from must not be before {CARD_EPOCH_DATE}, the card epoch")
            effective = None
        offset_text = row.text("utc_offset", required=True)
        offset: int | None = None
        if offset_text:
            match = _OFFSET.match(offset_text)
            if match and int(match[2]) <= 14:
                sign = -1 if match[1] == "-" else 1
                offset = sign * (int(match[2]) * 3600 + int(match[3]) * 60)
            else:
                row.error(f"utc_offset must be like +07:00, not {offset_text!r}")
        currency = row.text("currency", required=True)
        if currency and not re.fullmatch(r"[A-Z]{3}", currency):
            row.error(f"currency must be an ISO 4217 code like VND, not {currency!r}")
        day_start = row.clock("service_day_start")
        if day_start is not None and day_start >= SECONDS_PER_DAY:
            row.error("service_day_start must be before 24:00:00")
            day_start = None
        passback = row.integer("passback_seconds", minimum=0, maximum=86_400, default=0)
        assumed = row.integer("assumed_leg_seconds", minimum=0, maximum=86_400, default=0)
        if not version_id or effective is None or offset is None or not currency:
            return None
        if passback is None or assumed is None:
            return None
        return _Head(
            version_id,
            effective,
            offset,
            currency,
            row.text("fare_media_id"),
            day_start or 0,
            passback,
            assumed,
        )

    def fare_media(self) -> set[str] | None:
        table = self.table("fare_media.txt", ("fare_media_id", "fare_media_type"), required=False)
        if not table.present:
            return None
        for row in table:
            row.integer("fare_media_type", required=True, minimum=0, maximum=4)
        return set(self.unique(table, "fare_media_id"))

    def categories(self) -> dict[str, RiderCategory]:
        table = self.table(
            "rider_categories.txt",
            ("rider_category_id", "rider_category_name", "is_default_fare_category"),
            required=True,
        )
        extension = self.table(
            "rider_category_attributes.txt", ("rider_category_id", "category_code"), required=True
        )
        rows = self.unique(table, "rider_category_id")
        attributes = self.unique(extension, "rider_category_id")
        codes: dict[int, _Row] = {}
        categories = {}
        defaults = []
        for category_id, row in rows.items():
            name = row.text("rider_category_name", required=True)
            is_default = row.integer("is_default_fare_category", minimum=0, maximum=1, default=0)
            if is_default:
                defaults.append(row)
                if len(defaults) > 1:
                    row.error(f"a second default category; line {defaults[0].line} is one")
            attribute = attributes.get(category_id)
            if attribute is None:
                if extension.present:
                    extension.header_error(f"no row for rider category {category_id!r}")
                continue
            code = attribute.integer("category_code", required=True, minimum=1, maximum=255)
            free = attribute.integer("rides_free", minimum=0, maximum=1, default=0)
            if code is None or free is None:
                continue
            if code in codes:
                attribute.error(f"category_code {code} repeats line {codes[code].line}")
                continue
            codes[code] = attribute
            categories[category_id] = RiderCategory(
                category_id, name, code, bool(is_default), bool(free)
            )
        for category_id, row in attributes.items():
            if category_id not in rows:
                row.error(f"rider_category_id {category_id!r} is not in rider_categories.txt")
        if table.present and rows and not defaults:
            table.header_error("no category has is_default_fare_category=1; exactly one must")
        return categories

    def networks(self) -> tuple[set[str] | None, dict[str, str]]:
        table = self.table("networks.txt", ("network_id",), required=False)
        networks = set(self.unique(table, "network_id")) if table.present else None
        links = self.table("route_networks.txt", ("network_id", "route_id"), required=False)
        route_networks: dict[str, str] = {}
        keys: dict[int, str] = {}
        for route_id, row in self.unique(links, "route_id").items():
            network = row.text("network_id", required=True)
            if networks is not None and network and network not in networks:
                row.error(f"network_id {network!r} is not in networks.txt")
            key = key_of(route_id)
            if key == 0 or key in keys:
                row.error(f"route_id {route_id!r} has the same card key as {keys.get(key)!r}")
            keys[key] = route_id
            route_networks[route_id] = network
        if networks is None:
            networks = set(route_networks.values()) if links.present else None
        return networks, route_networks

    def areas(self) -> tuple[set[str] | None, dict[str, frozenset[str]]]:
        table = self.table("areas.txt", ("area_id",), required=False)
        areas = set(self.unique(table, "area_id")) if table.present else None
        links = self.table("stop_areas.txt", ("area_id", "stop_id"), required=False)
        found: dict[str, set[str]] = {}
        for row in links:
            area = row.text("area_id", required=True)
            stop = row.text("stop_id", required=True)
            if areas is not None and area and area not in areas:
                row.error(f"area_id {area!r} is not in areas.txt")
            if stop in found and area in found[stop]:
                row.error(f"stop {stop!r} is already in area {area!r}")
            found.setdefault(stop, set()).add(area)
        if areas is None and links.present:
            areas = {area for stop_set in found.values() for area in stop_set}
        return areas, {stop: frozenset(found_areas) for stop, found_areas in found.items()}

    def services(self) -> dict[str, Service]:
        columns = ("service_id", *_WEEKDAYS, "start_date", "end_date")
        table = self.table("calendar.txt", columns, required=False)
        services = {}
        for service_id, row in self.unique(table, "service_id").items():
            flags = [row.integer(day, required=True, minimum=0, maximum=1) for day in _WEEKDAYS]
            start = row.day("start_date", required=True)
            end = row.day("end_date", required=True)
            if start and end and end < start:
                row.error("end_date is before start_date")
            if start and end and None not in flags:
                weekdays = frozenset(i for i, flag in enumerate(flags) if flag)
                services[service_id] = Service(service_id, weekdays, start, end)
        return services

    def timeframes(self, services: dict[str, Service]) -> list[Timeframe]:
        table = self.table("timeframes.txt", ("timeframe_group_id",), required=False)
        frames = []
        for row in table:
            group = row.text("timeframe_group_id", required=True)
            start = row.clock("start_time")
            end = row.clock("end_time")
            if (row.text("start_time") == "") != (row.text("end_time") == ""):
                row.error("start_time and end_time go together: give both or neither")
                continue
            if start is not None and end is not None and start >= end:
                row.error("end_time must be after start_time (split a frame across midnight)")
                continue
            service_id = row.text("service_id")
            if service_id and service_id not in services:
                row.error(f"service_id {service_id!r} is not in calendar.txt")
                continue
            if group:
                frames.append(
                    Timeframe(
                        group,
                        0 if start is None else start,
                        SECONDS_PER_DAY if end is None else end,
                        service_id,
                    )
                )
        return frames

    def products(
        self,
        categories: dict[str, RiderCategory],
        media: set[str] | None,
        medium: str,
        currency: str,
    ) -> dict[str, dict[str, int]]:
        columns = ("fare_product_id", "amount", "currency")
        table = self.table("fare_products.txt", columns, required=True)
        prices: dict[str, dict[str, int]] = {}
        seen: dict[tuple[str, str], int] = {}
        for row in table:
            product = row.text("fare_product_id", required=True)
            category = row.reference("rider_category_id", categories, "rider category")
            row_medium = row.text("fare_media_id")
            if row_medium and media is not None and row_medium not in media:
                row.error(f"fare_media_id {row_medium!r} is not in fare_media.txt")
            row_currency = row.text("currency", required=True)
            if currency and row_currency and row_currency != currency:
                row.error(f"currency {row_currency} differs from the tariff's {currency}")
            raw = row.text("amount", required=True)
            amount: int | None = None
            if raw:
                try:
                    amount = int(raw)
                except ValueError:
                    row.error(f"amount must be whole {currency or 'currency'} units, not {raw!r}")
                else:
                    if abs(amount) > MAX_AMOUNT:
                        row.error(f"amount {amount} is too large")
                        amount = None
            if not product or amount is None:
                continue
            prices.setdefault(product, {})
            if medium and row_medium and row_medium != medium:
                continue
            pair = (product, category or ANY_CATEGORY)
            if pair in seen:
                row.error(
                    f"a second price of {product!r} for "
                    f"{category or 'every rider'} (line {seen[pair]})"
                )
                continue
            seen[pair] = row.line
            prices[product][category or ANY_CATEGORY] = amount
        return prices

    def leg_rules(
        self,
        prices: dict[str, dict[str, int]],
        networks: set[str] | None,
        areas: set[str] | None,
        timeframes: list[Timeframe],
    ) -> tuple[list[LegRule], bool]:
        table = self.table("fare_leg_rules.txt", ("fare_product_id",), required=True)
        uses_priority = "rule_priority" in table.columns
        groups = {frame.group_id for frame in timeframes}
        rules = []
        group_keys: dict[int, str] = {}
        for row in table:
            product = row.text("fare_product_id", required=True)
            if product and product not in prices:
                row.error(f"fare_product_id {product!r} is not in fare_products.txt")
                continue
            network = row.reference("network_id", networks or set(), "network")
            from_area = row.reference("from_area_id", areas or set(), "area")
            to_area = row.reference("to_area_id", areas or set(), "area")
            from_frame = row.reference("from_timeframe_group_id", groups, "timeframe group")
            to_frame = row.reference("to_timeframe_group_id", groups, "timeframe group")
            priority = row.integer("rule_priority", minimum=0, default=0)
            leg_group = row.text("leg_group_id")
            key = key_of(leg_group) if leg_group else 0
            if leg_group and (key == 0 or group_keys.get(key, leg_group) != leg_group):
                row.error(f"leg_group_id {leg_group!r} has the same card key as another")
                continue
            if leg_group:
                group_keys[key] = leg_group
            if product and min(prices[product].values(), default=0) < 0:
                row.error(f"fare_product_id {product!r} has a negative price; a leg cannot")
                continue
            if priority is None or not product:
                continue
            rules.append(
                LegRule(
                    f"{table.where}:{row.line}",
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
            )
        if table.present and not table.rows:
            table.header_error("no leg rules: no tap could be priced")
        return rules, uses_priority

    def transfer_rules(
        self, prices: dict[str, dict[str, int]], leg_rules: list[LegRule]
    ) -> list[TransferRule]:
        columns = ("from_leg_group_id", "to_leg_group_id", "fare_transfer_type")
        table = self.table("fare_transfer_rules.txt", columns, required=False)
        groups = {rule.leg_group_id for rule in leg_rules if rule.leg_group_id}
        rules = []
        keys: dict[int, int] = {}
        for row in table:
            before = len(self.problems)
            from_group = row.reference("from_leg_group_id", groups, "leg group")
            to_group = row.reference("to_leg_group_id", groups, "leg group")
            count = row.integer("transfer_count", minimum=-1, maximum=254)
            if count == 0:
                row.error("transfer_count must be -1 (unlimited) or at least 1")
            if from_group == to_group and row.text("transfer_count") == "":
                row.error("transfer_count is required when from and to leg groups are the same")
            if from_group != to_group and row.text("transfer_count") != "":
                row.error("transfer_count is forbidden when from and to leg groups differ")
            limit = row.integer("duration_limit", minimum=1)
            limit_type = row.integer("duration_limit_type", minimum=0, maximum=3)
            if (row.text("duration_limit") == "") != (row.text("duration_limit_type") == ""):
                row.error("duration_limit and duration_limit_type go together")
            transfer_type = row.integer("fare_transfer_type", required=True, minimum=0, maximum=2)
            product = row.text("fare_product_id")
            if product and product not in prices:
                row.error(f"fare_product_id {product!r} is not in fare_products.txt")
            if len(self.problems) > before or transfer_type is None:
                continue
            canonical = ",".join(
                row.text(name)
                for name in (
                    "from_leg_group_id",
                    "to_leg_group_id",
                    "transfer_count",
                    "duration_limit",
                    "duration_limit_type",
                    "fare_transfer_type",
                    "fare_product_id",
                )
            )
            key = key_of(canonical)
            if key == 0 or key in keys:
                row.error(f"the same transfer rule as line {keys.get(key)}")
                continue
            keys[key] = row.line
            rules.append(
                TransferRule(
                    f"{table.where}:{row.line}",
                    key,
                    from_group,
                    to_group,
                    count,
                    limit,
                    limit_type,
                    transfer_type,
                    product,
                    prices[product] if product else {ANY_CATEGORY: 0},
                )
            )
        return rules

    def pass_products(
        self,
        prices: dict[str, dict[str, int]],
        networks: set[str] | None,
        categories: dict[str, RiderCategory],
    ) -> dict[str, PassProduct]:
        columns = ("pass_product_id", "pass_code", "coverage", "validity", "validity_length")
        table = self.table("pass_products.txt", columns, required=False)
        products = {}
        codes: dict[int, int] = {}
        coverages = {c.value: i for i, c in enumerate(PassCoverage)}
        validities = {v.value: i for i, v in enumerate(PassValidity)}
        for product_id, row in self.unique(table, "pass_product_id").items():
            if product_id not in prices:
                row.error(f"pass_product_id {product_id!r} has no prices in fare_products.txt")
            code = row.integer("pass_code", required=True, minimum=1, maximum=255)
            if code is not None and code in codes:
                row.error(f"pass_code {code} repeats line {codes[code]}")
            coverage = row.choice("coverage", coverages, required=True)
            network = row.reference("network_id", networks or set(), "network")
            validity = row.choice("validity", validities, required=True)
            length = row.integer("validity_length", required=True, minimum=1, maximum=366)
            product_prices = prices.get(product_id, {})
            if ANY_CATEGORY in product_prices:
                row.error("a pass needs a price per rider category (who may buy it)")
            for category in product_prices:
                if category in categories and categories[category].rides_free:
                    row.error(f"category {category!r} rides free; it needs no pass")
            if code is None or coverage is None or validity is None or length is None:
                continue
            codes[code] = row.line
            products[product_id] = PassProduct(
                f"{table.where}:{row.line}",
                product_id,
                row.text("pass_product_name") or product_id,
                code,
                list(PassCoverage)[coverage],
                network,
                list(PassValidity)[validity],
                length,
                dict(product_prices),
            )
        return products

    def caps(
        self,
        categories: dict[str, RiderCategory],
        networks: set[str] | None,
        passes: dict[str, PassProduct],
    ) -> list[FareCap]:
        columns = ("cap_id", "cap_code", "period")
        table = self.table("fare_caps.txt", columns, required=False)
        caps = []
        codes: dict[int, int] = {}
        per_category: Counter[str] = Counter()
        periods = {p.value: i for i, p in enumerate(CapPeriod)}
        for cap_id, row in self.unique(table, "cap_id").items():
            code = row.integer("cap_code", required=True, minimum=1, maximum=255)
            if code is not None and code in codes:
                row.error(f"cap_code {code} repeats line {codes[code]}")
                continue
            category = row.reference("rider_category_id", categories, "rider category")
            network = row.reference("network_id", networks or set(), "network")
            period_index = row.choice("period", periods, required=True)
            period = None if period_index is None else list(CapPeriod)[period_index]
            days = row.integer("period_days", minimum=1, maximum=MAX_CARD_DAY)
            if period is CapPeriod.ROLLING and days is None and not row.text("period_days"):
                row.error("period_days is required for a rolling period")
            if period not in (None, CapPeriod.ROLLING) and row.text("period_days"):
                row.error("period_days is only for a rolling period")
            amount = row.integer("amount", minimum=1, maximum=MAX_AMOUNT)
            pass_id = row.reference("pass_product_id", passes, "pass product")
            if (row.text("amount") == "") == (pass_id == ""):
                row.error("give exactly one of amount and pass_product_id")
                continue
            if code is None or period is None or (period is CapPeriod.ROLLING and days is None):
                continue
            applies_to = [category] if category else list(categories)
            amounts: dict[str, int] = {}
            for member in applies_to:
                if amount is not None:
                    amounts[member] = amount
                elif pass_id in passes and member in passes[pass_id].prices:
                    amounts[member] = passes[pass_id].prices[member]
                elif category:
                    row.error(f"pass {pass_id!r} has no price for {category!r}")
            for member in amounts:
                per_category[member] += 1
                if per_category[member] == MAX_CAP_SLOTS + 1:
                    row.error(
                        f"category {member!r} has more than {MAX_CAP_SLOTS} caps; "
                        f"a card keeps {MAX_CAP_SLOTS} cap totals"
                    )
            codes[code] = row.line
            caps.append(
                FareCap(
                    f"{table.where}:{row.line}",
                    cap_id,
                    code,
                    category,
                    network,
                    period,
                    days or 1,
                    amount,
                    pass_id,
                    amounts,
                )
            )
        return caps
