"""A pending action's detail: written and read in transit/services/loads.py, stored as before."""

from __future__ import annotations

import pytest

from fares.model import NO_DATE, Pass
from transit.models import PendingAction, PendingActionKind
from transit.services.loads import (
    ActionDetail,
    NoDetail,
    PassDetail,
    ProfileDetail,
    detail_of,
    encode_detail,
)


def make_action(kind: PendingActionKind, detail: str | None) -> PendingAction:
    return PendingAction(card_uid="04A1B2C3D4E5F6", seq=1, kind=kind, detail=detail)


# The text as loads.py has always stored it: validators get the inner records unchanged.
STORED = [
    (PendingActionKind.CREDIT, NoDetail(), None),
    (
        PendingActionKind.PASS,
        PassDetail(Pass(3, 1, 9500, 9529, 0), "monthly_all"),
        '{"pass": {"pass_code": 3, "category_code": 1, "valid_from": 9500, '
        '"valid_until": 9529, "route_key": 0}, "product_id": "monthly_all"}',
    ),
    (
        PendingActionKind.PROFILE,
        ProfileDetail("student", 2, NO_DATE),
        f'{{"profile": {{"category_code": 2, "valid_until": {NO_DATE}}}, "category": "student"}}',
    ),
]


@pytest.mark.parametrize(("kind", "detail", "text"), STORED)
def test_a_detail_is_stored_as_before_and_reads_back(
    kind: PendingActionKind, detail: ActionDetail, text: str | None
) -> None:
    assert encode_detail(detail) == text
    assert detail_of(make_action(kind, text)) == detail


def test_a_pass_detail_gives_its_days_as_dates() -> None:
    detail = PassDetail(Pass(3, 1, 0, 29, 0), "monthly_all")
    assert (detail.valid_until - detail.valid_from).days == 29


def test_a_pass_stored_without_its_record_reads_as_no_detail() -> None:
    assert detail_of(make_action(PendingActionKind.PASS, None)) == NoDetail()
