"""journeys: a card's entry and exit taps paired, with origin, destination and what it cost

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00

Riders and operators see whole journeys instead of loose taps. A journey is keyed by its card
and the second it began (as the card recorded it), which is how an exit names its entry, so the
two halves pair whichever arrives first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("journey_id", sa.String(length=40), nullable=False),
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("origin_stop_id", sa.String(length=64), nullable=True),
        sa.Column("destination_stop_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fare", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priced_at_exit", sa.Boolean(), nullable=False),
        sa.Column("entry_tap_id", sa.String(length=40), nullable=True),
        sa.Column("exit_tap_id", sa.String(length=40), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("journey_id"),
        sa.UniqueConstraint("card_uid", "started_at", name="uq_journeys_card_uid_started_at"),
    )
    op.create_index("ix_journeys_started_at", "journeys", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_journeys_started_at", table_name="journeys")
    op.drop_table("journeys")
