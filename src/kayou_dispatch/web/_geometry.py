"""Simplify a road network into polylines a browser draws quickly.

Each two-way road is drawn once (twin edges share their shape); roads of one class are
merged into one polyline through every node where only two of them meet, then simplified
(Douglas-Peucker, ``tolerance_m``); coordinates are integers on a ``1e-5``-degree grid
(about 1 m) relative to the network's south-west corner. So the JSON stays small.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES
from kayou_dispatch.spatial.responders import STATUS_BY_CODE

__all__ = ["GRID_PER_DEGREE", "network_geometry"]

# Road classes drawn wider (with their links).
_MAJOR = frozenset({"motorway", "trunk", "primary", "secondary"})

#: Coordinates are sent as integer multiples of ``1 / GRID_PER_DEGREE`` degrees.
GRID_PER_DEGREE = 100_000


def network_geometry(network: RoadNetwork, *, tolerance_m: float = 2.0) -> dict[str, Any]:
    """Return the network's roads as compact polylines (JSON-able).

    Parameters
    ----------
    network
        The road network to draw.
    tolerance_m
        Douglas-Peucker tolerance; ``0`` keeps every node and shape point.

    Returns
    -------
    dict
        ``origin`` ``[lat, lng]`` (the south-west corner), ``scale`` (grid steps per
        degree), ``bounds`` ``[min_lat, min_lng, max_lat, max_lng]``, ``offsets`` (line
        ``i`` is points ``offsets[i]:offsets[i + 1]``), ``coords`` (``dlat, dlng`` integer
        pairs from ``origin``), ``cls`` (each line's index into ``classes``, ``-1`` unknown),
        ``classes`` (highway class names), ``major`` (the indices of the classes drawn wide)
        and ``statuses`` (responder statuses in code order: a status code ``i`` in the
        console or a replay is ``statuses[i]``). The scripts take these tables from here.

    Examples
    --------
    >>> from kayou_dispatch.network import EdgeArrays
    >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.001],
    ...                         lng=[0.0, 0.001, 0.001], u=[0, 1, 1], v=[1, 0, 2],
    ...                         length_m=[111.2, 111.2, 111.2], travel_time_s=[9.0] * 3)
    >>> g = network_geometry(RoadNetwork.from_arrays(a))  # two roads meet at node 2: one line
    >>> g["offsets"], g["coords"]
    ([0, 3], [0, 0, 0, 100, 100, 100])
    """
    if not (isinstance(tolerance_m, int | float) and math.isfinite(tolerance_m)):
        tolerance_m = -1.0
    if tolerance_m < 0:
        msg = f"tolerance_m must be a finite number >= 0, got {tolerance_m!r}"
        raise InvalidParameterError(msg, name="tolerance_m", value=tolerance_m)
    a = network.arrays
    twin = network.edge_twin
    idx = np.arange(network.n_edges)
    keep = np.flatnonzero((twin < 0) | (idx < twin))  # one of each pair of twins
    starts = a.geom_offsets[keep]
    counts = a.geom_offsets[keep + 1] - starts
    sizes = counts + 2
    line_of = np.repeat(np.arange(keep.size), sizes)
    first = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=first[1:])
    pos = np.arange(line_of.size) - first[line_of]  # position inside its line
    lat = np.empty(line_of.size)
    lng = np.empty(line_of.size)
    head = pos == 0
    tail = pos == sizes[line_of] - 1
    mid = ~(head | tail)
    lat[head], lng[head] = a.lat[a.u[keep]], a.lng[a.u[keep]]
    lat[tail], lng[tail] = a.lat[a.v[keep]], a.lng[a.v[keep]]
    shape = (starts[line_of] + pos - 1)[mid]
    lat[mid], lng[mid] = a.geom_lat[shape], a.geom_lng[shape]
    min_lat, min_lng, max_lat, max_lng = network.bounds
    # Work in a local metric frame so the tolerance is in metres.
    kx = 111_320.0 * math.cos(math.radians((min_lat + max_lat) / 2))
    ky = 110_574.0
    xy = np.column_stack(((lng - min_lng) * kx, (lat - min_lat) * ky))
    segments = shapely.linestrings(xy, indices=line_of) if keep.size else np.array([])
    seg_cls = a.highway[keep].astype(np.int64)
    parts: list[np.ndarray] = []
    part_cls: list[int] = []
    for c in np.unique(seg_cls).tolist():
        # One polyline per run of same-class roads through nodes where only two meet.
        merged = shapely.line_merge(shapely.multilinestrings(segments[seg_cls == c]))
        pieces = shapely.get_parts(merged)
        if tolerance_m > 0:
            pieces = shapely.simplify(pieces, tolerance_m)
        parts.append(pieces)
        part_cls += [c] * len(pieces)
    lines = np.concatenate(parts) if parts else np.array([])
    if len(lines):
        xy, line_of = shapely.get_coordinates(lines, return_index=True)
    else:
        xy, line_of = np.empty((0, 2)), np.empty(0, dtype=np.int64)
    lng = xy[:, 0] / kx + min_lng
    lat = xy[:, 1] / ky + min_lat
    qlat = np.rint((lat - min_lat) * GRID_PER_DEGREE).astype(np.int64)
    qlng = np.rint((lng - min_lng) * GRID_PER_DEGREE).astype(np.int64)
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(np.bincount(line_of, minlength=len(lines)), out=offsets[1:])
    coords = np.column_stack((qlat, qlng)).ravel()
    return {
        "origin": [min_lat, min_lng],
        "scale": GRID_PER_DEGREE,
        "bounds": [min_lat, min_lng, max_lat, max_lng],
        "offsets": offsets.tolist(),
        "coords": coords.tolist(),
        "cls": part_cls,
        "classes": list(HIGHWAY_CLASSES),
        "major": [i for i, c in enumerate(HIGHWAY_CLASSES) if c.split("_")[0] in _MAJOR],
        "statuses": [s.value for s in STATUS_BY_CODE],
    }
