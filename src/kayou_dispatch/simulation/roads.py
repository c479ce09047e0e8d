"""Points along road edges: where a simulated vehicle or request is, and which way it faces."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network import EdgeArrays

__all__ = ["edge_points"]

_M_PER_DEG = EARTH_RADIUS_M * np.pi / 180.0


def edge_points(
    arrays: EdgeArrays, edges: NDArray[np.int64], fractions: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(lat, lng, bearing_deg)`` at a fraction (by length) along each edge.

    Straight edges are interpolated in one vectorised step; edges with shape points walk
    their polyline (rare in unsimplified OSM graphs).

    Examples
    --------
    >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
    ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
    >>> lat, lng, bearing = edge_points(a, np.array([0]), np.array([0.25]))
    >>> float(lat[0]), round(float(lng[0]), 6), round(float(bearing[0]))
    (0.0, 0.0025, 90)
    """
    edges = np.asarray(edges, dtype=np.int64)
    f = np.clip(np.asarray(fractions, dtype=np.float64), 0.0, 1.0)
    u, v = arrays.u[edges], arrays.v[edges]
    lat0, lng0, lat1, lng1 = arrays.lat[u], arrays.lng[u], arrays.lat[v], arrays.lng[v]
    lat = lat0 + f * (lat1 - lat0)
    lng = lng0 + f * (lng1 - lng0)
    bearing = _bearing(lat0, lng0, lat1, lng1)
    off = arrays.geom_offsets
    shaped = np.flatnonzero(off[edges + 1] > off[edges])
    for i in shaped.tolist():
        e = int(edges[i])
        la = np.r_[arrays.lat[u[i]], arrays.geom_lat[off[e] : off[e + 1]], arrays.lat[v[i]]]
        ln = np.r_[arrays.lng[u[i]], arrays.geom_lng[off[e] : off[e + 1]], arrays.lng[v[i]]]
        dy = np.diff(la) * _M_PER_DEG
        dx = np.diff(ln) * _M_PER_DEG * np.cos(np.radians(la[:-1]))
        seg = np.hypot(dx, dy)
        cum = np.r_[0.0, np.cumsum(seg)]
        target = f[i] * cum[-1]
        k = int(min(np.searchsorted(cum, target, side="right") - 1, seg.size - 1))
        t = 0.0 if seg[k] == 0 else (target - cum[k]) / seg[k]
        lat[i] = la[k] + t * (la[k + 1] - la[k])
        lng[i] = ln[k] + t * (ln[k + 1] - ln[k])
        bearing[i] = float(np.degrees(np.arctan2(dx[k], dy[k])) % 360.0)
    return lat, lng, bearing


def _bearing(
    lat0: NDArray[np.float64],
    lng0: NDArray[np.float64],
    lat1: NDArray[np.float64],
    lng1: NDArray[np.float64],
) -> NDArray[np.float64]:
    dy = lat1 - lat0
    dx = (lng1 - lng0) * np.cos(np.radians((lat0 + lat1) / 2))
    out: NDArray[np.float64] = np.degrees(np.arctan2(dx, dy)) % 360.0
    return out
