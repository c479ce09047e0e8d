"""Answer a search towards a destination through a :class:`~kayou_dispatch.network.CellOverlay`.

:class:`OverlayTree` is a :class:`~kayou_dispatch.network.trips.DestinationTree` whose times
come from the overlay (see :mod:`~kayou_dispatch.network.overlay` for the method and its
exactness): the destination's cells and the overlay are searched at once, every other cell
only when a time of one of its nodes is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.overlay import CellOverlay, _lengths_along
from kayou_dispatch.network.paths import CSRGraph
from kayou_dispatch.network.snap import Snap, SnapArrays
from kayou_dispatch.network.trips import DestinationTree

__all__ = ["OverlayTree"]


class OverlayTree(DestinationTree):
    """A :class:`~kayou_dispatch.network.trips.DestinationTree` answered by a :class:`CellOverlay`.

    The destination cells and the overlay are searched at once (bounded at ``limit_s``);
    every other cell only when a time of one of its nodes is asked for (:meth:`times_at`).
    :meth:`cell_bounds` tells which cells can hold a node within the limit, and the least
    time any of their nodes can have.
    """

    def __init__(
        self,
        arrays: EdgeArrays,
        graph: CSRGraph,
        twins: NDArray[np.int64],
        overlay: CellOverlay,
        dest: Snap,
        *,
        limit_s: float = math.inf,
    ) -> None:
        self._aim(arrays, graph, twins, dest, limit_s, None)
        self.pred = None
        self.overlay = ov = overlay
        self.cells_searched = 0
        # Destination cells: their entry seeds, and a search inside each.
        self._dest_seeds: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
        for node, off in self.entries:
            c = int(ov.cell_of[node])
            s, o = self._dest_seeds.get(c, (np.zeros(0, np.int64), np.zeros(0)))
            self._dest_seeds[c] = (
                np.append(s, int(ov.local[node])),
                np.append(o, off),
            )
        self._inner = {c: self._search(c, s, o) for c, (s, o) in self._dest_seeds.items()}
        rows: list[NDArray[np.int64]] = []
        labels: list[NDArray[np.float64]] = []
        for c, (dist, _) in self._inner.items():
            lo, hi = int(ov.bnd_ptr[c]), int(ov.bnd_ptr[c + 1])
            d = dist[ov.local[ov.bnd_nodes[lo:hi]]]
            ok = np.flatnonzero(d <= limit_s)
            rows.append(lo + ok)
            labels.append(d[ok])
        self._over, self._over_pred = ov.search_overlay(
            np.concatenate(rows), np.concatenate(labels), limit_s
        )
        self._done: dict[int, tuple[NDArray[np.float64], NDArray[np.int32]]] = {}
        self._paths: dict[tuple[int, int], tuple[NDArray[np.float64], NDArray[np.int64]]] = {}
        self._nbr_lb = np.zeros(ov.n_cells)  # safe until cell_bounds sets it
        self._bounds: dict[int, NDArray[np.float64]] = {}

    def _search(
        self, c: int, seeds: NDArray[np.int64], offsets: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        # One reverse search inside cell c from a virtual node joined to the seeds.
        ov = self.overlay
        nc = int(ov.cell_ptr[c + 1] - ov.cell_ptr[c])
        if not seeds.size:
            return np.full(nc, math.inf), np.full(nc, -9999, dtype=np.int32)
        self.cells_searched += 1
        g = ov.cell_graph(c, seeds, offsets)
        dist, pred = dijkstra(
            g, directed=True, indices=nc, limit=self.limit_s, return_predecessors=True
        )
        return dist[:nc], pred[:nc]

    def _cell(self, c: int) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        # Every node of cell c: its exits' overlay times, and the destination if it is here.
        found = self._done.get(c)
        if found is None:
            ov = self.overlay
            lo, hi = int(ov.bnd_ptr[c]), int(ov.bnd_ptr[c + 1])
            rows = lo + np.flatnonzero(ov.bnd_exit[lo:hi])
            d = self._over[rows]
            ok = d <= self.limit_s
            seeds, offs = ov.local[ov.bnd_nodes[rows[ok]]].astype(np.int64), d[ok]
            if c in self._dest_seeds:
                s, o = self._dest_seeds[c]
                seeds, offs = np.concatenate([seeds, s]), np.concatenate([offs, o])
            found = self._done[c] = self._search(c, seeds, offs)
        return found

    def _per_cell(
        self, nodes: NDArray[np.int64], of_cell: Callable[[int], NDArray[np.float64]]
    ) -> NDArray[np.float64]:
        # Each node's entry of its cell's array (one call of of_cell per cell met).
        ov = self.overlay
        out = np.empty(nodes.shape[0])
        if not nodes.size:
            return out
        cells = ov.cell_of[nodes]
        order = np.argsort(cells, kind="stable")
        cuts = np.flatnonzero(np.diff(cells[order])) + 1
        for part in np.split(order, cuts):
            out[part] = of_cell(int(cells[part[0]]))[ov.local[nodes[part]]]
        return out

    def times_at(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return the fastest time from each of these nodes to the destination (``inf``: none)."""
        return self._per_cell(nodes, lambda c: self._cell(c)[0])

    def cell_bounds(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The cells that may hold a trip within the limit, by increasing lower bound.

        A cell's own bound is its fastest exit's time (0 for a destination cell): no node
        of it is faster. A trip from a road *entering* a cell may start by driving back
        along the road's twin into the cell it came from, so the bound given for a cell is
        the least of its own and its in-neighbours' (the cells an edge into it comes from):
        no responder filed under one of its nodes (the head of its road) is faster.
        """
        ov = self.overlay
        own = np.full(ov.n_cells, math.inf)
        rows = np.flatnonzero(ov.bnd_exit & (self._over <= self.limit_s))
        np.minimum.at(own, ov.cell_of[ov.bnd_nodes[rows]], self._over[rows])
        own[list(self._dest_seeds)] = 0.0
        lb = own.copy()
        has = np.flatnonzero(np.diff(ov.nbr_ptr) > 0)
        if has.size:
            nbr = np.minimum.reduceat(own[ov.nbr_cells], ov.nbr_ptr[has])
            lb[has] = np.minimum(lb[has], nbr)
        self._nbr_lb = np.full(ov.n_cells, math.inf)
        if has.size:
            self._nbr_lb[has] = nbr
        cells = np.flatnonzero(lb <= self.limit_s)
        order = np.argsort(lb[cells], kind="stable")
        return cells[order], lb[cells[order]]

    def bounds_in(self, c: int) -> NDArray[np.float64]:
        """A lower bound, per node of cell ``c``, on a trip from a road whose head it is.

        Such a trip starts at that node or at the road's tail (driving back along the
        twin): the least time of the node and its in-neighbours (exact inside the cell;
        for a neighbour in another cell, that cell's bound). Needs :meth:`cell_bounds`.
        """
        ov = self.overlay
        dist, _ = self._cell(c)
        base = int(ov.cell_ptr[c])
        nc = dist.shape[0]
        lo = int(ov.in_indptr[base])
        counts = np.diff(ov.in_indptr[base : base + nc + 1])
        out = dist.copy()
        rows = np.flatnonzero(counts)
        if rows.size:
            # Reversed row v holds the tails u of the edges u -> v inside the cell.
            starts = (ov.in_indptr[base + rows] - lo).astype(np.int64)
            cols = ov.in_indices[lo : lo + int(counts.sum())]
            out[rows] = np.minimum(out[rows], np.minimum.reduceat(dist[cols], starts))
        b0, b1 = int(ov.bnd_ptr[c]), int(ov.bnd_ptr[c + 1])
        edge_nodes = ov.local[ov.bnd_nodes[b0:b1]]
        out[edge_nodes] = np.minimum(out[edge_nodes], self._nbr_lb[c])
        return out

    def bounds_at(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """:meth:`bounds_in` of each of these nodes (their cells searched as needed)."""

        def of_cell(c: int) -> NDArray[np.float64]:
            b = self._bounds.get(c)
            if b is None:
                b = self._bounds[c] = self.bounds_in(c)
            return b

        return self._per_cell(nodes, of_cell)

    def cell_nodes(self, c: int) -> NDArray[np.int64]:
        """The nodes of cell ``c`` (network numbering)."""
        ov = self.overlay
        out: NDArray[np.int64] = ov.perm[int(ov.cell_ptr[c]) : int(ov.cell_ptr[c + 1])].astype(
            np.int64
        )
        return out

    def reached_nodes(self) -> NDArray[np.int64]:
        """The nodes within the limit, of the cells searched so far (network numbering)."""
        parts = [self.cell_nodes(c)[d <= self.limit_s] for c, (d, _) in self._done.items()]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    # --- lengths ----------------------------------------------------------------------

    def _in_cell_path(self, c: int, p: int, pred: NDArray[np.int32]) -> tuple[float, int]:
        # A cell search's tree from local node p to its seed: (length, seed local). The
        # lengths of every node of the search are found at once (pointer doubling) and kept.
        key = (c, id(pred))
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = self._tree_lengths(c, pred)
        length, seed = found
        return float(length[p]), int(seed[p])

    def _tree_lengths(
        self, c: int, pred: NDArray[np.int32]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        ov = self.overlay
        base = int(ov.cell_ptr[c])
        nc = int(ov.cell_ptr[c + 1]) - base
        lo = int(ov.in_indptr[base])
        indptr = ov.in_indptr[base : base + nc + 1] - lo
        rows = np.repeat(np.arange(nc, dtype=np.int64), np.diff(indptr))
        # Reversed rows are heads: the step p -> pred[p] is row pred[p], column p.
        keys = rows * nc + ov.in_indices[lo : lo + rows.shape[0]]
        q = pred.astype(np.int64)
        real = (q >= 0) & (q < nc)
        at = np.searchsorted(keys, np.where(real, q, 0) * nc + np.arange(nc))
        at = np.minimum(at, max(keys.shape[0] - 1, 0))
        edge = ov.in_edge[lo + at].astype(np.int64) if keys.size else np.zeros(nc, dtype=np.int64)
        step = np.where(real, self.arrays.length_m[edge], 0.0)
        anc = np.where(real, q, -1)
        length = _lengths_along(anc[None, :].astype(np.int32), step[None, :])[0]
        # The seed each node's path ends at: its root, a seed pointing at itself (doubling).
        seed = np.where(anc >= 0, anc, np.arange(nc, dtype=np.int64))
        while True:
            up = seed[seed]
            if np.array_equal(up, seed):
                return length, seed
            seed = up

    def _to_dest(self, x: int) -> tuple[float, int]:
        # Length of the fastest path from node x to the destination entry it ends at.
        ov = self.overlay
        c = int(ov.cell_of[x])
        dist, pred = self._cell(c)
        total, p = self._in_cell_path(c, int(ov.local[x]), pred)
        s = int(ov.perm[int(ov.cell_ptr[c]) + p])
        for node, off in self.entries:
            if node == s and c in self._dest_seeds and float(dist[p]) == off:
                return total, node
        r = int(ov.bnd_of[s])
        nb = ov.n_boundary
        while True:
            q = int(self._over_pred[r])
            if q == nb:
                break
            total += ov.edge_length(q, r)
            r = q
        s = int(ov.bnd_nodes[r])
        c = int(ov.cell_of[s])
        more, p = self._in_cell_path(c, int(ov.local[s]), self._inner[c][1])
        return total + more, int(ov.perm[int(ov.cell_ptr[c]) + p])

    def lengths_m(self, origins: SnapArrays, rows: Sequence[int]) -> NDArray[np.float64]:
        """Return the driven length of each given origin row's fastest trip, metres."""
        return self._traced_lengths_m(origins, rows)

