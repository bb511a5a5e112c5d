"""taps found by card transaction; the time of a card's newest transaction

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("card_shadows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_tap_time", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.create_index("ix_taps_card_uid_card_tx", ["card_uid", "card_tx"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index("ix_taps_card_uid_card_tx")
    with op.batch_alter_table("card_shadows", schema=None) as batch_op:
        batch_op.drop_column("last_tap_time")
