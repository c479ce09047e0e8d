"""A cell overlay of the road graph: long searches that skip the inside of cells, exactly.

The network's nodes are partitioned by H3 cell (one resolution, chosen so that a cell holds
about ``cell_nodes`` nodes). A cell's *boundary* nodes are the ends of the edges that cross
cells; its *exits* are the tails of the edges that leave it. The overlay graph has one node
per boundary node and two kinds of edge: every crossing edge, and, inside every cell, a
*clique* edge from each boundary node to each exit weighted by the fastest time between them
without leaving the cell (one multi-source scipy Dijkstra per cell at build time). This is
the one-level customizable cell overlay of Delling, Goldberg, Pajor and Werneck (CRP):

1. *Destination cells.* A reverse search inside the cell(s) holding the destination's entry
   nodes gives every node's time to the destination without leaving that cell.
2. *Overlay.* A reverse search over the overlay graph, seeded with those times at the
   destination cells' boundary nodes, gives the exact time from every boundary node to the
   destination: any path from a boundary node decomposes into stretches inside one cell
   (each a clique edge, or the last one, a destination-cell time) joined by crossing edges.
3. *Any other cell, on demand.* A reverse search inside the cell, seeded with its exits'
   overlay times (and, in a destination cell, the destination entries), gives the exact
   time of each of its nodes: a path leaves the cell first at some exit.

Every search is bounded at the same limit, so (as with plain Dijkstra) every time up to the
limit is exact and every other one is reported as ``inf``. A cell's lower bound is its
fastest exit time: a ranking searches the cells holding responders in increasing order of
that bound and stops as soon as the k-th time found beats the next bound
(:mod:`~kayou_dispatch.matching.rank`).

*Exactness.* The times are those of plain Dijkstra up to floating-point rounding: a clique
edge adds a stretch's edge times before the rest of the path is added, so a time may differ
from plain Dijkstra's sum in its last bits (relative error below ``1e-12`` on every network
tested). Route lengths are those of the fastest route the overlay found (where two routes
tie on time, either's length may be reported).

*Cost.* Building: one Dijkstra per cell from each of its boundary nodes, on a subgraph of
``cell_nodes`` nodes — linear in the network for a fixed cell size, about ``B`` times a
cell's search per cell (``B`` boundary nodes). Space: the cells' own reversed subgraphs (the
query path never cuts the network's graph per query) plus ``B x exits`` clique edges per
cell. Queries: a search over the overlay within the limit, then one search per cell whose
responders may still matter. Responders moving never touch it: it is of the roads only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.paths import CSRGraph
from kayou_dispatch.network.snap import Snap, SnapArrays
from kayou_dispatch.network.trips import DestinationTree, dest_entries

try:  # h3's compiled core: the same function as the public API, one call layer less
    from h3._cy import latlng_to_cell as _latlng_to_cell
except ImportError:  # pragma: no cover - layout of another h3 release
    from h3.api.basic_int import latlng_to_cell as _latlng_to_cell

__all__ = ["CellOverlay", "OVERLAY_VERSION", "OverlayTree"]

#: Version of the overlay's layout, part of the saved network's fingerprint.
OVERLAY_VERSION = 1

# Mean area of an H3 cell at each resolution, m^2 (h3.average_hexagon_area(r, "m^2")).
_H3_AREA_M2 = (
    4.357449416078e12, 6.097884417941e11, 8.680178039899e10, 1.239343465508e10,
    1.770347654491e9, 2.529038581609e8, 3.612906216442e7, 5.161293359717e6,
    7.373275975944e5, 1.053325134272e5, 1.504750190766e4, 2.149643129451e3,
    3.070919624235e2, 4.387027994474e1, 6.267181962604e0, 8.953115468741e-1,
)  # fmt: skip


def _cells_of(lat: NDArray[np.float64], lng: NDArray[np.float64], res: int) -> NDArray[np.uint64]:
    out = np.fromiter(
        map(_latlng_to_cell, lat.tolist(), lng.tolist(), [res] * lat.shape[0]),
        dtype=np.uint64,
        count=lat.shape[0],
    )
    return out


def _pick_resolution(lat: NDArray[np.float64], lng: NDArray[np.float64], cell_nodes: int) -> int:
    # The finest resolution whose cells hold at least cell_nodes nodes on average, judged
    # from the area the nodes cover (their bounding box on the sphere).
    n = lat.shape[0]
    if n == 0:
        return 0
    ns = (float(lat.max()) - float(lat.min())) * 111_195.0
    mid = math.radians(0.5 * (float(lat.max()) + float(lat.min())))
    ew = (float(lng.max()) - float(lng.min())) * 111_195.0 * math.cos(mid)
    area = max(ns, 1.0) * max(ew, 1.0)
    want = area * cell_nodes / n  # the area a cell of cell_nodes nodes covers
    res = 0
    for r, a in enumerate(_H3_AREA_M2):
        if a >= want:
            res = r
    return res


def _lengths_along(pred: NDArray[np.int32], step_len: NDArray[np.float64]) -> NDArray[np.float64]:
    # Length from each search's source to every node along the search tree, by pointer
    # doubling: step_len[i, v] is the length of the tree edge into v (0 at a source).
    acc = step_len.copy()
    anc = pred.astype(np.int64)
    rows = np.arange(pred.shape[0])[:, None]
    while True:
        live = anc >= 0
        if not live.any():
            return acc
        a = np.where(live, anc, 0)
        acc = acc + np.where(live, acc[rows, a], 0.0)
        anc = np.where(live, anc[rows, a], -1)


class CellOverlay:
    """A one-level cell overlay of a road graph (see the module docstring).

    Parameters
    ----------
    arrays, graph
        The network's arrays and sparse graphs.
    cell_nodes
        About how many nodes a cell holds (picks the H3 resolution). Ignored when
        ``resolution`` is given.
    resolution
        The H3 resolution of the cells (0-15).
    progress
        Show a progress bar over the cells while building.

    Raises
    ------
    InvalidParameterError
        When ``cell_nodes`` is not a whole number >= 1 or ``resolution`` not in 0-15.
    """

    #: The arrays a saved overlay must hold (besides ``over``, the overlay graph).
    FIELDS = (
        "bnd_exit", "bnd_nodes", "bnd_of", "bnd_ptr", "cell_of", "cell_ptr", "h3_cells",
        "in_data", "in_edge", "in_indices", "in_indptr", "local", "nbr_cells", "nbr_ptr",
        "over_len", "perm",
    )  # fmt: skip

    over: csr_matrix  # the reversed overlay graph, its last row virtual (seeds)
    over_len: NDArray[np.float64]  # the length behind each of its entries

    def __init__(
        self,
        arrays: EdgeArrays,
        graph: CSRGraph,
        *,
        cell_nodes: int = 3000,
        resolution: int | None = None,
        progress: bool = False,
    ) -> None:
        if resolution is None:
            if isinstance(cell_nodes, bool) or not isinstance(cell_nodes, int) or cell_nodes < 1:
                msg = f"cell_nodes must be a whole number >= 1, got {cell_nodes!r}"
                raise InvalidParameterError(msg, name="cell_nodes", value=cell_nodes)
            resolution = _pick_resolution(arrays.lat, arrays.lng, cell_nodes)
        elif (
            isinstance(resolution, bool)
            or not isinstance(resolution, int)
            or not (0 <= resolution <= 15)
        ):
            msg = f"resolution must be an H3 resolution 0-15, got {resolution!r}"
            raise InvalidParameterError(msg, name="resolution", value=resolution)
        n = graph.n
        self.resolution = resolution
        h3cells, cell_of = np.unique(
            _cells_of(arrays.lat, arrays.lng, resolution), return_inverse=True
        )
        self.h3_cells = h3cells
        self.cell_of = cell_of.astype(np.int32)
        c = h3cells.shape[0]
        counts = np.bincount(self.cell_of, minlength=c)
        self.cell_ptr = np.zeros(c + 1, dtype=np.int64)
        np.cumsum(counts, out=self.cell_ptr[1:])
        self.perm = np.argsort(self.cell_of, kind="stable").astype(np.int64)
        pos = np.empty(n, dtype=np.int64)
        pos[self.perm] = np.arange(n, dtype=np.int64)
        # A node's position inside its cell.
        self.local = (pos - self.cell_ptr[self.cell_of]).astype(np.int32)
        self._build_cells(graph, pos)
        self._build_overlay(arrays, graph, progress)
        self._runtime()

    def _runtime(self) -> None:
        self._lock = threading.Lock()
        o = self.over
        if not (o.data.flags.writeable and o.indices.flags.writeable):
            # Restored from a mapped file: the virtual row is patched per search.
            self.over = csr_matrix((o.data.copy(), o.indices.copy(), o.indptr), shape=o.shape)

    # --- build ------------------------------------------------------------------------

    def _build_cells(self, graph: CSRGraph, pos: NDArray[np.int64]) -> None:
        # Every cell's reversed subgraph (the edges inside it), rows and columns in the
        # cell's own numbering, concatenated cell after cell.
        r = graph.reverse
        n = graph.n
        head = np.repeat(np.arange(n, dtype=np.int64), np.diff(r.indptr))
        tail = r.indices.astype(np.int64)
        inside = self.cell_of[head] == self.cell_of[tail]
        head, tail = head[inside], tail[inside]
        w, e = r.data[inside], graph.reverse_edge[inside]
        order = np.lexsort((pos[tail], pos[head]))
        head, tail, w, e = head[order], tail[order], w[order], e[order]
        self.in_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pos[head], minlength=n), out=self.in_indptr[1:])
        self.in_indices = self.local[tail].astype(np.int32)
        self.in_data = np.ascontiguousarray(w, dtype=np.float64)
        self.in_edge = e.astype(np.int64)
        # Boundary nodes, grouped by cell (each cell's in node order); exits among them.
        f = graph.forward
        ftail = np.repeat(np.arange(n, dtype=np.int64), np.diff(f.indptr))
        fhead = f.indices.astype(np.int64)
        cross = self.cell_of[ftail] != self.cell_of[fhead]
        is_exit = np.zeros(n, dtype=bool)
        is_exit[ftail[cross]] = True
        bnd = np.zeros(n, dtype=bool)
        bnd[ftail[cross]] = True
        bnd[fhead[cross]] = True
        nodes = self.perm[bnd[self.perm]]  # by cell, then node
        self.bnd_nodes = nodes
        self.bnd_exit = is_exit[nodes]
        self.bnd_ptr = np.zeros(self.h3_cells.shape[0] + 1, dtype=np.int64)
        per_cell = np.bincount(self.cell_of[nodes], minlength=self.h3_cells.shape[0])
        np.cumsum(per_cell, out=self.bnd_ptr[1:])
        self.bnd_of = np.full(n, -1, dtype=np.int32)
        self.bnd_of[nodes] = np.arange(nodes.shape[0], dtype=np.int32)
        self._cross = (ftail[cross], fhead[cross], f.data[cross], graph.forward_edge[cross])
        # Each cell's in-neighbours: the cells an edge into it comes from (sorted, unique).
        c = self.h3_cells.shape[0]
        pairs = np.unique(
            self.cell_of[fhead[cross]].astype(np.int64) * c + self.cell_of[ftail[cross]]
        )
        self.nbr_cells = (pairs % c).astype(np.int32)
        self.nbr_ptr = np.searchsorted(pairs // c, np.arange(c + 1)).astype(np.int64)

    def cell_graph(
        self, c: int, seeds: NDArray[np.int64], offsets: NDArray[np.float64]
    ) -> csr_matrix:
        """Cell ``c``'s reversed subgraph plus a virtual row (the last) to these seeds."""
        a, b = int(self.cell_ptr[c]), int(self.cell_ptr[c + 1])
        lo, hi = int(self.in_indptr[a]), int(self.in_indptr[b])
        nc = b - a
        indptr = np.empty(nc + 2, dtype=np.int32)
        indptr[: nc + 1] = self.in_indptr[a : b + 1] - lo
        indptr[nc + 1] = hi - lo + seeds.shape[0]
        return csr_matrix(
            (
                np.concatenate([self.in_data[lo:hi], offsets]),
                np.concatenate([self.in_indices[lo:hi], seeds.astype(np.int32)]),
                indptr,
            ),
            shape=(nc + 1, nc + 1),
        )

    def _build_overlay(self, arrays: EdgeArrays, graph: CSRGraph, progress: bool) -> None:
        c_count = self.h3_cells.shape[0]
        length = arrays.length_m
        tails: list[NDArray[np.int64]] = []
        heads: list[NDArray[np.int64]] = []
        weights: list[NDArray[np.float64]] = []
        lens: list[NDArray[np.float64]] = []
        cells = range(c_count)
        if progress:
            from tqdm import tqdm

            cells = tqdm(cells, desc="cell overlay", unit="cell")
        for c in cells:
            lo, hi = int(self.bnd_ptr[c]), int(self.bnd_ptr[c + 1])
            if hi - lo < 2:
                continue
            bl = self.local[self.bnd_nodes[lo:hi]].astype(np.int64)
            ex = np.flatnonzero(self.bnd_exit[lo:hi])
            if not ex.size:
                continue
            rev = self.cell_graph(c, np.zeros(0, dtype=np.int64), np.zeros(0))
            nc = rev.shape[0] - 1
            fwd = rev[:nc, :nc].T.tocsr()
            fwd.sort_indices()
            dist, pred = dijkstra(fwd, directed=True, indices=bl, return_predecessors=True)
            # The length of the tree edge into each node: the edge pred -> v inside the cell.
            a = int(self.cell_ptr[c])
            e_in = self.in_edge[int(self.in_indptr[a]) : int(self.in_indptr[a + nc])]
            rows_r = np.repeat(np.arange(nc, dtype=np.int64), np.diff(rev.indptr[: nc + 1]))
            # Reversed row = head, column = tail: key tail * nc + head, sorted for lookup.
            key = rev.indices[: e_in.shape[0]].astype(np.int64) * nc + rows_r
            korder = np.argsort(key)
            key, e_sorted = key[korder], e_in[korder]
            has = pred >= 0
            q = np.where(has, pred, 0).astype(np.int64) * nc + np.arange(nc)[None, :]
            k = np.minimum(np.searchsorted(key, q), key.shape[0] - 1) if key.size else q * 0
            step = np.where(has, length[e_sorted[k]] if key.size else 0.0, 0.0)
            along = _lengths_along(np.where(has, pred, -1).astype(np.int32), step)
            w = dist[:, bl[ex]]
            ln = along[:, bl[ex]]
            src = np.repeat(self.bnd_nodes[lo:hi], ex.size)
            dst = np.tile(self.bnd_nodes[lo:hi][ex], hi - lo)
            w, ln = w.ravel(), ln.ravel()
            ok = np.isfinite(w) & (src != dst)
            tails.append(src[ok])
            heads.append(dst[ok])
            weights.append(w[ok])
            lens.append(ln[ok])
        ct, ch, cw, ce = self._cross
        del self._cross
        tails.append(ct)
        heads.append(ch)
        weights.append(cw)
        lens.append(length[ce])
        t = self.bnd_of[np.concatenate(tails)].astype(np.int64)
        h = self.bnd_of[np.concatenate(heads)].astype(np.int64)
        w = np.concatenate(weights)
        ln = np.concatenate(lens)
        nb = self.bnd_nodes.shape[0]
        # Reversed: row = head, column = tail; one entry per pair (fastest, then shortest).
        order = np.lexsort((ln, w, t, h))
        t, h, w, ln = t[order], h[order], w[order], ln[order]
        first = np.ones(t.shape[0], dtype=bool)
        first[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
        t, h, w, ln = t[first], h[first], w[first], ln[first]
        sizes = np.diff(self.bnd_ptr)
        self.seed_cap = int(2 * sizes.max()) if sizes.size else 0
        cap = self.seed_cap
        indptr = np.zeros(nb + 2, dtype=np.int32)
        np.cumsum(np.bincount(h, minlength=nb), out=indptr[1 : nb + 1])
        indptr[nb + 1] = indptr[nb] + cap
        self.over = csr_matrix(
            (
                np.concatenate([w, np.zeros(cap)]),
                np.concatenate([t.astype(np.int32), np.full(cap, nb, dtype=np.int32)]),
                indptr,
            ),
            shape=(nb + 1, nb + 1),
        )
        self.over_len = np.concatenate([ln, np.zeros(cap)])

    # --- facts ------------------------------------------------------------------------

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.h3_cells.shape[0])

    @property
    def n_boundary(self) -> int:
        """Number of boundary nodes (the overlay graph's nodes)."""
        return int(self.bnd_nodes.shape[0])

    @property
    def n_overlay_edges(self) -> int:
        """Number of overlay edges (crossing edges and clique edges)."""
        return int(self.over.indptr[-2])

    def nbytes(self) -> int:
        """Bytes held by the overlay's arrays."""
        total = 0
        for v in vars(self).values():
            if isinstance(v, np.ndarray):
                total += v.nbytes
            elif isinstance(v, csr_matrix):
                total += v.data.nbytes + v.indices.nbytes + v.indptr.nbytes
        return total

    def search_overlay(
        self, seeds: NDArray[np.int64], offsets: NDArray[np.float64], limit_s: float
    ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        """Reverse search over the overlay from boundary rows ``seeds`` (with offsets).

        Returns every boundary node's time (``inf`` past ``limit_s``) and the next overlay
        row towards the destination (``n_boundary`` at a seed taken directly, negative
        where unreached).
        """
        nb = self.bnd_nodes.shape[0]
        m = seeds.shape[0]
        if m > self.seed_cap:  # pragma: no cover - two cells hold at most seed_cap
            msg = "more overlay seeds than the virtual row holds"
            raise InvalidParameterError(msg, name="seeds", value=m)
        with self._lock:
            g = self.over
            cap = self.seed_cap
            ind, dat = g.indices, g.data
            ind[ind.shape[0] - cap :] = nb
            dat[dat.shape[0] - cap :] = 0.0
            end = ind.shape[0] - cap + m
            ind[ind.shape[0] - cap : end] = seeds
            dat[dat.shape[0] - cap : end] = offsets
            dist, pred = dijkstra(
                g, directed=True, indices=nb, limit=limit_s, return_predecessors=True
            )
        return dist[:nb], pred[:nb]

    def edge_length(self, row: int, col: int) -> float:
        """Length of the overlay edge ``col -> row`` (reversed row ``row``), metres."""
        g = self.over
        lo, hi = int(g.indptr[row]), int(g.indptr[row + 1])
        k = lo + int(np.searchsorted(g.indices[lo:hi], col))
        return float(self.over_len[k])


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
        self.arrays = arrays
        self.graph = graph
        self.twins = twins
        self.dest = dest
        self.limit_s = limit_s
        self.pred = None
        self._within = None
        self.overlay = ov = overlay
        self.entries, self.dest_twin = dest_entries(arrays, twins, dest)
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
        out: NDArray[np.int64] = ov.perm[int(ov.cell_ptr[c]) : int(ov.cell_ptr[c + 1])]
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
        edge = ov.in_edge[lo + at] if keys.size else np.zeros(nc, dtype=np.int64)
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

    def _time(self, node: int) -> float:
        return float(self.times_at(np.array([node], dtype=np.int64))[0])
