"""Why a charge or a journey cost what it did, in the reader's words.

The backend keeps reasons as data (fares.why's parts: a stable code and its values) beside each
account entry and journey, and reads a tap's from what its validator uploaded. Here they become
a sentence in Vietnamese or English (api/messages/why.py): amounts as VND, routes and stops by
the names the network gives them, tariff names ("Vietnamese (English)") in the reader's
language. The rider's app shows it; the statement prints it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Response, after_this_request

from api import problems
from api.messages.why import WHY
from api.pages import LANGUAGES, Catalogue, hanoi_datetime, vnd
from fares import DENIALS
from transit.services import trips
from transit.uow import UnitOfWork

CATALOGUE = Catalogue("why", WHY)
log = logging.getLogger(__name__)

_MONEY = frozenset({"amount", "charged", "was", "now"})
_STOPS = frozenset({"stop", "origin", "destination"})
_NAMED = frozenset({"pass", "free_category", "free_day"})
_PRICED = frozenset({"fare", "journey"})  # worded "...: 8.000 đ" when the amount is known
_PERIODS = frozenset({"day", "week", "month", "rolling"})
_BILINGUAL = re.compile(r"(?P<vi>.+?) \((?P<en>[^()]+)\)")


@dataclass(frozen=True)
class Names:
    """Route short names and stop names by id, for the parts being worded."""

    routes: Mapping[str, str] = field(default_factory=dict)
    stops: Mapping[str, str] = field(default_factory=dict)


def ids(reasons: Iterable[Sequence[Mapping[str, Any]]]) -> tuple[set[str], set[str]]:
    """The route and stop ids these lists of parts name, to look their names up at once."""
    routes: set[str] = set()
    stops: set[str] = set()
    for parts in reasons:
        for part in parts:
            if route := part.get("route"):
                routes.add(str(route))
            stops.update(str(part[name]) for name in _STOPS if part.get(name))
    return routes, stops


def in_language(name: str, language: str) -> str:
    """A tariff's name, "Vé tháng một tuyến (monthly pass one route)", in one language."""
    found = _BILINGUAL.fullmatch(name.strip())
    if found is None:
        return name
    return found["en"] if language == "en" else found["vi"]


def worded(parts: Sequence[Mapping[str, Any]], language: str, names: Names) -> str:
    """The parts as one sentence in `language` ("vi" or "en")."""
    if language not in LANGUAGES:
        raise ValueError(f"no words in language {language!r}")
    texts = [text for part in parts if (text := _part(part, language, names))]
    sentence = "; ".join(texts)
    return sentence[:1].upper() + sentence[1:]


def _part(part: Mapping[str, Any], language: str, names: Names) -> str:
    code = str(part.get("code", ""))
    values: dict[str, Any] = {}
    for name, value in part.items():
        if name == "code":
            continue
        if name in _MONEY:
            values[name] = vnd(int(value))
        elif name == "route":
            values[name] = names.routes.get(str(value)) or str(value)
        elif name in _STOPS:
            values[name] = (
                names.stops.get(str(value))
                or str(value)
                or CATALOGUE.text("why_unknown_stop", language)
            )
        elif name == "name":
            values[name] = in_language(str(value), language)
        elif name == "at":
            values[name] = hanoi_datetime(datetime.fromisoformat(str(value)))
        elif name == "denial":
            denial = DENIALS.get(str(value))
            values[name] = (
                (denial.text_en if language == "en" else denial.text_vi) if denial else str(value)
            )
        else:
            values[name] = value
    key = f"why_{code}"
    if code in _NAMED and "name" in values:
        key += "_named"
    elif code == "journey" and "origin" not in values:
        key = "why_journey_to"
    elif code == "unfinished" and values.get("route"):
        key = "why_unfinished_route"
    elif code == "cap" and part.get("period") in _PERIODS:
        key = f"why_cap_{part['period']}"
    elif code == "no_entry" and part.get("amount") == 0:
        key = "why_no_entry_nothing"
    elif code == "no_exit" and "amount" not in values:
        key = "why_no_exit_plain"
    if key not in CATALOGUE:
        log.warning("no words for reason code %r", code)
        return code
    try:
        text = CATALOGUE.text(key, language, **values)
    except KeyError as missing:
        log.warning("reason %r lacks %s", code, missing)
        return code
    if code in _PRICED and "amount" in values:
        text += f": {values['amount']}"
    elif code in _PRICED and "charged" in values:
        text += ": " + CATALOGUE.text("why_charged", language, charged=values["charged"])
    return text


def sentences(
    reasons: Sequence[Sequence[Mapping[str, Any]]],
    uow: UnitOfWork,
    language: str | None = None,
    known: Names | None = None,
) -> list[str]:
    """Each list of parts as a sentence, with the names of the routes and stops they name.

    `known` names the caller already has (a page's rows carry their route and stop): only the
    others are looked up. In `language`, or else the caller's (Accept-Language: Vietnamese
    unless English is preferred), and then the response says which and that it varies by it."""
    known = known or Names()
    route_ids, stop_ids = ids(reasons)
    routes, stops = trips.names(route_ids - set(known.routes), stop_ids - set(known.stops), uow)
    names = Names({**known.routes, **routes}, {**known.stops, **stops})
    if language is None:
        language = problems.language()
        chosen = language

        @after_this_request
        def _say_language(response: Response) -> Response:
            response.headers["Content-Language"] = chosen
            response.vary.add("Accept-Language")
            return response

    return [worded(parts, language, names) for parts in reasons]
