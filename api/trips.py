"""A card's trips and journeys, a page at a time, and its monthly statement as a spreadsheet."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response
from flask.views import MethodView

from api import problems, why
from api.auth import current_rider, derived_key
from api.deps import unit_of_work
from api.messages.statement import STATEMENT
from api.pages import Catalogue
from api.schemas.trips import (
    JourneyPageSchema,
    StatementQuerySchema,
    TripPageSchema,
    TripQuerySchema,
)
from api.smorest import Blueprint
from transit.errors import DomainError
from transit.localtime import HANOI
from transit.services import trips, wallet
from transit.services.trips import JourneyItem, Statement, Trip

blp = Blueprint(
    "trips",
    __name__,
    url_prefix="/api/v1/cards",
    description="A card's trips and its monthly statement",
)

CSV = "text/csv"
# 128 bits of HMAC-SHA256: as strong as a cursor needs, and a shorter URL (RFC 2104 allows it).
CURSOR_TAG_BYTES = 16
CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,512}")
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATEMENT_WORDS = Catalogue("statement", STATEMENT)
TRIP_COLUMNS = ("time", "route", "route_name", "stop", "amount", "paid_by", "balance_after", "why")
JOURNEY_COLUMNS = ("started", "route", "origin", "destination", "ended", "fare", "status", "why")


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 400


def _tag(card_id: str, payload: bytes, kind: str) -> bytes:
    # The card and the list are in the tag, not the payload: a cursor only works for the list
    # it came from.
    message = card_id.encode() + b"\0" + payload
    digest = hmac.new(derived_key(f"{kind}-cursor"), message, hashlib.sha256).digest()
    return digest[:CURSOR_TAG_BYTES]


def _encode(card_id: str, when: datetime, key: str, kind: str) -> str:
    position = [when.astimezone(UTC).isoformat(), key]
    payload = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _tag(card_id, payload, kind)).rstrip(b"=").decode()


def encode_cursor(card_id: str, trip: Trip) -> str:
    """An opaque, signed position after `trip` in the card's list."""
    return _encode(card_id, trip.time, trip.tap_id, "trip")


def encode_journey_cursor(card_id: str, journey: JourneyItem) -> str:
    """An opaque, signed position after `journey` in the card's journeys."""
    return _encode(card_id, journey.started_at, journey.journey_id, "journey")


