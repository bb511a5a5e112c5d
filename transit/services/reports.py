"""Ridership reports: an origin-destination matrix of journeys, and a TIDES v1.0 data package.

The matrix counts journeys (transit.services.journeys) by the stops they began and ended at;
the package publishes accepted taps in the TIDES tables `passenger_events`, `fare_transactions`
and `devices` (TIDES-transit/TIDES, spec v1.0), with a `datapackage.json` that names the TIDES
profile and table schemas by URL, as the TIDES package profile requires. docs/reports.md tells
the operator what each report counts and what the package holds about riders.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Integer, func, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from fares.model import Direction, PaidBy
from transit.errors import DomainError, RouteNotFound
from transit.localtime import HANOI, service_day
from transit.models import Card, Journey, Route, Stop, TapRecord, TapVerdict
from transit.uow import UnitOfWork

TIDES_VERSION = "v1.0"
TIDES_SPEC = f"https://raw.githubusercontent.com/TIDES-transit/TIDES/{TIDES_VERSION}/spec"
TIDES_TABLES = ("passenger_events", "fare_transactions", "devices")

# The TIDES v1.0 columns of each table, in the schema's order: a CSV must carry all of them.
PASSENGER_EVENT_FIELDS = (
    "passenger_event_id",
    "service_date",
    "event_timestamp",
    "location_ping_id",
    "trip_id_performed",
    "trip_id_scheduled",
    "trip_stop_sequence",
    "scheduled_stop_sequence",
    "event_type",
    "vehicle_id",
    "device_id",
    "train_car_id",
    "stop_id",
    "pattern_id",
    "event_count",
)
FARE_TRANSACTION_FIELDS = (
    "transaction_id",
    "service_date",
    "event_timestamp",
    "location_ping_id",
    "amount",
    "currency_type",
    "fare_action",
    "trip_id_performed",
    "trip_id_scheduled",
    "pattern_id",
    "trip_stop_sequence",
    "scheduled_stop_sequence",
    "vehicle_id",
    "device_id",
    "fare_id",
    "stop_id",
    "num_riders",
    "fare_media_id",
    "rider_category",
    "fare_product",
    "fare_period",
    "fare_capped",
    "token_id",
    "balance",
)
DEVICE_FIELDS = (
    "device_id",
    "stop_id",
    "vehicle_id",
    "train_car_id",
    "device_type",
    "device_vendor",
    "device_model",
    "device_location",
)

# What paid for a tap, as the agency-defined TIDES `fare_product`.
_FARE_PRODUCTS = {
    PaidBy.STORED_VALUE: "Stored value",
    PaidBy.PASS: "Pass",
    PaidBy.FREE_CATEGORY: "Free rider category",
    PaidBy.TRANSFER: "Transfer",
    PaidBy.CAP: "Fare cap",
    PaidBy.FREE_FARE: "Free fare",
    PaidBy.FREE_DAY: "Free day",
    PaidBy.AT_EXIT: "Priced at exit",
}


class BadPeriod(DomainError):
    code = "bad_report_period"


@dataclass(frozen=True)
class OdRow:
    """Journeys from one stop to another on a route, begun in one hour of the day (Hanoi)."""

    route_id: str
    origin_stop_id: str  # "" when the journey's entry was never seen
    destination_stop_id: str  # "" while it is open, or when it ended without an exit
    hour: int  # 0-23, Hanoi time of started_at
    journeys: int


@dataclass(frozen=True)
class TidesSummary:
    """What a TIDES package holds: rows per table, and the files written."""

    passenger_events: int
    fare_transactions: int
    devices: int
    gate_taps: int  # taps at a station gate: in fare_transactions, not in passenger_events
    files: list[Path] = field(default_factory=list)


class _HanoiHour(FunctionElement[int]):
    """The hour of the day in Hanoi of a stored UTC time, computed by the database."""

    type = Integer()
    inherit_cache = True


_OFFSET_HOURS = int((HANOI.utcoffset(None) or timedelta()).total_seconds()) // 3600


@compiles(_HanoiHour)
def _hanoi_hour_elsewhere(element: _HanoiHour, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError("the Hanoi hour is written for SQLite and PostgreSQL only")


@compiles(_HanoiHour, "sqlite")
def _hanoi_hour_sqlite(element: _HanoiHour, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UtcDateTime as UTC text; strftime shifts it by Hanoi's fixed offset.
    stamp = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%H', {stamp}, '{_OFFSET_HOURS:+d} hours') AS INTEGER)"


@compiles(_HanoiHour, "postgresql")
def _hanoi_hour_postgresql(element: _HanoiHour, compiler: SQLCompiler, **kw: Any) -> str:
    # A fixed offset rather than a zone name: Vietnam keeps UTC+07:00, as transit.localtime says.
    stamp = compiler.process(element.clauses, **kw)
    return (
        f"CAST(EXTRACT(HOUR FROM ({stamp} AT TIME ZONE 'UTC') "
        f"+ INTERVAL '{_OFFSET_HOURS} hours') AS INTEGER)"
    )


def _days(start: date, end: date) -> tuple[datetime, datetime]:
    """The first moment of `start` in Hanoi and of the day after `end`, as UTC."""
    if start > end:
        raise BadPeriod(f"the period ends ({end.isoformat()}) before it starts ({start})")
    return (
        datetime.combine(start, time(), HANOI).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(), HANOI).astimezone(UTC),
    )


def od_matrix(uow: UnitOfWork, start: date, end: date, route_id: str | None = None) -> list[OdRow]:
    """Journeys begun on the Hanoi dates start..end, counted by route, stops and Hanoi hour.

    Every journey is counted once, whatever its status, so the counts add up to the boardings:
    a journey whose entry was never seen has the origin "", and an open journey or one closed
    without an exit has the destination "". The database groups the rows; the hour is computed
    in SQL with Hanoi's fixed UTC offset, one expression per dialect (SQLite, PostgreSQL).
    """
    since, until = _days(start, end)
    session = uow.session
    if route_id is not None and session.get(Route, route_id) is None:
        raise RouteNotFound(f"no route {route_id!r} in the network", route_id=route_id)
    hour = _HanoiHour(Journey.started_at).label("hour")
    query = (
        select(
            Journey.route_id,
            Journey.origin_stop_id,
            Journey.destination_stop_id,
            hour,
            func.count().label("journeys"),
        )
        .where(Journey.started_at >= since, Journey.started_at < until)
        .group_by(Journey.route_id, Journey.origin_stop_id, Journey.destination_stop_id, hour)
    )
    if route_id is not None:
        query = query.where(Journey.route_id == route_id)
    rows = [
        OdRow(route, origin or "", destination or "", int(at), int(count))
        for route, origin, destination, at, count in session.execute(query)
    ]
    return sorted(
        rows, key=lambda row: (row.route_id, row.origin_stop_id, row.destination_stop_id, row.hour)
    )


def stop_names(uow: UnitOfWork, stop_ids: set[str]) -> dict[str, str]:
    """The network's name of each stop it knows among `stop_ids`."""
    if not stop_ids:
        return {}
    query = select(Stop.stop_id, Stop.name).where(Stop.stop_id.in_(sorted(stop_ids)))
    return {stop_id: name for stop_id, name in uow.session.execute(query)}


