import math

import h3
import pytest
from h3.api import basic_int as h3i
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kayou_dispatch.geo import haversine_m
from kayou_dispatch.spatial.cover import (
    cell_edge_m,
    disk_cover,
    lower_bound_m,
    rings_for_radius,
)

from ..strategies import latlngs


def _offset(lat, lng, dist_m, bearing_deg):
    """Destination point along a great circle (independent of the code under test)."""
    r = 6_371_008.8
    d = dist_m / r
    b = math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


@settings(max_examples=300, deadline=None)
@given(
    latlngs(),
    st.integers(min_value=4, max_value=10),
    st.floats(min_value=0.0, max_value=40.0),
    st.floats(min_value=0.0, max_value=360.0),
)
def test_lower_bound_never_exceeds_true_distance(p, res, cells_away, bearing):
    """The whole completeness argument: points d rings away are >= lower_bound(d) away."""
    cell = h3i.latlng_to_cell(*p, res)
    edge = cell_edge_m(cell)
    assume(disk_cover(*p, cell, math.ceil(cells_away) + 2, res) is not None)
    q = _offset(*p, cells_away * edge, bearing)
    try:
        d = h3i.grid_distance(cell, h3i.latlng_to_cell(*q, res))
    except h3.H3BaseException:  # across some icosahedron faces H3 cannot tell
        assume(False)
    assert haversine_m(*p, *q) >= lower_bound_m(d, edge) - 1e-6


@given(st.floats(min_value=0.0, max_value=1e6), st.floats(min_value=1.0, max_value=1e5))
def test_rings_for_radius_is_smallest_complete(radius, edge):
    k = rings_for_radius(radius, edge)
    assert lower_bound_m(k + 1, edge) > radius
    if k > 0:
        assert lower_bound_m(k, edge) <= radius


def test_disk_refused_near_a_pentagon():
    pent = h3i.get_pentagons(8)[0]
    lat, lng = h3i.cell_to_latlng(pent)
    assert disk_cover(lat, lng, pent, 3, 8) is None
    far = h3i.latlng_to_cell(22.7, 114.2, 8)
    cover = disk_cover(22.7, 114.2, far, 3, 8)
    assert cover is not None
    assert len(cover.cells) == 37
    assert cover.complete_within_m == pytest.approx(lower_bound_m(4, cell_edge_m(far)))
