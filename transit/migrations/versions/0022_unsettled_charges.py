"""charges whose commit answer a validator lost, reported once the rider had gone

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 12:30:00

A validator that loses a card's answer to its charge keeps an intent open for the card's next
tap there. A rider who walks to another bus never brings it back, so the validator reports the
intent as `commit` `unknown`; the server keeps it here, out of every ledger, until a later tap
of the card proves the charge happened (its transaction skipped, the purse lower by its amount).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unsettled_charges",
        sa.Column("tap_id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("card_tx", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tap_id", name="pk_unsettled_charges"),
    )
    op.create_index(
        "ix_unsettled_charges_card_uid", "unsettled_charges", ["card_uid"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_unsettled_charges_card_uid", table_name="unsettled_charges")
    op.drop_table("unsettled_charges")
