"""A tariff as the engine uses it: versions by effective date, with indexes built at load time."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from fares.model import SECONDS_PER_DAY, key_of, stop_key_of

ANY_CATEGORY = ""  # fare_products.rider_category_id left empty: the price for every rider


class TariffError(ValueError):
    """A tariff folder with problems; `problems` lists each one as `file:line: reason`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class CapPeriod(StrEnum):
    """The period a fare cap's total runs over."""

    DAY = "day"  # one service day
    WEEK = "week"  # Monday to Sunday, in service days
    MONTH = "month"  # a calendar month, in service days
    ROLLING = "rolling"  # N service days from the first charged day


class PassCoverage(StrEnum):
    """Where a pass may be used."""

    ONE_ROUTE = "one_route"  # the route written on the pass
    NETWORK = "network"  # every route of network_id, or every route when it is empty


class PassValidity(StrEnum):
    """How a pass's validity is counted."""

    DAYS = "days"
    CALENDAR_MONTH = "calendar_month"


@dataclass(frozen=True, slots=True)
class RiderCategory:
    """A rider category and what our extension files say about it."""

    category_id: str
    name: str
    code: int
    is_default: bool
    rides_free: bool


@dataclass(frozen=True, slots=True)
class LegRule:
    """One row of fare_leg_rules.txt, with its product's prices by rider category."""

    ref: str  # file:line
    leg_group_id: str
    leg_group_key: int
    network_id: str
    from_area_id: str
    to_area_id: str
    from_timeframe_group_id: str
    to_timeframe_group_id: str
    fare_product_id: str
    priority: int
    prices: Mapping[str, int]  # category id (or ANY_CATEGORY) -> amount
    # Filled by TariffVersion.index(): the price for each category, and explanation texts.
    price_for: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    charged_texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TransferRule:
    """One row of fare_transfer_rules.txt."""

    ref: str
    key: int  # stable across versions while the row's values stay the same
    from_leg_group_id: str
    to_leg_group_id: str
    transfer_count: int | None  # -1 unlimited; None when the groups differ
    duration_limit: int | None  # seconds
    duration_limit_type: int | None
    fare_transfer_type: int
    fare_product_id: str
    prices: Mapping[str, int]  # empty product: {ANY_CATEGORY: 0}


@dataclass(frozen=True, slots=True)
class FareCap:
    """One row of fare_caps.txt with its amount for each category it applies to."""

    ref: str
    cap_id: str
    code: int
    rider_category_id: str  # "" for every category
    network_id: str  # "" for every network
    period: CapPeriod
    period_days: int
    amount: int | None
    pass_product_id: str
    amounts: Mapping[str, int]  # category id -> cap amount


@dataclass(frozen=True, slots=True)
class PassProduct:
    """One row of pass_products.txt with its prices from fare_products.txt."""

    ref: str
    pass_product_id: str
    name: str
    code: int
    coverage: PassCoverage
    network_id: str
    validity: PassValidity
    validity_length: int
    prices: Mapping[str, int]  # the categories that may buy it -> price
    # pass_networks.txt: the networks a `network` pass covers, when it names more than one
    networks: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Timeframe:
    """One row of timeframes.txt: seconds of the local day and the service that limits it."""

    group_id: str
    start: int
    end: int
    service_id: str


@dataclass(frozen=True, slots=True)
class Service:
    """One row of calendar.txt."""

    service_id: str
    weekdays: frozenset[int]  # Monday is 0
    start_date: date
    end_date: date


@dataclass(frozen=True, slots=True)
class FreePeriod:
    """A window of service days on which every ride is free (fare_free_periods.txt)."""

    ref: str  # file:line
    period_id: str
    name: str
    start: date
    end: date  # inclusive
    first_day: int  # card day of `start`
    last_day: int  # card day of `end`


class RouteInfo(NamedTuple):
    """What the engine needs about a route, looked up once per tap."""

    key: int
    network_id: str
    leg_rules: tuple[LegRule, ...] | None  # the matching rules when stop and time do not matter


