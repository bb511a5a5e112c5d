"""The rider's reasons in words (api/why.py): every reason the backend keeps has a sentence in
Vietnamese and in English, with names in the reader's language, and nothing falls back to a
code."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import fares.why
from api.why import Names, in_language, worded
from fares import Direction, FareState, Tap, issue_pass, load_tariff, price_tap
from fares.why import reasons, reasons_of_tap

LOCAL = timezone(timedelta(hours=7))
METROVILLE = Path(__file__).resolve().parents[1] / "unit" / "fares" / "tariffs" / "metroville"
NAMES = Names(routes={"32": "32", "2A": "2A"}, stops={"M2A01P": "Cát Linh", "M2A03P": "Thái Hà"})
# Codes the services add beside the fare engine's (account entries, journeys).
SERVICE_CODES = {
    "repriced": {"was": 15_000, "now": 9_000},
    "late_chip_tap": {"card": "8401000000000016", "at": "2026-12-06T01:00:00+00:00"},
    "top_up": {},
    "moved_in": {"card": "8401000000000016"},
    "moved_out": {"card": "8401000000000016"},
    "note": {"text": "Hoàn tiền theo khiếu nại 12"},
    "no_exit": {"amount": 15_000},
    "no_exit_plain": {},
    "no_tap_off": {},
}
ENGINE_CODES = set(re.findall(r"^- `(\w+)`", fares.why.__doc__ or "", re.MULTILINE))


def both(parts: list[dict[str, Any]]) -> tuple[str, str]:
    return worded(parts, "vi", NAMES), worded(parts, "en", NAMES)


def test_a_fare_and_a_journey_read_as_sentences_in_each_language() -> None:
    assert both([{"code": "fare", "route": "32", "amount": 8_000}]) == (
        "Vé lượt tuyến 32: 8.000 đ",
        "Single fare, route 32: 8.000 đ",
    )
    journey = {"code": "journey", "route": "2A", "origin": "M2A01P", "destination": "M2A03P",
               "amount": 9_000}  # fmt: skip
    assert both([journey]) == (
        "Từ Cát Linh đến Thái Hà, tuyến 2A: 9.000 đ",
        "From Cát Linh to Thái Hà, line 2A: 9.000 đ",
    )
    # What a validator's upload says: what the purse paid, not the leg's fare.
    assert both([{"code": "fare", "route": "32", "charged": 7_000}]) == (
        "Vé lượt tuyến 32: đã trả 7.000 đ",
        "Single fare, route 32: paid 7.000 đ",
    )


def test_the_tariffs_names_are_given_in_the_readers_language() -> None:
    parts = [
        {"code": "fare", "route": "32", "amount": 8_000},
        {"code": "pass", "name": "Vé tháng một tuyến (monthly pass one route)"},
    ]
    assert both(parts) == (
        "Vé lượt tuyến 32: 8.000 đ; Vé tháng một tuyến của bạn đã gồm chuyến này",
        "Single fare, route 32: 8.000 đ; your monthly pass one route covers this ride",
    )
    assert in_language("Tết Bính Ngọ (Lunar New Year)", "en") == "Lunar New Year"
    assert in_language("Tết Bính Ngọ (Lunar New Year)", "vi") == "Tết Bính Ngọ"
    assert in_language("Senior", "vi") == "Senior"  # one language only: as it is


def test_a_stop_not_in_the_network_shows_its_id_and_an_unknown_one_says_so() -> None:
    assert worded([{"code": "at_exit", "route": "2A", "stop": "X9"}], "vi", NAMES) == (
        "Vào ga X9, tuyến 2A: giá vé tính khi ra ga"
    )
    assert worded([{"code": "tap_off", "route": "32", "stop": ""}], "en", NAMES) == (
        "Tapped off at an unknown stop: paid when boarding"
    )


def test_an_exit_with_no_entry_that_cost_nothing_says_nothing_was_charged() -> None:
    part = {"code": "no_entry", "route": "2A", "stop": "M2A03P", "amount": 0}
    assert both([part]) == (
        "Ra tại Thái Hà, tuyến 2A, không có lượt vào: không thu tiền",
        "Left at Thái Hà, line 2A, with no entry: nothing charged",
    )


def test_a_refusal_is_worded_from_the_denial_itself() -> None:
    assert both([{"code": "refused", "denial": "passback"}]) == (
        "Không thu tiền: Thẻ vừa được quẹt trên tuyến này",
        "Nothing charged: This card was just used on this route",
    )


@pytest.mark.parametrize("case", sorted(SERVICE_CODES))
def test_every_code_the_services_keep_has_words(case: str) -> None:
    code = case.removesuffix("_plain")
    for text in both([{"code": code, **SERVICE_CODES[case]}]):
        assert text
        assert text != code
        assert "{" not in text


def test_an_unknown_code_shows_as_itself_rather_than_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert worded([{"code": "from_the_future"}], "vi", NAMES) == "From_the_future"
    assert "from_the_future" in caplog.text


def test_no_other_language() -> None:
    with pytest.raises(ValueError, match="no words"):
        worded([], "fr", NAMES)


def test_every_reason_the_engine_gives_over_a_long_ride_has_words_in_both_languages() -> None:
    """Random taps over the Metroville tariff (bus, metro, free old town, a free day, seniors,
    a pass): each decision's reasons, and the upload's, read as sentences with no code left."""
    tariff = load_tariff(METROVILLE)
    routes = {"B1": ["B10", "B20", "C1", "C2"], "M1": ["S1", "S2", "S3", "S4"]}
    held = issue_pass(tariff.versions[-1], "metro_month", "adult", date(2026, 2, 1))
    seen: set[str] = set()
    chance = random.Random(17)
    for state in (FareState(1), FareState(3), FareState(1, passes=(held,))):  # adult, senior
        when = datetime(2026, 2, 12, 7, 0, tzinfo=LOCAL)
        for _ in range(300):
            when += timedelta(minutes=chance.choice([1, 5, 20, 45, 90, 600]))
            route = chance.choice(list(routes))
            direction = chance.choice([Direction.ENTRY, Direction.EXIT, Direction.BOTH])
            each = Tap(when, route, chance.choice(routes[route]), "", direction)
            decision = price_tap(state, each, tariff)
            full = reasons(decision, each, state, tariff)
            less = reasons_of_tap(
                result="accepted" if decision.accepted else "denied",
                denial=decision.denial.code if decision.denial else None,
                paid_by=decision.paid_by,
                direction=decision.direction,
                amount=decision.amount,
                unfinished=decision.unfinished,
                route_id=each.route_id,
                stop_id=each.stop_id,
                ends_journey=bool(decision.journey_start),
            )
            for parts in (full, less):
                seen.update(str(part["code"]) for part in parts)
                for text in both(parts):
                    assert text
                    assert "{" not in text
                    assert not any(text.startswith(code.capitalize()) for code in ENGINE_CODES)
            if decision.accepted:
                state = decision.state
    # The ride went through most of what the engine says.
    assert seen >= {"fare", "journey", "at_exit", "tap_off", "no_entry", "unfinished", "pass",
                    "free_category", "free_day", "refused"}  # fmt: skip
