"""Alembic environment: the caller hands over a connection; nothing is read from files."""

from __future__ import annotations

from alembic import context

import transit.models  # noqa: F401  (registers every table on Base.metadata)
from transit import partitions
from transit.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through transit.migrate, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=partitions.include_name,
)
with context.begin_transaction():
    context.run_migrations()
