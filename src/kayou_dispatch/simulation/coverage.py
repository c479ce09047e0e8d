"""Find where nobody could help in time: motorway and trunk stretches with no responder near.

The main roads are cut into segments: the motorway and trunk edges (each carriageway
apart) whose midpoints fall in one H3 cell (resolution 7, about 2.5 km across) form one
segment, probed at the midpoint of its edge nearest the cell's centre. At each probe time
:class:`CoverageProbe` finds, for every segment, whether some AVAILABLE responder could
reach it within ``limit_s`` by road -- the same exact road time the engine's ranking gives
(responders snapped with their heading, the point without; partial edges at both ends;
the tests check it against ``DispatchEngine.rank(..., k=1, max_eta_s=limit_s)``), found by
one multi-source search from all responders instead of one search per segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from h3.api import basic_int as h3i
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import HIGHWAY_CLASSES, RoadNetwork
from kayou_dispatch.simulation.driving import RoadGraph
from kayou_dispatch.simulation.roads import edge_points

__all__ = ["CoverageProbe", "highway_segments", "Segments"]

#: Responders farther than this from every road are off the network (as for the engine).
_OFF_NETWORK_M = 1000.0
_MAIN = ("motorway", "trunk")


@dataclass(frozen=True, eq=False)
class Segments:
    """Stretches of motorway and trunk road, one carriageway each.

    Attributes
    ----------
    edge
        The edge each segment is probed on (at its midpoint: ``lat``, ``lng``).
    highway
        Road class name of each segment.
    length_m
        Road length in each segment.
    edges
        Every edge of each segment (for drawing), ``edges[offsets[i]:offsets[i + 1]]``.
    """

    edge: NDArray[np.int64]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    highway: tuple[str, ...]
    length_m: NDArray[np.float64]
    edges: NDArray[np.int64]
    offsets: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.edge.size)


def highway_segments(network: RoadNetwork, *, resolution: int = 7) -> Segments:
    """Cut a network's motorway and trunk roads into segments (see the module docstring).

    Examples
    --------
    >>> from kayou_dispatch import load_network
    >>> len(highway_segments(load_network("helsinki")))  # no motorway or trunk road
    0
    """
    a = network.arrays
    codes = [HIGHWAY_CLASSES.index(c) for c in _MAIN]
    main = np.flatnonzero(np.isin(a.highway, codes))
    if not main.size:
        none = np.zeros(0, dtype=np.int64)
        return Segments(
            none, np.zeros(0), np.zeros(0), (), np.zeros(0), none, np.zeros(1, np.int64)
        )
    lat, lng, bearing = edge_points(a, main, np.full(main.size, 0.5))
    cells = np.array(
        [
            h3i.latlng_to_cell(float(la), float(ln), resolution)
            for la, ln in zip(lat, lng, strict=True)
        ],
        dtype=np.int64,
    )
    # One carriageway per segment: edges of one class heading the same way (quadrant).
    quadrant = ((bearing + 45.0) // 90.0).astype(np.int64) % 4
    key = np.column_stack((cells, a.highway[main].astype(np.int64), quadrant))
    _, seg_of, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    seg_of = seg_of.ravel()
    n_seg = counts.size
    order = np.argsort(seg_of, kind="stable")
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    edges = main[order]
    length = np.bincount(seg_of, weights=a.length_m[main], minlength=n_seg)
    # Probe at the member edge nearest the segment's (length-weighted) centre.
    w = a.length_m[main]
    clat = np.bincount(seg_of, weights=lat * w, minlength=n_seg) / np.maximum(length, 1e-9)
    clng = np.bincount(seg_of, weights=lng * w, minlength=n_seg) / np.maximum(length, 1e-9)
    d2 = (lat - clat[seg_of]) ** 2 + (lng - clng[seg_of]) ** 2
    pick = np.lexsort((d2, seg_of))
    first = pick[np.r_[True, seg_of[pick][1:] != seg_of[pick][:-1]]]
    rep = main[first]
    names = tuple(HIGHWAY_CLASSES[int(h)] for h in a.highway[rep])
    return Segments(rep, lat[first], lng[first], names, length.astype(np.float64), edges, offsets)


class CoverageProbe:
    """Tell, for each motorway/trunk segment, whether any responder is within ``limit_s``.

    Parameters
    ----------
    network
        The roads.
    limit_s
        The time within which someone must be able to arrive (15 minutes by default).
    segments
        The stretches to probe (default: :func:`highway_segments`).
    """

    def __init__(
        self,
        network: RoadNetwork,
        *,
        limit_s: float = 900.0,
        segments: Segments | None = None,
    ) -> None:
        if not (isinstance(limit_s, int | float) and math.isfinite(limit_s) and limit_s > 0):
            msg = f"limit_s must be a finite number of seconds > 0, got {limit_s!r}"
            raise InvalidParameterError(msg, name="limit_s", value=limit_s)
        self.network = network
        self.limit_s = float(limit_s)
        self.segments = highway_segments(network) if segments is None else segments
        self._graph = RoadGraph(network)
        self._points = network.snap_many(self.segments.lat, self.segments.lng)

    def __len__(self) -> int:
        return len(self.segments)

    def reach_s(self, lats: ArrayLike, lngs: ArrayLike, headings: ArrayLike) -> NDArray[np.float64]:
        """Return the fastest road time from any of these responders to each segment.

        ``inf`` beyond ``limit_s``. Positions as the engine holds them (last fixes);
        ``headings`` may hold NaN for a responder that reported none.
        """
        la = np.asarray(lats, dtype=np.float64)
        ln = np.asarray(lngs, dtype=np.float64)
        hd = np.asarray(headings, dtype=np.float64)
        if not len(self) or not la.size:
            return np.full(len(self), np.inf)
        headed = ~np.isnan(hd)
        parts = []
        for rows, use in ((np.flatnonzero(headed), True), (np.flatnonzero(~headed), False)):
            if rows.size:
                parts.append(
                    self.network.snap_many(
                        la[rows],
                        ln[rows],
                        headings=hd[rows] if use else None,
                        max_distance_m=_OFF_NETWORK_M,
                    )
                )
        starts = (
            parts[0]
            if len(parts) == 1
            else type(parts[0])(
                *(np.concatenate([getattr(p, f) for p in parts]) for f in parts[0]._fields)
            )
        )
        return self._graph.reach_s(starts, self._points, limit_s=self.limit_s)

    def gaps(self, lats: ArrayLike, lngs: ArrayLike, headings: ArrayLike) -> NDArray[np.bool_]:
        """Return, per segment, whether no responder can reach it within ``limit_s``."""
        out: NDArray[np.bool_] = ~np.isfinite(self.reach_s(lats, lngs, headings))
        return out
