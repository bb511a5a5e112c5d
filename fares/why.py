"""Why a tap cost what it did, as data: the rider's app and statement word it in their language.

The engine's `Decision.explanation` is written for the operator: English, naming each tariff rule
by file and line. A rider needs the same facts in a sentence of their own language, so this
module turns a decision into a short list of *parts*, each a dict with a stable `code` and its
values: amounts in VND, route and stop ids (the app names them from the network), and names as
the tariff writes them ("Vietnamese (English)"). The parts are stored with what they explain
(an account's ledger entry, a journey) and worded when they are read, in the reader's language.

The codes, with their values (those in brackets may be missing):
- `fare` route, [amount], [charged]: the leg's fare on the route; or, where only a validator's
  upload is known, what the purse paid for it (a transfer or a cap may have lowered it).
- `journey` route, [origin], destination, [amount], [charged]: a journey priced from its entry
  stop to its exit stop (the metro), or tapped off.
- `transfer` amount: a transfer made the leg cost `amount`.
- `cap` [period] ("day", "week", "month", "rolling"), [days], amount: a fare cap was reached, so
  the charge is `amount`.
- `pass` [name]: a pass the card holds covers the ride.
- `free_category` [name]: the card's rider category rides free.
- `free_fare`: the leg's fare is nothing.
- `free_day` [name]: a day on which every ride is free.
- `at_exit` route, stop: an entry whose fare is charged at the exit.
- `tap_off` route, stop: tapping off a journey paid when boarding.
- `no_entry` route, stop, amount: an exit with no entry, charged the line's dearest fare (0
  when a pass covers the line).
- `unfinished` [route], amount: the journey before had no exit, and this tap charged the line's
  dearest fare for it.
- `refused` denial: the tap was refused and cost nothing.
Account entries add their own (transit.services): `repriced` (was, now), `late_chip_tap` (card,
at), `top_up`, `moved_in` (card), `moved_out` (card), `note` (text); and journeys `no_exit`
([amount]: the line's maximum charged at the next entry) and `no_tap_off`.
"""

from __future__ import annotations

from typing import Any

from fares.model import CARD_EPOCH_UNIX, Decision, Direction, FareState, Journey, PaidBy, Tap
from fares.tariff import Tariff, TariffVersion

Part = dict[str, Any]


def reasons(decision: Decision, tap: Tap, before: FareState, tariff: Tariff) -> list[Part]:
    """The parts that explain the engine's `decision` on `tap`, priced from state `before`."""
    if not decision.accepted:
        return [{"code": "refused", "denial": decision.denial.code if decision.denial else ""}]
    now = int(tap.time.timestamp()) - CARD_EPOCH_UNIX
    version = tariff.version_at(now)
    if version is None:  # an accepted tap was priced by a version: none is a caller's mistake
        raise ValueError(f"no tariff version at {tap.time.isoformat()} priced this decision")
    parts: list[Part] = []
    if decision.unfinished:
        parts.append(
            {
                "code": "unfinished",
                "route": version.route_ids_by_key.get(before.last_route_key, ""),
                "amount": decision.unfinished,
            }
        )
    own = decision.amount - decision.unfinished
    paid_by = _leg_paid_by(decision, version, own)
    route, stop = tap.route_id, tap.stop_id
    day = (now + version.utc_offset - version.day_start) // 86_400
    free = version.free_days.get(day)
    if paid_by is PaidBy.FREE_DAY or (
        free is not None and paid_by is PaidBy.FREE_FARE and not decision.leg_rule
    ):
        # Every tap of a free day is free: a boarding, and an exit with no entry alike.
        parts.append({"code": "free_day", **({"name": free.name} if free else {})})
        return parts
    if paid_by is PaidBy.AT_EXIT:
        parts.append({"code": "at_exit", "route": route, "stop": stop})
        return parts
    if paid_by is PaidBy.AT_ENTRY:
        parts.append({"code": "tap_off", "route": route, "stop": stop})
        return parts
    # A free category has no price of its own: its leg is named without one.
    fare = {} if paid_by is PaidBy.FREE_CATEGORY else {"amount": _base_fare(version, decision)}
    if decision.direction is Direction.EXIT and decision.journey_start:
        origin = version.stop_ids_by_key.get(before.entry_stop_key, "")
        parts.append(
            {
                "code": "journey",
                "route": version.route_ids_by_key.get(before.last_route_key, route),
                **({"origin": origin} if origin else {}),
                "destination": stop,
                **fare,
            }
        )
    elif decision.direction is Direction.EXIT:
        parts.append({"code": "no_entry", "route": route, "stop": stop, "amount": own})
        return parts
    else:
        parts.append({"code": "fare", "route": route, **fare})
    if paid_by is PaidBy.PASS:
        product = version.pass_products.get(decision.pass_product_id)
        parts.append({"code": "pass", **({"name": product.name} if product else {})})
    elif paid_by is PaidBy.FREE_CATEGORY:
        category = version.categories.get(decision.category_id)
        parts.append({"code": "free_category", **({"name": category.name} if category else {})})
    else:
        if decision.transfer_rule:
            parts.append({"code": "transfer", "amount": decision.fare})
        if decision.cap_id and own < decision.fare:
            parts.append(_cap(version, decision.cap_id, own))
        if paid_by is PaidBy.FREE_FARE and not decision.transfer_rule and not decision.fare:
            parts.append({"code": "free_fare"})
    return parts


