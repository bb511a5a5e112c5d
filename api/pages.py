"""The page kit: what every server-rendered page shares (school pages now; the rider's app and
the back office next).

So far: times and dates as people in Hanoi read them, and money in VND, as Jinja filters
installed on the app. A time is stored in UTC; a person reads it in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from transit.localtime import HANOI


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


def install(app: Flask) -> None:
    app.add_template_filter(hanoi_datetime)
    app.add_template_filter(hanoi_date)
    app.add_template_filter(vnd)
