"""Price one tap from the card's fare state and the tariff: the pure heart of the validator.

Order of decisions: tariff version in force, passback, rider category (falling back to the
default when the card's category has expired), leg rule, then free category, pass, transfer
rule, and fare caps. The engine never sees the purse: `Decision.amount` is what to debit, and the
caller refuses with `INSUFFICIENT_BALANCE` when the purse is short.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from fares.model import (
    CARD_EPOCH_UNIX,
    CATEGORY_NOT_ELIGIBLE,
    MAX_AMOUNT,
    MAX_CAP_SLOTS,
    MAX_CARD_SECONDS,
    NO_DATE,
    NO_FARE_RULE,
    NO_TARIFF,
    PASSBACK,
    SECONDS_PER_DAY,
    CapSlot,
    Decision,
    Denial,
    FareState,
    PaidBy,
    Pass,
    Tap,
    date_of_card_day,
    key_of,
)
from fares.tariff import (
    ANY_CATEGORY,
    CapPeriod,
    FareCap,
    LegRule,
    PassCoverage,
    PassProduct,
    RiderCategory,
    Tariff,
    TariffVersion,
    TransferRule,
)

_NO_AREAS: frozenset[str] = frozenset()
_MATCH_CACHE_LIMIT = 65_536
_TRANSFER_TYPES = ("A+AB", "A+AB+B", "AB")
# Enum members read once: a class attribute lookup per tap is measurable in the validator loop.
_STORED_VALUE = PaidBy.STORED_VALUE
_PASS = PaidBy.PASS
_FREE_CATEGORY = PaidBy.FREE_CATEGORY
_TRANSFER = PaidBy.TRANSFER
_CAP = PaidBy.CAP
_FREE_FARE = PaidBy.FREE_FARE
_DAY = CapPeriod.DAY
_WEEK = CapPeriod.WEEK
_MONTH = CapPeriod.MONTH
_DURATION_TYPES = ("departure to arrival", "departure to departure", "arrival to departure",
                   "arrival to arrival")  # fmt: skip


def price_tap(state: FareState, tap: Tap, tariff: Tariff) -> Decision:
    """Decide one boarding tap: accept or deny, the amount, what paid, why, and the new state."""
    moment = tap.time
    if moment.tzinfo is None:
        raise ValueError(f"a tap time needs a UTC offset: {moment.isoformat()}")
    now = int(moment.timestamp()) - CARD_EPOCH_UNIX
    if now > MAX_CARD_SECONDS:
        raise ValueError(f"{moment.isoformat()} is beyond what a card can store")
    version = tariff.version_at(now) if now >= 0 else None
    if version is None:
        return _deny(state, NO_TARIFF, f"no version of tariff {tariff.name} is in force then", "")
    route_id = tap.route_id
    route = version.routes.get(route_id)
    if route is None:
        route_key, network, rules = key_of(route_id), "", None
    else:
        route_key, network, rules = route
    passback = version.passback_seconds
    if (
        passback
        and state.last_route_key == route_key
        and state.last_boarding
        and abs(now - state.last_boarding) < passback
    ):
        return _deny(
            state,
            PASSBACK,
            f"boarded route {route_id} {abs(now - state.last_boarding)} s ago; "
            f"passback rule refuses the same route within {passback} s",
            version.version_id,
        )
    day = (now + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    category = version.categories_by_code.get(state.category_code)
    note = ""
    if category is None or (
        state.category_valid_until < day and state.category_valid_until != NO_DATE
    ):
        category, note = _fallback_category(state, version, category)
    category_id = category.category_id
    if rules is None:
        rules = _matching_leg_rules(version, network, route_id, tap.stop_id, now)
    if not rules:
        where = f"network {network}" if network else "no network"
        return _deny(
            state,
            NO_FARE_RULE,
            f"{note}no leg rule matches route {route_id} ({where}) at stop {tap.stop_id}",
            version.version_id,
        )
    if category.rides_free:
        leg = rules[0]
        return _accept(
            state, version, now, route_key, leg, 0, 0, _FREE_CATEGORY,
            note + leg.texts[category_id], category_id, state.caps, None, False, "", "",
        )  # fmt: skip
    if len(rules) == 1:
        leg = rules[0]
        found = leg.price_for.get(category_id)
    else:
        leg, found = _cheapest(rules, category_id)
    if found is None:
        return _deny(
            state,
            CATEGORY_NOT_ELIGIBLE,
            f"{note}{rules[0].ref} matches but product {rules[0].fare_product_id} "
            f"has no price for {category_id}",
            version.version_id,
        )
    base = found
    if state.passes:
        covering = _covering_pass(state.passes, version, day, route_key, network)
        if covering is not None:
            held, product = covering
            return _accept(
                state, version, now, route_key, leg, 0, base, _PASS,
                f"{note}{leg.texts[category_id]}; pass {product.pass_product_id} ({product.ref}) "
                f"valid {date_of_card_day(held.valid_from)} to "
                f"{date_of_card_day(held.valid_until)} covers route {route_id}: 0",
                category_id, state.caps, None, False, "", product.pass_product_id,
            )  # fmt: skip
    transfer: TransferRule | None = None
    same_run = False
    fare = base
    transfer_text = ""
    if state.last_leg_group_key and leg.leg_group_id and version.transfers_by_groups:
        transfer, fare, same_run, transfer_text = _transfer(
            state, version, leg, base, now, category_id
        )
    scoped = version.caps_by_scope.get((category_id, network)) if fare > 0 else None
    if scoped is None and transfer is None and not note:
        # The common case: a plain leg fare, its explanation written at load time.
        return _accept(
            state, version, now, route_key, leg, fare, fare, _STORED_VALUE if fare else _FREE_FARE,
            leg.charged_texts[category_id], category_id, state.caps, None, False, "", "",
        )  # fmt: skip
    text = f"{note}{leg.texts[category_id]}{transfer_text}"
    charge = fare
    caps = state.caps
    cap_id = ""
    if scoped is not None:
        keep = version.cap_codes_by_category[category_id]
        charge, caps, cap_id, cap_text = _apply_caps(state.caps, scoped, keep, day, fare)
        text += cap_text
    if charge > 0:
        paid_by = _STORED_VALUE
    elif fare > 0:
        paid_by = _CAP
    elif transfer is not None:
        paid_by = _TRANSFER
    else:
        paid_by = _FREE_FARE
    return _accept(
        state, version, now, route_key, leg, charge, fare, paid_by,
        f"{text}; charged {charge}", category_id, caps, transfer, same_run, cap_id, "",
    )  # fmt: skip


def _deny(state: FareState, denial: Denial, why: str, version_id: str) -> Decision:
    return Decision(
        False,
        0,
        PaidBy.NOTHING,
        state,
        f"refused ({denial.code}): {why}",
        denial,
        tariff_version_id=version_id,
    )


def _accept(
    state: FareState,
    version: TariffVersion,
    now: int,
    route_key: int,
    rule: LegRule,
    charge: int,
    fare: int,
    paid_by: PaidBy,
    explanation: str,
    category_id: str,
    caps: tuple[CapSlot, ...],
    transfer: TransferRule | None,
    same_run: bool,
    cap_id: str,
    pass_product_id: str,
) -> Decision:
    # A leg paid by a pass or a free category still counts as a leg, with a fare of 0.
    leg_fare = 0 if paid_by is _PASS or paid_by is _FREE_CATEGORY else fare
    if transfer is None:
        run_start, run_rule, run_transfers, run_fare = now, 0, 0, leg_fare
    elif same_run:
        run_start = state.run_start
        run_rule = transfer.key
        run_transfers = min(state.run_transfers + 1, 0xFF)
        run_fare = min(state.run_fare + leg_fare, MAX_AMOUNT)
    else:
        run_start = state.last_boarding
        run_rule = transfer.key
        run_transfers = 1
        run_fare = min(state.last_leg_fare + leg_fare, MAX_AMOUNT)
    new_state = FareState(
        state.category_code,
        state.category_valid_until,
        now,
        route_key,
        rule.leg_group_key,
        leg_fare,
        run_start,
        run_rule,
        run_transfers,
        run_fare,
        caps,
        state.passes,
    )
    return Decision(
        True,
        charge,
        paid_by,
        new_state,
        explanation,
        None,
        fare,
        category_id,
        version.version_id,
        rule.ref,
        transfer.ref if transfer is not None else "",
        cap_id,
        pass_product_id,
    )


def _fallback_category(
    state: FareState, version: TariffVersion, category: RiderCategory | None
) -> tuple[RiderCategory, str]:
    """The default category, when the card's is unknown here or has ended."""
    default = version.default_category
    if category is None:
        return default, (
            f"card category code {state.category_code} is unknown to this tariff, "
            f"priced as {default.category_id}; "
        )
    if category is default:
        return category, ""
    return default, (
        f"category {category.category_id} ended "
        f"{date_of_card_day(state.category_valid_until)}, priced as {default.category_id}; "
    )


