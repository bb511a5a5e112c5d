"""Distances used for nearby stops and route lengths."""

from __future__ import annotations

import pytest

from transit.geo import bounding_box, distance_m, polyline_length_m


def test_distance_between_two_hanoi_landmarks() -> None:
    # Hoàn Kiếm Lake to Hanoi railway station: about 1.2 km as the crow flies.
    assert distance_m(21.0285, 105.8522, 21.0245, 105.8412) == pytest.approx(1230, rel=0.05)


def test_a_point_is_at_distance_zero_from_itself() -> None:
    assert distance_m(21.0, 105.8, 21.0, 105.8) == 0


def test_a_polyline_is_as_long_as_its_legs() -> None:
    a, b, c = (21.0, 105.8), (21.01, 105.8), (21.01, 105.81)
    assert polyline_length_m([a, b, c]) == pytest.approx(distance_m(*a, *b) + distance_m(*b, *c))


def test_the_bounding_box_holds_the_circle() -> None:
    min_lat, max_lat, min_lon, max_lon = bounding_box(21.0285, 105.8522, 1000)
    assert distance_m(21.0285, 105.8522, max_lat, 105.8522) == pytest.approx(1000, rel=0.01)
    assert distance_m(21.0285, 105.8522, 21.0285, max_lon) == pytest.approx(1000, rel=0.01)
    assert min_lat < 21.0285 < max_lat
    assert min_lon < 105.8522 < max_lon
