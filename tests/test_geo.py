import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kayou_dispatch import InvalidCoordinateError
from kayou_dispatch.geo import (
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    haversine_m,
    haversine_m_array,
    in_china,
    validate_latlng,
    validate_latlng_array,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
)

from .strategies import china_points, latlngs


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (math.nan, 0.0),
        (0.0, math.nan),
        (math.inf, 0.0),
        (90.0001, 0.0),
        (-90.5, 0.0),
        (0.0, 180.01),
        (0.0, -181.0),
        ("north", 0.0),
        (None, 1.0),
    ],
)
def test_validate_rejects(lat, lng):
    with pytest.raises(InvalidCoordinateError) as info:
        validate_latlng(lat, lng)
    assert "lat must be finite" in str(info.value) or "must be numbers" in str(info.value)


def test_validate_accepts_extremes():
    assert validate_latlng(90, -180) == (90.0, -180.0)
    assert validate_latlng(-90.0, 180.0) == (-90.0, 180.0)


def test_validate_array_names_every_bad_row():
    lats = np.array([10.0, np.nan, 20.0, 95.0, 0.0])
    lngs = np.array([10.0, 10.0, 200.0, 0.0, 0.0])
    with pytest.raises(InvalidCoordinateError) as info:
        validate_latlng_array(lats, lngs)
    assert info.value.rows == (1, 2, 3)
    assert "1, 2, 3" in str(info.value)


def test_validate_array_shape_mismatch():
    with pytest.raises(InvalidCoordinateError):
        validate_latlng_array([1.0, 2.0], [1.0])
    with pytest.raises(InvalidCoordinateError):
        validate_latlng_array([[1.0]], [[1.0]])
    with pytest.raises(InvalidCoordinateError):
        validate_latlng_array(["a"], ["b"])


