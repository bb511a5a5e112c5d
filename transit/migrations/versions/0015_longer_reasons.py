"""an application's reason holds up to 200 characters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:00:00

A rejection's reason is what the student reads in the app. At 40 characters it was cut
mid-word ("…học sinh củ"); the school's page now allows 200 and refuses more with a message
instead of cutting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.alter_column(
            "reason", existing_type=sa.String(length=40), type_=sa.String(length=200)
        )


def downgrade() -> None:
    op.execute("UPDATE applications SET reason = substr(reason, 1, 40) WHERE length(reason) > 40")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.alter_column(
            "reason", existing_type=sa.String(length=200), type_=sa.String(length=40)
        )
