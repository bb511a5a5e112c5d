"""Journeys from taps: each entry and its exit paired, whatever order they arrive in.

A validator journals each tap; an exit carries its journey's entry time as the card recorded it
(whole seconds). A journey is keyed by its card and that second, so:
- an entry opens its journey, or completes one its exit already made;
- an exit completes its journey, or makes it (no entry yet: `no_entry`) for the entry to complete;
- an entry closes the card's earlier journeys still open: `no_tap_off` when they were paid at
  entry (a bus), `no_exit` when they were priced at exit (the metro), and the part of its amount
  the validator charged for that unfinished journey (`unfinished`) moves onto it.
A late half settles its journey when it arrives: an exit arriving after a later entry closed its
journey as `no_tap_off` completes it.

A batch of taps costs one query for the journeys it may touch and one insert for the new ones:
the validators' uploads are the busiest write path of the system.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select

from fares import why
from transit.models import Journey, JourneyStatus, TapVerdict
from transit.uow import UnitOfWork
from wire import Tap

_AT_EXIT = "at_exit"  # the paid_by of an entry whose fare the exit charges (fares.PaidBy)
_EXIT = "exit"
_CHUNK = 500  # cards per query: well inside every database's limit on parameters


class _Batch:
    """The journeys a batch of taps may touch, loaded once, and the new ones it makes."""

    def __init__(
        self,
        uow: UnitOfWork,
        taps: list[Tap],
        now: datetime,
        reasons: Mapping[str, list[why.Part]],
    ) -> None:
        self.now = now
        self.reasons = reasons
        self.by_start: dict[tuple[str, datetime], Journey | dict[str, Any]] = {}
        self.still_open: dict[str, list[Journey | dict[str, Any]]] = defaultdict(list)
        self.new: list[dict[str, Any]] = []
        cards = sorted({tap.card_uid for tap in taps})
        starts = sorted({_start(tap) for tap in taps})
        for first in range(0, len(cards), _CHUNK):
            chunk = cards[first : first + _CHUNK]
            for journey in uow.session.scalars(
                select(Journey).where(
                    Journey.card_uid.in_(chunk),
                    or_(Journey.status == JourneyStatus.OPEN, Journey.started_at.in_(starts)),
                )
            ):
                self.by_start[journey.card_uid, journey.started_at.astimezone(UTC)] = journey
                if journey.status == JourneyStatus.OPEN:
                    self.still_open[journey.card_uid].append(journey)

    def make(self, **values: Any) -> None:
        journey = {
            "journey_id": "jny_" + secrets.token_hex(12),
            "updated_at": self.now,
            "priced_at_exit": False,
            "entry_tap_id": None,
            "exit_tap_id": None,
            "origin_stop_id": None,
            "destination_stop_id": None,
            "ended_at": None,
            "reasons": [],
            **values,
        }
        self.new.append(journey)
        self.by_start[journey["card_uid"], journey["started_at"]] = journey
        if journey["status"] == JourneyStatus.OPEN:
            self.still_open[journey["card_uid"]].append(journey)


def record(
    uow: UnitOfWork,
    taps: Iterable[Tap],
    now: datetime,
    reasons: Mapping[str, list[why.Part]] | None = None,
) -> None:
    """Pair these newly stored taps (each stored once) into the cards' journeys.

    `reasons` are the fare engine's reasons for taps the backend priced itself (fares.why), by
    tap id; any other tap's are read from what its validator uploaded."""
    accepted = sorted(
        (tap for tap in taps if tap.result == TapVerdict.ACCEPTED),
        key=lambda tap: (tap.card_uid, tap.time),
    )
    if not accepted:
        return
    batch = _Batch(uow, accepted, now, reasons or {})
    for tap in accepted:
        if tap.direction == _EXIT:
            _exit(batch, tap)
        else:
            _entry(batch, tap)
    if batch.new:
        uow.session.execute(insert(Journey), batch.new)


def _start(tap: Tap) -> datetime:
    """When the tap's journey began, as the card keeps it: whole seconds, UTC."""
    began = tap.entry_time if tap.direction == _EXIT and tap.entry_time is not None else tap.time
    return began.replace(microsecond=0).astimezone(UTC)


def _get(journey: Journey | dict[str, Any], name: str) -> Any:
    return journey[name] if isinstance(journey, dict) else getattr(journey, name)


def _set(journey: Journey | dict[str, Any], now: datetime, **values: Any) -> None:
    if isinstance(journey, dict):
        journey.update(values)
    else:
        for name, value in values.items():
            setattr(journey, name, value)
        journey.updated_at = now


def _entry(batch: _Batch, tap: Tap) -> None:
    started = _start(tap)
    _close_earlier(batch, tap, started)
    own = tap.amount - tap.unfinished
    journey = batch.by_start.get((tap.card_uid, started))
    if journey is not None:
        if _get(journey, "entry_tap_id") is not None:
            return  # the same entry under another tap id: counted once
        # Its exit came first: the journey is whole now.
        _set(
            journey,
            batch.now,
            entry_tap_id=tap.tap_id,
            origin_stop_id=tap.stop_id or None,
            route_id=tap.route_id,
            fare=_get(journey, "fare") + own,
            priced_at_exit=tap.paid_by == _AT_EXIT,
            status=JourneyStatus.COMPLETE,
            explanation=_joined(tap.explanation, _get(journey, "explanation")),
            reasons=_parts_joined(
                _own_parts(batch, tap), _with_origin(_get(journey, "reasons"), tap.stop_id)
            ),
        )
        return
    batch.make(
        card_uid=tap.card_uid,
        route_id=tap.route_id,
        origin_stop_id=tap.stop_id or None,
        started_at=started,
        fare=own,
        status=JourneyStatus.OPEN,
        priced_at_exit=tap.paid_by == _AT_EXIT,
        entry_tap_id=tap.tap_id,
        explanation=tap.explanation,
        reasons=_own_parts(batch, tap),
    )


