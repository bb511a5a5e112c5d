"""a QR tap carries the phone's signature, which the backend checks against the credential

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 12:00:00

The backend keeps each credential's signed bytes; a validator uploads, with each QR tap, the
phone's signature of the code. Together they prove the phone showed the code, so a validator
cannot charge an account for a code it never saw: a tap without that proof is kept, marked
`invalid`, not charged, and an operator is alerted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("code_signature", sa.String(length=86), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("proof", sa.String(length=8), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_column("proof")
        batch_op.drop_column("code_signature")
    with op.batch_alter_table("ticket_credentials", schema=None) as batch_op:
        batch_op.drop_column("credential")