def _matching_leg_rules(
    version: TariffVersion, network: str, route_id: str, stop_id: str, now: int
) -> tuple[LegRule, ...]:
    cacheable = not version.leg_rules_use_time
    cache_key = (route_id, stop_id if version.leg_rules_use_stop else "")
    if cacheable:
        hit = version.match_cache.get(cache_key)
        if hit is not None:
            return hit
    candidates = version.legs_by_network.get(network) or version.legs_by_network.get("", ())
    areas = version.stop_areas.get(stop_id, _NO_AREAS) if version.leg_rules_use_stop else _NO_AREAS
    frames = version.active_timeframes(now) if version.leg_rules_use_time else _NO_AREAS
    matched: list[LegRule] = []
    if version.uses_priority:
        for rule in candidates:
            if matched and rule.priority < matched[0].priority:
                break
            if (
                (not rule.from_area_id or rule.from_area_id in areas)
                and (not rule.to_area_id or rule.to_area_id in areas)
                and (not rule.from_timeframe_group_id or rule.from_timeframe_group_id in frames)
                and (not rule.to_timeframe_group_id or rule.to_timeframe_group_id in frames)
            ):
                matched.append(rule)
    else:
        listed = version.listed
        for rule in candidates:
            if (
                _fits(rule.from_area_id, areas, listed["from_area"])
                and _fits(rule.to_area_id, areas, listed["to_area"])
                and _fits(rule.from_timeframe_group_id, frames, listed["from_timeframe"])
                and _fits(rule.to_timeframe_group_id, frames, listed["to_timeframe"])
            ):
                matched.append(rule)
    result = tuple(matched)
    if cacheable:
        if len(version.match_cache) >= _MATCH_CACHE_LIMIT:
            version.match_cache.clear()
        version.match_cache[cache_key] = result
    return result


