"""Price one tap from the card's fare state and the tariff: the pure heart of the validator.

Order of decisions: tariff version in force, passback, rider category (falling back to the
default when the card's category has expired), leg rule, then free category, pass, transfer
rule, and fare caps. The engine never sees the purse: `Decision.amount` is what to debit, and the
caller refuses with `INSUFFICIENT_BALANCE` when the purse is short.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

from fares.model import (
    CARD_EPOCH_UNIX,
    CATEGORY_NOT_ELIGIBLE,
    MAX_AMOUNT,
    MAX_CAP_SLOTS,
    MAX_CARD_SECONDS,
    MAX_RUN_TRANSFERS,
    NO_DATE,
    NO_FARE_RULE,
    NO_TARIFF,
    PASSBACK,
    SECONDS_PER_DAY,
    CapSlot,
    Decision,
    Denial,
    Direction,
    FareState,
    Journey,
    PaidBy,
    Pass,
    Tap,
    date_of_card_day,
    key_of,
    stop_key_of,
    vehicle_key_of,
)
from fares.tariff import (
    ANY_CATEGORY,
    CapPeriod,
    FareCap,
    FreePeriod,
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
_UNLIMITED = 1 << 30  # ranks transfer_count -1 (and none, between groups) after any count
# Enum members read once: a class attribute lookup per tap is measurable in the validator loop.
_STORED_VALUE = PaidBy.STORED_VALUE
_PASS = PaidBy.PASS
_FREE_CATEGORY = PaidBy.FREE_CATEGORY
_TRANSFER = PaidBy.TRANSFER
_CAP = PaidBy.CAP
_FREE_FARE = PaidBy.FREE_FARE
_FREE_DAY = PaidBy.FREE_DAY
_AT_EXIT_PAID = PaidBy.AT_EXIT
_AT_ENTRY_PAID = PaidBy.AT_ENTRY
_ENTRY = Direction.ENTRY
_EXIT = Direction.EXIT
_BOTH = Direction.BOTH
_NONE = Journey.NONE
_CHARGED = Journey.CHARGED
_AT_EXIT = Journey.AT_EXIT
# A tap at a `both` validator ends the card's open journey only this long after it began; later,
# the rider is boarding the same bus on a new ride.
OPEN_JOURNEY_SECONDS = 4 * 3600
MIN_RIDE_SECONDS = 60
_NO_JOURNEY = (0, 0, 0, 0)
_DAY = CapPeriod.DAY
_WEEK = CapPeriod.WEEK
_MONTH = CapPeriod.MONTH
_DURATION_TYPES = ("departure to arrival", "departure to departure", "arrival to departure",
                   "arrival to arrival")  # fmt: skip


def price_tap(state: FareState, tap: Tap, tariff: Tariff) -> Decision:
    """Decide one tap: accept or deny, the amount, what paid, why, and the new state.

    An entry closes a journey the card left open (a bus journey never tapped off costs nothing
    more; a journey priced at exit is charged its line's maximum fare) and opens a new one. Its
    fare is charged at once when it cannot depend on where the rider leaves (a bus), or at the
    exit from the two stops (the metro). A tap on a `both` validator is an exit when the card's
    journey is open on this route and vehicle.
    """
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
    direction = tap.direction
    vehicle_key = vehicle_key_of(tap.vehicle_id)
    if direction == _BOTH:
        here = stop_key_of(tap.stop_id)
        direction = _EXIT if _rides_here(state, route_key, vehicle_key, now, here) else _ENTRY
    journey = state.journey
    if direction == _EXIT or journey == _AT_EXIT:
        return _journey_tap(
            state, tap, version, now, route_key, network, vehicle_key, direction == _EXIT
        )
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
    # A bus journey never tapped off was paid at boarding: it closes for nothing more.
    note = (
        f"no tap off after boarding route {_route_name(version, state.last_route_key)}; "
        if journey
        else ""
    )
    day = (now + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    if version.free_days:
        free = version.free_days.get(day)
        if free is not None:
            return _free_day(state, version, now, route_key, tap.stop_id, vehicle_key, free, note)
    category, fallback = _category(state, version, day)
    note += fallback
    if rules is None:
        rules, at_exit = _entry_rules(version, network, route_id, tap.stop_id, now)
        if at_exit:
            return _open_at_exit(
                state, version, now, route_id, route_key, network, tap.stop_id, vehicle_key,
                category, note, rules, 0, "",
            )  # fmt: skip
    # The journey opens paid at entry; _accept writes it into the new state.
    opened = (_CHARGED, now, stop_key_of(tap.stop_id), vehicle_key)
    return _price_leg(
        state, version, now, day, route_id, route_key, network, tap.stop_id, rules, category,
        note, opened,
    )  # fmt: skip


def _price_leg(
    state: FareState,
    version: TariffVersion,
    now: int,
    day: int,
    route_id: str,
    route_key: int,
    network: str,
    stop_id: str,
    rules: tuple[LegRule, ...],
    category: RiderCategory,
    note: str,
    journey: tuple[int, int, int, int] = _NO_JOURNEY,
    direction: Direction = Direction.ENTRY,
) -> Decision:
    """Price one leg that began at `now` (a boarding, or an entry priced at its exit) from its
    matching leg rules: free category, pass, transfer, then caps."""
    category_id = category.category_id
    if not rules:
        where = f"network {network}" if network else "no network"
        return _deny(
            state,
            NO_FARE_RULE,
            f"{note}no leg rule matches route {route_id} ({where}) at stop {stop_id}",
            version.version_id,
        )
    if category.rides_free:
        leg = rules[0]
        return _accept(
            state, version, now, route_key, leg, 0, 0, _FREE_CATEGORY,
            note + leg.texts[category_id], category_id, state.caps, None, False, "", "",
            journey, direction,
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
                journey, direction,
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
            journey, direction,
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
        journey, direction,
    )  # fmt: skip


# -- journeys: tap on, tap off --------------------------------------------------------------


def _rides_here(
    state: FareState, route_key: int, vehicle_key: int, now: int, stop_key: int
) -> bool:
    """Whether a tap at a `both` validator ends the card's open journey: it is open on this
    route and vehicle (or, at a gate, this route), and recent enough to still be a ride.

    A tap within a minute of boarding at the same stop (or where the stop is not known) is the
    same rider tapping twice, not alighting: it is taken as a boarding, which the passback rule
    refuses without charging. At another stop it is an alighting, however soon.
    """
    if not (
        state.journey
        and state.last_route_key == route_key
        and state.entry_vehicle_key == vehicle_key
    ):
        return False
    elapsed = now - state.entry_time
    if not 0 <= elapsed <= OPEN_JOURNEY_SECONDS:
        return False
    if elapsed < MIN_RIDE_SECONDS:
        return bool(stop_key and state.entry_stop_key and stop_key != state.entry_stop_key)
    return True


def _journey_tap(
    state: FareState,
    tap: Tap,
    version: TariffVersion,
    now: int,
    route_key: int,
    network: str,
    vehicle_key: int,
    is_exit: bool,
) -> Decision:
    """A tap that closes a journey, opens one while another is open, or leaves the network."""
    route_id = tap.route_id
    stop_id = tap.stop_id
    day = (now + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    category, note = _category(state, version, day)
    free = _free_period(version, now) if version.free_days else None
    journey = state.journey
    if is_exit:
        entry_network = _network_of_key(version, state.last_route_key) if journey else ""
        if journey == _AT_EXIT and entry_network == network:
            return _exit_priced(state, version, now, route_id, network, stop_id, category, note)
        if journey == _CHARGED and state.last_route_key == route_key:
            return _tap_off(state, version, now, route_id, route_key, stop_id, category)
        # Leaving with no entry here: the dearest fare of the line, or nothing on a free day.
        unfinished, text = _unfinished(state, version, category, free)
        if journey == _CHARGED:
            text = f"no tap off after boarding route {_route_name(version, state.last_route_key)}; "
        if free is not None:
            charge, why = 0, f"free day {free.name} ({free.ref}): 0"
        else:
            charge, why = _line_maximum(state, version, network, day, route_key, category)
        closed = _closed(state)
        amount = unfinished + charge
        return Decision(
            True, amount, _STORED_VALUE if amount else _FREE_FARE, closed,
            f"{text}{note}no entry recorded for this exit at stop {stop_id} on route "
            f"{route_id}: {why}; charged {amount}",
            None, charge, category.category_id, version.version_id,
            direction=_EXIT, required=amount, unfinished=unfinished,
        )  # fmt: skip
    # An entry while a journey priced at exit is open: refuse a second entry at the same gate
    # (passback), then charge the open journey its line's maximum and open this one.
    passback = version.passback_seconds
    if (
        journey == _AT_EXIT
        and passback
        and state.last_route_key == route_key
        and state.entry_stop_key == (stop_key_of(stop_id))
        and 0 <= now - state.entry_time < passback
    ):
        return _deny(
            state,
            PASSBACK,
            f"entered route {route_id} at stop {stop_id} {now - state.entry_time} s ago; "
            f"passback rule refuses the same entry within {passback} s",
            version.version_id,
        )
    unfinished, text = _unfinished(state, version, category, free)
    closed = state._replace(journey=_NONE)
    if free is not None:
        return _free_day(closed, version, now, route_key, stop_id, vehicle_key, free, text)
    rules, at_exit = _entry_rules(version, network, route_id, stop_id, now)
    if at_exit:
        return _open_at_exit(
            closed, version, now, route_id, route_key, network, stop_id, vehicle_key,
            category, note, rules, unfinished, text,
        )  # fmt: skip
    opened = (_CHARGED, now, stop_key_of(stop_id), vehicle_key)
    decision = _price_leg(
        closed, version, now, day, route_id, route_key, network, stop_id, rules, category, note,
        opened,
    )  # fmt: skip
    if not decision.accepted:
        return decision._replace(state=state)
    amount = decision.amount + unfinished
    paid_by = decision.paid_by if not unfinished or decision.amount else _STORED_VALUE
    return decision._replace(
        amount=amount,
        paid_by=paid_by,
        explanation=text + decision.explanation
        + (f"; with the open journey, charged {amount}" if unfinished else ""),
        required=amount,
        unfinished=unfinished,
    )  # fmt: skip


def _unfinished(
    state: FareState, version: TariffVersion, category: RiderCategory, free: FreePeriod | None
) -> tuple[int, str]:
    """What the card's open journey priced at exit still costs when a new one begins, and why."""
    if state.journey != _AT_EXIT:
        return 0, ""
    where = _stop_name(version, state.entry_stop_key)
    route_id = _route_name(version, state.last_route_key)
    began = _time_text(version, state.entry_time)
    if free is not None:
        return 0, (
            f"no exit: the journey from {where} on route {route_id} at {began} is closed "
            f"without charge on free day {free.name} ({free.ref}); "
        )
    network = _network_of_key(version, state.last_route_key)
    day = (state.entry_time + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    entry_free = _free_period(version, state.entry_time) if version.free_days else None
    if entry_free is not None:
        return 0, (
            f"no exit: the journey from {where} on route {route_id} at {began} began on free "
            f"day {entry_free.name} ({entry_free.ref}): 0; "
        )
    charge, why = _line_maximum(state, version, network, day, state.last_route_key, category)
    return charge, (
        f"no exit: the journey from {where} on route {route_id} at {began} is charged the "
        f"line's maximum fare, {why}; "
    )


def _line_maximum(
    state: FareState,
    version: TariffVersion,
    network: str,
    day: int,
    route_key: int,
    category: RiderCategory,
) -> tuple[int, str]:
    """The dearest fare of a network's leg rules for the card's category, unless a free
    category or a pass covers the network."""
    category_id = category.category_id
    if category.rides_free:
        return 0, f"rider category {category_id} rides free: 0"
    if state.passes:
        covering = _covering_pass(state.passes, version, day, route_key, network)
        if covering is not None:
            product = covering[1]
            return 0, f"pass {product.pass_product_id} ({product.ref}) covers it: 0"
    best = 0
    best_rule = ""
    for rule in version.legs_by_network.get(network, ()):
        amount = rule.price_for.get(category_id)
        if amount is not None and amount > best:
            best, best_rule = amount, rule.ref
    if not best_rule:
        return 0, f"no leg rule of network {network or '(none)'} prices {category_id}: 0"
    return best, f"{best} ({best_rule}, the dearest of network {network or '(none)'})"


def _open_at_exit(
    state: FareState,
    version: TariffVersion,
    now: int,
    route_id: str,
    route_key: int,
    network: str,
    stop_id: str,
    vehicle_key: int,
    category: RiderCategory,
    note: str,
    rules: tuple[LegRule, ...],
    unfinished: int,
    text: str,
) -> Decision:
    """An entry whose fare depends on the exit: nothing is charged now (but an unfinished
    journey), and the purse must hold the dearest fare from here."""
    category_id = category.category_id
    dearest = 0
    dearest_rule = ""
    if category.rides_free:
        why = f"rider category {category_id} rides free"
    else:
        day = (now + version.utc_offset - version.day_start) // SECONDS_PER_DAY
        covering = (
            _covering_pass(state.passes, version, day, route_key, network) if state.passes else None
        )
        if covering is not None:
            why = f"pass {covering[1].pass_product_id} ({covering[1].ref}) covers the network"
        else:
            for rule in rules:
                amount = rule.price_for.get(category_id)
                if amount is not None and amount >= dearest:
                    dearest, dearest_rule = amount, rule.ref
            if not dearest_rule:
                return _deny(
                    state,
                    CATEGORY_NOT_ELIGIBLE,
                    f"{note}no leg rule from stop {stop_id} on route {route_id} has a price for "
                    f"{category_id}",
                    version.version_id,
                )
            why = f"the dearest fare from here is {dearest} ({dearest_rule})"
    opened = state._replace(
        journey=_AT_EXIT,
        entry_time=now,
        last_route_key=route_key,
        entry_stop_key=stop_key_of(stop_id),
        entry_vehicle_key=vehicle_key,
    )
    paid_by = _STORED_VALUE if unfinished else _AT_EXIT_PAID
    return Decision(
        True, unfinished, paid_by, opened,
        f"{text}{note}entry at stop {stop_id} on route {route_id}: the fare is charged at the "
        f"exit; {why}; charged {unfinished}",
        None, 0, category_id, version.version_id,
        direction=_ENTRY, required=unfinished + dearest, unfinished=unfinished,
    )  # fmt: skip


def _exit_priced(
    state: FareState,
    version: TariffVersion,
    now: int,
    route_id: str,
    network: str,
    stop_id: str,
    category: RiderCategory,
    note: str,
) -> Decision:
    """The exit of a journey priced at exit: the leg from the entry stop to this one."""
    entry_time = state.entry_time
    entry_stop = _stop_name(version, state.entry_stop_key)
    entry_route = _route_name(version, state.last_route_key)
    closed = _closed(state)
    same_stop = state.entry_stop_key == (stop_key_of(stop_id))
    if same_stop and 0 <= now - entry_time <= version.same_stop_exit_seconds:
        return Decision(
            True, 0, _FREE_FARE, closed,
            f"{note}exit at {entry_stop}, where the journey began {now - entry_time} s ago "
            f"(within {version.same_stop_exit_seconds} s): 0",
            None, 0, category.category_id, version.version_id, direction=_EXIT,
            journey_start=entry_time,
        )  # fmt: skip
    rules = _matching_leg_rules(version, network, entry_route, entry_stop, entry_time, stop_id, now)
    day = (entry_time + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    decision = _price_leg(
        closed, version, entry_time, day, entry_route, state.last_route_key, network,
        entry_stop, rules, category, f"journey from {entry_stop} to {stop_id} on route "
        f"{entry_route}: {note}", _NO_JOURNEY, _EXIT,
    )  # fmt: skip
    if not decision.accepted:
        return decision._replace(state=state, direction=_EXIT)
    return decision._replace(journey_start=entry_time)


def _tap_off(
    state: FareState,
    version: TariffVersion,
    now: int,
    route_id: str,
    route_key: int,
    stop_id: str,
    category: RiderCategory,
) -> Decision:
    """Tapping off a journey paid at boarding: nothing to charge, the journey closes here."""
    entry_stop = _stop_name(version, state.entry_stop_key)
    entry_route = _route_name(version, state.last_route_key)
    other = "" if state.last_route_key == route_key else f" (boarded on route {entry_route})"
    closed = _closed(state)
    return Decision(
        True, 0, _AT_ENTRY_PAID, closed,
        f"tap off at stop {stop_id} on route {route_id}{other}: the journey from {entry_stop} "
        f"was paid at boarding; charged 0",
        None, 0, category.category_id, version.version_id, direction=_EXIT,
        journey_start=state.entry_time,
    )  # fmt: skip


def _free_day(
    state: FareState,
    version: TariffVersion,
    now: int,
    route_key: int,
    stop_id: str,
    vehicle_key: int,
    free: FreePeriod,
    text: str,
) -> Decision:
    """An entry on a day the tariff makes free: accepted at 0, its journey opened as paid."""
    new_state = state._replace(
        last_boarding=now,
        last_route_key=route_key,
        last_leg_group_key=0,
        last_leg_fare=0,
        run_start=now,
        run_rule_key=0,
        run_transfers=0,
        run_fare=0,
        journey=_CHARGED,
        entry_time=now,
        entry_stop_key=stop_key_of(stop_id),
        entry_vehicle_key=vehicle_key,
    )
    day = (now + version.utc_offset - version.day_start) // SECONDS_PER_DAY
    category = _category(state, version, day)[0]
    return Decision(
        True, 0, _FREE_DAY, new_state,
        f"{text}free day {free.name} ({free.ref}, {free.start} to {free.end}): every ride is "
        f"free; charged 0",
        None, 0, category.category_id, version.version_id, direction=_ENTRY,
    )  # fmt: skip


_FIELDS_BEFORE_JOURNEY = FareState._fields.index("journey")


def _closed(state: FareState) -> FareState:
    """The state with no open journey (built directly: NamedTuple._replace is slow)."""
    return FareState._make((*state[:_FIELDS_BEFORE_JOURNEY], *_NO_JOURNEY))


def _free_period(version: TariffVersion, now: int) -> FreePeriod | None:
    return version.free_days.get((now + version.utc_offset - version.day_start) // SECONDS_PER_DAY)


def _network_of_key(version: TariffVersion, route_key: int) -> str:
    route_id = version.route_ids_by_key.get(route_key)
    return version.route_networks.get(route_id, "") if route_id is not None else ""


def _route_name(version: TariffVersion, route_key: int) -> str:
    return version.route_ids_by_key.get(route_key) or f"#{route_key:08x}"


def _stop_name(version: TariffVersion, stop_key: int) -> str:
    if not stop_key:
        return "an unknown stop"
    return version.stop_ids_by_key.get(stop_key) or f"stop #{stop_key:08x}"


def _time_text(version: TariffVersion, seconds: int) -> str:
    local = datetime.fromtimestamp(seconds + CARD_EPOCH_UNIX + version.utc_offset, UTC)
    return local.strftime("%Y-%m-%d %H:%M")


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
    journey: tuple[int, int, int, int] = _NO_JOURNEY,
    direction: Direction = Direction.ENTRY,
) -> Decision:
    """The accepted leg's decision and the card's new state; `journey` is the open journey the
    state keeps (state, entry time, stop key, vehicle key), none by default."""
    # A leg paid by a pass or a free category still counts as a leg, with a fare of 0.
    leg_fare = 0 if paid_by is _PASS or paid_by is _FREE_CATEGORY else fare
    if transfer is None:
        run_start, run_rule, run_transfers, run_fare = now, 0, 0, leg_fare
    elif same_run:
        run_start = state.run_start
        run_rule = transfer.key
        run_transfers = min(state.run_transfers + 1, MAX_RUN_TRANSFERS)
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
        journey[0],
        journey[1],
        journey[2],
        journey[3],
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
        direction,
        charge,
    )


def _category(state: FareState, version: TariffVersion, day: int) -> tuple[RiderCategory, str]:
    """The card's rider category on a service day, or the default with why (unknown, ended)."""
    category = version.categories_by_code.get(state.category_code)
    if category is None or (
        state.category_valid_until < day and state.category_valid_until != NO_DATE
    ):
        return _fallback_category(state, version, category)
    return category, ""


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


def _entry_rules(
    version: TariffVersion, network: str, route_id: str, stop_id: str, now: int
) -> tuple[tuple[LegRule, ...], bool]:
    """The leg rules an entry can be priced by, and whether its fare depends on the exit.

    When a rule that would win names a `to_area_id`, the fare is known only at the exit: then
    every rule the exit could still pick is returned, so the caller can find the dearest.
    """
    cacheable = not version.leg_rules_use_time
    key = (route_id, stop_id if version.leg_rules_use_stop else "")
    if cacheable:
        hit = version.entry_cache.get(key)
        if hit is not None:
            return hit
    found = _entry_rules_now(version, network, route_id, stop_id, now)
    if cacheable:
        if len(version.entry_cache) >= _MATCH_CACHE_LIMIT:
            version.entry_cache.clear()
        version.entry_cache[key] = found
    return found


def _entry_rules_now(
    version: TariffVersion, network: str, route_id: str, stop_id: str, now: int
) -> tuple[tuple[LegRule, ...], bool]:
    rules = _matching_leg_rules(version, network, route_id, stop_id, now, None, now)
    if not rules or not version.leg_rules_use_stop:
        return rules, False
    if version.uses_priority:
        top = rules[0].priority
        winners = tuple(rule for rule in rules if rule.priority == top)
        if any(rule.to_area_id for rule in winners):
            return rules, True
        return winners, False
    if any(rule.to_area_id for rule in rules):
        return rules, True
    return rules, False


def _matching_leg_rules(
    version: TariffVersion,
    network: str,
    route_id: str,
    from_stop: str,
    start: int,
    to_stop: str | None,
    end: int,
) -> tuple[LegRule, ...]:
    """The leg rules matching a leg from `from_stop` at `start` to `to_stop` at `end`.

    `to_stop` None means the exit is not known yet (an entry): rules naming a `to_area_id` are
    kept, and with `rule_priority` every priority is kept (`_entry_rules` decides). A leg
    priced at boarding only (no tap off) is from and to its boarding stop's areas.
    """
    cacheable = not version.leg_rules_use_time
    uses_stop = version.leg_rules_use_stop
    cache_key = (route_id, from_stop, to_stop) if uses_stop else (route_id, "", "")
    if cacheable:
        hit = version.match_cache.get(cache_key)
        if hit is not None:
            return hit
    candidates = version.legs_by_network.get(network) or version.legs_by_network.get("", ())
    stop_areas = version.stop_areas
    from_areas = stop_areas.get(from_stop, _NO_AREAS) if uses_stop else _NO_AREAS
    unknown_exit = to_stop is None
    to_areas = stop_areas.get(to_stop, _NO_AREAS) if uses_stop and to_stop else _NO_AREAS
    if version.leg_rules_use_time:
        from_frames = version.active_timeframes(start)
        to_frames = from_frames if end == start else version.active_timeframes(end)
    else:
        from_frames = to_frames = _NO_AREAS
    matched: list[LegRule] = []
    if version.uses_priority:
        for rule in candidates:
            if not unknown_exit and matched and rule.priority < matched[0].priority:
                break
            if (
                (not rule.from_area_id or rule.from_area_id in from_areas)
                and (not rule.to_area_id or unknown_exit or rule.to_area_id in to_areas)
                and (
                    not rule.from_timeframe_group_id or rule.from_timeframe_group_id in from_frames
                )
                and (not rule.to_timeframe_group_id or rule.to_timeframe_group_id in to_frames)
            ):
                matched.append(rule)
    else:
        listed = version.listed
        for rule in candidates:
            if (
                _fits(rule.from_area_id, from_areas, listed["from_area"])
                and (
                    (unknown_exit and bool(rule.to_area_id))
                    or _fits(rule.to_area_id, to_areas, listed["to_area"])
                )
                and _fits(rule.from_timeframe_group_id, from_frames, listed["from_timeframe"])
                and _fits(rule.to_timeframe_group_id, to_frames, listed["to_timeframe"])
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
        if product.networks:
            if network not in product.networks:
                continue
        elif product.network_id and product.network_id != network:
            continue
        if product.coverage is PassCoverage.ONE_ROUTE and held.route_key != route_key:
            continue
        return held, product
    return None


def _transfer(
    state: FareState, version: TariffVersion, rule: LegRule, base: int, now: int, category_id: str
) -> tuple[TransferRule | None, int, bool, str]:
    """The transfer rule the GTFS reference selects from the previous leg to this one, or none.

    Of the rules that apply (transfer count, window, a price for the rider), the one with the
    smallest transfer_count covering this transfer wins, unlimited last; on a tie the cheapest,
    then the first in the file. The rule found is applied even where the plain fare is less.
    """
    if not (state.last_leg_group_key and rule.leg_group_id and state.last_boarding):
        return None, base, False, ""
    previous = version.leg_groups_by_key.get(state.last_leg_group_key)
    if previous is None:
        return None, base, False, ""
    candidates = version.transfers_by_groups.get((previous, rule.leg_group_id))
    if not candidates:
        return None, base, False, ""
    # The candidates of a leg-group pair all name the same from and to groups (GTFS matching:
    # an empty field matches only groups no rule lists), so the previous leg's rule being any of
    # them means the same transfer goes on: its count goes up and its window keeps its start.
    run_key = state.run_rule_key
    same_run = False
    if run_key:
        for transfer in candidates:
            if transfer.key == run_key:
                same_run = True
                break
    number = state.run_transfers + 1 if same_run else 1
    since = now - (state.run_start if same_run else state.last_boarding)
    chosen: TransferRule | None = None
    best_rank = best_fare = chosen_between = chosen_elapsed = 0
    for transfer in candidates:
        limit_count = transfer.transfer_count
        rank = _UNLIMITED if limit_count is None or limit_count == -1 else limit_count
        if rank < number or (chosen is not None and rank > best_rank):
            continue
        elapsed = since
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
            fare = between  # A + AB, or S + BC: AB in place of this leg's fare
        elif transfer_type == 1:
            fare = between + base  # A + AB + B, or S + BC + C
        elif state.run_rule_key:
            fare = between  # S + BC: the legs before were priced by a transfer already
        else:
            fare = between - state.last_leg_fare  # AB in place of A, which was paid
        fare = max(fare, 0)  # a card is never credited
        if chosen is None or rank < best_rank or fare < best_fare:
            chosen, best_rank, best_fare = transfer, rank, fare
            chosen_between, chosen_elapsed = between, elapsed
    if chosen is None:
        return None, base, False, ""
    return chosen, best_fare, same_run, _transfer_text(
        chosen, previous, rule.leg_group_id, number, chosen_between, chosen_elapsed,
        same_run, len(candidates), best_fare,
    )  # fmt: skip


def _transfer_text(
    transfer: TransferRule,
    previous: str,
    group: str,
    number: int,
    between: int,
    elapsed: int,
    same_run: bool,
    rules: int,
    fare: int,
) -> str:
    limit_count = transfer.transfer_count
    count = "unlimited" if limit_count is None or limit_count == -1 else f"of {limit_count}"
    kind = transfer.duration_limit_type
    window = ""
    if kind is not None:
        window = f", {elapsed} s {_DURATION_TYPES[kind]} of {transfer.duration_limit} s"
        window += " from the first leg of the transfer" if same_run else ""
    chosen = f", chosen of {rules} rules by transfer_count" if rules > 1 else ""
    return (
        f"; transfer rule {transfer.ref} ({previous} to {group}, "
        f"{_TRANSFER_TYPES[transfer.fare_transfer_type]} with "
        f"{transfer.fare_product_id or 'free'} {between}, "
        f"transfer {number} {count}{window}{chosen}): {fare}"
    )


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
