"""passes bought as payments, and what a pending pass writes to the card

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("pass_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("route_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("route_id")
        batch_op.drop_column("pass_start")
        batch_op.drop_column("product_id")
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.drop_column("detail")
