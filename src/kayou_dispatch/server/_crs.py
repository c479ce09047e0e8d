"""Coordinates at the HTTP boundary: ``?crs=wgs84|gcj02|bd09`` in, the same crs out.

The engine stores and ranks WGS-84 only. A phone on Amap or Tencent maps reports GCJ-02,
one on Baidu maps BD-09: such a caller adds ``?crs=gcj02`` (or ``bd09``) to each request.
Points it sends -- body ``lat``/``lng``, query ``lat``/``lng`` and ``from_*``/``to_*`` --
are converted to WGS-84 here, explicitly, before the engine sees them; points it gets
back -- every object with ``lat`` and ``lng``, a route's ``coords`` -- are converted from
WGS-84 to its crs. Points outside China are the same in all three (the SDKs shift
nothing there). Without ``crs`` (or ``crs=wgs84``) nothing is converted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Query
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.geo import (
    bd09_to_wgs84_many,
    gcj02_to_wgs84_many,
    wgs84_to_bd09_many,
    wgs84_to_gcj02_many,
)

__all__ = ["Crs", "CrsName", "from_wgs84", "to_wgs84", "to_wgs84_many"]

CrsName = Literal["wgs84", "gcj02", "bd09"]

#: The ``crs`` query parameter of every endpoint that takes or returns points.
Crs = Annotated[
    CrsName,
    Query(
        description="coordinate system of the points sent and returned: wgs84 (default), "
        "gcj02 (Amap, Tencent), bd09 (Baidu); stored as WGS-84"
    ),
]

Pair = Callable[[ArrayLike, ArrayLike], tuple[NDArray[np.float64], NDArray[np.float64]]]
_IN: dict[str, Pair] = {"gcj02": gcj02_to_wgs84_many, "bd09": bd09_to_wgs84_many}
_OUT: dict[str, Pair] = {"gcj02": wgs84_to_gcj02_many, "bd09": wgs84_to_bd09_many}


def to_wgs84_many(
    lats: NDArray[np.float64], lngs: NDArray[np.float64], crs: CrsName
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points the caller sent in ``crs``, as WGS-84."""
    if crs == "wgs84":
        return lats, lngs
    return _IN[crs](lats, lngs)


def to_wgs84(lat: float, lng: float, crs: CrsName) -> tuple[float, float]:
    """One point the caller sent in ``crs``, as WGS-84."""
    if crs == "wgs84":
        return lat, lng
    la, ln = _IN[crs]([lat], [lng])
    return float(la[0]), float(ln[0])


def _points(value: Any, found: list[dict[str, Any]], coords: list[list[list[float]]]) -> None:
    if isinstance(value, dict):
        lat, lng = value.get("lat"), value.get("lng")
        if isinstance(lat, float | int) and isinstance(lng, float | int):
            found.append(value)
        c = value.get("coords")
        if isinstance(c, list) and c and all(isinstance(p, list) and len(p) == 2 for p in c):
            coords.append(c)
        for v in value.values():
            if isinstance(v, dict | list):
                _points(v, found, coords)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict | list):
                _points(v, found, coords)


def from_wgs84(payload: Any, crs: CrsName) -> Any:
    """Convert, in place, every point of a JSON answer from WGS-84 to ``crs``; return it.

    A point is an object with numeric ``lat`` and ``lng``, or a ``[lat, lng]`` pair of a
    ``coords`` list (a route's shape). All of them are converted in one vector call.
    """
    if crs == "wgs84":
        return payload
    found: list[dict[str, Any]] = []
    coords: list[list[list[float]]] = []
    _points(payload, found, coords)
    pairs = [p for c in coords for p in c]
    if not found and not pairs:
        return payload
    lats = np.array([d["lat"] for d in found] + [p[0] for p in pairs], dtype=np.float64)
    lngs = np.array([d["lng"] for d in found] + [p[1] for p in pairs], dtype=np.float64)
    la, ln = _OUT[crs](lats, lngs)
    n = len(found)
    for i, d in enumerate(found):
        d["lat"], d["lng"] = float(la[i]), float(ln[i])
    for j, p in enumerate(pairs):
        p[0], p[1] = float(la[n + j]), float(ln[n + j])
    return payload