@dataclass(slots=True)
class TariffVersion:
    """The tariff in force from one local date until the next version's."""

    version_id: str
    folder: str
    effective_from: date
    effective_seconds: int  # card seconds of local midnight on effective_from
    utc_offset: int  # seconds east of UTC
    currency: str
    fare_media_id: str
    day_start: int  # seconds after local midnight at which a service day begins
    passback_seconds: int
    assumed_leg_seconds: int
    categories: dict[str, RiderCategory]
    default_category: RiderCategory
    route_networks: dict[str, str]  # route_id -> network_id
    stop_areas: dict[str, frozenset[str]]
    leg_rules: tuple[LegRule, ...]
    uses_priority: bool
    transfer_rules: tuple[TransferRule, ...]
    caps: tuple[FareCap, ...]
    pass_products: dict[str, PassProduct]
    timeframes: tuple[Timeframe, ...]
    services: dict[str, Service]
    # Indexes, built once by `index()`.
    categories_by_code: dict[int, RiderCategory] = field(default_factory=dict)
    pass_products_by_code: dict[int, PassProduct] = field(default_factory=dict)
    leg_groups_by_key: dict[int, str] = field(default_factory=dict)
    leg_rules_by_ref: dict[str, LegRule] = field(default_factory=dict)  # a decision's leg_rule
    legs_by_network: dict[str, tuple[LegRule, ...]] = field(default_factory=dict)
    transfers_by_groups: dict[tuple[str, str], tuple[TransferRule, ...]] = field(
        default_factory=dict
    )
    caps_by_scope: dict[tuple[str, str], tuple[tuple[FareCap, int], ...]] = field(
        default_factory=dict
    )
    cap_codes_by_category: dict[str, frozenset[int]] = field(default_factory=dict)
    listed: dict[str, frozenset[str]] = field(default_factory=dict)
    routes: dict[str, RouteInfo] = field(default_factory=dict)
    leg_rules_use_stop: bool = False
    leg_rules_use_time: bool = False
    match_cache: dict[tuple[str, str, str | None], tuple[LegRule, ...]] = field(
        default_factory=dict
    )
    # _entry_rules' answers when time does not matter: (route, stop) -> (rules, priced at exit)
    entry_cache: dict[tuple[str, str], tuple[tuple[LegRule, ...], bool]] = field(
        default_factory=dict
    )
    free_periods: tuple[FreePeriod, ...] = ()
    free_days: dict[int, FreePeriod] = field(default_factory=dict)  # card day -> its period
    # An exit at the entry stop this soon after the entry is free (the rider changed their mind).
    same_stop_exit_seconds: int = 1200
    route_ids_by_key: dict[int, str] = field(default_factory=dict)
    stop_ids_by_key: dict[int, str] = field(default_factory=dict)

    def index(self) -> None:
        """Build the lookups that make pricing a tap a handful of dictionary reads."""
        self.categories_by_code = {c.code: c for c in self.categories.values()}
        self.route_ids_by_key = {key_of(route_id): route_id for route_id in self.route_networks}
        self.stop_ids_by_key = {stop_key_of(stop_id): stop_id for stop_id in self.stop_areas}
        self.free_days = {
            day: period
            for period in self.free_periods
            for day in range(period.first_day, period.last_day + 1)
        }
        self.pass_products_by_code = {p.code: p for p in self.pass_products.values()}
        self.leg_groups_by_key = {r.leg_group_key: r.leg_group_id for r in self.leg_rules}
        self.leg_rules_by_ref = {r.ref: r for r in self.leg_rules}
        self.leg_rules_use_stop = any(r.from_area_id or r.to_area_id for r in self.leg_rules)
        self.leg_rules_use_time = any(
            r.from_timeframe_group_id or r.to_timeframe_group_id for r in self.leg_rules
        )
        self.listed = {
            "network": frozenset(r.network_id for r in self.leg_rules if r.network_id),
            "from_area": frozenset(r.from_area_id for r in self.leg_rules if r.from_area_id),
            "to_area": frozenset(r.to_area_id for r in self.leg_rules if r.to_area_id),
            "from_timeframe": frozenset(
                r.from_timeframe_group_id for r in self.leg_rules if r.from_timeframe_group_id
            ),
            "to_timeframe": frozenset(
                r.to_timeframe_group_id for r in self.leg_rules if r.to_timeframe_group_id
            ),
        }
        networks = set(self.route_networks.values()) | {""}
        for network in networks:
            self.legs_by_network[network] = self._leg_candidates(network)
        for rule in self.leg_rules:
            self._index_texts(rule)
        static = not (self.leg_rules_use_stop or self.leg_rules_use_time)
        for route_id, network in self.route_networks.items():
            rules = self.legs_by_network[network] if static else None
            if rules is not None and self.uses_priority and rules:
                rules = tuple(r for r in rules if r.priority == rules[0].priority)
            self.routes[route_id] = RouteInfo(key_of(route_id), network, rules)
        self._index_transfers()
        self._index_caps(networks)

    def _index_texts(self, rule: LegRule) -> None:
        group = rule.leg_group_id or rule.network_id
        for category in self.categories.values():
            name = category.category_id
            amount = rule.prices.get(name, rule.prices.get(ANY_CATEGORY))
            if category.rides_free:
                rule.texts[name] = (
                    f"leg rule {rule.ref} ({group}: {rule.fare_product_id}); "
                    f"rider category {name} rides free: 0"
                )
            elif amount is not None:
                rule.price_for[name] = amount
                rule.texts[name] = (
                    f"leg rule {rule.ref} ({group}: {rule.fare_product_id} {amount} for {name})"
                )
                rule.charged_texts[name] = f"{rule.texts[name]}; charged {amount}"

    def _leg_candidates(self, network: str) -> tuple[LegRule, ...]:
        listed = self.listed["network"]
        if self.uses_priority:
            rules = [r for r in self.leg_rules if r.network_id in ("", network)]
            # sorted() is stable: equal priorities keep their file order.
            return tuple(sorted(rules, key=lambda rule: -rule.priority))
        return tuple(
            r
            for r in self.leg_rules
            if r.network_id == network or (not r.network_id and network not in listed)
        )

    def _index_transfers(self) -> None:
        groups = {r.leg_group_id for r in self.leg_rules if r.leg_group_id}
        listed_from = {r.from_leg_group_id for r in self.transfer_rules if r.from_leg_group_id}
        listed_to = {r.to_leg_group_id for r in self.transfer_rules if r.to_leg_group_id}
        for from_group in groups:
            for to_group in groups:
                matches = tuple(
                    rule
                    for rule in self.transfer_rules
                    if _matches_listed(rule.from_leg_group_id, from_group, listed_from)
                    and _matches_listed(rule.to_leg_group_id, to_group, listed_to)
                )
                if matches:
                    self.transfers_by_groups[from_group, to_group] = matches

    def _index_caps(self, networks: set[str]) -> None:
        for category in self.categories:
            codes: set[int] = set()
            for network in networks:
                found = tuple(
                    (cap, cap.amounts[category])
                    for cap in self.caps
                    if category in cap.amounts and cap.network_id in ("", network)
                )
                if found:
                    self.caps_by_scope[category, network] = found
                    codes.update(cap.code for cap, _ in found)
            self.cap_codes_by_category[category] = frozenset(codes)

    def service_day(self, seconds: int) -> int:
        """The card day of the service day a card time falls in."""
        return (seconds + self.utc_offset - self.day_start) // SECONDS_PER_DAY

    def active_timeframes(self, seconds: int) -> frozenset[str]:
        """The timeframe groups in effect at a card time (local date and time of day)."""
        local = seconds + self.utc_offset
        day, second_of_day = divmod(local, SECONDS_PER_DAY)
        active = set()
        weekday: int | None = None
        today: date | None = None
        for frame in self.timeframes:
            if not frame.start <= second_of_day < frame.end:
                continue
            if frame.service_id:
                if today is None:
                    today = date.fromordinal(_EPOCH_ORDINAL + day)
                    weekday = today.weekday()
                service = self.services[frame.service_id]
                if weekday not in service.weekdays or not (
                    service.start_date <= today <= service.end_date
                ):
                    continue
            active.add(frame.group_id)
        return frozenset(active)


_EPOCH_ORDINAL = date(2020, 1, 1).toordinal()


def _matches_listed(value: str, actual: str, listed: set[str] | frozenset[str]) -> bool:
    """GTFS matching without rule_priority: an empty field means all values not listed."""
    return value == actual if value else actual not in listed


@dataclass(frozen=True, slots=True)
class Tariff:
    """All versions of one tariff, oldest first."""

    name: str
    versions: tuple[TariffVersion, ...]
    starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    latest: TariffVersion = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a tariff needs at least one version")
        object.__setattr__(self, "starts", tuple(v.effective_seconds for v in self.versions))
        object.__setattr__(self, "latest", self.versions[-1])

    def version_at(self, seconds: int) -> TariffVersion | None:
        """The version in force at a card time, or None before the first one."""
        if seconds >= self.starts[-1]:
            return self.latest
        index = bisect.bisect_right(self.starts, seconds) - 1
        return self.versions[index] if index >= 0 else None

    def version(self, version_id: str) -> TariffVersion:
        """A version by its id."""
        for version in self.versions:
            if version.version_id == version_id:
                return version
        raise KeyError(version_id)