def _fits(value: str, actual: frozenset[str], listed: frozenset[str]) -> bool:
    """A field without rule_priority: set, it must match; empty, it matches what is not listed."""
    return value in actual if value else actual.isdisjoint(listed)


def _price(prices: Mapping[str, int], category_id: str) -> int | None:
    amount = prices.get(category_id)
    return prices.get(ANY_CATEGORY) if amount is None else amount


def _cheapest(rules: tuple[LegRule, ...], category_id: str) -> tuple[LegRule, int | None]:
    """The matching rule with the lowest price for the category (the first on a tie)."""
    best = rules[0]
    best_amount: int | None = None
    for rule in rules:
        amount = rule.price_for.get(category_id)
        if amount is not None and (best_amount is None or amount < best_amount):
            best, best_amount = rule, amount
    return best, best_amount


def _covering_pass(
    passes: tuple[Pass, ...], version: TariffVersion, day: int, route_key: int, network: str
) -> tuple[Pass, PassProduct] | None:
    for held in passes:
        product = version.pass_products_by_code.get(held.pass_code)
        if product is None or not held.valid_from <= day <= held.valid_until:
            continue
        if product.network_id and product.network_id != network:
            continue
        if product.coverage is PassCoverage.ONE_ROUTE and held.route_key != route_key:
            continue
        return held, product
    return None


