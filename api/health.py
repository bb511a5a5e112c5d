"""Liveness and readiness, for the load balancer and the process supervisor."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import backend
from api.problems import problem
from transit.migrate import current_revision

blp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process is alive; says nothing about the database."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """The database answers and its schema is at the revision this code expects."""
    owned = backend()
    try:
        with owned.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(owned.engine)
    except SQLAlchemyError as error:
        log.warning("database not reachable", extra={"error": type(error).__name__})
        return problem(
            "not_ready",
            503,
            reason_vi="Không kết nối được cơ sở dữ liệu.",
            reason_en="The database cannot be reached.",
        )
    if revision != owned.head_revision:
        return problem(
            "not_ready",
            503,
            reason_vi=f"Cơ sở dữ liệu ở phiên bản {revision or 'trống'}, "
            f"mã nguồn cần {owned.head_revision}.",
            reason_en=f"The database is at revision {revision or 'none (empty)'}; "
            f"the code needs {owned.head_revision}.",
        )
    return jsonify(status="ready", revision=revision)
