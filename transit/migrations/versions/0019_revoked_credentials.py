"""a QR credential can be revoked before it expires (a lost phone)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 11:00:00

A rider who loses the phone revokes its credentials from another one: every snapshot lists the
revoked credentials still within their validity, and validators refuse their codes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_credentials", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
