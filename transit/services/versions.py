"""The version counter of what validators download.

Every change to the deny list or the pending loads takes the next version, so a validator that
last synced at version N is sent only what changed after N.
"""

from __future__ import annotations

from transit.models import SyncVersion
from transit.uow import UnitOfWork


def bump_version(uow: UnitOfWork) -> int:
    """The next sync version; taking the row lock keeps concurrent writers in order."""
    row = uow.session.get(SyncVersion, 1, with_for_update=True)
    if row is None:
        row = SyncVersion(id=1, version=0)
        uow.session.add(row)
    row.version += 1
    return row.version


def current_version(uow: UnitOfWork) -> int:
    """The newest sync version (0 before anything changed)."""
    row = uow.session.get(SyncVersion, 1)
    return row.version if row else 0
