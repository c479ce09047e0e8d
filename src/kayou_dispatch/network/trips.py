"""Turn two snaps into a travel time or a route: partial edges at both ends of a trip.

From a snap at fraction ``f`` of edge ``u -> v`` the vehicle drives ``(1 - f) * tt`` to
``v``; it reaches a snap at fraction ``g`` of edge ``a -> b`` by reaching ``a`` and driving
``g * tt``; on the same edge with ``f <= g`` it may also drive ``(g - f) * tt`` directly
(otherwise it must go round). A snap at a node starts or ends at that node, free to take
any of its edges.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.paths import CSRGraph, Route
from kayou_dispatch.network.snap import SegmentIndex, Snap, SnapArrays

__all__ = ["trip_route", "trip_time", "trip_times_to"]


def _enter(arrays: EdgeArrays, snap: Snap) -> tuple[int, float]:
    # The node where the trip enters the graph and the time to get there.
    if snap.node is not None:
        return snap.node, 0.0
    e = snap.edge
    return int(arrays.v[e]), (1.0 - snap.fraction) * float(arrays.travel_time_s[e])


def _leave(arrays: EdgeArrays, snap: Snap) -> tuple[int, float]:
    # The node where the trip leaves the graph and the time from there to the point.
    if snap.node is not None:
        return snap.node, 0.0
    e = snap.edge
    return int(arrays.u[e]), snap.fraction * float(arrays.travel_time_s[e])


def _direct_s(arrays: EdgeArrays, start: Snap, end: Snap) -> float:
    # Driving along one edge from start to end without passing a node.
    if (
        start.node is None
        and end.node is None
        and start.edge == end.edge
        and start.fraction <= end.fraction
    ):
        return (end.fraction - start.fraction) * float(arrays.travel_time_s[start.edge])
    return math.inf


def trip_time(arrays: EdgeArrays, graph: CSRGraph, start: Snap, end: Snap) -> float:
    """Return the fastest time from ``start`` to ``end``, seconds (``inf``: no route)."""
    s, s_off = _enter(arrays, start)
    t, t_off = _leave(arrays, end)
    via = s_off + float(graph.times_from(s)[t]) + t_off
    return min(_direct_s(arrays, start, end), via)


def trip_times_to(
    arrays: EdgeArrays, graph: CSRGraph, dest: Snap, origins: SnapArrays
) -> NDArray[np.float64]:
    """Return the fastest time from every origin (all on the network) to ``dest``.

    One Dijkstra search on the reversed graph from the node where trips leave the graph
    for ``dest``; each origin adds its own partial edge.
    """
    t, t_off = _leave(arrays, dest)
    to_dest = graph.times_to(t) + t_off
    e = origins.edge
    at_node = origins.node >= 0
    times = np.where(
        at_node,
        to_dest[np.where(at_node, origins.node, 0)],
        (1.0 - origins.fraction) * arrays.travel_time_s[e] + to_dest[arrays.v[e]],
    )
    if dest.node is None:
        same = (~at_node) & (e == dest.edge) & (origins.fraction <= dest.fraction)
        direct = (dest.fraction - origins.fraction) * float(arrays.travel_time_s[dest.edge])
        times = np.where(same, np.minimum(times, direct), times)
    out: NDArray[np.float64] = np.ascontiguousarray(times, dtype=np.float64)
    return out


def trip_route(
    arrays: EdgeArrays, graph: CSRGraph, segments: SegmentIndex, start: Snap, end: Snap
) -> Route:
    """Return the fastest route from ``start`` to ``end`` (``Route(inf, inf, ())``: none)."""
    p0 = (start.lat, start.lng)
    p1 = (end.lat, end.lng)
    direct = _direct_s(arrays, start, end)
    s, s_off = _enter(arrays, start)
    t, t_off = _leave(arrays, end)
    found = graph.path_edges(s, t)
    via = math.inf if found is None else s_off + found[0] + t_off
    if found is None or direct <= via:
        if math.isinf(direct):
            return Route(math.inf, math.inf, ())
        e = start.edge
        coords = [p0, *segments.edge_coords(e, start.fraction, end.fraction), p1]
        dist = (end.fraction - start.fraction) * float(arrays.length_m[e])
        return Route(direct, dist, _dedupe(coords))
    _, edges = found
    coords = [p0]
    dist = 0.0
    if start.node is None:
        e = start.edge
        coords += segments.edge_coords(e, start.fraction, 2.0)
        coords.append(_node_pt(arrays, int(arrays.v[e])))
        dist += (1.0 - start.fraction) * float(arrays.length_m[e])
    for e in edges:
        coords += segments.edge_coords(e, -1.0, 2.0)
        coords.append(_node_pt(arrays, int(arrays.v[e])))
        dist += float(arrays.length_m[e])
    if end.node is None:
        e = end.edge
        coords += segments.edge_coords(e, -1.0, end.fraction)
        dist += end.fraction * float(arrays.length_m[e])
    coords.append(p1)
    return Route(via, dist, _dedupe(coords))


def _node_pt(arrays: EdgeArrays, i: int) -> tuple[float, float]:
    return float(arrays.lat[i]), float(arrays.lng[i])


def _dedupe(coords: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    # Drop repeated consecutive points; a route always has at least two.
    out = [coords[0]]
    for c in coords[1:]:
        if c != out[-1]:
            out.append(c)
    if len(out) == 1:
        out.append(out[0])
    return tuple(out)
