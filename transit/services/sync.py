"""What a validator downloads at a sync: the deny list and the pending loads that changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from transit.models import DenyEntry, PendingAction
from transit.services import tariffs, versions
from transit.uow import UnitOfWork


@dataclass
class Snapshot:
    version: int
    full: bool
    tariff_version: str
    deny: list[dict[str, str]] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # Loads no validator should write any more: confirmed by a tap, or withdrawn.
    withdrawn: list[dict[str, Any]] = field(default_factory=list)


def snapshot(since: int, now: datetime, uow: UnitOfWork) -> Snapshot:
    """What changed after `since`; everything when `since` is 0. Unconfirmed loads always."""
    session = uow.session
    full = since <= 0
    deny_rows = session.scalars(
        select(DenyEntry).where(DenyEntry.changed_version > (0 if full else since))
    )
    result = Snapshot(
        version=versions.current_version(uow),
        full=full,
        tariff_version=tariffs.tariff_version(now),
    )
    for row in deny_rows:
        if row.active:
            result.deny.append({"card_uid": row.card_uid, "reason": row.reason})
        elif not full:
            result.allow.append(row.card_uid)
    if not full:
        result.withdrawn = [
            {"card_uid": uid, "seq": seq}
            for uid, seq in session.execute(
                select(PendingAction.card_uid, PendingAction.seq)
                .where(PendingAction.changed_version > since, PendingAction.status != "pending")
                .order_by(PendingAction.card_uid, PendingAction.seq)
            )
        ]
    for action in session.scalars(
        select(PendingAction)
        .where(PendingAction.status == "pending")
        .order_by(PendingAction.card_uid, PendingAction.seq)
    ):
        item: dict[str, Any] = {
            "seq": action.seq,
            "card_uid": action.card_uid,
            "kind": action.kind,
            "amount": action.amount,
            "expires": None,
        }
        if action.kind in ("pass", "profile") and action.detail:
            item[action.kind] = json.loads(action.detail)[action.kind]
        result.pending.append(item)
    return result
