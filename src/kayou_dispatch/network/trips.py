"""Turn snaps into travel times and routes: partial edges at both ends of a trip.

Every trip is measured from its destination: one Dijkstra search on the reversed graph
(:class:`DestinationTree`) gives the fastest time from every node to the destination, and
each start adds its own partial edge. So :meth:`~RoadNetwork.travel_time`,
:meth:`~RoadNetwork.travel_times_to` and :meth:`~RoadNetwork.route` do the same arithmetic
and agree exactly.

From a snap at fraction ``f`` of edge ``u -> v`` the vehicle drives ``(1 - f) * tt`` to
``v``; when the snap may also leave along the edge's twin ``v -> u`` (a two-way road, no
heading given) it may instead drive ``f * tt_twin`` to ``u``. It reaches a snap at fraction
``g`` of edge ``a -> b`` by reaching ``a`` and driving ``g * tt``, or, when that edge has a
twin, by reaching ``b`` and driving ``(1 - g) * tt_twin``. On one edge, a start before the
end may also drive straight along it (otherwise it must go round). A snap at a node starts
or ends at that node, free to take any of its edges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.paths import CSRGraph, Route
from kayou_dispatch.network.snap import SegmentIndex, Snap, SnapArrays

__all__ = ["Departures", "departures_of", "dest_entries", "DestinationTree", "Leg", "snap_row"]


def snap_row(s: Snap) -> SnapArrays:
    """Return one snap as a one-row :class:`SnapArrays`."""
    return SnapArrays(
        np.array([s.edge], dtype=np.int64),
        np.array([s.fraction]),
        np.array([s.distance_m]),
        np.array([s.lat]),
        np.array([s.lng]),
        np.array([-1 if s.node is None else s.node], dtype=np.int64),
        np.array([-1 if s.twin is None else s.twin], dtype=np.int64),
    )


class Departures(NamedTuple):
    """Where trips from snapped origins join the graph: up to two (node, seconds) each.

    ``node_a``/``off_a``: the head of the snapped edge and the time to it (the node itself
    and 0 for a snap at a node); ``node_b``/``off_b``: the same along the twin, or
    ``node_a`` and ``inf`` when the origin may not leave that way.
    """

    node_a: NDArray[np.int64]
    off_a: NDArray[np.float64]
    node_b: NDArray[np.int64]
    off_b: NDArray[np.float64]


def departures_of(arrays: EdgeArrays, origins: SnapArrays) -> Departures:
    """Return the :class:`Departures` of snapped origins (off-network rows: meaningless)."""
    tt = arrays.travel_time_s
    e = np.where(origins.edge >= 0, origins.edge, 0)
    f = origins.fraction
    at_node = origins.node >= 0
    has_twin = (origins.twin >= 0) & ~at_node
    tw = np.where(has_twin, origins.twin, e)
    node_a = np.where(at_node, origins.node, arrays.v[e])
    off_a = np.where(at_node, 0.0, (1.0 - f) * tt[e])
    node_b = np.where(has_twin, arrays.v[tw], node_a)
    off_b = np.where(has_twin, f * tt[tw], np.inf)
    return Departures(node_a, off_a, node_b, off_b)


def dest_entries(
    arrays: EdgeArrays, twins: NDArray[np.int64], dest: Snap
) -> tuple[list[tuple[int, float]], int]:
    """Where a reverse search towards ``dest`` starts: ``(node, offset_s)`` pairs, and the twin.

    A snap at a node starts at that node; one part-way along edge ``u -> v`` starts at
    ``u`` (the rest of the edge to drive), and at the twin's tail too when the road is
    two-way. The twin is ``-1`` when there is none (or the snap is at a node).
    """
    if dest.node is not None:
        return [(dest.node, 0.0)], -1
    tt = arrays.travel_time_s
    e = dest.edge
    entries = [(int(arrays.u[e]), dest.fraction * float(tt[e]))]
    twin = int(twins[e])
    if twin >= 0:
        entries.append((int(arrays.u[twin]), (1.0 - dest.fraction) * float(tt[twin])))
    return entries, twin


# A Leg's fields as a plain tuple (eta_s, first_edge, first_from, nodes, last_edge, last_to,
# direct): cheaper to make when only the lengths are wanted.
_LegParts = tuple[float, int, float, list[int], int, float, bool]


@dataclass(frozen=True, slots=True)
class Leg:
    """How a fastest trip starts and ends (one origin), as found by :meth:`DestinationTree.legs`.

    Attributes
    ----------
    eta_s
        Travel time, seconds (``inf``: no route within the search).
    first_edge, first_from
        The edge the trip leaves the start along and the fraction it starts at (``-1`` and
        ``nan`` when it starts at a node).
    nodes
        Nodes passed, from the first to the last (empty for a direct trip along one edge).
    last_edge, last_to
        The edge the trip reaches the destination along and the fraction it ends at
        (``-1``: ends at a node).
    direct
        Whether the trip drives straight along one edge without passing a node.
    """

    eta_s: float
    first_edge: int
    first_from: float
    nodes: list[int]
    last_edge: int
    last_to: float
    direct: bool


class DestinationTree:
    """The fastest time from every node to one destination snap, from one reverse search.

    Parameters
    ----------
    arrays, graph, twins
        The network's arrays, sparse graphs and edge twins.
    dest
        Where trips end.
    limit_s
        Search only this far (inclusive): times above it are ``inf``.
    predecessors
        Keep the search tree, needed by :meth:`legs` and :meth:`route`.
    within
        Search only the subgraph induced by these nodes (sorted): exact up to ``limit_s``
        when it holds every node within ``limit_s`` at the top speed of the destination
        (:class:`~kayou_dispatch.network._nodegrid.NodeGrid`). ``None``: the whole graph.
    """

    def __init__(
        self,
        arrays: EdgeArrays,
        graph: CSRGraph,
        twins: NDArray[np.int64],
        dest: Snap,
        *,
        limit_s: float = math.inf,
        predecessors: bool = False,
        within: NDArray[np.int64] | None = None,
    ) -> None:
        self._aim(arrays, graph, twins, dest, limit_s, within)
        entries = self.entries
        self.pred: NDArray[np.int64] | NDArray[np.int32] | None
        if within is None:
            self._dist, self.pred = graph.times_to_entries(
                entries, limit_s=limit_s, predecessors=predecessors
            )
        else:
            self._dist, self.pred = graph.times_to_entries_within(
                entries, within, limit_s=limit_s, predecessors=predecessors
            )

    def _aim(
        self,
        arrays: EdgeArrays,
        graph: CSRGraph,
        twins: NDArray[np.int64],
        dest: Snap,
        limit_s: float,
        within: NDArray[np.int64] | None,
    ) -> None:
        # What every tree towards dest holds before its search (the overlay's too).
        self.arrays = arrays
        self.graph = graph
        self.twins = twins
        self.dest = dest
        self.limit_s = limit_s
        self.entries, self.dest_twin = dest_entries(arrays, twins, dest)
        self._within = within

    def times_at(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return the fastest time from each of these nodes to the destination (``inf``: none)."""
        if self._within is None:
            out: NDArray[np.float64] = self._dist[nodes]
            return out
        w = self._within
        if not w.shape[0]:
            return np.full(nodes.shape[0], math.inf)
        k = np.minimum(np.searchsorted(w, nodes), w.shape[0] - 1)
        return np.where(w[k] == nodes, self._dist[k], math.inf)

    def reached_nodes(self) -> NDArray[np.int64]:
        """The nodes whose time to the destination is within the limit (network numbering)."""
        d = self._dist
        rows = np.flatnonzero((d <= self.limit_s) & (d < math.inf))
        return rows if self._within is None else self._within[rows]

    def _row(self, node: int) -> int:
        # Where a node's time and step are kept (-1: outside the searched subgraph).
        if self._within is None:
            return node
        w = self._within
        k = int(np.searchsorted(w, node))
        return k if k < w.shape[0] and int(w[k]) == node else -1

    @property
    def to_dest(self) -> NDArray[np.float64]:
        """The fastest time from every node to the destination (``inf`` past the limit).

        Built on demand after a local search (a network-sized array): prefer :meth:`times_at`.
        """
        if self._within is None:
            return self._dist
        out = np.full(self.graph.n, math.inf)
        out[self._within] = self._dist
        return out

    # --- times ----------------------------------------------------------------------------

    def times(
        self, origins: SnapArrays, departures: Departures | None = None
    ) -> NDArray[np.float64]:
        """Return the fastest time from each origin (all on the network), ``inf`` past the limit.

        ``departures`` (from :func:`departures` of the same ``origins``) saves recomputing
        them when the same origins are timed against many destinations.
        """
        dep = departures_of(self.arrays, origins) if departures is None else departures
        times = np.minimum(
            dep.off_a + self.times_at(dep.node_a), dep.off_b + self.times_at(dep.node_b)
        )
        if self.dest.node is None:
            # Straight along one edge: only origins on the destination's edge or its twin.
            e, tw = origins.edge, origins.twin
            near = np.zeros(e.shape[0], dtype=bool)
            for end_edge, _ in self._dest_edges():
                near |= (e == end_edge) | (tw == end_edge)
            if near.any():
                rows = np.flatnonzero(near & (origins.node < 0))
                times[rows] = np.minimum(times[rows], self._direct(origins, rows))
        if self.limit_s < math.inf:
            times[times > self.limit_s] = np.inf
        out: NDArray[np.float64] = np.ascontiguousarray(times, dtype=np.float64)
        return out

    def _direct(self, origins: SnapArrays, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        # Straight along one edge: each (start edge, end edge) pair that is the same edge.
        tt = self.arrays.travel_time_s
        e, f = origins.edge[rows], origins.fraction[rows]
        at_node = origins.node[rows] >= 0
        tw = origins.twin[rows]
        best = np.full(rows.shape[0], np.inf)
        for start_edge, start_f, allowed in ((e, f, ~at_node), (tw, 1.0 - f, ~at_node & (tw >= 0))):
            for end_edge, end_f in self._dest_edges():
                ok = allowed & (start_edge == end_edge) & (start_f <= end_f)
                best = np.minimum(
                    best, np.where(ok, (end_f - start_f) * float(tt[end_edge]), np.inf)
                )
        return best

    def _dest_edges(self) -> list[tuple[int, float]]:
        g = self.dest.fraction
        pairs = [(self.dest.edge, g)]
        if self.dest_twin >= 0:
            pairs.append((self.dest_twin, 1.0 - g))
        return pairs

    # --- routes ---------------------------------------------------------------------------

    def _to_dest(self, x: int) -> tuple[float, int]:
        raise NotImplementedError  # by the trees that use _traced_lengths_m

    def _time(self, node: int) -> float:
        return float(self.times_at(np.array([node], dtype=np.int64))[0])

    def legs(self, origins: SnapArrays, rows: Sequence[int]) -> list[Leg]:
        """Trace the fastest trip of each given origin row through the search tree."""
        return [Leg(*parts) for parts in self._legs(origins, rows)]

    def _legs(self, origins: SnapArrays, rows: Sequence[int]) -> list[_LegParts]:
        # legs() as plain tuples (Leg's fields, in order): a ranking traces ten of them.
        if self.pred is None:
            msg = "legs need a DestinationTree built with predecessors=True"
            raise InvalidParameterError(msg, name="predecessors", value=False)
        a = self.arrays
        tt = a.travel_time_s.item
        head = a.v.item
        pred = self.pred.item
        # Steps are followed in the search's own numbering (the subgraph's rows after a
        # local search), translated to network nodes once per node passed.
        within = None if self._within is None else self._within.item
        entry_row = self._dist.shape[0]  # the virtual entry row
        dist = self._dist.item
        row = None if within is None else self._row

        def d_within(node: int) -> float:
            assert row is not None
            k = row(node)
            return float(dist(k)) if k >= 0 else math.inf

        d: Callable[[int], float] = dist if row is None else d_within

        idx = np.asarray(rows, dtype=np.int64)
        ends = {de for de, _ in self._dest_edges()} if self.dest.node is None else set()
        limit = self.limit_s
        dest_tail = int(a.u[self.dest.edge])
        dest_edge, dest_f, dest_twin = self.dest.edge, self.dest.fraction, self.dest_twin
        dest_at_node = self.dest.node is not None
        out: list[_LegParts] = []
        for edge, frac, node, twin in zip(
            origins.edge[idx].tolist(),
            origins.fraction[idx].tolist(),
            origins.node[idx].tolist(),
            origins.twin[idx].tolist(),
            strict=True,
        ):
            if node >= 0:
                twin = -1
            # Same candidates, same arithmetic and same order of preference as times():
            # (eta, edge, from, entry node), the first of the fastest.
            if node >= 0:
                best = (d(node), -1, math.nan, node)
            else:
                x = head(edge)
                best = ((1.0 - frac) * tt(edge) + d(x), edge, frac, x)
                if twin >= 0:
                    y = head(twin)
                    other = (frac * tt(twin) + d(y), twin, 1.0 - frac, y)
                    if other[0] < best[0]:
                        best = other
            if edge in ends or twin in ends:
                direct = self._best_direct(edge, frac, node, twin)
                if direct is not None and direct[0] <= best[0]:
                    eta, de, f0, f1 = direct
                    if limit < math.inf and eta > limit:
                        eta = math.inf
                    out.append((eta, de, f0, [], de, f1, True))
                    continue
            eta, first, first_from, x = best
            if not (eta <= limit) or math.isinf(eta):
                out.append((math.inf, -1, math.nan, [], -1, math.nan, False))
                continue
            nodes = [x]
            p = pred(x if row is None else row(x))
            while p != entry_row:
                nodes.append(p if within is None else within(p))
                p = pred(p)
            last, last_to = -1, math.nan
            if not dest_at_node:
                if nodes[-1] == dest_tail:
                    last, last_to = dest_edge, dest_f
                else:
                    last, last_to = dest_twin, 1.0 - dest_f
            out.append((eta, first, first_from, nodes, last, last_to, False))
        return out

    def _best_direct(
        self, edge: int, frac: float, node: int, twin: int
    ) -> tuple[float, int, float, float] | None:
        if node >= 0 or self.dest.node is not None:
            return None
        tt = self.arrays.travel_time_s
        best = None
        starts = [(edge, frac)] + ([(twin, 1.0 - frac)] if twin >= 0 else [])
        for se, sf in starts:
            for de, df in self._dest_edges():
                if se == de and sf <= df:
                    eta = (df - sf) * float(tt[de])
                    if best is None or eta < best[0]:
                        best = (eta, de, sf, df)
        return best

    def _traced_lengths_m(
        self, origins: SnapArrays, rows: Sequence[int]
    ) -> NDArray[np.float64]:
        # lengths_m for trees that trace a node's trip themselves (the overlay's, the
        # hierarchy's): _to_dest(x) gives (length, entry) of node x's trip, _time(x) its time.
        a = self.arrays
        tt, ln = a.travel_time_s, a.length_m
        ends = {de for de, _ in self._dest_edges()} if self.dest.node is None else set()
        out = np.empty(len(rows))
        for i, row in enumerate(rows):
            edge, frac = int(origins.edge[row]), float(origins.fraction[row])
            node, twin = int(origins.node[row]), int(origins.twin[row])
            if node >= 0:
                twin = -1
                options = [(float(self.times_at(np.array([node]))[0]), -1, math.nan, node)]
            else:
                x = int(a.v[edge])
                options = [((1.0 - frac) * float(tt[edge]) + self._time(x), edge, frac, x)]
                if twin >= 0:
                    y = int(a.v[twin])
                    options.append((frac * float(tt[twin]) + self._time(y), twin, 1.0 - frac, y))
            best = min(options, key=lambda o: o[0])
            direct = (
                self._best_direct(edge, frac, node, twin)
                if (edge in ends or twin in ends)
                else None
            )
            if direct is not None and direct[0] <= best[0]:
                _, de, f0, f1 = direct
                out[i] = (f1 - f0) * float(ln[de])
                continue
            eta, first, first_from, x = best
            if not eta <= self.limit_s:
                out[i] = math.inf
                continue
            total, entry = self._to_dest(x)
            if first >= 0:
                total += (1.0 - first_from) * float(ln[first])
            if self.dest.node is None:
                if entry == int(a.u[self.dest.edge]):
                    total += self.dest.fraction * float(ln[self.dest.edge])
                else:
                    total += (1.0 - self.dest.fraction) * float(ln[self.dest_twin])
            out[i] = total
        return out

    def lengths_m(self, origins: SnapArrays, rows: Sequence[int]) -> NDArray[np.float64]:
        """Return the driven length of each given origin row's fastest trip, metres."""
        return self._distances(self._legs(origins, rows))

    def distances_m(self, legs: Sequence[Leg]) -> NDArray[np.float64]:
        """Return the driven length of each leg, metres (``inf`` for no route)."""
        return self._distances(
            [
                (g.eta_s, g.first_edge, g.first_from, g.nodes, g.last_edge, g.last_to, g.direct)
                for g in legs
            ]
        )

    def _distances(self, legs: Sequence[_LegParts]) -> NDArray[np.float64]:
        ln = self.arrays.length_m
        length = ln.item
        out = np.empty(len(legs))
        tails: list[int] = []
        heads: list[int] = []
        owner: list[int] = []
        for i, (eta, first_edge, first_from, nodes, last_edge, last_to, direct) in enumerate(legs):
            if math.isinf(eta):
                out[i] = math.inf
                continue
            if direct:
                out[i] = (last_to - first_from) * length(last_edge)
                continue
            dist = 0.0
            if first_edge >= 0:
                dist += (1.0 - first_from) * length(first_edge)
            if last_edge >= 0:
                dist += last_to * length(last_edge)
            out[i] = dist
            if len(nodes) > 1:
                tails.extend(nodes[:-1])
                heads.extend(nodes[1:])
                owner.extend([i] * (len(nodes) - 1))
        if tails:
            edges = self.graph.edges_between(
                np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64)
            )
            out += np.bincount(np.array(owner), weights=ln[edges], minlength=len(legs))
        return out

    def route(self, start: Snap, segments: SegmentIndex) -> Route:
        """Return the fastest route from ``start`` with its shape (``Route(inf, inf, ())``)."""
        leg = self.legs(snap_row(start), [0])[0]
        if math.isinf(leg.eta_s):
            return Route(math.inf, math.inf, ())
        a = self.arrays
        dist = float(self.distances_m([leg])[0])
        p0 = (start.lat, start.lng)
        p1 = (self.dest.lat, self.dest.lng)
        if leg.direct:
            coords = [p0, *segments.edge_coords(leg.first_edge, leg.first_from, leg.last_to), p1]
            return Route(leg.eta_s, dist, _dedupe(coords))
        coords = [p0]
        if leg.first_edge >= 0:
            coords += segments.edge_coords(leg.first_edge, leg.first_from, 2.0)
        coords.append(_node_pt(a, leg.nodes[0]))
        if len(leg.nodes) > 1:
            edges = self.graph.edges_between(
                np.array(leg.nodes[:-1], dtype=np.int64), np.array(leg.nodes[1:], dtype=np.int64)
            )
            for e, x in zip(edges.tolist(), leg.nodes[1:], strict=True):
                coords += segments.edge_coords(e, -1.0, 2.0)
                coords.append(_node_pt(a, x))
        if leg.last_edge >= 0:
            coords += segments.edge_coords(leg.last_edge, -1.0, leg.last_to)
        coords.append(p1)
        return Route(leg.eta_s, dist, _dedupe(coords))


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
