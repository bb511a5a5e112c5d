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
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from transit.models import Journey, JourneyStatus, TapVerdict
from transit.uow import UnitOfWork
from wire import Tap

_AT_EXIT = "at_exit"  # the paid_by of an entry whose fare the exit charges (fares.PaidBy)
_EXIT = "exit"


def record(uow: UnitOfWork, taps: Iterable[Tap], now: datetime) -> None:
    """Pair these newly stored taps (each stored once) into the cards' journeys."""
    accepted = sorted(
        (tap for tap in taps if tap.result == TapVerdict.ACCEPTED),
        key=lambda tap: (tap.card_uid, tap.time),
    )
    for tap in accepted:
        if tap.direction == _EXIT:
            _exit(uow, tap, now)
        else:
            _entry(uow, tap, now)


def _second(moment: datetime) -> datetime:
    """A time as the card keeps it: whole seconds."""
    return moment.replace(microsecond=0)


def _find(uow: UnitOfWork, card_uid: str, started_at: datetime) -> Journey | None:
    return uow.session.scalars(
        select(Journey).where(Journey.card_uid == card_uid, Journey.started_at == started_at)
    ).first()


def _entry(uow: UnitOfWork, tap: Tap, now: datetime) -> None:
    started = _second(tap.time)
    _close_earlier(uow, tap, started, now)
    own = tap.amount - tap.unfinished
    journey = _find(uow, tap.card_uid, started)
    if journey is not None:
        if journey.entry_tap_id is not None:
            return  # the same entry under another tap id: counted once
        # Its exit came first: the journey is whole now.
        journey.entry_tap_id = tap.tap_id
        journey.origin_stop_id = tap.stop_id or None
        journey.route_id = tap.route_id
        journey.fare += own
        journey.priced_at_exit = tap.paid_by == _AT_EXIT
        journey.status = JourneyStatus.COMPLETE
        journey.explanation = _joined(tap.explanation, journey.explanation)
        journey.updated_at = now
        uow.session.flush()
        return
    uow.session.add(
        Journey(
            journey_id="jny_" + secrets.token_hex(12),
            card_uid=tap.card_uid,
            route_id=tap.route_id,
            origin_stop_id=tap.stop_id or None,
            destination_stop_id=None,
            started_at=started,
            ended_at=None,
            fare=own,
            status=JourneyStatus.OPEN,
            priced_at_exit=tap.paid_by == _AT_EXIT,
            entry_tap_id=tap.tap_id,
            exit_tap_id=None,
            explanation=tap.explanation,
            updated_at=now,
        )
    )
    uow.session.flush()


def _close_earlier(uow: UnitOfWork, tap: Tap, started: datetime, now: datetime) -> None:
    """A new entry closes the card's journeys begun before it and still open."""
    still_open = list(
        uow.session.scalars(
            select(Journey)
            .where(
                Journey.card_uid == tap.card_uid,
                Journey.started_at < started,
                Journey.status == JourneyStatus.OPEN,
            )
            .order_by(Journey.started_at.desc())
        )
    )
    unfinished = tap.unfinished
    for journey in still_open:
        if journey.status != JourneyStatus.OPEN:
            continue  # changed in this batch, not yet in the database
        if journey.priced_at_exit:
            journey.status = JourneyStatus.NO_EXIT
            if unfinished:
                # The validator charged the line's maximum for the latest of them.
                journey.fare += unfinished
                journey.explanation = _joined(
                    journey.explanation,
                    f"no exit: {unfinished} charged at the next entry (tap {tap.tap_id})",
                )
                unfinished = 0
        else:
            journey.status = JourneyStatus.NO_TAP_OFF
        journey.updated_at = now
    uow.session.flush()


def _exit(uow: UnitOfWork, tap: Tap, now: datetime) -> None:
    started = _second(tap.entry_time) if tap.entry_time is not None else _second(tap.time)
    own = tap.amount - tap.unfinished
    journey = _find(uow, tap.card_uid, started)
    if journey is not None:
        if journey.exit_tap_id is not None:
            return
        journey.exit_tap_id = tap.tap_id
        journey.destination_stop_id = tap.stop_id or None
        journey.ended_at = tap.time
        journey.fare += own
        journey.status = (
            JourneyStatus.COMPLETE if journey.entry_tap_id is not None else JourneyStatus.NO_ENTRY
        )
        journey.explanation = _joined(journey.explanation, tap.explanation)
        journey.updated_at = now
        uow.session.flush()  # the session does not flush by itself before the next query
        return
    uow.session.add(
        Journey(
            journey_id="jny_" + secrets.token_hex(12),
            card_uid=tap.card_uid,
            route_id=tap.route_id,
            origin_stop_id=None,
            destination_stop_id=tap.stop_id or None,
            started_at=started,
            ended_at=tap.time,
            fare=own,
            status=JourneyStatus.NO_ENTRY,
            priced_at_exit=False,
            entry_tap_id=None,
            exit_tap_id=tap.tap_id,
            explanation=tap.explanation,
            updated_at=now,
        )
    )
    uow.session.flush()


def _joined(first: str, second: str) -> str:
    return f"{first}; then {second}" if first and second else first or second
