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

(These three are :class:`~kayou_dispatch.network.overlay_tree.OverlayTree`.) Every search
is bounded at the same limit, so (as with plain Dijkstra) every time up to the
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

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network._persist import narrow
from kayou_dispatch.network.paths import CSRGraph

try:  # h3's compiled core: the same function as the public API, one call layer less
    from h3._cy import latlng_to_cell as _latlng_to_cell
except ImportError:  # pragma: no cover - layout of another h3 release
    from h3.api.basic_int import latlng_to_cell as _latlng_to_cell

__all__ = ["CellOverlay", "OVERLAY_VERSION"]

#: Version of the overlay's layout, part of the saved network's fingerprint.
OVERLAY_VERSION = 2

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
        self.perm = narrow(np.argsort(self.cell_of, kind="stable"))
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
        in_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pos[head], minlength=n), out=in_indptr[1:])
        self.in_indptr = narrow(in_indptr)
        self.in_indices = self.local[tail].astype(np.int32)
        self.in_data = np.ascontiguousarray(w, dtype=np.float64)
        self.in_edge = narrow(e)
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
        self.bnd_nodes = nodes.astype(np.int64)
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