def decode_cursor(card_id: str, cursor: str, kind: str = "trip") -> tuple[datetime, str]:
    """(time, id) of a cursor this server made for this card and list, or InvalidCursor."""
    if not CURSOR_TEXT.fullmatch(cursor):
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    payload, tag = raw[:-CURSOR_TAG_BYTES], raw[-CURSOR_TAG_BYTES:]
    if not payload or not hmac.compare_digest(tag, _tag(card_id, payload, kind)):
        raise InvalidCursor()
    try:
        when_text, tap_id = json.loads(payload)
        when = datetime.fromisoformat(when_text)
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    if when.tzinfo is None or not isinstance(tap_id, str):
        raise InvalidCursor()
    return when, tap_id


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), HANOI)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def statement_csv(
    found: Statement, trip_whys: list[str], journey_whys: list[str], language: str = "vi"
) -> bytes:
    """The statement as UTF-8 CSV with a BOM, so spreadsheet software reads the Vietnamese;
    each trip and journey with why it cost what it did (`*_whys`), all in `language`."""

    def t(key: str, **values: Any) -> str:
        return STATEMENT_WORDS.text(key, language, **values)

    def known(prefix: str, code: str) -> str:
        return t(f"{prefix}_{code}") if f"{prefix}_{code}" in STATEMENT_WORDS else code

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([t(column) for column in TRIP_COLUMNS])
    for trip, trip_why in zip(found.trips, trip_whys, strict=True):
        row = (
            trip.time.astimezone(HANOI).strftime("%Y-%m-%d %H:%M:%S"),
            trip.route_short_name or trip.route_id,
            trip.route_long_name,
            trip.stop_name or trip.stop_id,
            trip.amount,
            known("paid_by", trip.paid_by),
            trip.balance_after,
            trip_why,
        )
        writer.writerow([_cell(value) for value in row])
    writer.writerow([])
    total = (t("total"), "", t("trips", count=found.trip_count), "", found.total_amount)
    writer.writerow([_cell(v) for v in total])
    for each in found.by_paid_by:
        writer.writerow(
            [_cell(v) for v in (t("by_paid_by"), "", t("trips", count=each.trips), "", each.amount)]
            + [_cell(known("paid_by", each.paid_by))]
        )
    if found.journeys:
        # The same month as journeys: each entry and its exit on one line, with all it cost.
        writer.writerow([])
        writer.writerow([_cell(t("journeys"))])
        writer.writerow([t(column) for column in JOURNEY_COLUMNS])
        for journey, journey_why in zip(found.journeys, journey_whys, strict=True):
            ended = journey.ended_at
            cells = (
                journey.started_at.astimezone(HANOI).strftime("%Y-%m-%d %H:%M:%S"),
                journey.route_short_name or journey.route_id,
                journey.origin_name or journey.origin_stop_id or "?",
                journey.destination_name or journey.destination_stop_id or "?",
                ended.astimezone(HANOI).strftime("%H:%M:%S") if ended else "",
                journey.fare,
                known("status", journey.status),
                journey_why,
            )
            writer.writerow([_cell(value) for value in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _page(
    card_id: str,
    limit: int,
    cursor: str | None,
    date_from: date | None,
    date_to: date | None,
    kind: str,
) -> dict[str, Any]:
    """One page of a card's trips or journeys, newest first, and the cursor to the next."""
    listed: Callable[..., list[Any]] = trips.trips if kind == "trip" else trips.journeys
    with unit_of_work() as uow:
        card = wallet.owned_card(current_rider(uow), card_id, uow)
        after = None if cursor is None else decode_cursor(card_id, cursor, kind)
        # One more than asked tells whether there is a next page, without counting.
        found = listed(
            card,
            uow,
            limit=limit + 1,
            after=after,
            start=_day_start(date_from),
            end=_day_start(None if date_to is None else date_to + timedelta(days=1)),
        )
        page = found[:limit]
        reasons = [item.reasons for item in page]
        whys = why.sentences(reasons, uow, known=_names_on(page))
    data = [
        {**vars(item), "reasons": parts, "why": text}  # shallow: asdict copies deep
        for item, parts, text in zip(page, reasons, whys, strict=True)
    ]
    if len(found) <= limit:
        return {"data": data, "next_cursor": None}
    last = page[-1]
    if kind == "trip":
        return {"data": data, "next_cursor": encode_cursor(card_id, last)}
    return {"data": data, "next_cursor": encode_journey_cursor(card_id, last)}


def _names_on(items: list[Any]) -> why.Names:
    """The route and stop names a page's rows carry already (an id the network does not know
    is named by itself), so that wording their reasons looks up only the others."""
    routes: dict[str, str] = {}
    stops: dict[str, str] = {}
    for item in items:
        routes[item.route_id] = item.route_short_name or item.route_long_name or item.route_id
        if isinstance(item, Trip):
            stops[item.stop_id] = item.stop_name or item.stop_id
        else:
            for stop_id, name in (
                (item.origin_stop_id, item.origin_name),
                (item.destination_stop_id, item.destination_name),
            ):
                if stop_id:
                    stops[stop_id] = name or stop_id
    return why.Names(routes, stops)


@blp.route("/<card_id>/trips")
class TripsView(MethodView):
    @blp.arguments(TripQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, TripPageSchema)
    @blp.alt_response(400, response="BAD_REQUEST", description="code invalid_cursor")
    @blp.errors(401, 404, 422)
    def get(
        self,
        card_id: str,
        limit: int,
        cursor: str | None,
        date_from: date | None,
        date_to: date | None,
    ) -> Any:
        """The card's trips, newest first; follow `next_cursor` for older ones."""
        return _page(card_id, limit, cursor, date_from, date_to, "trip")


@blp.route("/<card_id>/journeys")
class JourneysView(MethodView):
    @blp.arguments(TripQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, JourneyPageSchema)
    @blp.alt_response(400, response="BAD_REQUEST", description="code invalid_cursor")
    @blp.errors(401, 404, 422)
    def get(
        self,
        card_id: str,
        limit: int,
        cursor: str | None,
        date_from: date | None,
        date_to: date | None,
    ) -> Any:
        """The card's journeys (each entry with its exit), newest first."""
        return _page(card_id, limit, cursor, date_from, date_to, "journey")


@blp.route("/<card_id>/statement")
class StatementView(MethodView):
    @blp.arguments(StatementQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        {"type": "string"},
        content_type=CSV,
        description="UTF-8 CSV with a byte order mark: one row per trip, then the totals",
        headers={
            "Content-Disposition": {
                "description": 'attachment; filename="statement-CARDNUMBER-YYYY-MM.csv"',
                "schema": {"type": "string"},
            }
        },
    )
    @blp.errors(401, 404, 422)
    def get(self, card_id: str, month: date) -> Any:
        """The card's trips in one month (Hanoi time) with totals, as a spreadsheet file, in
        the caller's language (Accept-Language: Vietnamese unless English is preferred)."""
        with unit_of_work() as uow:
            card = wallet.owned_card(current_rider(uow), card_id, uow)
            found = trips.statement(card, month, uow)
            # In the caller's language throughout, headers and reasons alike.
            whys = why.sentences(
                [t.reasons for t in found.trips] + [j.reasons for j in found.journeys],
                uow,
                known=_names_on([*found.trips, *found.journeys]),
            )
        trip_whys, journey_whys = whys[: len(found.trips)], whys[len(found.trips) :]
        response = Response(
            statement_csv(found, trip_whys, journey_whys, problems.language()),
            content_type=f"{CSV}; charset=utf-8",
        )
        name = f"statement-{found.card_number}-{found.month:%Y-%m}.csv"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Cache-Control"] = "private, no-store"
        return response