def _leg_paid_by(decision: Decision, version: TariffVersion, own: int) -> PaidBy:
    """What paid the tap's own leg. The engine says `stored_value` for a tap that charged an
    earlier journey's unfinished fare, whatever paid its own leg (nothing, at an entry priced at
    the exit): that is found again here from the rest of the decision."""
    paid_by = decision.paid_by
    if not (decision.unfinished and own == 0 and paid_by is PaidBy.STORED_VALUE):
        return paid_by
    if decision.direction is Direction.ENTRY and decision.state.journey == Journey.AT_EXIT:
        return PaidBy.AT_EXIT
    if decision.pass_product_id:
        return PaidBy.PASS
    category = version.categories.get(decision.category_id)
    if category is not None and category.rides_free:
        return PaidBy.FREE_CATEGORY
    if decision.cap_id and decision.fare:
        return PaidBy.CAP
    if decision.transfer_rule:
        return PaidBy.TRANSFER
    return PaidBy.FREE_FARE


def reasons_of_tap(
    *,
    result: str,
    denial: str | None,
    paid_by: str,
    direction: str,
    amount: int,
    unfinished: int,
    route_id: str,
    stop_id: str,
    ends_journey: bool,
) -> list[Part]:
    """The parts for a tap known only by what a validator uploaded (no engine decision at hand):
    what paid, which way, how much. Less than `reasons` says (no names, no leg fare: only what
    the purse paid for it, `charged`), never other."""
    if result != "accepted":
        return [{"code": "refused", "denial": denial or ""}]
    parts: list[Part] = []
    if unfinished:
        parts.append({"code": "unfinished", "amount": unfinished})
    own = amount - unfinished
    if paid_by == PaidBy.FREE_DAY:
        return [*parts, {"code": "free_day"}]
    if paid_by == PaidBy.AT_EXIT:
        return [*parts, {"code": "at_exit", "route": route_id, "stop": stop_id}]
    if paid_by == PaidBy.AT_ENTRY:
        return [*parts, {"code": "tap_off", "route": route_id, "stop": stop_id}]
    if direction == Direction.EXIT and not ends_journey:
        return [*parts, {"code": "no_entry", "route": route_id, "stop": stop_id, "amount": own}]
    # What the purse paid for the leg; its fare is not known (a transfer or a cap may have
    # lowered it), nor what paid a leg that cost nothing beside an earlier journey's fare.
    known = {"charged": own} if paid_by == PaidBy.STORED_VALUE and own else {}
    if direction == Direction.EXIT:
        parts.append({"code": "journey", "route": route_id, "destination": stop_id, **known})
    else:
        parts.append({"code": "fare", "route": route_id, **known})
    follows = _FOLLOWS.get(str(paid_by))
    if follows is not None:
        parts.append({"code": follows, **({"amount": own} if follows in _CHARGED else {})})
    return parts


# What paid a leg, as the part that follows its fare, when the purse did not pay it all.
_FOLLOWS: dict[str, str] = {
    str(PaidBy.PASS): "pass",
    str(PaidBy.FREE_CATEGORY): "free_category",
    str(PaidBy.TRANSFER): "transfer",
    str(PaidBy.CAP): "cap",
    str(PaidBy.FREE_FARE): "free_fare",
}
_CHARGED = frozenset({"transfer", "cap"})


def _base_fare(version: TariffVersion, decision: Decision) -> int:
    """The leg rule's own price for the rider, before transfers, caps and passes."""
    rule = version.leg_rules_by_ref.get(decision.leg_rule) if decision.leg_rule else None
    found = rule.price_for.get(decision.category_id) if rule is not None else None
    return decision.fare if found is None else found


def _cap(version: TariffVersion, cap_id: str, charged: int) -> Part:
    for cap in version.caps:
        if cap.cap_id == cap_id:
            part: Part = {"code": "cap", "period": str(cap.period), "amount": charged}
            if cap.period_days and str(cap.period) == "rolling":
                part["days"] = cap.period_days
            return part
    return {"code": "cap", "amount": charged}
