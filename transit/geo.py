"""Distances on the Earth's surface, good to a few metres at city scale."""

from __future__ import annotations

import math
from collections.abc import Iterable

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def polyline_length_m(points: Iterable[tuple[float, float]]) -> float:
    """Length of a line through `points` (lat, lon) in metres."""
    total = 0.0
    previous: tuple[float, float] | None = None
    for point in points:
        if previous is not None:
            total += distance_m(previous[0], previous[1], point[0], point[1])
        previous = point
    return total


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) of a box that holds the circle around a point."""
    dlat = radius_m / METRES_PER_DEGREE_LAT
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(radius_m / (METRES_PER_DEGREE_LAT * cos_lat), 180.0)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon
