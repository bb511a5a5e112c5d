"""a registration's password kept with its code until the phone is verified

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 02:30:00

A second registration of a pending number used to overwrite the rider's password; now each
registration's password hash waits beside its own code, and only the verification that
presents that code and that password sets it on the account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("one_time_codes") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("one_time_codes") as batch:
        batch.drop_column("password_hash")
