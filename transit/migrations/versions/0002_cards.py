"""cards issued by the operator

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 06:59:10.711902
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("card_id", sa.String(length=40), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("card_number", sa.String(length=19), nullable=False),
        sa.Column("check_code_hash", sa.String(length=200), nullable=False),
        sa.Column("category_id", sa.String(length=32), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("initial_balance", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_cards")),
        sa.UniqueConstraint("card_number", name=op.f("uq_cards_card_number")),
        sa.UniqueConstraint("serial", name=op.f("uq_cards_serial")),
        sa.UniqueConstraint("uid", name=op.f("uq_cards_uid")),
    )


def downgrade() -> None:
    op.drop_table("cards")