def _transfer(
    state: FareState, version: TariffVersion, rule: LegRule, base: int, now: int, category_id: str
) -> tuple[TransferRule | None, int, bool, str]:
    """The cheapest transfer rule that applies from the previous leg, or none."""
    if not (state.last_leg_group_key and rule.leg_group_id and state.last_boarding):
        return None, base, False, ""
    previous = version.leg_groups_by_key.get(state.last_leg_group_key)
    if previous is None:
        return None, base, False, ""
    candidates = version.transfers_by_groups.get((previous, rule.leg_group_id))
    if not candidates:
        return None, base, False, ""
    chosen: TransferRule | None = None
    best = base
    chosen_same_run = False
    chosen_text = ""
    for transfer in candidates:
        same_run = transfer.key == state.run_rule_key
        used = state.run_transfers if same_run else 0
        limit_count = transfer.transfer_count
        if limit_count is not None and limit_count != -1 and used >= limit_count:
            continue
        start = state.run_start if same_run else state.last_boarding
        elapsed = now - start
        kind = transfer.duration_limit_type
        # Taps are boardings only: an arrival is taken as the boarding plus assumed_leg_seconds.
        if kind == 0:
            elapsed += version.assumed_leg_seconds
        elif kind == 2:
            elapsed -= version.assumed_leg_seconds
        if transfer.duration_limit is not None and elapsed > transfer.duration_limit:
            continue
        between = _price(transfer.prices, category_id)
        if between is None:
            continue
        transfer_type = transfer.fare_transfer_type
        if transfer_type == 0:
            fare = between
        elif transfer_type == 1:
            fare = between + base
        else:
            fare = between - (state.run_fare if same_run else state.last_leg_fare)
        fare = max(fare, 0)
        if fare < best or (chosen is None and fare == best):
            chosen, best, chosen_same_run = transfer, fare, same_run
            count = "unlimited" if limit_count in (None, -1) else f"of {limit_count}"
            window = (
                f", {elapsed} s {_DURATION_TYPES[kind]} of {transfer.duration_limit} s"
                if kind is not None
                else ""
            )
            chosen_text = (
                f"; transfer rule {transfer.ref} ({previous} to {rule.leg_group_id}, "
                f"{_TRANSFER_TYPES[transfer_type]} with {transfer.fare_product_id or 'free'} "
                f"{between}, transfer {used + 1} {count}{window}): {fare}"
            )
    return chosen, best, chosen_same_run, chosen_text


def _apply_caps(
    slots: tuple[CapSlot, ...],
    scoped: tuple[tuple[FareCap, int], ...],
    keep: frozenset[int],
    day: int,
    fare: int,
) -> tuple[int, tuple[CapSlot, ...], str, str]:
    """Charge the smallest room left under every cap that applies, and add it to each."""
    charge = fare
    binding = ""
    texts = []
    totals = []
    held_by_code = {slot.cap_code: slot for slot in slots}
    for cap, limit in scoped:
        held = held_by_code.get(cap.code)
        start = _period_start(cap, day, held)
        spent = held.amount if held is not None and held.period_start == start else 0
        room = limit - spent
        if room < charge:
            charge, binding = max(room, 0), cap.cap_id
        label = f"cap {cap.cap_id} ({cap.period.value} from {_day_text(start)})"
        texts.append(f"{label}: {spent} of {limit} paid")
        totals.append((cap.code, start, spent))
    text = "; " + ", ".join(texts)
    if binding:
        text += f"; cap {binding} limits the charge to {charge}"
    if charge == 0:
        return 0, slots, binding, text
    new_slots = list(slots)
    index_of = {slot.cap_code: i for i, slot in enumerate(new_slots)}
    updating = {code for code, _, _ in totals}
    for code, start, spent in totals:
        written = CapSlot(code, start, spent + charge)
        index = index_of.get(code)
        if index is None:
            if len(new_slots) < MAX_CAP_SLOTS:
                index_of[code] = len(new_slots)
                new_slots.append(written)
                continue
            index = _slot_to_reuse(new_slots, updating, keep)
            index_of.pop(new_slots[index].cap_code, None)
            index_of[code] = index
        new_slots[index] = written
    return charge, tuple(new_slots), binding, text


def _slot_to_reuse(slots: list[CapSlot], updating: set[int], keep: frozenset[int]) -> int:
    """A slot holding no cap being updated: another category's first, then the oldest."""
    choices = [i for i, slot in enumerate(slots) if slot.cap_code not in updating]
    return min(choices, key=lambda i: (slots[i].cap_code in keep, slots[i].period_start))


def _period_start(cap: FareCap, day: int, held: CapSlot | None) -> int:
    period = cap.period
    if period is _DAY:
        return day
    if period is _WEEK:
        return day - (day + 2) % 7  # card day 0, 2020-01-01, was a Wednesday
    if period is _MONTH:
        return _month_start(day)
    if held is not None and held.period_start <= day < held.period_start + cap.period_days:
        return held.period_start
    return day


@lru_cache(maxsize=1024)
def _month_start(day: int) -> int:
    return day - (date_of_card_day(day).day - 1)


@lru_cache(maxsize=1024)
def _day_text(day: int) -> str:
    return date_of_card_day(day).isoformat()
