"""a school administrator sets up their own sign-in from a one-time enrolment link

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:00:00

`flask schools add-admin` printed an otpauth:// link in the operator's terminal, and the
operator chose the clerk's password. Now it prints a link to a page where the clerk chooses
their password and scans the authenticator's QR code; the link works once, for 72 hours, and
only its sha256 is kept. `flask schools reset-admin` makes a new one for a lost phone or a
forgotten password. Administrators made before this have set up their authenticator already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enrol_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("enrol_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_school_admins_enrol_token_hash", ["enrol_token_hash"], unique=True
        )
    op.execute("UPDATE school_admins SET enrolled_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.drop_index("ix_school_admins_enrol_token_hash")
        batch_op.drop_column("enrolled_at")
        batch_op.drop_column("enrol_expires_at")
        batch_op.drop_column("enrol_token_hash")
