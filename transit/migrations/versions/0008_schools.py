"""schools, their administrators, and rosters kept as keyed hashes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("year_end_month", sa.Integer(), nullable=False),
        sa.Column("year_end_day", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_schools")),
        sa.UniqueConstraint("code", name=op.f("uq_schools_code")),
    )
    op.create_table(
        "school_admins",
        sa.Column("admin_id", sa.String(length=40), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.school_id"], name=op.f("fk_school_admins_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("admin_id", name=op.f("pk_school_admins")),
        sa.UniqueConstraint("email", name=op.f("uq_school_admins_email")),
    )
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_admins_school_id"), ["school_id"], unique=False)
    op.create_table(
        "rosters",
        sa.Column("roster_id", sa.String(length=40), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("school_year", sa.String(length=9), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.school_id"], name=op.f("fk_rosters_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("roster_id", name=op.f("pk_rosters")),
    )
    with op.batch_alter_table("rosters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rosters_school_id_year", ["school_id", "school_year"], unique=False
        )
    op.create_table(
        "roster_entries",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("roster_id", sa.String(length=40), nullable=False),
        sa.Column("student_key", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("loose_name_key", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=40), nullable=False),
        sa.Column("programme", sa.String(length=24), nullable=False),
        sa.Column("enrolment_end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roster_id"], ["rosters.roster_id"], name=op.f("fk_roster_entries_roster_id_rosters")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_roster_entries")),
    )
    with op.batch_alter_table("roster_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roster_entries_roster_id_student_key", ["roster_id", "student_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("roster_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_entries_roster_id_student_key")
    op.drop_table("roster_entries")
    with op.batch_alter_table("rosters", schema=None) as batch_op:
        batch_op.drop_index("ix_rosters_school_id_year")
    op.drop_table("rosters")
    with op.batch_alter_table("school_admins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_admins_school_id"))
    op.drop_table("school_admins")
    op.drop_table("schools")
