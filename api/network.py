"""Read API of the bus network for the rider's app."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from api.deps import unit_of_work
from api.schemas.network import (
    NearbyQuerySchema,
    NearbyStopSchema,
    RouteDetailSchema,
    RouteSchema,
)
from api.smorest import Blueprint
from transit.services import network

blp = Blueprint("network", __name__, url_prefix="/api/v1", description="Bus routes and stops")


# The network changes a few times a year: phones keep answers a while, then revalidate them
# with If-None-Match and get a bodiless 304 when nothing changed.
NETWORK_CACHE = "public, max-age=300"


@blp.after_request
def _cacheable(response: Response) -> Response:
    if request.method == "GET" and response.status_code in (200, 304):
        response.headers["Cache-Control"] = NETWORK_CACHE
    return response


@blp.route("/routes")
class Routes(MethodView):
    @blp.etag
    @blp.response(200, RouteSchema(many=True))
    def get(self) -> Any:
        """Every bus route in service."""
        with unit_of_work() as uow:
            return network.list_routes(uow)


@blp.route("/routes/<string:route_id>")
class RouteById(MethodView):
    @blp.doc(operationId="get_route")
    @blp.etag
    @blp.response(200, RouteDetailSchema)
    @blp.errors(404)
    def get(self, route_id: str) -> Any:
        """One route, with the stops and line of each direction."""
        with unit_of_work() as uow:
            return network.get_route(route_id, uow)


@blp.route("/stops")
class Stops(MethodView):
    @blp.arguments(NearbyQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, NearbyStopSchema(many=True))
    def get(self, near: tuple[float, float], radius: int, limit: int) -> Any:
        """Stops near a point, nearest first, with the routes that serve them."""
        with unit_of_work() as uow:
            return network.stops_near(near[0], near[1], radius, uow, limit=limit)
