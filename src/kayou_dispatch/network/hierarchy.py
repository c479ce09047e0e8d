"""A contraction hierarchy over the road graph, for long rankings (rural incidents).

Contraction hierarchies (Geisberger, Sanders, Schultes and Delling, 2008): nodes are
contracted one by one, least important first; contracting ``v`` adds a *shortcut*
``u -> x`` for each pair of its neighbours whose fastest path runs through ``v`` (unless a
*witness* search finds another path as fast). Every fastest path then has a twin in the
hierarchy that first climbs to higher-ranked nodes and then descends, over far fewer
nodes than plain Dijkstra settles.

A ranking needs the times of *many* unknown origins to one incident, nearest first. The
search here (:func:`~kayou_dispatch.network._ch_kernels.query`) is a reverse Dijkstra with
two states per node: climbing from the incident (the reverse of the descending part of a
path) and descending towards origins (the reverse of their climbing part), pruned to the
nodes above some responder's departure node (``marks``, kept by the
:class:`~kayou_dispatch.matching.SnapCache`: moving responders never touch the hierarchy).
An empty countryside is crossed on a few high-ranked nodes instead of node by node.

Exact: every time is the length of a real path, and every fastest path's climb-descend twin
is searched (property-tested against plain Dijkstra on random graphs and every extract in
``../shared/data``). A shortcut's weight is the sum of its arcs', so a time may differ from
plain Dijkstra's sum of the same edges in its last bits (tested at a relative 1e-12).

Cost: the build is sequential (about a minute per million road nodes compiled; numba, the
``fast`` extra); without numba the same code runs as plain Python, with bit-identical
results, about a hundred times slower. Memory: per arc of the hierarchy 12 bytes (its
other end and weight; an up arc 4 more, filed at both ends), about two arcs per road edge.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import _ch_kernels
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network._persist import narrow
from kayou_dispatch.network.paths import CSRGraph

__all__ = ["ContractionHierarchy", "HIERARCHY_VERSION", "HierarchySearch", "kernels"]

#: Version of the hierarchy's layout; saved hierarchies of another version are refused.
HIERARCHY_VERSION = 2

# A witness search settles at most this many nodes (more: fewer shortcuts, slower build).
_SETTLE_LIMIT = 64

_KERNELS: dict[bool, SimpleNamespace] = {}
_KERNEL_LOCK = threading.Lock()


def _have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def kernels(compiled: bool | None = None) -> SimpleNamespace:
    """Return the hierarchy's kernels: compiled by numba, or the same code as plain Python.

    ``None``: compiled when numba is installed.

    Raises
    ------
    InvalidParameterError
        When ``compiled`` is not a bool or ``None``, or is true without numba installed.
    """
    if compiled is not None and not isinstance(compiled, bool):
        msg = f"compiled must be True, False or None, got {compiled!r}"
        raise InvalidParameterError(msg, name="compiled", value=compiled)
    if compiled is None:
        compiled = _have_numba()
    elif compiled and not _have_numba():
        msg = 'compiled=True needs numba (pip install "kayou-dispatch[fast]")'
        raise InvalidParameterError(msg, name="compiled", value=compiled)
    with _KERNEL_LOCK:
        found = _KERNELS.get(compiled)
        if found is None:
            names = _ch_kernels.__all__
            if compiled:
                found = _compiled_kernels(names)
            else:
                found = SimpleNamespace(**{n: getattr(_ch_kernels, n) for n in names})
            _KERNELS[compiled] = found
    return found


def _compiled_kernels(names: list[str]) -> SimpleNamespace:
    # A second copy of the kernels' module, every function of it compiled (the kernels
    # call the helpers through the module's globals, so those must be compiled too); the
    # module itself stays plain Python.
    import importlib.util

    import numba

    spec = importlib.util.spec_from_file_location(
        f"{_ch_kernels.__name__}_compiled", _ch_kernels.__file__
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # numba's cache finds the module by name
    spec.loader.exec_module(mod)
    jit = numba.njit(cache=True, nogil=True)
    g = vars(mod)
    for name, f in list(g.items()):
        if callable(f) and getattr(f, "__module__", None) == mod.__name__ and name[0] != "@":
            if isinstance(f, type):
                continue
            g[name] = jit(f)
    return SimpleNamespace(**{n: g[n] for n in names})


class HierarchySearch:
    """What one hierarchy search settled: departure nodes by time, and how to trace them.

    ``frontier``: every departure node not in :attr:`nodes` takes at least this long.
    """

    def __init__(
        self,
        ch: ContractionHierarchy,
        frontier: float,
        states: NDArray[np.int64],
        times: NDArray[np.float64],
        parents: NDArray[np.int64],
        found: int,
    ) -> None:
        self._ch = ch
        self.frontier = frontier
        self.found = found
        b = np.flatnonzero(states % 2 == 1)
        nodes = states[b] // 2
        order = np.argsort(nodes, kind="stable")
        self._b_nodes = nodes[order]
        self._b_times = times[b][order]
        # Each settled state's predecessor state and the weight of the arc between (the
        # rows arcs are filed in found at once, for tracing routes).
        self._row_of = {int(st): i for i, st in enumerate(states.tolist())}
        j = np.maximum(parents // 2 - 1, 0)
        is_b = states % 2 == 1
        dn_row = np.searchsorted(ch.dn_ptr, j.astype(ch.dn_ptr.dtype), side="right") - 1
        up_row = np.searchsorted(ch.up_ptr, j.astype(ch.up_ptr.dtype), side="right") - 1
        dn_j = np.minimum(j, max(ch.dn_w.shape[0] - 1, 0))
        up_j = np.minimum(j, max(ch.up_w.shape[0] - 1, 0))
        dn_w = ch.dn_w[dn_j] if ch.dn_w.size else np.zeros(j.shape[0])
        up_w = ch.up_w[up_j] if ch.up_w.size else np.zeros(j.shape[0])
        self._pred = np.where(
            parents == -1,
            -1,
            np.where(parents == 1, states - 1, np.where(is_b, 2 * up_row + 1, 2 * dn_row)),
        )
        self._arc_w = np.where(is_b, up_w, dn_w)

    @property
    def nodes(self) -> NDArray[np.int64]:
        """Every node settled (its time exact), in increasing node order."""
        return self._b_nodes

    def times_at(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Each node's time (``inf`` where not settled: then at least :attr:`frontier`)."""
        w = self._b_nodes
        if not w.shape[0]:
            return np.full(nodes.shape[0], math.inf)
        k = np.minimum(np.searchsorted(w, nodes), w.shape[0] - 1)
        return np.where(w[k] == nodes, self._b_times[k], math.inf)

    def path_arcs(self, node: int) -> list[tuple[int, int, float]]:
        """The hierarchy arcs ``(x, y, weight)`` of the fastest path from ``node`` to a seed."""
        i = self._row_of.get(2 * node + 1)
        if i is None:
            msg = f"node {node} was not settled"
            raise KeyError(msg)
        out: list[tuple[int, int, float]] = []
        state = 2 * node + 1
        pred, arc_w, row_of = self._pred, self._arc_w, self._row_of
        while True:
            p = int(pred[i])
            if p == -1:
                return out
            if p // 2 != state // 2:  # not a B state's own A state
                out.append((state // 2, p // 2, float(arc_w[i])))
            state = p
            i = row_of[state]

    def trace(self, node: int, arrays: EdgeArrays, graph: CSRGraph) -> tuple[float, int]:
        """The driven length (metres) of the fastest path from ``node``, and its seed."""
        ch = self._ch
        k = ch.kernels()
        f = graph.forward
        arcs = self.path_arcs(node)
        if not arcs:
            return 0.0, node
        xs, ys, ws = (np.array(c) for c in zip(*arcs, strict=True))
        total = k.unpack_length(
            xs, ys, ws, ch.dn_ptr, ch.dn_to, ch.dn_w, ch.up_ptr, ch.up_to, ch.up_w,
            f.indptr, f.indices, graph.forward_edge, arrays.travel_time_s, arrays.length_m,
        )  # fmt: skip
        return float(total), arcs[-1][1]


class ContractionHierarchy:
    """A contraction hierarchy of a road graph (see the module docstring).

    Parameters
    ----------
    arrays
        The network's arrays (travel times are the weights).
    compiled
        Build with numba's compiled kernels (``None``: when numba is installed).
    progress
        Say how long the build took (on standard error).
    """

    FIELDS = (
        "n", "order", "dn_ptr", "dn_to", "dn_w", "up_ptr", "up_to", "up_w", "upc_ptr", "upc_to",
    )  # fmt: skip
    RUNTIME_FIELDS = ("_pool", "_pool_lock", "_compiled")

    n: int
    order: NDArray[Any]
    dn_ptr: NDArray[Any]
    dn_to: NDArray[Any]
    dn_w: NDArray[np.float64]
    up_ptr: NDArray[Any]
    up_to: NDArray[Any]
    up_w: NDArray[np.float64]
    upc_ptr: NDArray[Any]
    upc_to: NDArray[Any]
    _compiled: bool | None

    def __init__(
        self, arrays: EdgeArrays, *, compiled: bool | None = None, progress: bool = False
    ) -> None:
        started = time.perf_counter()
        n = arrays.n_nodes
        u = np.asarray(arrays.u, dtype=np.int64)
        v = np.asarray(arrays.v, dtype=np.int64)
        w = np.asarray(arrays.travel_time_s, dtype=np.float64)
        # One arc per ordered pair, the fastest (the lowest edge id on a tie); no loops.
        keep = np.flatnonzero(u != v)
        order = np.lexsort((keep, w[keep], v[keep], u[keep]))
        keep = keep[order]
        first = np.ones(keep.shape[0], dtype=bool)
        first[1:] = (u[keep][1:] != u[keep][:-1]) | (v[keep][1:] != v[keep][:-1])
        keep = keep[first]
        k = kernels(compiled)
        lo, hi, up, aw, rank = k.build(n, u[keep], v[keep], w[keep], _SETTLE_LIMIT)
        self.n = n
        self.order = narrow(np.argsort(rank, kind="stable"))
        # dn: arcs hi -> lo (down), filed at lo; up: arcs lo -> hi, filed at hi;
        # upc: the same up arcs filed at lo (marks climb them).
        dn = np.flatnonzero(~up)
        self.dn_ptr, self.dn_to, self.dn_w = _filed(n, lo[dn], hi[dn], aw[dn])
        ups = np.flatnonzero(up)
        self.up_ptr, self.up_to, self.up_w = _filed(n, hi[ups], lo[ups], aw[ups], by_weight=True)
        self.upc_ptr, self.upc_to, _ = _filed(n, lo[ups], hi[ups], aw[ups])
        self._runtime()
        self._compiled = compiled
        if progress:
            print(
                f"contraction hierarchy: {n:,} nodes, {self.n_arcs:,} arcs "
                f"in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )

    def _runtime(self) -> None:
        self._pool: list[tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]] = []
        self._pool_lock = threading.Lock()
        self._compiled = None

    def fits(self, n: int) -> bool:
        """Whether the arrays are those of a hierarchy over ``n`` nodes."""
        return bool(
            self.n == n
            and self.order.shape == (n,)
            and all(getattr(self, p).shape == (n + 1,) for p in ("dn_ptr", "up_ptr", "upc_ptr"))
            and self.dn_to.shape == self.dn_w.shape == (int(self.dn_ptr[-1]),)
            and self.up_to.shape == self.up_w.shape == (int(self.up_ptr[-1]),)
            and self.upc_to.shape == self.up_to.shape
        )

    def kernels(self) -> SimpleNamespace:
        """The kernels this hierarchy's searches run (compiled when numba is installed)."""
        return kernels(self._compiled)

    @property
    def n_arcs(self) -> int:
        """Arcs of the hierarchy (road edges kept and shortcuts)."""
        return int(self.dn_to.shape[0] + self.up_to.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes the hierarchy's arrays hold."""
        return sum(int(getattr(self, name).nbytes) for name in self.FIELDS if name != "n")

    def new_marks(self) -> NDArray[np.uint8]:
        """Marks with no departure node (see :meth:`mark`)."""
        return np.zeros(self.n, dtype=np.uint8)

    def mark(self, marks: NDArray[np.uint8], nodes: NDArray[np.int64]) -> None:
        """Mark ``nodes`` as departure nodes of responders (and the nodes above them)."""
        if nodes.size:
            k = self.kernels()
            k.mark_up(
                marks, np.ascontiguousarray(nodes, dtype=np.int64), self.upc_ptr, self.upc_to,
                np.empty(1024, dtype=np.int64),
            )  # fmt: skip

    def remark(self, marks: NDArray[np.uint8], nodes: NDArray[np.int64]) -> None:
        """Set ``marks`` afresh for exactly these departure nodes (drops stale ones)."""
        self.kernels().remark(
            marks, np.ascontiguousarray(nodes, dtype=np.int64), self.order, self.upc_ptr,
            self.upc_to,
        )  # fmt: skip

    def search(
        self,
        seeds: NDArray[np.int64],
        offsets: NDArray[np.float64],
        marks: NDArray[np.uint8],
        *,
        want: int,
        limit_s: float = math.inf,
    ) -> HierarchySearch:
        """Settle marked departure nodes by time to the seeds until ``want`` of them.

        ``seeds, offsets``: where trips end and the time still to drive from each.
        """
        k = self.kernels()
        with self._pool_lock:
            ws = self._pool.pop() if self._pool else None
        if ws is None:
            ws = (np.full(2 * self.n, math.inf), np.zeros(2 * self.n, dtype=np.int64),
                  np.empty(1024, dtype=np.int64))  # fmt: skip
        dist, par, touched = ws
        frontier, states, times, parents, found, touched, _, _ = k.query(
            self.dn_ptr, self.dn_to, self.dn_w, self.up_ptr, self.up_to, self.up_w, marks,
            np.ascontiguousarray(seeds, dtype=np.int64),
            np.ascontiguousarray(offsets, dtype=np.float64), float(limit_s), int(want),
            dist, par, touched, np.empty(256), np.empty(256, dtype=np.int64),
        )  # fmt: skip
        with self._pool_lock:
            self._pool.append((dist, par, touched))
        return HierarchySearch(self, float(frontier), states, times, parents, int(found))


def _filed(
    n: int,
    at: NDArray[np.int64],
    to: NDArray[np.int64],
    w: NDArray[np.float64],
    *,
    by_weight: bool = False,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.float64]]:
    # Arcs filed at node `at` (CSR rows), by increasing `to` (or weight, then `to`) in a row.
    order = np.lexsort((to, w, at) if by_weight else (to, at))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(at, minlength=n), out=ptr[1:])
    return narrow(ptr), narrow(to[order]), np.ascontiguousarray(w[order])
