"""A demo rider, two issued cards and a week of priced journeys, for `flask demo seed`.

A newcomer's `make run` has no card reader, no phone and no bus, so nothing would ever show up
in the rider's app. This makes what those would have made, through the same doors: the rider
registers and verifies like anyone (the "phone" is an inbox in memory), the cards go into the
card register as `flask cards issue` puts them there, and every tap of the week is decided by
the fare engine from the card's fare state, as the validator decides it, and journaled in the
validator's own record. The upload of those records, signed, is HTTP, so it is `api/cli/demo.py`'s.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, tuple_

import wire
from fares import FareState, PaidBy, Tap, Tariff, price_tap
from fares.model import INSUFFICIENT_BALANCE
from transit.errors import DomainError
from transit.localtime import HANOI, service_day
from transit.models import PatternStop, Rider, RiderStatus, Route, TapVerdict
from transit.services import cards, devices, riders, wallet
from transit.services.devices import RegisteredDevice
from transit.uow import UnitOfWork

# Fixed and documented (README), so a newcomer can sign in without reading any output. A real
# Viettel mobile range, so the number passes the same checks as a rider's; nobody has 0912 000 000.
DEMO_PHONE = "0912 000 000"
DEMO_PASSWORD = "demo-xe-buyt"  # noqa: S105  the documented password of a development-only rider
CATEGORY = "adult"
# Enough for the week (about 240,000 đ a card) with some left over.
INITIAL_BALANCE = 300_000
DAYS = 7


class DemoNetworkMissing(DomainError):
    code = "demo_network_missing"
    status = 409


@dataclass(frozen=True)
class Ride:
    """One boarding a rider makes on a kind of day: the Hanoi clock time, route and stop."""

    at: time
    route_id: str
    stop_id: str


@dataclass(frozen=True)
class Habits:
    """Where and when someone rides, by day of the week."""

    weekday: tuple[Ride, ...]
    saturday: tuple[Ride, ...]
    sunday: tuple[Ride, ...]

    def rides_on(self, day: date) -> tuple[Ride, ...]:
        return {5: self.saturday, 6: self.sunday}.get(day.weekday(), self.weekday)

    @property
    def rides(self) -> tuple[Ride, ...]:
        return self.weekday + self.saturday + self.sunday


# The demo rider lives by Hồ Tùng Mậu and works by Hoàn Kiếm Lake: route 32 to Kim Mã, then
# 09 to Bờ Hồ, and back; on Saturday to Long Biên on 34, on Sunday out to the ethnic culture
# village on 107.
RIDER_HABITS = Habits(
    weekday=(
        Ride(time(7, 5), "32", "HN0020"),
        Ride(time(7, 32), "09", "HN0005"),
        Ride(time(17, 35), "09", "HN0001"),
        Ride(time(18, 1), "32", "HN0005"),
    ),
    saturday=(
        Ride(time(9, 15), "34", "HN0020"),
        Ride(time(16, 40), "34", "HN0002"),
    ),
    sunday=(
        Ride(time(8, 30), "107", "HN0005"),
        Ride(time(16, 5), "107", "HN0013"),
    ),
)
# The second card's holder comes in from Hà Đông on the BRT and changes at Kim Mã to route 01
# for Ga Hà Nội; on Saturday they meet someone at Nội Bài on the airport bus, 86.
OTHER_HABITS = Habits(
    weekday=(
        Ride(time(6, 50), "BRT01", "HN0038"),
        Ride(time(7, 24), "01", "HN0005"),
        Ride(time(17, 20), "01", "HN0004"),
        Ride(time(17, 48), "BRT01", "HN0005"),
    ),
    saturday=(
        Ride(time(10, 0), "86", "HN0004"),
        Ride(time(13, 30), "86", "HN0012"),
    ),
    sunday=(),
)
HABITS = (RIDER_HABITS, OTHER_HABITS)


@dataclass(frozen=True)
class DemoCard:
    """An issued card: what is printed on it, and the balance it was issued with."""

    card_id: str
    card_number: str
    check_code: str
    uid: str
    initial_balance: int


@dataclass(frozen=True)
class CardWeek:
    """What a card's week came to on the card itself."""

    card: DemoCard
    journeys: int
    fares: int
    balance: int


@dataclass(frozen=True)
class DemoWeek:
    """The cards' weeks, the validators that saw them, and each validator's journal (by id)."""

    weeks: list[CardWeek]
    validators: list[RegisteredDevice]
    journals: dict[str, list[wire.Tap]]
    tariff_versions: list[str]


def demo_rider(uow: UnitOfWork) -> Rider | None:
    """The demo rider, if a seed made it already."""
    phone = riders.normalize_phone(DEMO_PHONE)
    return uow.session.scalar(
        select(Rider).where(Rider.phone == phone, Rider.status == RiderStatus.ACTIVE)
    )


def prepare_week(now: datetime, uow: UnitOfWork, *, tariff: Tariff, prefix: str) -> DemoWeek:
    """Issue two cards, register a validator per route ridden, and journal the 7 days before
    `now` on them, every tap priced by `tariff`. Nothing is uploaded yet."""
    _check_network(uow)
    issued = [_issue_card(now, uow, prefix) for _ in HABITS]
    routes = sorted({ride.route_id for habits in HABITS for ride in habits.rides})
    validators = [devices.register_device(route_id, now, uow) for route_id in routes]
    by_route = {device.route_id: device.device_id for device in validators}
    today = service_day(now)
    days = [today - timedelta(days=back) for back in range(DAYS, 0, -1)]
    taps: list[wire.Tap] = []
    weeks = []
    for card, habits in zip(issued, HABITS, strict=True):
        card_taps, week = _ride_week(card, habits, days, by_route, tariff)
        taps += card_taps
        weeks.append(week)
    journals: dict[str, list[wire.Tap]] = defaultdict(list)
    # A validator numbers its journal entries in the order taps happen on it, whatever the card.
    for tap in sorted(taps, key=lambda t: t.time):
        journal = journals[by_route[tap.route_id]]
        journal.append(replace(tap, device_seq=len(journal) + 1))
    versions = sorted({tap.tariff_version for tap in taps if tap.tariff_version})
    return DemoWeek(weeks, validators, dict(journals), versions)