def _close_earlier(batch: _Batch, tap: Tap, started: datetime) -> None:
    """A new entry closes the card's journeys begun before it and still open."""
    still_open = batch.still_open[tap.card_uid]
    earlier = sorted(
        (j for j in still_open if _get(j, "started_at") < started),
        key=lambda j: _get(j, "started_at"),
        reverse=True,
    )
    unfinished = tap.unfinished
    for journey in earlier:
        still_open.remove(journey)
        if _get(journey, "status") != JourneyStatus.OPEN:
            continue
        if _get(journey, "priced_at_exit"):
            explanation = _get(journey, "explanation")
            fare = _get(journey, "fare")
            if unfinished:
                # The validator charged the line's maximum for the latest of them.
                explanation = _joined(
                    explanation,
                    f"no exit: {unfinished} charged at the next entry (tap {tap.tap_id})",
                )
                fare += unfinished
                unfinished = 0
            _set(
                journey,
                batch.now,
                status=JourneyStatus.NO_EXIT,
                fare=fare,
                explanation=explanation,
                reasons=[*_get(journey, "reasons"), _no_exit(fare - _get(journey, "fare"))],
            )
        else:
            _set(
                journey,
                batch.now,
                status=JourneyStatus.NO_TAP_OFF,
                reasons=[*_get(journey, "reasons"), {"code": "no_tap_off"}],
            )


def _exit(batch: _Batch, tap: Tap) -> None:
    started = _start(tap)
    own = tap.amount - tap.unfinished
    journey = batch.by_start.get((tap.card_uid, started))
    if journey is not None:
        if _get(journey, "exit_tap_id") is not None:
            return
        if journey in batch.still_open[tap.card_uid]:
            batch.still_open[tap.card_uid].remove(journey)
        complete = _get(journey, "entry_tap_id") is not None
        _set(
            journey,
            batch.now,
            exit_tap_id=tap.tap_id,
            destination_stop_id=tap.stop_id or None,
            ended_at=tap.time,
            fare=_get(journey, "fare") + own,
            status=JourneyStatus.COMPLETE if complete else JourneyStatus.NO_ENTRY,
            explanation=_joined(_get(journey, "explanation"), tap.explanation),
            reasons=_parts_joined(
                _get(journey, "reasons"),
                _with_origin(_own_parts(batch, tap), _get(journey, "origin_stop_id")),
            ),
        )
        return
    batch.make(
        card_uid=tap.card_uid,
        route_id=tap.route_id,
        destination_stop_id=tap.stop_id or None,
        started_at=started,
        ended_at=tap.time,
        fare=own,
        status=JourneyStatus.NO_ENTRY,
        exit_tap_id=tap.tap_id,
        explanation=tap.explanation,
        reasons=_own_parts(batch, tap),
    )


def _no_exit(charged: int) -> why.Part:
    """A journey closed with no exit: the line's maximum the next entry charged for it, if any
    (a pass, a free day, or a later journey left open too may leave it at nothing)."""
    return {"code": "no_exit", "amount": charged} if charged else {"code": "no_exit"}


def _joined(first: str, second: str) -> str:
    return f"{first}; then {second}" if first and second else first or second


# A half that only says "the other half prices it" adds nothing to a journey that has both, nor
# does "no tap off" once the tap off arrived.
_HALF_ONLY = frozenset({"at_exit", "tap_off", "no_tap_off"})


def _own_parts(batch: _Batch, tap: Tap) -> list[why.Part]:
    """The tap's reasons, less an earlier journey's unfinished fare: that is the other journey's
    (`no_exit`), and this journey's fare leaves it out too."""
    parts = batch.reasons.get(tap.tap_id)
    if parts is None:
        parts = why.reasons_of_tap(
            result=tap.result,
            denial=tap.reason,
            paid_by=tap.paid_by,
            direction=tap.direction,
            amount=tap.amount,
            unfinished=tap.unfinished,
            route_id=tap.route_id,
            stop_id=tap.stop_id,
            ends_journey=tap.entry_time is not None,
        )
    return [part for part in parts if part["code"] != "unfinished"]


def _with_origin(parts: list[why.Part], origin: str | None) -> list[why.Part]:
    """An exit's `journey` part names the journey's origin when only the journey knows it."""
    if not origin:
        return parts
    return [
        {**part, "origin": origin} if part["code"] == "journey" and not part.get("origin") else part
        for part in parts
    ]


def _parts_joined(first: list[why.Part], second: list[why.Part]) -> list[why.Part]:
    if first and second:
        return [part for part in (*first, *second) if part["code"] not in _HALF_ONLY]
    return [*first, *second]
