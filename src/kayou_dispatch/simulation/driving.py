"""Drive simulated vehicles over the road graph: fastest-route trees, bounded routes, reach.

:class:`RoadGraph` is the simulator's own view of a :class:`~kayou_dispatch.network.RoadNetwork`
as sparse matrices (scipy's Dijkstra), built once per network and process:

- :meth:`RoadGraph.next_edges` gives, for a few destination nodes (trip hubs, depots), the
  edge a vehicle takes at every node to follow a fastest route there (one reverse search
  per destination, so a fleet on trips needs no per-trip search);
- :meth:`RoadGraph.route` gives the edges and the time of a fastest route from a point on
  an edge to a point on another, searching only as far as a bound;
- :meth:`RoadGraph.reach_s` gives, for points on the roads, the fastest time from the
  nearest of many snapped starts (one multi-source search): the coverage probe's engine.

Trips follow the arithmetic of :mod:`kayou_dispatch.network.trips`: from a snap at
fraction ``f`` of edge ``u -> v`` a vehicle drives ``(1 - f) * tt`` to ``v`` (or, when the
snap may leave along the twin, ``f * tt_twin`` to ``u``); it reaches fraction ``g`` of edge
``a -> b`` from ``a`` in ``g * tt`` (or from ``b`` along the twin in ``(1 - g) * tt_twin``);
on one edge, a start before the point drives straight to it. Parallel edges keep their
fastest one, as a Dijkstra over the edge list would.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch.network import RoadNetwork

__all__ = ["RoadGraph"]


class RoadGraph:
    """A road network as forward and reverse sparse graphs of edge travel times.

    Parameters
    ----------
    network
        The roads.
    min_edge_s
        Edges faster than this take this long (a simulated vehicle needs time to cross
        even a zero-length edge); ``0`` keeps the network's times exactly.
    """

    def __init__(self, network: RoadNetwork, *, min_edge_s: float = 0.0) -> None:
        a = network.arrays
        self.network = network
        self.n = n = network.n_nodes
        self.u = a.u
        self.v = a.v
        self.tt = np.maximum(a.travel_time_s, min_edge_s)
        self.twin = network.edge_twin
        # The fastest of parallel edges stands for all of them (csr_matrix would add them).
        order = np.lexsort((self.tt, a.v, a.u))
        key = a.u[order] * n + a.v[order]
        first = np.r_[True, key[1:] != key[:-1]]
        self._edge = order[first]
        self._key = key[first]
        uu, vv, ww = a.u[self._edge], a.v[self._edge], self.tt[self._edge]
        self.forward = csr_matrix((ww, (uu, vv)), shape=(n, n))
        self.reverse = csr_matrix((ww, (vv, uu)), shape=(n, n))
        # A copy of the forward graph with one extra row: a virtual source whose entries
        # (rewritten per search) lead to the starts, at their offsets.
        self._cap = 0
        self._virtual: csr_matrix | None = None

    def edge_between(self, tails: NDArray[np.int64], heads: NDArray[np.int64]) -> NDArray[np.int64]:
        """Return the fastest edge from ``tails[i]`` to ``heads[i]`` (both must be joined)."""
        k = np.searchsorted(self._key, np.asarray(tails) * self.n + np.asarray(heads))
        out: NDArray[np.int64] = self._edge[k]
        return out

    def next_edges(self, targets: NDArray[np.int64]) -> NDArray[np.int64]:
        """Return ``(len(targets), n_nodes)``: the edge to take at each node towards each target.

        ``-1`` at the target itself and where the target cannot be reached.
        """
        targets = np.asarray(targets, dtype=np.int64)
        out = np.full((targets.size, self.n), -1, dtype=np.int64)
        if not targets.size:
            return out
        _, pred = dijkstra(self.reverse, directed=True, indices=targets, return_predecessors=True)
        for i in range(targets.size):
            nodes = np.flatnonzero(pred[i] >= 0)
            out[i, nodes] = self.edge_between(nodes, pred[i, nodes].astype(np.int64))
        return out

    def route(
        self,
        edge: int,
        pos_s: float,
        target_edge: int,
        target_fraction: float,
        *,
        limit_s: float = math.inf,
    ) -> tuple[float, list[int], float]:
        """Return ``(seconds, edges, fraction)`` of a fastest route from ``pos_s`` into ``edge``.

        The route ends at ``target_fraction`` of ``target_edge`` or at the same point of its
        twin (``1 - target_fraction`` of the other direction of a two-way road): ``edges``
        starts with ``edge`` and ends with the edge the target lies on, ``fraction`` is
        where on it. A vehicle keeps its direction (no turning on the spot). ``inf``, ``[]``
        when the target is farther than ``limit_s``.
        """
        tt = self.tt
        g = float(np.clip(target_fraction, 0.0, 1.0))
        best: tuple[float, list[int], float] = (math.inf, [edge], g)
        ends = [(target_edge, g)]
        tw = int(self.twin[target_edge])
        if tw >= 0:
            ends.append((tw, 1.0 - g))
        for e_end, frac in ends:
            if e_end == edge and pos_s <= frac * tt[e_end]:
                t = frac * tt[e_end] - pos_s
                if t < best[0]:
                    best = (t, [edge], frac)
        head = int(self.v[edge])
        lead = float(tt[edge]) - pos_s
        if lead < min(best[0], limit_s):
            dist, pred = dijkstra(
                self.forward,
                directed=True,
                indices=head,
                limit=max(0.0, limit_s - lead),
                return_predecessors=True,
            )
            for e_end, frac in ends:
                a = int(self.u[e_end])
                t = lead + float(dist[a]) + frac * float(tt[e_end])
                if t < best[0]:
                    nodes = [a]
                    while nodes[-1] != head:
                        nodes.append(int(pred[nodes[-1]]))
                    nodes.reverse()
                    path = self.edge_between(np.array(nodes[:-1]), np.array(nodes[1:]))
                    best = (t, [edge, *path.tolist(), e_end], frac)
        if not best[0] <= limit_s:
            return math.inf, [], g
        return best

    def _virtual_graph(self, size: int) -> csr_matrix:
        if self._virtual is None or size > self._cap:
            cap = max(size, 2 * self._cap, 64)
            f = self.forward
            n = self.n
            indptr = np.r_[f.indptr, f.indptr[-1] + cap]
            indices = np.r_[f.indices, np.zeros(cap, dtype=f.indices.dtype)]
            data = np.r_[f.data, np.full(cap, np.inf)]
            self._virtual = csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
            self._cap = cap
        return self._virtual

    def reach_s(
        self,
        starts: Any,
        points: Any,
        *,
        limit_s: float,
    ) -> NDArray[np.float64]:
        """Return, for each snapped point, the fastest time from any snapped start.

        Parameters
        ----------
        starts, points
            :class:`~kayou_dispatch.network.SnapArrays` (``edge``, ``fraction``, ``node``,
            ``twin``); starts with ``edge == -1`` (off the network) are left out.
        limit_s
            Times above it are ``inf`` (the search stops there).
        """
        tt, v = self.tt, self.v
        ok = np.flatnonzero(starts.edge >= 0)
        e = starts.edge[ok]
        f = starts.fraction[ok]
        at_node = starts.node[ok] >= 0
        tw = starts.twin[ok]
        has_twin = (tw >= 0) & ~at_node
        # Where each start joins the graph: the head of its edge, and of the twin if allowed.
        node_a = np.where(at_node, starts.node[ok], v[e])
        off_a = np.where(at_node, 0.0, (1.0 - f) * tt[e])
        twe = np.where(has_twin, tw, 0)
        node_b = v[twe][has_twin]
        off_b = (f * tt[twe])[has_twin]
        nodes = np.r_[node_a, node_b].astype(np.int64)
        offs = np.r_[off_a, off_b]
        n_points = points.edge.size
        out = np.full(n_points, np.inf)
        if nodes.size:
            g = self._virtual_graph(nodes.size)
            lo = g.indptr[self.n]
            g.indices[lo : lo + nodes.size] = nodes
            g.data[lo : lo + nodes.size] = offs
            g.data[lo + nodes.size : lo + self._cap] = np.inf
            dist = dijkstra(g, directed=True, indices=self.n, limit=limit_s)[: self.n]
            pe = points.edge
            pf = points.fraction
            pnode = points.node
            ptw = points.twin
            via_a = dist[self.u[pe]] + pf * tt[pe]
            ptwe = np.where(ptw >= 0, ptw, 0)
            via_b = np.where(ptw >= 0, dist[self.u[ptwe]] + (1.0 - pf) * tt[ptwe], np.inf)
            out = np.where(
                pnode >= 0, dist[np.where(pnode >= 0, pnode, 0)], np.minimum(via_a, via_b)
            )
            # Starts on a point's own edge, before it, drive straight there (a start that may
            # leave along its twin is also a start on the twin, at the mirrored fraction).
            free = ~at_node
            se = np.r_[e[free], tw[free & has_twin]]
            sf = np.r_[f[free], 1.0 - f[free & has_twin]]
            for pe_x, pf_x in ((pe, pf), (ptw, 1.0 - pf)):
                hit = np.flatnonzero((pnode < 0) & (pe_x >= 0) & np.isin(pe_x, se))
                for i in hit.tolist():
                    same = (se == pe_x[i]) & (sf <= pf_x[i])
                    if same.any():
                        direct = float(((pf_x[i] - sf[same]) * tt[pe_x[i]]).min())
                        out[i] = min(out[i], direct)
            out[out > limit_s] = np.inf
        return out
