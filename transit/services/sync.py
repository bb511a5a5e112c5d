"""What a validator downloads at a sync: the deny list and the pending loads that changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from transit.models import DenyEntry, PendingAction, PendingActionStatus
from transit.services import credentials, loads, tariffs, versions
from transit.services.loads import PassDetail, ProfileDetail
from transit.uow import UnitOfWork
from wire import Denial, PassRecord, ProfileRecord, Snapshot, TicketIssuer, Withdrawal
from wire import PendingAction as OfferedAction


def snapshot(
    since: int, now: datetime, uow: UnitOfWork, issuers: tuple[TicketIssuer, ...] = ()
) -> Snapshot:
    """What changed after `since`; everything when `since` is 0. Unconfirmed loads always,
    and the keys QR credentials are certified with (`issuers`) always."""
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
                .where(
                    PendingAction.changed_version > since,
                    PendingAction.status != PendingActionStatus.PENDING,
                )
                .order_by(PendingAction.card_uid, PendingAction.seq)
            )
        ]
    pending = [
        _offered(action)
        for action in session.scalars(
            select(PendingAction)
            .where(PendingAction.status == PendingActionStatus.PENDING)
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
        ticket_issuers=issuers,
        revoked_credentials=credentials.revoked(now, uow),
    )


def _offered(action: PendingAction) -> OfferedAction:
    detail = loads.detail_of(action)
    return OfferedAction(
        seq=action.seq,
        card_uid=action.card_uid,
        kind=action.kind,
        amount=action.amount,
        expires=None,
        pass_=PassRecord(**detail.entry._asdict()) if isinstance(detail, PassDetail) else None,
        profile=(
            ProfileRecord(category_code=detail.category_code, valid_until=detail.valid_until)
            if isinstance(detail, ProfileDetail)
            else None
        ),
    )
