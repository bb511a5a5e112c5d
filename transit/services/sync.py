"""What a validator downloads at a sync: the deny list and the pending loads that changed."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from transit.models import DenyEntry, PendingAction
from transit.services import tariffs, versions
from transit.uow import UnitOfWork
from wire import Denial, PassRecord, ProfileRecord, Snapshot, Withdrawal
from wire import PendingAction as OfferedAction


def snapshot(since: int, now: datetime, uow: UnitOfWork) -> Snapshot:
    """What changed after `since`; everything when `since` is 0. Unconfirmed loads always."""
    session = uow.session
    full = since <= 0
    deny_rows = session.scalars(
        select(DenyEntry).where(DenyEntry.changed_version > (0 if full else since))
    )
    version = versions.current_version(uow)
    deny: list[Denial] = []
    allow: list[str] = []
    for row in deny_rows:
        if row.active:
            deny.append(Denial(card_uid=row.card_uid, reason=row.reason))
        elif not full:
            allow.append(row.card_uid)
    withdrawn: list[Withdrawal] = []
    if not full:
        withdrawn = [
            Withdrawal(card_uid=uid, seq=seq)
            for uid, seq in session.execute(
                select(PendingAction.card_uid, PendingAction.seq)
                .where(PendingAction.changed_version > since, PendingAction.status != "pending")
                .order_by(PendingAction.card_uid, PendingAction.seq)
            )
        ]
    pending = [
        _offered(action)
        for action in session.scalars(
            select(PendingAction)
            .where(PendingAction.status == "pending")
            .order_by(PendingAction.card_uid, PendingAction.seq)
        )
    ]
    return Snapshot(
        version=version,
        full=full,
        tariff_version=tariffs.tariff_version(now),
        deny=tuple(deny),
        allow=tuple(allow),
        pending=tuple(pending),
        withdrawn=tuple(withdrawn),
    )


def _offered(action: PendingAction) -> OfferedAction:
    detail = json.loads(action.detail) if action.detail else {}
    return OfferedAction(
        seq=action.seq,
        card_uid=action.card_uid,
        kind=action.kind,
        amount=action.amount,
        expires=None,
        pass_=PassRecord.from_json(detail["pass"]) if action.kind == "pass" and detail else None,
        profile=(
            ProfileRecord.from_json(detail["profile"])
            if action.kind == "profile" and detail
            else None
        ),
    )
