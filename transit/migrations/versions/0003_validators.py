"""validators, taps, shadow balances, pending loads, deny list, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 07:47:13.138899
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("card_uid", sa.String(length=20), nullable=True),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_table(
        "audit_log",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "card_shadows",
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("last_card_tx", sa.BigInteger(), nullable=False),
        sa.Column("last_tap_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("card_uid", name=op.f("pk_card_shadows")),
    )
    op.create_table(
        "deny_list",
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("card_uid", name=op.f("pk_deny_list")),
    )
    with op.batch_alter_table("deny_list", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deny_list_changed_version"), ["changed_version"], unique=False
        )

    op.create_table(
        "device_nonces",
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "nonce", name=op.f("pk_device_nonces")),
    )
    with op.batch_alter_table("device_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_backlog", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
    )
    op.create_table(
        "pending_actions",
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confirmed_by_tap", sa.String(length=40), nullable=True),
        sa.Column("changed_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("card_uid", "seq", name=op.f("pk_pending_actions")),
    )
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_actions_changed_version"), ["changed_version"], unique=False
        )

    op.create_table(
        "sync_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_version")),
    )
    op.create_table(
        "taps",
        sa.Column("tap_id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("device_seq", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_uid", sa.String(length=20), nullable=False),
        sa.Column("card_number", sa.String(length=19), nullable=True),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_by", sa.String(length=20), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=True),
        sa.Column("card_tx", sa.BigInteger(), nullable=True),
        sa.Column("tariff_version", sa.String(length=40), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("commit", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tap_id", name=op.f("pk_taps")),
    )
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.create_index("ix_taps_card_uid_time", ["card_uid", "time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index("ix_taps_card_uid_time")

    op.drop_table("taps")
    op.drop_table("sync_version")
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_actions_changed_version"))

    op.drop_table("pending_actions")
    op.drop_table("devices")
    with op.batch_alter_table("device_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_nonces_seen_at"))

    op.drop_table("device_nonces")
    with op.batch_alter_table("deny_list", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deny_list_changed_version"))

    op.drop_table("deny_list")
    op.drop_table("card_shadows")
    op.drop_table("audit_log")
    op.drop_table("alerts")
