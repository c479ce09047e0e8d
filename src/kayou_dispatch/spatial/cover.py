"""Choose H3 grid disks that provably cover a great-circle radius.

H3 cells are (nearly regular) hexagons. Take edge length ``s``. Centres of two cells at
grid distance ``d`` are at least ``1.5 * d * s`` apart (the closest lattice points at hex
distance ``d`` lie in the direction between two lattice axes), and every point of a cell is
within ``s`` (the circumradius) of its centre. So a point in a cell at grid distance ``d``
from the cell holding the query point is at least::

    lower_bound(d) = max(0, (1.5 * d - 2) * s)

away from the query point. A disk of ``k`` rings therefore holds every point closer than
``lower_bound(k + 1)``. ``s`` is taken as the shortest edge of the query's cell, shrunk by
:data:`SAFETY` to absorb H3's gentle size variation across a disk (well under 1 % over
the few kilometres a dispatch query spans; a few % across hundreds of kilometres).

Pentagons (12 per resolution, all at sea) break the hexagon argument; a disk that may
reach one is reported as unusable and the caller falls back to an exact scan.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from h3.api import basic_int as h3i

from kayou_dispatch.geo import haversine_m_array

__all__ = [
    "cell_edge_m",
    "cell_inscribed",
    "disk_cover",
    "DiskCover",
    "lower_bound_m",
    "rings_for_radius",
    "SAFETY",
]

#: Factor applied to the local edge length: bounds stay valid under moderate distortion.
SAFETY = 0.8


@lru_cache(maxsize=65_536)
def cell_edge_m(cell: int) -> float:
    """Return the conservative edge length (metres) used for bounds around ``cell``.

    Examples
    --------
    >>> from h3.api import basic_int as h3i
    >>> 300 < cell_edge_m(h3i.latlng_to_cell(22.7, 114.2, 8)) < 500
    True
    """
    edges = h3i.origin_to_directed_edges(cell)
    return SAFETY * min(h3i.edge_length(e, "m") for e in edges)


def lower_bound_m(d: int, edge_m: float) -> float:
    """Return a distance no point in a cell at grid distance ``d`` can be closer than.

    Examples
    --------
    >>> lower_bound_m(1, 100.0), lower_bound_m(2, 100.0), lower_bound_m(4, 100.0)
    (0.0, 100.0, 400.0)
    """
    return max(0.0, (1.5 * d - 2.0) * edge_m)


def rings_for_radius(radius_m: float, edge_m: float) -> int:
    """Return the smallest ``k`` whose disk holds every point within ``radius_m``.

    Examples
    --------
    >>> k = rings_for_radius(2000.0, 400.0)
    >>> lower_bound_m(k + 1, 400.0) > 2000.0, lower_bound_m(k, 400.0) > 2000.0
    (True, False)
    """
    # lower_bound(k + 1) > r  <=>  k + 1 > (r / s + 2) / 1.5
    return max(0, math.floor((radius_m / edge_m + 2.0) / 1.5))


class DiskCover:
    """The grid disk around a query point, with the bound it guarantees."""

    __slots__ = ("cells", "edge_m", "k")

    def __init__(self, cells: list[int], k: int, edge_m: float) -> None:
        self.cells = cells
        self.k = k
        self.edge_m = edge_m

    @property
    def complete_within_m(self) -> float:
        """Every point closer than this to the query point lies in :attr:`cells`."""
        return lower_bound_m(self.k + 1, self.edge_m)


@lru_cache(maxsize=16)
def _pentagon_centres(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    pts = [h3i.cell_to_latlng(c) for c in h3i.get_pentagons(resolution)]
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def disk_cover(lat: float, lng: float, cell: int, k: int, resolution: int) -> DiskCover | None:
    """Return the disk of ``k`` rings around ``cell``, or ``None`` near a pentagon.

    Parameters
    ----------
    lat, lng
        The query point (inside ``cell``).
    cell
        The H3 cell (int) of the query point at ``resolution``.
    k
        Number of rings.
    resolution
        The H3 resolution of ``cell``.
    """
    edge_m = cell_edge_m(cell)
    plat, plng = _pentagon_centres(resolution)
    # Generous reach of a k-ring disk: (k + 2) cells of at most ~3 edges (x2 for distortion).
    reach = (k + 2) * 6.0 * edge_m / SAFETY
    if (haversine_m_array(plat, plng, lat, lng) <= reach).any():
        return None
    return DiskCover(h3i.grid_disk(cell, k), k, edge_m)


@lru_cache(maxsize=262_144)
def cell_inscribed(cell: int) -> tuple[float, float, float]:
    """Return ``(lat, lng, radius_m)``: a circle around the cell centre inside the cell.

    Any point closer than ``radius_m`` to the centre lies in ``cell``, which lets bulk
    updates skip the H3 computation for fixes that stay in their cell. The radius is the
    distance from the centre to the nearest boundary edge (in a local tangent plane, exact
    to far below a millimetre at these sizes), shrunk by 1 %. Cells above 20 km (coarse
    resolutions) or within 5 degrees of a pole get radius ``-1``: the shortcut is off.

    Examples
    --------
    >>> from h3.api import basic_int as h3i
    >>> lat, lng, r = cell_inscribed(h3i.latlng_to_cell(22.7, 114.2, 8))
    >>> h3i.latlng_to_cell(lat + 0.99 * r / 111_195.0, lng, 8) == h3i.latlng_to_cell(lat, lng, 8)
    True
    """
    lat, lng = h3i.cell_to_latlng(cell)
    boundary = h3i.cell_to_boundary(cell)
    kx = math.radians(1.0) * 6_371_008.8 * math.cos(math.radians(lat))
    ky = math.radians(1.0) * 6_371_008.8
    pts = [(((b - lng + 540.0) % 360.0 - 180.0) * kx, (a - lat) * ky) for a, b in boundary]
    if abs(lat) > 85.0 or max(math.hypot(x, y) for x, y in pts) > 20_000.0:
        return lat, lng, -1.0
    best = math.inf
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, -(x1 * dx + y1 * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
    return lat, lng, 0.99 * best
