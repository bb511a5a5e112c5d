"""Student applications from the rider's app: answered by the roster, or queued."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask.views import MethodView
from sqlalchemy import select

from api.auth import current_rider, derived_key
from api.deps import unit_of_work
from api.limits import limiter, rider_key
from api.schemas.eligibility import (
    ApplicationListSchema,
    ApplicationSchema,
    ApplySchema,
    SchoolListSchema,
)
from api.smorest import Blueprint
from transit.models import Application, School
from transit.names import Keys
from transit.registries import EligibilityApiRegistry, EligibilityApiSettings, Registry
from transit.services import eligibility
from transit.uow import UnitOfWork

APPLICATIONS_PER_RIDER = "10 per day"

blp = Blueprint(
    "eligibility",
    __name__,
    url_prefix="/api/v1",
    description="Student eligibility: apply in the app, the school's records answer",
)


EXTENSION = "transit.registries"


def install(app: Flask) -> None:
    """Build the configured registries once, so a bad setting stops the app at start."""
    built: dict[str, Registry] = {}
    for code, raw in dict(app.config["ELIGIBILITY_REGISTRIES"]).items():
        settings = EligibilityApiSettings.from_mapping(
            str(code).upper(), dict(raw), Path(app.instance_path)
        )
        built[str(code).upper()] = EligibilityApiRegistry(settings)
    app.extensions[EXTENSION] = built


def registry_for(school_code: str) -> Registry | None:
    """The school's own registry, or the city's, or none."""
    built: dict[str, Registry] = current_app.extensions.get(EXTENSION, {})
    return built.get(school_code.strip().upper()) or built.get("*")


def _view(application: Application, uow: UnitOfWork) -> dict[str, Any]:
    school = uow.session.get(School, application.school_id)
    assert school is not None
    return {
        "application_id": application.application_id,
        "school": {"code": school.code, "name": school.name},
        "status": application.status,
        "reason": application.reason,
        "valid_until": application.valid_until,
        "created_at": application.created_at,
        "decided_at": application.decided_at,
    }


@blp.route("/schools")
class SchoolsView(MethodView):
    @blp.etag
    @blp.response(200, SchoolListSchema)
    def get(self) -> Any:
        """The schools a rider can apply through."""
        with unit_of_work() as uow:
            found = uow.session.scalars(select(School).order_by(School.name))
            return {"data": [{"code": s.code, "name": s.name} for s in found]}


@blp.route("/eligibility/applications")
class ApplicationsView(MethodView):
    @blp.response(200, ApplicationListSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The rider's applications, newest first, with their status and reason."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            return {"data": [_view(a, uow) for a in eligibility.applications_of(rider, uow)]}

    @blp.doc(operationId="apply_as_student")
    @blp.arguments(ApplySchema)
    @blp.response(201, ApplicationSchema)
    @blp.errors(401, 404, 409, 422, 429)
    def post(self, body: dict[str, Any]) -> Any:
        """Apply for the student category; asking again while one is open returns it."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            with limiter.limit(APPLICATIONS_PER_RIDER, key_func=rider_key):
                application = eligibility.apply(
                    rider,
                    body["school_code"],
                    body["student_code"],
                    body["full_name"],
                    body["date_of_birth"],
                    keys=Keys(derived_key("roster-keys")),
                    now=datetime.now(UTC),
                    uow=uow,
                    registry=registry_for(body["school_code"]),
                )
            result = _view(application, uow)
            uow.commit()
        return result
