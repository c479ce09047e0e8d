"""Find the nodes near a point fast: a uniform latitude/longitude grid of node lists.

A search bounded at ``L`` seconds towards a destination point only ever settles nodes within
``L * vmax`` metres of it (great-circle), where ``vmax`` is the network's top edge speed:
every edge's length is at least the great-circle distance between its ends, and no edge is
driven faster than ``vmax``. So the subgraph induced by those nodes holds every path of at
most ``L`` seconds, and a search on it is exact up to ``L`` (see
:meth:`~kayou_dispatch.network.paths.CSRGraph.times_to_entries`). This module answers "which
nodes may lie within ``r`` metres of this point" with a superset: every node in the grid
cells that meet the cap's bounding box.

The box is exact on the sphere: a spherical cap of angular radius ``d`` around latitude
``phi`` spans latitudes ``phi +- d`` and longitudes ``+- asin(sin d / cos phi)`` (the
meridians tangent to it), or every longitude when it holds a pole.

Cells are sorted row-major and nodes by cell, so a row of cells in the box is one
contiguous slice of the node order: a query costs one slice per row of cells plus the nodes
it returns, whatever the network's size.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network._persist import narrow

__all__ = ["NodeGrid"]

# About this many nodes per cell on average (a cell side of at least _MIN_SIDE_M).
_NODES_PER_CELL = 24
_MIN_SIDE_M = 250.0
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0


class NodeGrid:
    """Nodes bucketed in a uniform grid of latitude/longitude cells.

    Parameters
    ----------
    lat, lng
        Node coordinates, WGS-84 degrees (no antimeridian crossing).
    """

    def __init__(self, lat: NDArray[np.float64], lng: NDArray[np.float64]) -> None:
        n = lat.shape[0]
        self.lat0 = float(lat.min())
        self.lng0 = float(lng.min())
        lat1, lng1 = float(lat.max()), float(lng.max())
        coslat = max(math.cos(math.radians(0.5 * (self.lat0 + lat1))), 1e-6)
        area_m2 = max((lat1 - self.lat0) * _M_PER_DEG, 1.0) * max(
            (lng1 - self.lng0) * _M_PER_DEG * coslat, 1.0
        )
        side_m = max(math.sqrt(area_m2 * _NODES_PER_CELL / max(n, 1)), _MIN_SIDE_M)
        self.dlat = side_m / _M_PER_DEG
        self.dlng = side_m / (_M_PER_DEG * coslat)
        self.ny = int((lat1 - self.lat0) / self.dlat) + 1
        self.nx = int((lng1 - self.lng0) / self.dlng) + 1
        row = np.minimum(((lat - self.lat0) / self.dlat).astype(np.int64), self.ny - 1)
        col = np.minimum(((lng - self.lng0) / self.dlng).astype(np.int64), self.nx - 1)
        cell = row * self.nx + col
        self.order = narrow(np.argsort(cell, kind="stable"))
        #: ``start[c]:start[c + 1]`` are the positions in ``order`` of cell ``c``'s nodes.
        self.start = np.zeros(self.ny * self.nx + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=self.ny * self.nx), out=self.start[1:])

    def _slices(self, lat: float, lng: float, radius_m: float) -> list[tuple[int, int]]:
        d = radius_m / EARTH_RADIUS_M
        lat_lo = lat - math.degrees(d)
        lat_hi = lat + math.degrees(d)
        r0 = max(math.floor((lat_lo - self.lat0) / self.dlat), 0)
        r1 = min(math.floor((lat_hi - self.lat0) / self.dlat), self.ny - 1)
        if r0 > r1:
            return []
        c = math.cos(math.radians(lat))
        if lat_hi >= 90.0 or lat_lo <= -90.0 or math.sin(d) >= c:
            c0, c1 = 0, self.nx - 1
        else:
            half = math.degrees(math.asin(math.sin(d) / c))
            c0 = max(math.floor((lng - half - self.lng0) / self.dlng), 0)
            c1 = min(math.floor((lng + half - self.lng0) / self.dlng), self.nx - 1)
            if c0 > c1:
                return []
        start = self.start
        out = []
        for r in range(r0, r1 + 1):
            a, b = int(start[r * self.nx + c0]), int(start[r * self.nx + c1 + 1])
            if a < b:
                out.append((a, b))
        return out

    def count_within(self, lat: float, lng: float, radius_m: float) -> int:
        """Return how many nodes :meth:`within` would return (cheap: no node is touched)."""
        return sum(b - a for a, b in self._slices(lat, lng, radius_m))

    def within(self, lat: float, lng: float, radius_m: float) -> NDArray[np.int64]:
        """Return a sorted superset of the nodes within ``radius_m`` (great-circle) of a point."""
        parts = [self.order[a:b] for a, b in self._slices(lat, lng, radius_m)]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        out = np.concatenate(parts).astype(np.int64)
        out.sort()
        return out
