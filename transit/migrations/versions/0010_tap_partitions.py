"""taps partitioned by month on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 12:00:00

The primary key becomes (tap_id, time): PostgreSQL needs the partition key in every unique
index. A tap_id is still unique in practice: ingestion looks every incoming tap_id up before
inserting, and a replayed tap carries the time it was journaled with.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op

from transit import partitions

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_taps_card_uid_time": "(card_uid, time)",
    "ix_taps_card_uid_card_tx": "(card_uid, card_tx)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old()
    op.execute("CREATE TABLE taps (LIKE taps_old INCLUDING DEFAULTS) PARTITION BY RANGE (time)")
    op.execute("ALTER TABLE taps ADD CONSTRAINT pk_taps PRIMARY KEY (tap_id, time)")
    _indexes()
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF taps DEFAULT")
    op.execute("INSERT INTO taps SELECT * FROM taps_old")
    op.execute("DROP TABLE taps_old")
    # Every month that holds a tap gets its partition, and the months around today.
    partitions.ensure(op.get_bind(), datetime.now(UTC))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old()
    op.execute("CREATE TABLE taps (LIKE taps_old INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE taps ADD CONSTRAINT pk_taps PRIMARY KEY (tap_id)")
    _indexes()
    op.execute("INSERT INTO taps SELECT * FROM taps_old")
    op.execute("DROP TABLE taps_old CASCADE")


def _rename_old() -> None:
    op.execute("ALTER TABLE taps RENAME TO taps_old")
    op.execute("ALTER TABLE taps_old RENAME CONSTRAINT pk_taps TO pk_taps_old")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")


def _indexes() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON taps {columns}")
