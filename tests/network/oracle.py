"""Slow, obvious oracles for road-network queries (networkx Dijkstra, brute-force shapely)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import shapely

from kayou_dispatch.geo import EARTH_RADIUS_M

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def nx_times_from(g, source):
    """Fastest times from ``source`` to every reachable node, by networkx Dijkstra."""
    return nx.single_source_dijkstra_path_length(g, source, weight="travel_time")


def split_graph_time(g, net, s1, s2):
    """Fastest time between two snaps: split their edges in ``g`` and run networkx Dijkstra.

    ``g`` is ``net`` as a networkx graph keyed by ``net.node_ids`` (``net.to_networkx()``, or
    the graph ``net`` was built from). A snap off a node becomes a node ``"S"`` (``"T"``)
    splitting its directed edge ``u -> v`` into ``u -> S -> v`` weighted by the fraction. On a
    two-way road the point lies on both directed edges: the end always splits the twin too,
    the start does when its snap allows (no heading: ``s1.twin`` is set). The original edges
    stay: ``u -> S -> v`` costs the same, so they change no distance. ``g`` is restored
    before returning.
    """
    tt = net.edge_travel_time_s
    ids = net.node_ids
    twin = net.edge_twin
    points = {}  # edge -> [(fraction, name)]
    if s1.node is None:
        points.setdefault(s1.edge, []).append((s1.fraction, "S"))
        if s1.twin is not None:
            points.setdefault(s1.twin, []).append((1.0 - s1.fraction, "S"))
    if s2.node is None:
        points.setdefault(s2.edge, []).append((s2.fraction, "T"))
        if twin[s2.edge] >= 0:
            points.setdefault(int(twin[s2.edge]), []).append((1.0 - s2.fraction, "T"))
    src = int(ids[s1.node]) if s1.node is not None else "S"
    dst = int(ids[s2.node]) if s2.node is not None else "T"
    try:
        for e, pts in points.items():
            a, b, w = int(ids[net.edge_u[e]]), int(ids[net.edge_v[e]]), float(tt[e])
            pts = sorted(pts)
            chain = [a, *(name for _, name in pts), b]
            fr = [0.0, *(f for f, _ in pts), 1.0]
            for i in range(len(chain) - 1):
                g.add_edge(chain[i], chain[i + 1], travel_time=(fr[i + 1] - fr[i]) * w)
        if src == dst:
            return 0.0
        try:
            return nx.dijkstra_path_length(g, src, dst, weight="travel_time")
        except nx.NetworkXNoPath:
            return math.inf
    finally:
        g.remove_nodes_from([x for x in ("S", "T") if x in g])


def _segments(net):
    """Endpoints ``(a_lat, a_lng, b_lat, b_lng)`` of every straight segment of every edge."""
    a = net.arrays
    lats, lngs = [], []
    for e in range(net.n_edges):
        lo, hi = a.geom_offsets[e], a.geom_offsets[e + 1]
        lats.append([a.lat[a.u[e]], *a.geom_lat[lo:hi], a.lat[a.v[e]]])
        lngs.append([a.lng[a.u[e]], *a.geom_lng[lo:hi], a.lng[a.v[e]]])
    a_lat = np.array([x for row in lats for x in row[:-1]])
    a_lng = np.array([x for row in lngs for x in row[:-1]])
    b_lat = np.array([x for row in lats for x in row[1:]])
    b_lng = np.array([x for row in lngs for x in row[1:]])
    return a_lat, a_lng, b_lat, b_lng


class NearestRoad:
    """Brute force: shapely distance from a point to every segment, in a plane at the point."""

    def __init__(self, net):
        self.a_lat, self.a_lng, self.b_lat, self.b_lng = _segments(net)

    def distance_m(self, lat, lng, heading=None):
        """Distance to the nearest segment (whose bearing is within 60 degrees of ``heading``).

        ``inf`` when no segment qualifies.
        """
        sx = math.cos(math.radians(lat)) * M_PER_DEG
        ax = (self.a_lng - lng) * sx
        ay = (self.a_lat - lat) * M_PER_DEG
        bx = (self.b_lng - lng) * sx
        by = (self.b_lat - lat) * M_PER_DEG
        keep = np.ones(ax.shape[0], dtype=bool)
        if heading is not None:
            bearing = np.degrees(np.arctan2(bx - ax, by - ay))
            diff = np.abs((bearing - heading + 180.0) % 360.0 - 180.0)
            keep = ((ax != bx) | (ay != by)) & (diff <= 60.0)
        if not keep.any():
            return math.inf
        coords = np.stack(
            [np.stack([ax[keep], ay[keep]], axis=1), np.stack([bx[keep], by[keep]], axis=1)],
            axis=1,
        )
        return float(shapely.distance(shapely.Point(0.0, 0.0), shapely.linestrings(coords)).min())


def nearest_road_m(net, lat, lng, heading=None):
    """One-off :meth:`NearestRoad.distance_m` (for small networks)."""
    return NearestRoad(net).distance_m(lat, lng, heading)


def routes_unique(net, tree, tol=1e-9):
    """Whether every node's fastest trip to ``tree``'s destination is the only one.

    ``tree`` is a plain :class:`~kayou_dispatch.network.trips.DestinationTree` searched
    without a limit. A node whose time is met by two ways on (two edges, an edge and an
    entry to the destination edge, a zero-time loop) may be driven either way, so the two
    lengths a fastest route can have differ: only where no node has two ways are the lengths
    of two exact searches bound to agree.
    """
    a = net.arrays
    t = tree.times_at(np.arange(net.n_nodes))
    ways = np.zeros(net.n_nodes, dtype=np.int64)
    for x, off in tree.entries:
        ways[x] += bool(np.isclose(t[x], off, rtol=tol, atol=tol))
    via = t[a.v] + a.travel_time_s
    tight = np.isfinite(t[a.u]) & np.isclose(t[a.u], via, rtol=tol, atol=tol)
    np.add.at(ways, a.u[tight], 1)
    return bool((ways <= 1).all())


def assert_same_times(net, plain, tree, limit):
    """``tree`` (a fast search) times every node as ``plain`` (scipy Dijkstra) does."""
    ref, got = plain.to_dest, tree.times_at(np.arange(net.n_nodes))
    # Within the limit both are exact; a time a hair under the limit may fall either side.
    edge = np.isfinite(ref) != np.isfinite(got)
    if limit < math.inf:
        near = np.where(np.isfinite(ref), ref, got)
        assert (near[edge] >= limit * (1 - 1e-9)).all()
    else:
        assert not edge.any()
    fin = np.isfinite(ref) & np.isfinite(got)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-9)


def assert_same_trips(net, plain, tree, origins):
    """``tree`` times the trips from ``origins`` as ``plain`` does, and gives routes' lengths."""
    tp, to = plain.times(origins), tree.times(origins)
    rows = [r for r in range(tp.shape[0]) if np.isfinite(tp[r]) and np.isfinite(to[r])]
    np.testing.assert_allclose(to[rows], tp[rows], rtol=1e-12, atol=1e-9)
    # Both are lengths of a fastest route: the same one, unless two tie on time.
    lo, lp = tree.lengths_m(origins, rows), plain.lengths_m(origins, rows)
    assert np.isfinite(lo).all()
    if routes_unique(net, plain):
        np.testing.assert_allclose(lo, lp, rtol=1e-9, atol=1e-6)