def register_rider(card: DemoCard, now: datetime, uow: UnitOfWork, *, code_key: bytes) -> Rider:
    """The demo rider, registered and verified as a rider would be, with `card` linked."""
    phone = _Phone()
    codes = riders.Codes(key=code_key, sms=phone)
    riders.request_registration(
        DEMO_PHONE, DEMO_PASSWORD, consent=True, language="vi", now=now, uow=uow, codes=codes
    )
    rider = riders.verify_phone(DEMO_PHONE, phone.last_code(), DEMO_PASSWORD, now, uow, codes)
    wallet.link_card(rider, card.card_number, card.check_code, now, uow)
    return rider


class _Phone:
    """The demo rider's phone: it keeps the registration text instead of showing it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, phone: str, text: str) -> None:
        self.texts.append(text)

    def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.texts[-1]) if self.texts else None
        if found is None:
            raise RuntimeError("the registration sent no code to the demo phone")
        return found.group(1)


def _check_network(uow: UnitOfWork) -> None:
    wanted = {(ride.route_id, ride.stop_id) for habits in HABITS for ride in habits.rides}
    found: set[tuple[str, str]] = {
        (route_id, stop_id)
        for route_id, stop_id in uow.session.execute(
            select(PatternStop.route_id, PatternStop.stop_id)
            .join(Route, Route.route_id == PatternStop.route_id)
            .where(tuple_(PatternStop.route_id, PatternStop.stop_id).in_(sorted(wanted)))
            .where(Route.active.is_(True))
        )
    }
    missing = sorted(wanted - found)
    if missing:
        route, stop = missing[0]
        raise DemoNetworkMissing(
            f"the demo network is not imported ({len(missing)} of the demo rides' stops are "
            f"missing, e.g. route {route} at {stop}); "
            "run `flask --app wsgi network import data/demo-network` first"
        )


def _issue_card(now: datetime, uow: UnitOfWork, prefix: str) -> DemoCard:
    # A DESFire UID is 7 bytes, NXP's start with 04; random, so no real or virtual card clashes.
    uid = b"\x04" + secrets.token_bytes(6)
    reservation = cards.reserve_card(
        uow,
        uid=uid,
        category_id=CATEGORY,
        valid_until=None,
        balance=INITIAL_BALANCE,
        prefix=prefix,
        now=now,
    )
    # What `flask cards issue` records once the card is personalized; there is no card to
    # personalize here, only its register entry and shadow balance.
    cards.finish_issuing(uow, reservation.card_id, personalized=True)
    return DemoCard(
        reservation.card_id,
        reservation.card_number,
        reservation.check_code,
        uid.hex().upper(),
        INITIAL_BALANCE,
    )


def _ride_week(
    card: DemoCard,
    habits: Habits,
    days: list[date],
    by_route: dict[str, str],
    tariff: Tariff,
) -> tuple[list[wire.Tap], CardWeek]:
    """The card's taps of the week, decided one after another as validators decide them.

    Each tap is numbered 0 on its validator; `prepare_week` numbers each validator's journal.
    """
    state = FareState.new(tariff.latest.categories[CATEGORY].code)
    balance = card.initial_balance
    transactions = 0  # a freshly personalized card's counter
    taps: list[wire.Tap] = []
    for day in days:
        for index, ride in enumerate(habits.rides_on(day)):
            when = _clock(day, ride.at, index).astimezone(UTC)
            device_id = by_route[ride.route_id]
            decision = price_tap(state, Tap(when, ride.route_id, ride.stop_id, device_id), tariff)
            accepted = decision.accepted and decision.amount <= balance
            denial = None
            if accepted:
                balance -= decision.amount
                transactions += 1
                state = decision.state
            else:
                # Refused on the bus too: nothing is charged or written to the card.
                denial = decision.denial if not decision.accepted else INSUFFICIENT_BALANCE
            taps.append(
                wire.Tap(
                    tap_id="tap_" + uuid.uuid4().hex,
                    time=when,
                    card_uid=card.uid,
                    card_number=card.card_number,
                    route_id=ride.route_id,
                    stop_id=ride.stop_id,
                    result=TapVerdict.ACCEPTED if accepted else TapVerdict.DENIED,
                    reason=None if accepted else (denial.code if denial else "no_fare_rule"),
                    amount=decision.amount if accepted else 0,
                    paid_by=str(decision.paid_by if accepted else PaidBy.NOTHING),
                    balance_after=balance if accepted else None,
                    card_tx=transactions if accepted else None,
                    tariff_version=decision.tariff_version_id if accepted else None,
                    explanation=decision.explanation,
                    commit="confirmed" if accepted else "none",
                )
            )
    journeys = sum(tap.result == TapVerdict.ACCEPTED for tap in taps)
    return taps, CardWeek(card, journeys, card.initial_balance - balance, balance)


def _clock(day: date, at: time, index: int) -> datetime:
    """The ride's time on `day`, a few minutes either way: nobody boards at 07:05:00 daily."""
    ordinal = day.toordinal()
    minutes = (ordinal * 7 + index * 5) % 9 - 4
    seconds = (ordinal * 13 + index * 29) % 60
    return datetime.combine(day, at, HANOI) + timedelta(minutes=minutes, seconds=seconds)
