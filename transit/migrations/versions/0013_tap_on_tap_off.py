"""taps record their direction (entry or exit), the bus, and the journey an exit closes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 11:00:00

Riders tap when boarding and when alighting (Hanoi, from 2026-07-01), and the metro charges at
the exit gate. A tap now says which way it went, which bus a door validator is on, and for an
exit when its journey began (from the card), so the server can pair the two halves of a journey.
`unfinished` is the part of a tap's amount charged for an earlier journey left without an exit.
Existing rows are entries, as every tap was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=8), server_default="entry", nullable=False)
        )
        batch_op.add_column(
            sa.Column("vehicle_id", sa.String(length=40), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("entry_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("unfinished", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_column("unfinished")
        batch_op.drop_column("entry_time")
        batch_op.drop_column("vehicle_id")
        batch_op.drop_column("direction")