def token_id(key: bytes, card_uid: str) -> str:
    """A card's TIDES token: HMAC-SHA256 of its UID under a key of its own purpose."""
    if len(key) < 32:
        raise ValueError("the token key needs 32 bytes")
    return hmac.new(key, f"card\0{card_uid.upper()}".encode(), hashlib.sha256).hexdigest()


def fare_action(direction: str, paid_by: str) -> str | None:
    """The TIDES `fare_action` of an accepted tap, or None when it is no fare transaction.

    A boarding or entry gate is "Enter", and "Transfer entrance" when a transfer made it free;
    an exit priced at the exit (the metro) is "Exit", or "Transfer exit". A tap off a bus
    already paid at entry (paid_by at_entry) moves no money and uses no product: None.
    """
    transfer = paid_by == PaidBy.TRANSFER
    if direction == Direction.EXIT:
        if paid_by == PaidBy.AT_ENTRY:
            return None
        return "Transfer exit" if transfer else "Exit"
    return "Transfer entrance" if transfer else "Enter"


@dataclass
class _DeviceSeen:
    """What the taps tell about one validator: where it was and which way riders went."""

    vehicle_id: str = ""
    stop_id: str = ""
    directions: set[str] = field(default_factory=set)

    def row(self, device_id: str) -> dict[str, str]:
        on_vehicle = bool(self.vehicle_id)
        if on_vehicle:
            location = ""
        elif self.directions == {Direction.ENTRY}:
            location = "Entrance (not located on a vehicle)"
        elif self.directions == {Direction.EXIT}:
            location = "Exit (not located on a vehicle)"
        else:
            location = "Entrance/exit (not located on a vehicle)"
        return {
            "device_id": device_id,
            "stop_id": "" if on_vehicle else self.stop_id,
            "vehicle_id": self.vehicle_id,
            "device_type": "Farebox" if on_vehicle else "Fare gate",
            "device_location": location,
        }


