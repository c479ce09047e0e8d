"""Gather the responders a ranking may pick, with their positions snapped to the road.

Snapping is the costly step, so snaps are cached per index slot, keyed on the position
and heading they were computed from: a responder that has not moved since the last ranking
is never snapped again, and a moved one is snapped in one vectorised batch with the
others. A key of the position itself (rather than an update counter) makes a reused slot
or an unchanged re-report safe by construction.

A cache that follows its index (:meth:`SnapCache.follow`) also files every snapped
responder under the node its trip enters the road at (the head of its snapped edge), so a
ranking finds the responders on the roads its search reached (:meth:`SnapCache.on_nodes`)
instead of everyone within a disk widened by the largest snapping distance; and it learns
of every fix at ingest, filing the responders not snapped since they moved by their H3
cell (:meth:`SnapCache.settle` snaps those near a point, in one batch).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.network import RoadNetwork, SnapArrays
from kayou_dispatch.network.trips import Departures, departures_of
from kayou_dispatch.spatial import ResponderIndex
from kayou_dispatch.spatial._cells import CellBuckets

if TYPE_CHECKING:
    from kayou_dispatch.network.hierarchy import ContractionHierarchy

__all__ = ["CandidateSet", "gather", "LocalPlane", "SnapCache"]

#: Responders farther than this from every (qualifying) road are off the network.
OFF_NETWORK_M = 1000.0
# settle_moved snaps this many positions at a time (the index's lock is free in between).
_SETTLE_PIECE = 1 << 17
# The hierarchy's marks are set afresh once the snaps since outnumber 4x the fleet plus this.
_REMARK_AFTER = 4096


@dataclass(frozen=True)
class CandidateSet:
    """Responders that may be ranked, one row each, in index slot order.

    Attributes
    ----------
    slots
        Their index slots.
    names
        Their ids (``names[i]`` is row i's).
    lat, lng, heading
        Reported positions and headings (NaN: unknown).
    snaps
        Their snaps (``edge == -1``: off the network). Headed responders are snapped with
        their heading.
    departures
        Where their trips join the graph (cached with the snaps).
    plane_x, plane_y
        The snapped points in a flat local plane, metres (for quick distance estimates).
    """

    slots: NDArray[np.int64]
    names: Sequence[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    heading: NDArray[np.float64]
    snaps: SnapArrays
    departures: Departures
    plane_x: NDArray[np.float64]
    plane_y: NDArray[np.float64]


_EMPTY_I = np.zeros(0, dtype=np.int64)
_MAX_F = float(np.finfo(np.float64).max)
_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_M_PER_DEG = math.radians(1.0) * 6_371_008.8
#: Largest node or edge index a SnapCache stores (its index columns are int32).
MAX_NETWORK_INDEX = (1 << 31) - 2


# A snap's node is -1 or an end of its edge, and its twin -1 or its edge's twin: one byte
# says which (1: the tail, 2: the head; 4: the twin). _ODD: anything else (never seen; kept
# exactly, in a dict, should a snap ever do it).
_AT_TAIL, _AT_HEAD, _TWIN, _ODD = 1, 2, 4, 8


def _end_codes(
    network: RoadNetwork, res: SnapArrays
) -> tuple[NDArray[np.int8], NDArray[np.int64]]:
    """Each snap's node and twin as a code, and the rows coded _ODD."""
    a = network.arrays
    on = res.edge >= 0
    e = np.where(on, res.edge, 0)
    noded = on & (res.node >= 0)
    at_u = noded & (res.node == a.u[e])
    at_v = noded & ~at_u & (res.node == a.v[e])
    twinned = on & (res.twin >= 0) & (res.twin == network.edge_twin[e])
    codes = (
        at_u * np.int8(_AT_TAIL) + at_v * np.int8(_AT_HEAD) + twinned * np.int8(_TWIN)
    ).astype(np.int8)
    odd = np.flatnonzero(((res.node >= 0) & ~(at_u | at_v)) | ((res.twin >= 0) & ~twinned))
    codes[odd] = _ODD
    return codes, odd


def _decode_ends(
    network: RoadNetwork, codes: NDArray[np.int8], edge: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    # node and twin from codes (rows coded _ODD: -1, for the caller to fill in).
    a = network.arrays
    e = np.where(edge >= 0, edge, 0)
    node = np.where(
        (codes & _AT_TAIL) != 0, a.u[e], np.where((codes & _AT_HEAD) != 0, a.v[e], -1)
    ).astype(np.int64)
    twin = np.where((codes & _TWIN) != 0, network.edge_twin[e], -1).astype(np.int64)
    return node, twin


def _widened(column: NDArray[Any]) -> NDArray[Any]:
    # Rows read from a stored column, as SnapArrays holds them (indices int64).
    return column.astype(np.int64) if column.dtype == np.int32 else column


def _same_heading(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
    # Equal headings, an unknown one (NaN) equal to another unknown one.
    out: NDArray[np.bool_] = (a == b) | (np.isnan(a) & np.isnan(b))
    return out


class LocalPlane:
    """An equirectangular plane around a network's centre, metres (for quick estimates)."""

    def __init__(self, network: RoadNetwork) -> None:
        lat0 = 0.5 * (network.bounds[0] + network.bounds[2])
        self.sx = _M_PER_DEG * math.cos(math.radians(lat0))

    def xy(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Project points (NaN stays NaN)."""
        return lng * self.sx, lat * _M_PER_DEG


class SnapCache:
    """Snaps of responder positions by index slot, re-snapped only when the position moved.

    Parameters
    ----------
    network
        The network to snap to.

    Raises
    ------
    InvalidParameterError
        When the network has more nodes or edges than int32 indices address
        (:data:`MAX_NETWORK_INDEX`): the cache keeps its edge and node columns as int32.
    """

    def __init__(self, network: RoadNetwork) -> None:
        largest = max(network.n_nodes, network.n_edges)
        if largest > MAX_NETWORK_INDEX:
            msg = (
                f"a SnapCache addresses at most {MAX_NETWORK_INDEX:,} nodes and edges (int32), "
                f"the network has {network.n_nodes:,} nodes and {network.n_edges:,} edges"
            )
            raise InvalidParameterError(msg, name="network", value=largest)
        self._net = network
        self._lock = threading.Lock()
        self._size = 0
        self._key_lat = self._key_lng = self._key_h = np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._cols: list[NDArray[Any]] = []  # edge (int32), fraction, distance_m, lat, lng
        self._ends = np.zeros(0, dtype=np.int8)  # node and twin, as _end_codes writes them
        self._odd: dict[int, tuple[int, int]] = {}  # (node, twin) of slots coded _ODD
        self.snapped = 0  # positions snapped so far (for tests and benchmarks)
        self._last: tuple[NDArray[np.int64], Any] | None = None
        self.plane = LocalPlane(network)
        self._node = _EMPTY_I32  # where each snapped slot's trip enters the road (-1: none)
        self._by_node: CellBuckets | None = None
        self._index: ResponderIndex | None = None  # the index followed, if any
        self._dirty = np.zeros(0, dtype=bool)  # moved since last snapped (followed index)
        self._dirty_cells: CellBuckets | None = None
        self._fixes = 0  # fixes learnt of since the last settle_moved
        # The network hierarchy's marks of the snapped departure nodes (see marks()).
        self._marks: NDArray[np.uint8] | None = None
        self._marks_of: ContractionHierarchy | None = None
        self._stale_marks = 0  # snaps since the marks were last set afresh
        # Each slot's departures (node_a, off_a, node_b, off_b; inf offsets where there is
        # no snap), kept once in_time is first asked (32 bytes a slot: only then).
        self._dep: list[NDArray[Any]] | None = None
        self._grow(0)

    def _grow(self, size: int) -> None:
        new = max(size, 2 * self._size, 1024)
        keys = []
        for old in (self._key_lat, self._key_lng, self._key_h):
            key = np.full(new, np.nan)
            key[: self._size] = old
            keys.append(key)
        valid = np.zeros(new, dtype=bool)
        valid[: self._size] = self._valid
        if not self._cols:
            # A SnapArrays row but its node and twin (_ends); edge int32 (MAX_NETWORK_INDEX).
            f = np.zeros(0)
            template: list[NDArray[Any]] = [_EMPTY_I32, f, f, f, f]
        else:
            template = self._cols
        cols: list[NDArray[Any]] = []
        for c in template:
            grown = np.zeros(new, dtype=c.dtype)
            grown[: self._size] = c
            cols.append(grown)
        ends = np.zeros(new, dtype=np.int8)
        ends[: self._size] = self._ends
        self._key_lat, self._key_lng, self._key_h = keys
        self._valid, self._cols, self._ends, self._size = valid, cols, ends, new
        node = np.full(new, -1, dtype=np.int32)
        node[: self._node.shape[0]] = self._node
        self._node = node
        if self._dep is not None:
            dep = []
            for c in self._dep:
                grown = np.full(new, np.inf) if c.dtype.kind == "f" else np.zeros(new, c.dtype)
                grown[: c.shape[0]] = c
                dep.append(grown)
            self._dep = dep
        if self._by_node is None:
            self._by_node = CellBuckets(self._node, self._valid)
        else:
            self._by_node.retarget(self._node, self._valid)

    def get(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> tuple[SnapArrays, Departures, NDArray[np.float64], NDArray[np.float64]]:
        """Return the snaps, departures and plane coordinates of these slots' positions.

        Only positions that moved since they were last snapped are snapped again; when
        nothing moved and the slots are those of the previous call, its arrays are returned
        again (callers must not modify them).
        """
        with self._lock:
            stale = self._snap_moved(slots, lat, lng, heading)
            if not stale and self._last is not None and np.array_equal(self._last[0], slots):
                return self._last[1]
            # Only the snaps are kept per slot; what follows from them is cheap to redo for
            # the rows asked for (and costs no memory per responder).
            snaps = self._snaps(slots)
            px, py = self.plane.xy(snaps.lat, snaps.lng)
            if self._dep is None:
                dep = departures_of(self._net.arrays, snaps)
            else:  # the same values, kept per slot (inf offsets off the network)
                dep = Departures._make(c[slots] for c in self._dep)
            out = (snaps, dep, px, py)
            self._last = (slots.copy(), out)
            return out

    def _snap_moved(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> int:
        """Snap those of these slots whose position moved (caller holds the lock): how many."""
        if slots.size and int(slots.max()) >= self._size:
            # Following an index: room for every slot it uses (snapped in pieces, in slot
            # order, the columns would otherwise double past the fleet).
            used = 0 if self._index is None else len(self._index._ids)
            self._grow(max(int(slots.max()) + 1, used))
        same = (
            self._valid[slots]
            & (self._key_lat[slots] == lat)
            & (self._key_lng[slots] == lng)
            & _same_heading(self._key_h[slots], heading)
        )
        stale = np.flatnonzero(~same)
        if stale.size:
            self._refresh(slots[stale], lat[stale], lng[stale], heading[stale])
        return int(stale.size)

    def _refresh(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> None:
        self._last = None  # any refresh may change rows the last answer holds
        headed = ~np.isnan(heading)
        for rows, hd in ((np.flatnonzero(~headed), None), (np.flatnonzero(headed), heading)):
            if not rows.size:
                continue
            res = self._net.snap_many(
                lat[rows],
                lng[rows],
                headings=None if hd is None else hd[rows],
                max_distance_m=OFF_NETWORK_M,
                measure_far=False,  # how far off the network a responder is is never used
            )
            target = slots[rows]
            for col, values in zip(self._cols, res[:5], strict=True):
                col[target] = values
            ends, odd = _end_codes(self._net, res)
            self._ends[target] = ends
            for r in odd.tolist():
                self._odd[int(target[r])] = (int(res.node[r]), int(res.twin[r]))
            edge = res.edge
            self._node[target] = np.where(edge >= 0, self._net.arrays.v[np.maximum(edge, 0)], -1)
            if self._dep is not None:
                self._put_departures(target, res)
            self.snapped += int(rows.size)
            if self._marks is not None:
                self._mark(edge)
        self._key_lat[slots] = lat
        self._key_lng[slots] = lng
        self._key_h[slots] = heading
        self._valid[slots] = True
        assert self._by_node is not None
        self._by_node.move_many(slots)

    # -- the hierarchy's marks ------------------------------------------------------------

    def marks(self) -> NDArray[np.uint8] | None:
        """Marks of every snapped responder's departure nodes in the network's hierarchy.

        ``None`` when the network has no :attr:`~kayou_dispatch.RoadNetwork.hierarchy`.
        Kept at every snap from then on (a node stays marked after its responders left,
        which only costs a search some time, until the marks are set afresh: once the
        snaps since outnumber four times the fleet). Never changed in place when set
        afresh, so a search may go on reading the array it was given.
        """
        ch = self._net.hierarchy
        if ch is None:
            return None
        with self._lock:
            if self._marks is None or self._marks_of is not ch:
                self._remark(ch)
            return self._marks

    def _mark(self, edge: NDArray[np.int64]) -> None:
        # Mark the ends of the roads just snapped to (caller holds the lock).
        ch, marks = self._marks_of, self._marks
        assert ch is not None and marks is not None
        a = self._net.arrays
        on = edge[edge >= 0]
        ch.mark(marks, np.concatenate([a.u[on], a.v[on]]))
        self._stale_marks += int(edge.shape[0])
        if self._stale_marks > 4 * int(self._valid.sum()) + _REMARK_AFTER:
            self._remark(ch)

    def _remark(self, ch: ContractionHierarchy) -> None:
        # Marks afresh for the responders snapped now (caller holds the lock).
        edge = self._cols[0][self._valid & (self._node >= 0)]
        a = self._net.arrays
        marks = ch.new_marks()
        ch.remark(marks, np.unique(np.concatenate([a.u[edge], a.v[edge]])))
        self._marks, self._marks_of, self._stale_marks = marks, ch, 0
    def _snaps(self, slots: NDArray[np.int64]) -> SnapArrays:
        # The kept snaps of these slots, as SnapArrays (caller holds the lock).
        edge, fraction, distance, lat, lng = (_widened(c[slots]) for c in self._cols)
        node, twin = self._node_twin(slots, edge)
        return SnapArrays(edge, fraction, distance, lat, lng, node, twin)

    def _node_twin(
        self, slots: NDArray[np.int64], edge: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The snaps' ``node`` and ``twin`` columns, from their codes (see _end_codes)."""
        codes = self._ends[slots]
        node, twin = _decode_ends(self._net, codes, edge)
        for r in np.flatnonzero(codes == _ODD).tolist():
            node[r], twin[r] = self._odd[int(slots[r])]
        return node, twin

    # -- following an index ---------------------------------------------------------------

    def follow(self, index: ResponderIndex) -> None:
        """Learn of every fix ``index`` takes from now on (idempotent; one index per cache).

        Every responder it holds counts as moved until :meth:`settle` snaps it.
        """
        if self._index is index:
            return
        with index._lock, self._lock:
            if self._index is not None:
                msg = "a SnapCache follows one index (its slots are that index's)"
                raise InvalidParameterError(msg, name="index", value=index)
            self._index = index
            self._fit(index)
            self._dirty[: len(index._ids)] = index._col["alive"][: len(index._ids)]
            assert self._dirty_cells is not None
            self._dirty_cells.rebuild()
            index._watch(self._moved)

    def _fit(self, index: ResponderIndex) -> None:
        # The dirty flags are indexed like the index's columns (which grow by replacement).
        cells = index._col["cell"]
        if self._dirty.shape[0] < cells.shape[0]:
            dirty = np.zeros(cells.shape[0], dtype=bool)
            dirty[: self._dirty.shape[0]] = self._dirty
            self._dirty = dirty
        if self._dirty_cells is None:
            self._dirty_cells = CellBuckets(cells, self._dirty)
        elif not self._dirty_cells.follows(cells, self._dirty):
            self._dirty_cells.retarget(cells, self._dirty)

    def _moved(self, slots: NDArray[np.int64]) -> None:
        # The index's watcher (called under its lock): these slots' positions changed. The
        # dirty flags and their buckets are only ever touched under the index's lock, so a
        # fix never waits for this cache's own lock (held while rankings snap).
        assert self._index is not None
        self._fit(self._index)
        self._dirty[slots] = True
        self._fixes += int(slots.shape[0])
        assert self._dirty_cells is not None
        if slots.shape[0] == 1:  # a single fix: the common case, kept cheap
            self._dirty_cells.move(int(slots[0]))
        else:
            self._dirty_cells.move_many(slots)

    def settle(self, lat: float, lng: float, radius_m: float) -> None:
        """Snap every followed responder that moved and now lies within ``radius_m``."""
        index = self._index
        if index is None:
            msg = "settle needs a SnapCache that follows an index (see follow)"
            raise InvalidParameterError(msg, name="index", value=None)
        with index._lock:
            if not self._dirty.any():  # nothing moved since it was snapped: nothing to do
                return
            cells = index._cells_near(lat, lng, radius_m)
            with self._lock:
                self._fit(index)
                dirty = self._dirty
                assert self._dirty_cells is not None
                if cells is None:
                    cand = np.flatnonzero(dirty)
                else:
                    cand = self._dirty_cells.gather(cells)
                    cand = cand[dirty[cand]]
                col = index._col
                cand = cand[col["alive"][cand]]
                if not cand.size:
                    return
                la, ln = col["lat"][cand], col["lng"][cand]
                cand = cand[haversine_m_array(la, ln, lat, lng) <= radius_m]
                if not cand.size:
                    return
                self._snap_moved(cand, col["lat"][cand], col["lng"][cand], col["heading"][cand])
                dirty[cand] = False
                self._dirty_cells.forget(int(cand.size))

    def settle_moved(self, *, at_least: int = 1) -> int:
        """Snap every followed responder that moved since it was last snapped (at ingest).

        Nothing happens until ``at_least`` fixes arrived since the last call, so fixes are
        snapped in vectorised batches however they arrive (one by one or in bulk). The
        positions are read under the index's lock, snapped under this cache's lock only
        (fixes keep flowing meanwhile), in pieces of ``_SETTLE_PIECE``; a responder whose
        position changed again while it was snapped stays to be snapped (by the next call,
        or by the ranking that reaches it: :meth:`settle`).

        Returns
        -------
        int
            How many positions were snapped.

        Raises
        ------
        InvalidParameterError
            When ``at_least`` is not a positive int, or the cache follows no index.
        """
        if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
            msg = f"at_least must be a positive int, got {at_least!r}"
            raise InvalidParameterError(msg, name="at_least", value=at_least)
        index = self._index
        if index is None:
            msg = "settle_moved needs a SnapCache that follows an index (see follow)"
            raise InvalidParameterError(msg, name="index", value=None)
        if self._fixes < at_least:
            return 0
        done = 0
        with index._lock:
            self._fixes = 0
            self._fit(index)
            todo = np.flatnonzero(self._dirty & index._col["alive"][: self._dirty.shape[0]])
        for lo in range(0, todo.shape[0], _SETTLE_PIECE):
            cand = todo[lo : lo + _SETTLE_PIECE]
            with index._lock:
                col = index._col
                la, ln, hd = col["lat"][cand], col["lng"][cand], col["heading"][cand]
            with self._lock:
                self._snap_moved(cand, la, ln, hd)
            with index._lock, self._lock:
                col = index._col
                same = (col["lat"][cand] == la) & (col["lng"][cand] == ln)
                same &= _same_heading(col["heading"][cand], hd)
                clear = cand[same & self._dirty[cand] & col["alive"][cand]]
                self._dirty[clear] = False
                assert self._dirty_cells is not None
                self._dirty_cells.forget(int(clear.size))
                done += int(clear.size)
        return done

    def _put_departures(self, slots: NDArray[np.int64], snaps: SnapArrays) -> None:
        # Caller holds the lock and keeps self._dep: these slots' departures, from snaps.
        assert self._dep is not None
        dep = departures_of(self._net.arrays, snaps)
        off = snaps.edge < 0
        for col, values in zip(self._dep, dep, strict=True):
            col[slots] = values
        if off.any():
            for col in (self._dep[1], self._dep[3]):
                col[slots[off]] = np.inf

    def in_time(
        self, to_dest: NDArray[np.float64], limit_s: float, ends: tuple[int, int]
    ) -> NDArray[np.int64]:
        """The slots whose snap, as cached, is at most ``limit_s`` from the destination.

        ``to_dest``: every node's time to the destination (a tree's); ``ends``: the two
        ends of the destination's edge, whose slots (those that may drive straight there
        along it) are always included. Every slot is timed at once, from departures kept
        per slot: for a small fleet (or network) cheaper than finding the responders near
        the nodes a search reached. A superset of those in time with their current
        positions only when the moved ones near enough were snapped (:meth:`settle`);
        callers time the slots returned exactly (:meth:`get`, which snaps any moved).
        """
        with self._lock:
            if self._dep is None:
                self._dep = [
                    np.zeros(self._size, np.int64),
                    np.full(self._size, np.inf),
                    np.zeros(self._size, np.int64),
                    np.full(self._size, np.inf),
                ]
                have = np.flatnonzero(self._valid)
                self._put_departures(have, self._snaps(have))
            index = self._index
            m = self._size if index is None else min(self._size, len(index._ids))
            na, oa, nb, ob = (c[:m] for c in self._dep)
            t = np.minimum(oa + to_dest[na], ob + to_dest[nb])
            # Those filed under an end of the edge may be on it (filed: snapped, on the road).
            node = self._node[:m]
            u, v = int(ends[0]), int(ends[1])
            reach = min(limit_s, _MAX_F)  # never an unreachable slot (or one never snapped)
            return np.flatnonzero((t <= reach) | (node == u) | (node == v))

    def kth_nearest_m(self, lat: float, lng: float, k: int) -> float:
        """The k-th smallest flat distance from a point to the slots snapped on the road
        (every slot, eligible or not: an estimate), metres; ``inf`` when fewer."""
        with self._lock:
            index = self._index
            m = self._size if index is None else min(self._size, len(index._ids))
            slat, slng = self._cols[3][:m], self._cols[4][:m]
            dx = (slng - lng) * self.plane.sx
            dy = (slat - lat) * _M_PER_DEG
            d2 = dx * dx + dy * dy
            d2 = d2[self._node[:m] >= 0]
        if d2.shape[0] < k:
            return math.inf
        return math.sqrt(float(np.partition(d2, k - 1)[k - 1]))

    def filed_under(self, slots: NDArray[np.int64]) -> NDArray[np.int64]:
        """The node each of these slots (from :meth:`on_nodes`) is filed under."""
        with self._lock:
            out: NDArray[np.int64] = self._node[slots].astype(np.int64)
            return out

    def on_nodes(self, nodes: NDArray[np.int64], *, distinct: bool = False) -> NDArray[np.int64]:
        """The slots snapped onto a road whose trip enters it at one of these nodes.

        ``distinct``: the nodes have no repeats (saves finding them).
        """
        with self._lock:
            assert self._by_node is not None
            slots = self._by_node.gather(nodes, distinct=distinct)
            return slots[self._valid[slots] & (self._node[slots] >= 0)]


def gather(
    index: ResponderIndex,
    cache: SnapCache,
    *,
    needs: frozenset[str],
    exclude: frozenset[str],
) -> CandidateSet:
    """Return the fresh, AVAILABLE responders with every need, not excluded, snapped."""
    slots, ids, lat, lng, heading = index._eligible(needs, exclude)
    snaps, dep, px, py = cache.get(slots, lat, lng, heading)
    names = [str(ids[i]) for i in slots.tolist()]
    return CandidateSet(slots, names, lat, lng, heading, snaps, dep, px, py)
