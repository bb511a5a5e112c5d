"""The page kit: what every server-rendered page shares (the school pages now; the rider's app
and the back office next).

- Times and dates as people in Hanoi read them, and money in VND (Jinja filters on the app). A
  time is stored in UTC; a person reads it in Asia/Ho_Chi_Minh.
- Message catalogues: every visible string has one key and a Vietnamese and an English text
  (`Catalogue`); a page's catalogue lies over the kit's own (api/messages/kit.py).
- The language: Vietnamese first, English on request (?lang=en, kept in the session), else the
  browser's choice.
- Templates under api/templates/kit/: the layout (skip link, labelled navigations, flashed
  messages styled by kind, errors announced), form-field macros (label, hint, required mark,
  error, counter) and the error page; api/static/kit.css (tables become labelled cards on a
  phone, a visible focus ring) and api/static/kit.js (the counter). No CDN, no build step.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Flask, g, render_template, request, session
from werkzeug.exceptions import HTTPException

from api.messages.kit import KIT
from transit.localtime import HANOI

LANGUAGES = ("vi", "en")  # the first is the default


def hanoi_datetime(moment: datetime | None) -> str:
    """'08/12/2026 08:41': a stored (aware) time, in Hanoi time; "" for none."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        raise ValueError(f"a time shown to people needs a UTC offset: {moment.isoformat()}")
    return moment.astimezone(HANOI).strftime("%d/%m/%Y %H:%M")


def hanoi_date(moment: datetime | date | None) -> str:
    """'08/12/2026': the Hanoi date of a stored time, or a calendar date as it is."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"a time shown to people needs a UTC offset: {moment.isoformat()}")
        moment = moment.astimezone(HANOI).date()
    return moment.strftime("%d/%m/%Y")


def vnd(amount: int | None) -> str:
    """'10.000 đ', as Vietnamese print money."""
    if amount is None:
        return ""
    return f"{amount:,}".replace(",", ".") + " đ"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Catalogue:
    """Every string a page shows, by key, in Vietnamese and English.

    Built at import, so a missing translation or a placeholder in one language and not the other
    stops the app from starting rather than showing a clerk half a sentence.
    """

    def __init__(
        self, name: str, entries: Mapping[str, tuple[str, str]], base: Catalogue | None = None
    ) -> None:
        problems = []
        for key, texts in entries.items():
            if len(texts) != len(LANGUAGES) or not all(t.strip() for t in texts):
                problems.append(f"{key}: needs a text in each of {', '.join(LANGUAGES)}")
            elif len({frozenset(_placeholders(t)) for t in texts}) != 1:
                problems.append(f"{key}: the languages name different {{values}}")
        if problems:
            raise ValueError(f"catalogue {name}: " + "; ".join(problems))
        self.name = name
        self.entries: dict[str, tuple[str, str]] = {**(base.entries if base else {}), **entries}

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def text(self, key: str, language: str, **values: Any) -> str:
        return self.entries[key][LANGUAGES.index(language)].format(**values)


KIT_CATALOGUE = Catalogue("kit", KIT)


def language() -> str:
    """The page's language: ?lang=, else the session's (on pages that keep it there), else the
    browser's first choice among ours, else Vietnamese."""
    keeps = bool(g.get("language_in_session"))
    chosen = request.args.get("lang") or (session.get("lang") if keeps else None)
    if chosen in LANGUAGES:
        if keeps:
            session["lang"] = chosen
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def keep_language_in_session(blueprint: Blueprint) -> None:
    """The blueprint's pages keep the chosen language in Flask's session (the school pages,
    which have a signed-in session anyway). Others choose by ?lang= and the browser, and set no
    cookie for it: the rider's app keeps the choice on the phone."""

    @blueprint.before_request
    def _keeps() -> None:
        g.language_in_session = True


@dataclass(frozen=True)
class Words:
    """A catalogue bound to the request's language: `t(key, **values)` in templates and views."""

    catalogue: Catalogue

    def __call__(self, key: str, **values: Any) -> str:
        return self.catalogue.text(key, language(), **values)

    def known(self, key: str, fallback: str, **values: Any) -> str:
        """The words for a key, or `fallback` (a code's own text) when there are none."""
        return self(key, **values) if key in self.catalogue else fallback


def error_page(
    error: HTTPException, words: Words, *, back: str, back_label: str, **context: Any
) -> tuple[str, int, dict[str, str]]:
    """An HTTP error as a page in the reader's language, with a way back (kit/error.html)."""
    status = error.code or 500
    known = status if f"error_{status}" in words.catalogue else None
    retry = dict(error.get_headers()).get("Retry-After") if status == 429 else None
    if status == 429 and not retry:
        retry = "60"
    minutes = max(1, math.ceil(int(retry) / 60)) if retry and retry.isdigit() else 1
    page = render_template(
        "kit/error.html",
        heading=words(f"error_{known}" if known else "error_other"),
        explanation=words(
            f"error_{known}_detail" if known else "error_other_detail", minutes=minutes
        ),
        back=back,
        back_label=back_label,
        **context,
    )
    return page, status, ({"Retry-After": retry} if retry else {})


PAGE_CSP = "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"


def page_headers(headers: Any) -> None:
    """The headers every kit page sends: a strict CSP (no inline script or style), no framing."""
    headers["Content-Security-Policy"] = PAGE_CSP
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"


def install(app: Flask) -> None:
    app.add_template_filter(hanoi_datetime)
    app.add_template_filter(hanoi_date)
    app.add_template_filter(vnd)
    app.add_template_global(language, "page_language")
