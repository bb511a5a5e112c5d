"""riders' applications for the student category

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("rider_id", sa.String(length=40), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_code", sa.String(length=40), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("rule", sa.String(length=80), nullable=True),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rider_id"], ["riders.rider_id"], name=op.f("fk_applications_rider_id_riders")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.school_id"], name=op.f("fk_applications_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_applications")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index("ix_applications_rider_id", ["rider_id"], unique=False)
        batch_op.create_index(
            "ix_applications_school_id_status", ["school_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_school_id_status")
        batch_op.drop_index("ix_applications_rider_id")
    op.drop_table("applications")