def _slow_haversine(lat1, lng1, lat2, lng2):
    # Spherical law of cosines via 3-D unit vectors: an independent formula.
    def vec(lat, lng):
        la, ln = math.radians(lat), math.radians(lng)
        return (math.cos(la) * math.cos(ln), math.cos(la) * math.sin(ln), math.sin(la))

    a, b = vec(lat1, lng1), vec(lat2, lng2)
    cross = (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return 6_371_008.8 * math.atan2(math.sqrt(sum(c * c for c in cross)), dot)


@given(latlngs(), latlngs())
def test_haversine_matches_vector_formula(p, q):
    d = haversine_m(*p, *q)
    assert d == pytest.approx(_slow_haversine(*p, *q), abs=1e-3, rel=1e-9)
    assert haversine_m(*q, *p) == pytest.approx(d, abs=1e-6)
    arr = haversine_m_array(np.array([p[0]]), np.array([p[1]]), q[0], q[1])
    assert arr[0] == pytest.approx(d, abs=1e-6)


def test_haversine_antimeridian_and_pole():
    assert haversine_m(0.0, 179.9999, 0.0, -179.9999) == pytest.approx(22.24, abs=0.01)
    assert haversine_m(90.0, 0.0, 90.0, 123.0) == pytest.approx(0.0, abs=1e-6)


@given(china_points())
def test_gcj_round_trip_within_1m(p):
    g = wgs84_to_gcj02(*p)
    shift = haversine_m(*p, *g)
    assert 1.0 < shift < 1000.0  # China's offset: metres to hundreds of metres
    back = gcj02_to_wgs84(*g)
    assert haversine_m(*p, *back) < 1.0


@given(st.lists(china_points(), min_size=1, max_size=20))
def test_gcj_array_equals_scalar(points):
    lats = np.array([p[0] for p in points])
    lngs = np.array([p[1] for p in points])
    gl, gn = wgs84_to_gcj02_array(lats, lngs)
    for i, p in enumerate(points):
        assert (gl[i], gn[i]) == wgs84_to_gcj02(*p)
    bl, bn = gcj02_to_wgs84_array(gl, gn)
    assert np.all(haversine_m_array(lats, lngs, bl, bn) < 1.0)


@pytest.mark.parametrize(
    "point",
    [(48.8566, 2.3522), (25.033, 121.5654), (37.5665, 126.978), (-33.87, 151.21), (47.92, 106.92)],
)
def test_points_outside_china_are_not_shifted(point):
    assert not in_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_known_gcj_offset_beijing():
    # Tian'anmen: GCJ-02 lies ~0.0014 deg north and ~0.0062 deg east of WGS-84.
    lat, lng = wgs84_to_gcj02(39.9087, 116.3975)
    assert lat - 39.9087 == pytest.approx(0.00140, abs=0.0001)
    assert lng - 116.3975 == pytest.approx(0.00624, abs=0.0001)


def test_gcj_rejects_bad_input():
    with pytest.raises(InvalidCoordinateError):
        wgs84_to_gcj02(math.nan, 116.0)
    with pytest.raises(InvalidCoordinateError):
        gcj02_to_wgs84(39.0, 181.0)


# Published conversions of one point near Tian'anmen, (lng, lat) = (116.404, 39.915), as
# the coordtransform library's README gives them (the reference most Chinese apps copy).
# Its inverses are Baidu's and the usual one-step approximations: within 10 cm of ours.
PUBLISHED = {
    "gcj02_to_bd09": (39.92133699351021, 116.41036949371029),
    "wgs84_to_gcj02": (39.91640428150164, 116.41024449916938),
    "bd09_to_gcj02": (39.90865673957631, 116.39762729119315),
    "gcj02_to_wgs84": (39.91359571849836, 116.39775550083061),
}


def test_bd09_and_gcj02_against_published_values():
    import kayou_dispatch.geo as geo

    for name, (lat, lng) in PUBLISHED.items():
        got = getattr(geo, name)(39.915, 116.404)
        exact = name in ("gcj02_to_bd09", "wgs84_to_gcj02")  # forward formulas: the same
        tol = 1e-9 if exact else 1e-6
        assert got == pytest.approx((lat, lng), abs=tol), name
        if not exact:  # ours is the better inverse: its forward lands on the input
            forward = {"bd09_to_gcj02": geo.gcj02_to_bd09, "gcj02_to_wgs84": wgs84_to_gcj02}
            assert forward[name](*got) == pytest.approx((39.915, 116.404), abs=1e-9)


@given(china_points())
def test_bd09_round_trips_exactly_and_shifts_about_a_kilometre(p):
    from kayou_dispatch import bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, wgs84_to_bd09

    b = wgs84_to_bd09(*p)
    assert 100.0 < haversine_m(*p, *b) < 2000.0
    assert haversine_m(*p, *bd09_to_wgs84(*b)) < 0.01
    g = wgs84_to_gcj02(*p)
    assert gcj02_to_bd09(*g) == pytest.approx(b, abs=1e-12)  # BD-09 is GCJ-02 shifted
    assert haversine_m(*g, *bd09_to_gcj02(*gcj02_to_bd09(*g))) < 0.001


@given(st.lists(china_points(), min_size=1, max_size=20))
def test_bd09_many_equals_scalar(points):
    from kayou_dispatch import (
        bd09_to_gcj02,
        bd09_to_gcj02_many,
        bd09_to_wgs84,
        bd09_to_wgs84_many,
        wgs84_to_bd09,
        wgs84_to_bd09_many,
    )

    lats = np.array([p[0] for p in points])
    lngs = np.array([p[1] for p in points])
    bl, bn = wgs84_to_bd09_many(lats, lngs)
    wl, wn = bd09_to_wgs84_many(bl, bn)
    for i, p in enumerate(points):
        assert (bl[i], bn[i]) == wgs84_to_bd09(*p)
        # GCJ-02 -> WGS-84 iterates to a tolerance over the batch: equal to 1e-12 degrees
        assert (wl[i], wn[i]) == pytest.approx(bd09_to_wgs84(bl[i], bn[i]), abs=1e-12)
    gl, gn = bd09_to_gcj02_many(bl, bn)  # a fixed number of steps: the same bits
    for i in range(len(points)):
        assert (gl[i], gn[i]) == bd09_to_gcj02(bl[i], bn[i])


@pytest.mark.parametrize("point", [(48.8566, 2.3522), (25.033, 121.5654), (-33.87, 151.21)])
def test_bd09_leaves_points_outside_china(point):
    from kayou_dispatch import bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, wgs84_to_bd09

    for fn in (bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, wgs84_to_bd09):
        assert fn(*point) == point


def test_bd09_rejects_bad_input():
    from kayou_dispatch import bd09_to_wgs84, gcj02_to_bd09_many

    with pytest.raises(InvalidCoordinateError):
        bd09_to_wgs84(math.nan, 116.0)
    with pytest.raises(InvalidCoordinateError):
        gcj02_to_bd09_many([39.0, 91.0], [116.0, 116.0])


def test_conversions_back_from_chinese_datums_hold_anywhere_on_earth():
    # Found by schemathesis: a BD-09 point at the pole overflowed inside the GCJ-02 inverse
    # (a 500 on ?crs=bd09). Far from China every conversion is the identity, warning-free.
    import warnings

    from kayou_dispatch.geo import bd09_to_wgs84_many, gcj02_to_wgs84_array

    lats = np.array([-90.0, 90.0, 0.0, 48.85, -33.9])
    lngs = np.array([0.0, 180.0, -180.0, 2.35, 151.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        la, ln = gcj02_to_wgs84_array(lats, lngs)
        np.testing.assert_array_equal(la, lats)
        np.testing.assert_array_equal(ln, lngs)
        la, ln = bd09_to_wgs84_many(lats, lngs)
    assert np.isfinite(la).all() and np.isfinite(ln).all()
