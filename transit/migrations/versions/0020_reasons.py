"""why each charge and journey cost what it did, as data worded in the rider's language

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 11:00:00

An account's ledger entries and a card's journeys keep the fare engine's reasons as a list of
parts with stable codes (fares.why); the rider's app and statement word them in Vietnamese or
English. The English `explanation` stays, for the operator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("account_entries", "journeys"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("reasons", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
            )


def downgrade() -> None:
    for table in ("account_entries", "journeys"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("reasons")
