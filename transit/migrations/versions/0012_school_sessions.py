"""school administrators' sessions kept on the server; TOTP replay and lock-out state

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:00:00

Signing out used to clear only the browser's cookie, so a copy of it stayed good: now the cookie
names a session row (by the hash of its id) that signing out, idling and age end. Each
administrator also keeps the time step of the last TOTP code accepted (a code works once) and a
count of wrong codes that locks the second factor for a while.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("code_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("code_locked_until", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "school_sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["school_admins.admin_id"],
            name=op.f("fk_school_sessions_admin_id_school_admins"),
        ),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_school_sessions")),
    )
    with op.batch_alter_table("school_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_sessions_admin_id"), ["admin_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("school_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_sessions_admin_id"))
    op.drop_table("school_sessions")
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.drop_column("code_locked_until")
        batch_op.drop_column("code_failures")
        batch_op.drop_column("totp_last_step")
