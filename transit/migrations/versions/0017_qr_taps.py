"""taps record the medium (a chip card or a QR ticket) and, for a QR tap, the code

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 09:00:00

A rider can ride with the phone's QR ticket (docs/qr-ticket.md). Such a tap names the virtual
card by its number in card_uid, the credential the code carried and when the phone signed it,
so the server can see the same code used on two validators. Existing rows are card taps.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("medium", sa.String(length=8), server_default="card", nullable=False)
        )
        batch_op.add_column(
            sa.Column("credential_id", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("code_signed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_column("code_signed_at")
        batch_op.drop_column("credential_id")
        batch_op.drop_column("medium")
