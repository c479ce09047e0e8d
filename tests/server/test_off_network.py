"""The far-off-network flag is sound: whatever it flags, the ranking's snap cannot reach."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch import load_network
from kayou_dispatch.geo import haversine_m_many
from kayou_dispatch.server._area import NetworkArea


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def _box_distance_m(area_bounds, lat, lng, n=400):
    # Slow oracle: the least great-circle distance to a dense sampling of the box's border
    # (the nearest point of a box to an outside point is on its border).
    s, w, north, e = area_bounds
    t = np.linspace(0.0, 1.0, n)
    lats = np.concatenate(
        (s + (north - s) * t, s + (north - s) * t, np.full(n, s), np.full(n, north))
    )
    lngs = np.concatenate((np.full(n, w), np.full(n, e), w + (e - w) * t, w + (e - w) * t))
    return float(
        haversine_m_many(np.full(lats.size, lat), np.full(lngs.size, lng), lats, lngs).min()
    )


@settings(max_examples=300, deadline=None)
@given(lat=st.floats(-89.9, 89.9), lng=st.floats(-180.0, 180.0))
def test_the_bound_never_exceeds_the_distance_to_the_box(net, lat, lng):
    area = NetworkArea(net)
    s, w, north, e = net.bounds
    if s <= lat <= north and w <= lng <= e:
        assert area.distance_bound_m(lat, lng) == 0.0
        return
    assert area.distance_bound_m(lat, lng) <= _box_distance_m(net.bounds, lat, lng) + 1e-6


@settings(max_examples=100, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-180.0, 180.0)), min_size=1),
)
def test_the_vector_bound_is_the_scalar_one(net, pts):
    area = NetworkArea(net)
    s, w, north, e = net.bounds
    lats = np.array([p[0] for p in pts] + [s, north, (s + north) / 2])
    lngs = np.array([p[1] for p in pts] + [w, e, (w + e) / 2])
    pairs = list(zip(lats.tolist(), lngs.tolist(), strict=True))
    want = [area.distance_bound_m(a, b) for a, b in pairs]
    got = area.distance_bound_m_many(lats, lngs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    flags = [area.far(a, b) for a, b in pairs]
    assert area.far_many(lats, lngs).tolist() == flags


@settings(max_examples=60, deadline=None)
@given(
    dlat=st.floats(-0.1, 0.1),
    dlng=st.floats(-0.2, 0.2),
)
def test_a_flagged_fix_is_off_network_for_the_snap(net, dlat, dlng):
    s, w, north, e = net.bounds
    lat, lng = (s + north) / 2 + dlat, (w + e) / 2 + dlng
    snap = net.snap_many([lat], [lng])
    if NetworkArea(net).far(lat, lng):
        assert snap.edge[0] == -1 and snap.distance_m[0] > 1000.0


def test_far_places_are_flagged_near_ones_not(net):
    area = NetworkArea(net)
    s, w, north, e = net.bounds
    assert not area.far((s + north) / 2, (w + e) / 2)
    assert area.far(0.0, 0.0) and area.far(24.94, 60.17) and area.far(-60.17, -155.0)
    step = 1500.0 / 111_195.0  # 1.5 km of latitude
    assert area.far(north + step, (w + e) / 2) and not area.far(north + step / 3, (w + e) / 2)
    assert math.isclose(area.distance_bound_m(north + step, (w + e) / 2), 1500.0, rel_tol=1e-3)
