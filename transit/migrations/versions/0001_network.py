"""the network: agencies, routes, stops, route patterns

Revision ID: 0001
Revises:
Create Date: 2026-11-28 05:54:04.346583
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_agencies")),
    )
    op.create_table(
        "stops",
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("location_type", sa.Integer(), nullable=False),
        sa.Column("parent_station", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stop_id", name=op.f("pk_stops")),
    )
    with op.batch_alter_table("stops", schema=None) as batch_op:
        batch_op.create_index("ix_stops_lat_lon", ["lat", "lon"], unique=False)

    op.create_table(
        "routes",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("short_name", sa.String(length=64), nullable=False),
        sa.Column("long_name", sa.String(length=300), nullable=False),
        sa.Column("route_type", sa.Integer(), nullable=False),
        sa.Column("color", sa.String(length=6), nullable=True),
        sa.Column("text_color", sa.String(length=6), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.agency_id"], name=op.f("fk_routes_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_routes")),
    )
    op.create_table(
        "route_patterns",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column("headsign", sa.String(length=300), nullable=True),
        sa.Column("shape", sa.Text(), nullable=True),
        sa.Column("length_m", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.route_id"],
            name=op.f("fk_route_patterns_route_id_routes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("route_id", "direction_id", name=op.f("pk_route_patterns")),
    )
    op.create_table(
        "pattern_stops",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id", "direction_id"],
            ["route_patterns.route_id", "route_patterns.direction_id"],
            name=op.f("fk_pattern_stops_route_id_route_patterns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stops.stop_id"], name=op.f("fk_pattern_stops_stop_id_stops")
        ),
        sa.PrimaryKeyConstraint(
            "route_id", "direction_id", "sequence", name=op.f("pk_pattern_stops")
        ),
    )
    with op.batch_alter_table("pattern_stops", schema=None) as batch_op:
        batch_op.create_index("ix_pattern_stops_stop_id", ["stop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pattern_stops", schema=None) as batch_op:
        batch_op.drop_index("ix_pattern_stops_stop_id")

    op.drop_table("pattern_stops")
    op.drop_table("route_patterns")
    op.drop_table("routes")
    with op.batch_alter_table("stops", schema=None) as batch_op:
        batch_op.drop_index("ix_stops_lat_lon")

    op.drop_table("stops")
    op.drop_table("agencies")
