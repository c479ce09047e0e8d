"""Handle WGS-84 coordinates: validation, great-circle distance, GCJ-02 and BD-09 conversion.

Every coordinate in kayou_dispatch's API is WGS-84 ``(lat, lng)`` in degrees, named
like h3 names them. Chinese map SDKs (Amap, Tencent) report GCJ-02 ("Mars
coordinates"), shifted by up to several hundred metres; Baidu's report BD-09, GCJ-02
shifted again (about 0.006 degrees, 700 m or so). Convert those at the boundary with
:func:`gcj02_to_wgs84` / :func:`bd09_to_wgs84` -- the library never converts silently.
Outside China both are WGS-84 (the SDKs shift nothing there), so every conversion
returns such points unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidCoordinateError

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_gcj02_many",
    "bd09_to_wgs84",
    "bd09_to_wgs84_many",
    "EARTH_RADIUS_M",
    "gcj02_to_bd09",
    "gcj02_to_bd09_many",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "haversine_m",
    "haversine_m_array",
    "in_china",
    "validate_latlng",
    "validate_latlng_array",
    "wgs84_to_bd09",
    "wgs84_to_bd09_many",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
]

#: Mean Earth radius (IUGG), metres; the radius h3 uses too.
EARTH_RADIUS_M = 6_371_008.8

_ALLOWED = "lat must be finite and in [-90, 90], lng finite and in [-180, 180] (WGS-84 degrees)"


def _not_a_number(value: object) -> bool:
    # Strict: float() takes True and "60.17", but neither is a coordinate.
    return isinstance(value, bool | np.bool_ | str | bytes)


def _not_numbers(values: object) -> bool:
    """Whether an array-like holds booleans or strings (numpy would convert them)."""
    if isinstance(values, np.ndarray):
        return values.dtype.kind not in "iufO"
    if isinstance(values, str | bytes):
        return True
    if isinstance(values, list | tuple):
        return any(issubclass(t, bool | np.bool_ | str | bytes) for t in set(map(type, values)))
    return False


def validate_latlng(lat: float, lng: float) -> tuple[float, float]:
    """Check one WGS-84 point and return it as a pair of floats.

    Parameters
    ----------
    lat, lng
        Latitude and longitude in degrees.

    Returns
    -------
    tuple of float
        ``(lat, lng)`` as Python floats.

    Raises
    ------
    InvalidCoordinateError
        When either value is not a finite number in range.

    Examples
    --------
    >>> validate_latlng(22.72, 114.25)
    (22.72, 114.25)
    """
    try:
        # Plain floats (the common case) need no more checks.
        plain = type(lat) is float and type(lng) is float
        if not plain and (_not_a_number(lat) or _not_a_number(lng)):
            raise TypeError
        flat = float(lat)
        flng = float(lng)
    except (TypeError, ValueError, OverflowError):
        msg = f"coordinates must be numbers, got lat={lat!r:.60}, lng={lng!r:.60}; {_ALLOWED}"
        raise InvalidCoordinateError(msg, lat=lat, lng=lng) from None
    # Written so that NaN fails every comparison and lands in the error branch.
    if not (-90.0 <= flat <= 90.0 and -180.0 <= flng <= 180.0):
        msg = f"invalid coordinate lat={lat!r}, lng={lng!r}: {_ALLOWED}"
        raise InvalidCoordinateError(msg, lat=lat, lng=lng)
    return flat, flng


def validate_latlng_array(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check many WGS-84 points at once and return them as float64 arrays.

    Parameters
    ----------
    lats, lngs
        One-dimensional sequences of equal length, degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lats, lngs)`` as contiguous float64 arrays.

    Raises
    ------
    InvalidCoordinateError
        When any row is bad; ``rows`` lists every bad row index.

    Examples
    --------
    >>> la, ln = validate_latlng_array([22.7, 22.8], [114.2, 114.3])
    >>> la.dtype.name, len(ln)
    ('float64', 2)
    """
    try:
        if _not_numbers(lats) or _not_numbers(lngs):
            raise TypeError
        la = np.ascontiguousarray(lats, dtype=np.float64)
        ln = np.ascontiguousarray(lngs, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        msg = f"coordinates must be numeric arrays; {_ALLOWED}"
        raise InvalidCoordinateError(msg) from None
    if la.ndim != 1 or ln.ndim != 1 or la.shape != ln.shape:
        msg = f"lats and lngs must be 1-D and of equal length, got shapes {la.shape} and {ln.shape}"
        raise InvalidCoordinateError(msg)
    ok = (la >= -90.0) & (la <= 90.0) & (ln >= -180.0) & (ln <= 180.0)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
        msg = f"{bad.size} invalid coordinate row(s) at index {shown}: {_ALLOWED}"
        raise InvalidCoordinateError(msg, rows=bad.tolist())
    return la, ln


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Return the great-circle distance between two points, in metres.

    Examples
    --------
    >>> round(haversine_m(0.0, 0.0, 0.0, 1.0))
    111195
    """
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_m_array(
    lat1: ArrayLike, lng1: ArrayLike, lat2: ArrayLike, lng2: ArrayLike
) -> NDArray[np.float64]:
    """Return great-circle distances in metres, vectorised with numpy broadcasting.

    Examples
    --------
    >>> haversine_m_array([0.0, 0.0], [0.0, 0.0], 0.0, [1.0, 0.0]).round()
    array([111195.,      0.])
    """
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dl = np.radians(np.subtract(lng2, lng1))
    a = np.sin((p2 - p1) * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    out: NDArray[np.float64] = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return out


# --- GCJ-02 -------------------------------------------------------------------------------
# The published GCJ-02 forward transform (Krasovsky 1940 ellipsoid constants), applied only
# inside mainland China. The region is the widely used set of rectangles that Chinese map SDK
# wrappers share: inclusion boxes minus exclusion boxes (Taiwan, northern Vietnam, Mongolia,
# Russia's Far East). Hong Kong and Macau fall inside it, as in Amap's own behaviour.
_A = 6378245.0
_EE = 0.00669342162296594323
# (west, south, east, north)
_REGION = np.array(
    [
        (79.446200, 42.889900, 96.330000, 49.220400),
        (109.687200, 39.374200, 135.000200, 54.141500),
        (73.124600, 29.529700, 124.143255, 42.889900),
        (82.968400, 26.718600, 97.035200, 29.529700),
        (97.025300, 20.414096, 124.367395, 29.529700),
        (107.975793, 17.871542, 111.744104, 20.414096),
    ]
)
_EXCLUDE = np.array(
    [
        (119.921265, 21.785006, 122.497559, 25.398623),
        (101.865200, 20.098800, 106.665000, 22.284000),
        (106.452500, 20.487800, 108.051000, 21.542200),
        (109.032300, 50.325700, 119.127000, 55.817500),
        (127.456800, 49.557400, 137.022700, 55.817500),
        (131.266200, 42.569200, 137.022700, 44.892200),
    ]
)


def _in_boxes(lat: NDArray[np.float64], lng: NDArray[np.float64], boxes: NDArray) -> NDArray:
    la = lat[..., None]
    ln = lng[..., None]
    inside = (ln >= boxes[:, 0]) & (la >= boxes[:, 1]) & (ln <= boxes[:, 2]) & (la <= boxes[:, 3])
    return np.asarray(inside.any(axis=-1))


def _in_china(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> NDArray[np.bool_]:
    return _in_boxes(lat, lng, _REGION) & ~_in_boxes(lat, lng, _EXCLUDE)


def in_china(lat: float, lng: float) -> bool:
    """Tell whether a point lies where Chinese map SDKs apply the GCJ-02 shift.

    Examples
    --------
    >>> in_china(31.23, 121.47), in_china(25.03, 121.56), in_china(48.85, 2.35)
    (True, False, False)
    """
    flat, flng = validate_latlng(lat, lng)
    return bool(_in_china(np.asarray(flat), np.asarray(flng)))


def _gcj_offset(
    lat: NDArray[np.float64], lng: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = lng - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2 / 3
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlng = dlng + common
    dlng = dlng + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng = dlng + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2 / 3
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * np.cos(rad) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02_array(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert WGS-84 points to GCJ-02; points outside China are returned unchanged.

    Examples
    --------
    >>> la, ln = wgs84_to_gcj02_array([31.2304, 48.85], [121.4737, 2.35])
    >>> bool(la[0] != 31.2304), float(la[1])
    (True, 48.85)
    """
    la, ln = validate_latlng_array(lats, lngs)
    dlat, dlng = _gcj_offset(la, ln)
    inside = _in_china(la, ln)
    return np.where(inside, la + dlat, la), np.where(inside, ln + dlng, ln)


def gcj02_to_wgs84_array(
    lats: ArrayLike, lngs: ArrayLike, *, tol_deg: float = 1e-9
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert GCJ-02 points back to WGS-84 by fixed-point iteration (sub-millimetre).

    The forward transform has no closed-form inverse; iterating
    ``wgs <- gcj - offset(wgs)`` converges in a handful of steps because the offset
    varies slowly. Points outside China are returned unchanged.

    Examples
    --------
    >>> g = wgs84_to_gcj02_array([31.2304], [121.4737])
    >>> la, ln = gcj02_to_wgs84_array(*g)
    >>> round(float(la[0]), 7), round(float(ln[0]), 7)
    (31.2304, 121.4737)
    """
    gla, gln = validate_latlng_array(lats, lngs)
    wla = gla.copy()
    wln = gln.copy()
    # Only points that may be in China iterate (the shift is under 0.01 degrees): the
    # offset's polynomial is meaningless, and overflows, far away (near the poles).
    near = np.flatnonzero(_in_boxes(gla, gln, _REGION + np.array([-0.1, -0.1, 0.1, 0.1])))
    # Each point iterates until its own step is within tol_deg, so it converts to the same
    # bits alone or in any batch.
    for _ in range(30):
        if not near.size:
            break
        dlat, dlng = _gcj_offset(wla[near], wln[near])
        nla = gla[near] - dlat
        nln = gln[near] - dlng
        step = np.maximum(np.abs(nla - wla[near]), np.abs(nln - wln[near]))
        wla[near], wln[near] = nla, nln
        near = near[step > tol_deg]
    inside = _in_china(wla, wln)
    return np.where(inside, wla, gla), np.where(inside, wln, gln)


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Convert one WGS-84 point to GCJ-02 (unchanged outside China).

    Examples
    --------
    >>> lat, lng = wgs84_to_gcj02(39.9087, 116.3975)
    >>> round(lat, 4), round(lng, 4)
    (39.9101, 116.4037)
    """
    la, ln = wgs84_to_gcj02_array([lat], [lng])
    return float(la[0]), float(ln[0])


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Convert one GCJ-02 point (from Amap or Tencent) to WGS-84 (unchanged outside China).

    Examples
    --------
    >>> lat, lng = gcj02_to_wgs84(*wgs84_to_gcj02(39.9087, 116.3975))
    >>> round(lat, 6), round(lng, 6)
    (39.9087, 116.3975)
    """
    la, ln = gcj02_to_wgs84_array([lat], [lng])
    return float(la[0]), float(ln[0])


# Vector forms in the package's one scheme (``_many``, taking ``lats, lngs`` arrays); the
# ``_array`` names stay as earlier issues wrote them.
haversine_m_many = haversine_m_array
validate_latlng_many = validate_latlng_array
wgs84_to_gcj02_many = wgs84_to_gcj02_array
gcj02_to_wgs84_many = gcj02_to_wgs84_array


# BD-09 is GCJ-02 turned and stretched slightly around the origin, then shifted; Baidu's
# published forward formula. Its usual inverse (the same steps undone with the signs
# flipped) is off by up to a few centimetres: refined here by fixed-point iteration.
_X_PI = math.pi * 3000.0 / 180.0


def _gcj_to_bd(
    lat: NDArray[np.float64], lng: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.hypot(lng, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def gcj02_to_bd09_many(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert GCJ-02 points to BD-09 (Baidu); points outside China are returned unchanged.

    Examples
    --------
    >>> la, ln = gcj02_to_bd09_many([39.915, 48.85], [116.404, 2.35])
    >>> round(float(la[0]), 6), round(float(ln[0]), 6), float(la[1])
    (39.921337, 116.410369, 48.85)
    """
    la, ln = validate_latlng_array(lats, lngs)
    bla, bln = _gcj_to_bd(la, ln)
    inside = _in_china(la, ln)
    return np.where(inside, bla, la), np.where(inside, bln, ln)


def bd09_to_gcj02_many(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert BD-09 points (Baidu) to GCJ-02; points outside China are returned unchanged.

    Starts from Baidu's approximate inverse (off by up to ~1e-6 degrees) and takes three
    steps of ``gcj <- gcj + (bd - bd(gcj))``: each shrinks the error ~10,000-fold (the
    shift barely varies over a metre), so the forward transform of the answer lands on
    the input to rounding. A fixed count, not a tolerance: a point converts to the same
    bits alone or in any batch.

    Examples
    --------
    >>> la, ln = bd09_to_gcj02_many(*gcj02_to_bd09_many([39.915], [116.404]))
    >>> round(float(la[0]), 9), round(float(ln[0]), 9)
    (39.915, 116.404)
    """
    bla, bln = validate_latlng_array(lats, lngs)
    x = bln - 0.0065
    y = bla - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gla, gln = z * np.sin(theta), z * np.cos(theta)
    for _ in range(3):
        fla, fln = _gcj_to_bd(gla, gln)
        gla, gln = gla + (bla - fla), gln + (bln - fln)
    inside = _in_china(gla, gln)
    return np.where(inside, gla, bla), np.where(inside, gln, bln)


def wgs84_to_bd09_many(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert WGS-84 points to BD-09 (through GCJ-02); unchanged outside China.

    Examples
    --------
    >>> la, ln = wgs84_to_bd09_many([39.9087], [116.3975])
    >>> round(float(la[0]), 4), round(float(ln[0]), 4)
    (39.9164, 116.4101)
    """
    return gcj02_to_bd09_many(*wgs84_to_gcj02_array(lats, lngs))


def bd09_to_wgs84_many(
    lats: ArrayLike, lngs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert BD-09 points (Baidu) to WGS-84 (through GCJ-02); unchanged outside China.

    Examples
    --------
    >>> la, ln = bd09_to_wgs84_many(*wgs84_to_bd09_many([39.9087], [116.3975]))
    >>> round(float(la[0]), 7), round(float(ln[0]), 7)
    (39.9087, 116.3975)
    """
    return gcj02_to_wgs84_array(*bd09_to_gcj02_many(lats, lngs))


def _one(
    fn: Callable[[ArrayLike, ArrayLike], tuple[NDArray[np.float64], NDArray[np.float64]]],
    lat: float,
    lng: float,
) -> tuple[float, float]:
    la, ln = fn([lat], [lng])
    return float(la[0]), float(ln[0])


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """Convert one GCJ-02 point to BD-09 (Baidu); unchanged outside China.

    Examples
    --------
    >>> [round(v, 6) for v in gcj02_to_bd09(39.915, 116.404)]
    [39.921337, 116.410369]
    """
    return _one(gcj02_to_bd09_many, lat, lng)


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Convert one BD-09 point (Baidu) to GCJ-02; unchanged outside China.

    Examples
    --------
    >>> [round(v, 4) for v in bd09_to_gcj02(39.915, 116.404)]
    [39.9087, 116.3976]
    """
    return _one(bd09_to_gcj02_many, lat, lng)


def wgs84_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """Convert one WGS-84 point to BD-09 (Baidu); unchanged outside China.

    Examples
    --------
    >>> [round(v, 4) for v in wgs84_to_bd09(39.9087, 116.3975)]
    [39.9164, 116.4101]
    """
    return _one(wgs84_to_bd09_many, lat, lng)


def bd09_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Convert one BD-09 point (from Baidu's SDK) to WGS-84; unchanged outside China.

    Examples
    --------
    >>> [round(v, 6) for v in bd09_to_wgs84(*wgs84_to_bd09(39.9087, 116.3975))]
    [39.9087, 116.3975]
    """
    return _one(bd09_to_wgs84_many, lat, lng)
