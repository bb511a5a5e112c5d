"""virtual cards: an account's balance on the server, its one active medium, QR credentials

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:00:00

A rider may ride with the phone (docs/virtual-card.md, docs/qr-ticket.md). A virtual card is a
card row of kind "virtual" whose purse is the account: account_entries is its ledger, one row
per change, each posted once. An account rides with one medium at a time
(riders.active_card_id). ticket_credentials keeps each credential the backend certified for a
phone's key. Existing cards are physical.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), server_default="physical", nullable=False)
        )
    with op.batch_alter_table("riders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_card_id", sa.String(length=40), nullable=True))
    op.create_table(
        "account_entries",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.card_id"], name="fk_account_entries_card_id_cards"
        ),
        sa.PrimaryKeyConstraint("entry_id", name="pk_account_entries"),
        sa.UniqueConstraint("card_id", "kind", "ref", name="uq_account_entries_card_id_kind_ref"),
    )
    op.create_index("ix_account_entries_card_id", "account_entries", ["card_id"], unique=False)
    op.create_table(
        "ticket_credentials",
        sa.Column("credential_id", sa.String(length=16), nullable=False),
        sa.Column("card_id", sa.String(length=40), nullable=False),
        sa.Column("phone_key", sa.String(length=66), nullable=False),
        sa.Column("spend_limit", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.card_id"], name="fk_ticket_credentials_card_id_cards"
        ),
        sa.PrimaryKeyConstraint("credential_id", name="pk_ticket_credentials"),
    )
    op.create_index(
        "ix_ticket_credentials_card_id", "ticket_credentials", ["card_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_credentials_card_id", table_name="ticket_credentials")
    op.drop_table("ticket_credentials")
    op.drop_index("ix_account_entries_card_id", table_name="account_entries")
    op.drop_table("account_entries")
    with op.batch_alter_table("riders", schema=None) as batch_op:
        batch_op.drop_column("active_card_id")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_column("kind")