def _accepted_taps(uow: UnitOfWork, since: datetime, until: datetime) -> Iterator[Any]:
    """Accepted taps in [since, until), each vehicle's in time order, with the card's category."""
    query = (
        select(
            TapRecord.tap_id,
            TapRecord.time,
            TapRecord.direction,
            TapRecord.card_uid,
            TapRecord.route_id,
            TapRecord.stop_id,
            TapRecord.device_id,
            TapRecord.vehicle_id,
            TapRecord.amount,
            TapRecord.paid_by,
            TapRecord.balance_after,
            Card.category_id,
        )
        .outerjoin(Card, Card.uid == TapRecord.card_uid)
        .where(
            TapRecord.result == TapVerdict.ACCEPTED,
            TapRecord.time >= since,
            TapRecord.time < until,
        )
        .order_by(TapRecord.vehicle_id, TapRecord.route_id, TapRecord.time, TapRecord.tap_id)
        .execution_options(yield_per=2_000)
    )
    yield from uow.session.execute(query)


def _writer(sink: IO[str], fields: tuple[str, ...]) -> csv.DictWriter[str]:
    writer = csv.DictWriter(sink, fieldnames=fields, restval="", lineterminator="\n")
    writer.writeheader()
    return writer


def tides_package(
    uow: UnitOfWork, start: date, end: date, out_dir: Path, *, token_key: bytes
) -> TidesSummary:
    """Write the accepted taps of the service days start..end as a TIDES v1.0 package.

    passenger_events: a boarding ("Passenger boarded") or alighting ("Passenger alighted") per
    accepted tap on a vehicle. TIDES requires its vehicle and trip_stop_sequence, which a gate
    has not, so station gates' taps appear only as fare transactions. The validators do not know
    where a trip begins: trip_stop_sequence numbers, from 1, the stops at which the vehicle
    recorded taps on that route that service day, and the trip fields stay empty.

    fare_transactions: every accepted tap that priced a fare (all entries; exits but a tap off
    paid at entry). fare_action is "Enter"/"Exit", or "Transfer entrance"/"Transfer exit" when a
    transfer made it free. fare_product says what paid, from paid_by: stored_value "Stored
    value", pass "Pass", free_category "Free rider category", transfer "Transfer", cap "Fare
    cap", free_fare "Free fare", free_day "Free day", at_exit "Priced at exit"; fare_capped is
    true for paid_by cap only (a charge a cap merely lowered reads as stored value).
    fare_media_id is the TIDES media type "Smart card or ticket"; token_id is `token_id(key,
    uid)`, never the UID; rider_category is the card's category now, not at the tap.

    devices: each validator in those taps: "Farebox" with its vehicle when on a bus, else
    "Fare gate" with its stop and which way riders went through it.
    """
    # A service day runs from some hour of its date into the next one: read a day more, keep
    # the taps whose service day is in the period.
    since, until = _days(start, end)
    until += timedelta(days=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    devices: dict[str, _DeviceSeen] = {}
    events = transactions = gate_taps = 0
    visit_key: tuple[date, str, str] | None = None
    visit_stop = ""
    visit = 0
    paths = {table: out_dir / f"{table}.csv" for table in TIDES_TABLES}
    with (
        paths["passenger_events"].open("w", encoding="utf-8", newline="") as events_file,
        paths["fare_transactions"].open("w", encoding="utf-8", newline="") as fares_file,
    ):
        event_rows = _writer(events_file, PASSENGER_EVENT_FIELDS)
        fare_rows = _writer(fares_file, FARE_TRANSACTION_FIELDS)
        for tap in _accepted_taps(uow, since, until):
            day = service_day(tap.time)
            if not start <= day <= end:
                continue
            seen = devices.setdefault(tap.device_id, _DeviceSeen())
            seen.directions.add(tap.direction)
            seen.stop_id = tap.stop_id
            seen.vehicle_id = tap.vehicle_id or seen.vehicle_id
            common = {
                "service_date": day.isoformat(),
                "event_timestamp": tap.time.astimezone(HANOI).isoformat(),
                "vehicle_id": tap.vehicle_id,
                "device_id": tap.device_id,
                "stop_id": tap.stop_id,
            }
            sequence = ""
            if tap.vehicle_id:
                key = (day, tap.vehicle_id, tap.route_id)
                if key != visit_key:
                    visit_key, visit_stop, visit = key, "", 0
                if tap.stop_id != visit_stop:
                    visit_stop, visit = tap.stop_id, visit + 1
                sequence = str(visit)
                alighted = tap.direction == Direction.EXIT
                event_rows.writerow(
                    {
                        **common,
                        "passenger_event_id": tap.tap_id,
                        "trip_stop_sequence": sequence,
                        "event_type": "Passenger alighted" if alighted else "Passenger boarded",
                        "event_count": 1,
                    }
                )
                events += 1
            else:
                gate_taps += 1
            action = fare_action(tap.direction, tap.paid_by)
            if action is None:
                continue
            fare_rows.writerow(
                {
                    **common,
                    "transaction_id": tap.tap_id,
                    "amount": tap.amount,
                    "currency_type": "VND",
                    "fare_action": action,
                    "trip_stop_sequence": sequence,
                    "num_riders": 1,
                    "fare_media_id": "Smart card or ticket",
                    "rider_category": tap.category_id or "",
                    "fare_product": _FARE_PRODUCTS.get(tap.paid_by, tap.paid_by),
                    "fare_capped": "true" if tap.paid_by == PaidBy.CAP else "false",
                    "token_id": token_id(token_key, tap.card_uid),
                    "balance": "" if tap.balance_after is None else tap.balance_after,
                }
            )
            transactions += 1
    with paths["devices"].open("w", encoding="utf-8", newline="") as devices_file:
        device_rows = _writer(devices_file, DEVICE_FIELDS)
        for device_id in sorted(devices):
            device_rows.writerow(devices[device_id].row(device_id))
    descriptor = out_dir / "datapackage.json"
    descriptor.write_text(
        json.dumps(_descriptor(start, end), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return TidesSummary(
        passenger_events=events,
        fare_transactions=transactions,
        devices=len(devices),
        gate_taps=gate_taps,
        files=[*paths.values(), descriptor],
    )


def _descriptor(start: date, end: date) -> dict[str, Any]:
    """The package's datapackage.json: TIDES's profile, and its table schemas by URL."""
    period = f"{start.isoformat()}..{end.isoformat()}"
    return {
        "name": f"hanoi-transit-card-{start.isoformat()}-{end.isoformat()}",
        "title": f"Hanoi transit card ridership, service days {period}",
        "description": "Accepted card taps as TIDES passenger events and fare transactions.",
        "agency": "Hanoi public transport (bus and metro)",
        "profile": f"{TIDES_SPEC}/tides-datapackage-profile.json",
        "resources": [
            {
                "name": table,
                "tides-table": table,
                "profile": "tabular-data-resource",
                "path": f"{table}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": f"{TIDES_SPEC}/{table}.schema.json",
                "sources": [{"title": "Card validators' uploaded taps", "component": "AFC"}],
            }
            for table in TIDES_TABLES
        ],
    }
