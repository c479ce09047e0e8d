"""Rank responders by exact road travel time to an incident: the k fastest, found cheaply.

Exact by construction: one reverse Dijkstra search from the incident, bounded at a time
limit ``L``, gives every responder whose travel time is ``<= L`` exactly (see
:meth:`~kayou_dispatch.network.RoadNetwork.travel_times_to_snapped`) and tells that every
other one takes longer. When at least ``k`` responders arrive within ``L``, they hold the
answer; otherwise ``L`` doubles (a few times, then the search goes unbounded), so the result
always equals sorting every candidate's exact time.

Only what can matter is touched (:meth:`Ranker.rank_near`). ``L`` starts from the k-th
nearest responder by straight line, at the network's top speed ``vmax``, times a ratio
learned from past rankings (road time over that bound): a good start means one search,
whose cost grows with the area it covers rather than with the network or the fleet (it
settles only nodes within ``L * vmax``, :mod:`~kayou_dispatch.network._nodegrid`). A
responder that arrives within ``L`` is snapped within ``L * vmax`` of the incident and so
reported within ``OFF_NETWORK_M`` more; the candidates come from whichever is smaller:
the index's disk of that radius (a sparse fleet), or the responders filed under the nodes
the search reached (a dense one; :meth:`~kayou_dispatch.matching.SnapCache.on_nodes`,
after :meth:`~kayou_dispatch.matching.SnapCache.settle` snapped those that moved nearby).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.matching._whole import WholeNetwork
from kayou_dispatch.matching.candidates import (
    OFF_NETWORK_M,
    CandidateSet,
    LocalPlane,
    SnapCache,
    gather,
)
from kayou_dispatch.network import RoadNetwork, Snap, SnapArrays
from kayou_dispatch.network.overlay_tree import OverlayTree
from kayou_dispatch.network.trips import Departures, DestinationTree
from kayou_dispatch.spatial import ResponderIndex

__all__ = ["Candidate", "Ranker"]

_F64 = NDArray[np.float64]

# Bounded searches (doubling the limit) before one unbounded search.
_BOUNDED_TRIES = 4
# Gather from the index's disk while it holds fewer than this many responders per node
# the search reached; from the reached roads beyond (tests force either way).
_DISK_PER_NODE = 2.0
# Search through the network's cell overlay (when it has one) once the disk a search may
# cover holds this many nodes; plain Dijkstra below (measured: benchmarks/bench_scale.py).
_OVERLAY_MIN_NODES = 40_000
# ... and only when its overlay graph is this much smaller than the road graph: a grid's
# overlay (boundary nodes growing with the square root of a cell, B x B cliques) has more
# edges than the grid itself, and searching it costs more than plain Dijkstra (measured on
# synthetic_region 2M: 7.8M overlay edges for 4.6M road edges; rural rank 4-6x slower).
_OVERLAY_MAX_EDGE_SHARE = 0.25
# Search through the network's contraction hierarchy (when it has one, before any overlay)
# once the disk a search may cover holds this many nodes (measured: bench_scale.py).
_HIERARCHY_MIN_NODES = 40_000
# A fleet this small never searches through the overlay: its disk, however wide, is cheap to
# gather, and a plain bounded search costs less (measured on Lower Saxony, 100 responders:
# 18.7-21.6 ms through the overlay, 7.1 ms without; rural 19.3 against 21.0 ms).
_DISK_FLEET = 50_000
# Through the overlay, cells are gathered in batches that double while each holds fewer
# responders than this.
_BATCH_SLOTS = 2048
_BATCH_CELLS = 8  # at most this many cells a batch
# A batch holding more responders than this is pruned by the bounds of their roads' heads
# (which costs a search of each of its cells) before they are timed.
_PRUNE_SLOTS = 512


@dataclass(frozen=True, slots=True)
class Candidate:
    """A responder ranked for an incident.

    Attributes
    ----------
    responder_id
        The responder.
    eta_s
        Fastest road travel time from the responder to the incident, seconds.
    distance_m
        Road distance of that fastest route, metres.
    straight_m
        Great-circle distance between the responder's and the incident's positions.
    """

    responder_id: str
    eta_s: float
    distance_m: float
    straight_m: float


def _rows(snaps: SnapArrays, rows: NDArray[np.int64]) -> SnapArrays:
    return SnapArrays._make(c[rows] for c in snaps)


def _dep_rows(dep: Departures, rows: NDArray[np.int64]) -> Departures:
    return Departures._make(c[rows] for c in dep)


@dataclass(frozen=True, slots=True)
class _NearQuery:
    """One :meth:`Ranker.rank_near` call's options, shared by its plain and overlay searches.

    Built once a query (never per responder), so the hot path pays one small object.
    """

    dest: Snap
    lat: float
    lng: float
    index: ResponderIndex
    cache: SnapCache
    k: int
    max_eta_s: float
    needs: frozenset[str]
    exclude: frozenset[str]


def _widen(limit: float, tries: int, max_eta_s: float) -> float:
    # Double the limit a few times, then search without one (never past max_eta_s).
    return min(2.0 * limit if tries < _BOUNDED_TRIES else math.inf, max_eta_s)


class Ranker:
    """Find the k responders with the smallest exact road travel time to a point.

    Parameters
    ----------
    network
        The road network.

    Examples
    --------
    >>> from kayou_dispatch import ResponderIndex, RoadNetwork
    >>> from kayou_dispatch.matching import SnapCache, gather
    >>> from kayou_dispatch.network import EdgeArrays
    >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
    ...                         u=[0, 1], v=[1, 0], length_m=[1112.0] * 2,
    ...                         travel_time_s=[60.0] * 2)
    >>> net = RoadNetwork.from_arrays(a)
    >>> index = ResponderIndex(clock=lambda: 0.0)
    >>> index.update_positions(["a", "b"], [0.0, 0.0], [0.001, 0.008])
    2
    >>> cands = gather(index, SnapCache(net), needs=frozenset(), exclude=frozenset())
    >>> [(c.responder_id, round(c.eta_s)) for c in
    ...  Ranker(net).rank(net.snap(0.0, 0.007), 0.0, 0.007, cands, k=2)]
    [('b', 6), ('a', 36)]
    """

    def __init__(self, network: RoadNetwork) -> None:
        self._net = network
        self._lock = threading.Lock()
        self._ratio = 3.0  # road time / straight-line bound, learned
        self._radius_m = 2000.0  # radius of the disk a ranking gathers first, learned
        self.searches = 0  # searches run so far (for tests and benchmarks)
        self.overlay_searches = 0  # of which through the cell overlay
        self.hierarchy_searches = 0  # of which through the contraction hierarchy
        # Search through the hierarchy once a search's disk holds this many nodes (tests: 0;
        # above the network's size: never, as when none is built).
        self.hierarchy_min_nodes = _HIERARCHY_MIN_NODES
        # Search through the overlay once a search's disk holds this many nodes (tests: 0).
        self.overlay_min_nodes = _OVERLAY_MIN_NODES
        self._plane = LocalPlane(network)
        self._whole = WholeNetwork(network)  # a small network: see matching._whole
        south, west, north, east = network.bounds
        # No responder farther than this from a point of the network can snap to it.
        self._span_m = (
            haversine_m_array(np.array([south]), np.array([west]), north, east)[0]
            + 2.0 * OFF_NETWORK_M
        )

    def rank_near(
        self,
        dest: Snap,
        lat: float,
        lng: float,
        index: ResponderIndex,
        cache: SnapCache,
        *,
        k: int,
        max_eta_s: float = math.inf,
        needs: frozenset[str] = frozenset(),
        exclude: frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """Return the ``k`` fastest eligible responders of ``index`` to ``dest``.

        Eligible: fresh, AVAILABLE, with every need, not excluded (as :func:`gather`).
        Exactly :meth:`rank` over every eligible responder, touching only those near
        enough to matter (see the module docstring).
        """
        vmax = self._net.max_speed_mps
        if not 0.0 < vmax < math.inf:
            return self.rank(
                dest,
                lat,
                lng,
                gather(index, cache, needs=needs, exclude=exclude),
                k=k,
                max_eta_s=max_eta_s,
            )
        q = _NearQuery(dest, lat, lng, index, cache, k, max_eta_s, needs, exclude)
        # (A test forcing the overlay or the hierarchy forces them on small networks too.)
        forced = self.overlay_min_nodes <= 0 or self.hierarchy_min_nodes <= 0
        whole = not forced and self._whole.pays()
        while True:
            found = self._whole.rank(self, q) if whole else self._rank_near(q)
            if found is not None:
                return found
            # A responder ranked was removed (its slot given to another) meanwhile: again.

    def _rank_near(self, q: _NearQuery) -> list[Candidate] | None:
        dest, index, cache, k, max_eta_s = q.dest, q.index, q.cache, q.k, q.max_eta_s
        needs, exclude = q.needs, q.exclude
        vmax = self._net.max_speed_mps
        plat, plng = dest.lat, dest.lng
        cache.follow(index)
        with self._lock:
            radius, ratio = self._radius_m, self._ratio
        # The k nearest by straight line: a disk that holds k (or everyone). Once that disk
        # is wide (a rural incident), the overlay finds them instead, cell by cell, with no
        # limit: no disk of a sizeable part of the fleet is gathered.
        while True:
            radius = min(radius, self._span_m)
            if self._hierarchy_pays(dest, radius) or (
                # No pass over a large fleet: the hierarchy finds them instead.
                self._hierarchy_on()
                and len(index) > _DISK_FLEET
                and index._scans_fleet(plat, plng, radius)
            ):
                return self._rank_hierarchy(q, kk=k, limit=max_eta_s)
            if self._overlay_pays(dest, radius, len(index)):
                return self._rank_overlay(q, kk=k, lb_k=0.0, limit=max_eta_s, tries=0)
            near = index._near(plat, plng, radius, needs, exclude)
            if near[0].size >= k or radius >= self._span_m:
                break
            radius *= 2.0
        dist = near[4]
        if not dist.size:
            return []
        kk = min(k, dist.size)
        d_k = float(np.partition(dist, kk - 1)[kk - 1])
        self._learn_radius(d_k)
        # The k-th nearest at the top speed: a first guess (the road time over it is the
        # learned ratio), not a bound; only the search below decides the answer.
        lb_k = d_k / vmax
        limit = min(lb_k * ratio + 1.0, max_eta_s)
        a = self._net.arrays
        ends = np.array([a.u[dest.edge], a.v[dest.edge]], dtype=np.int64)
        graph = self._net._graph
        tries = 0
        density = near[0].size / (radius * radius)  # responders per square metre, roughly
        span = self._span_m
        while True:
            if self._hierarchy_pays(dest, limit * vmax):
                return self._rank_hierarchy(q, kk=kk, limit=max_eta_s)
            if self._overlay_pays(dest, limit * vmax, len(index)):
                return self._rank_overlay(q, kk=kk, lb_k=lb_k, limit=limit, tries=tries)
            tree = self._net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
            self.searches += 1
            reached = tree.reached_nodes()
            # Whoever arrives within the limit is snapped within limit * vmax of the
            # incident's snap, so reported within OFF_NETWORK_M more. Gather them from the
            # index's disk when it holds fewer responders than the search reached nodes
            # (a sparse fleet), else from the roads the search reached (a dense one).
            reach = limit * vmax + OFF_NETWORK_M
            disk = min(reach, span)  # no disk wider than the network is ever gathered
            if density * disk * disk <= _DISK_PER_NODE * reached.size:
                if reach > radius:
                    radius = min(reach, self._span_m) if reach < math.inf else self._span_m
                    near = index._near(plat, plng, radius, needs, exclude)
                rows = np.flatnonzero(near[4] <= reach)
                slots, la, ln, hd = near[0][rows], near[1][rows], near[2][rows], near[3][rows]
                epochs = near[5][rows]
            else:
                # Those that moved near enough are snapped first. A trip enters the road at
                # its edge's head, or at its tail through the twin edge (a neighbour of the
                # head): only responders filed there can be in time (plus those on the
                # incident's own edge, who may drive straight to it).
                cache.settle(plat, plng, reach)
                nodes = graph.around(np.concatenate([reached, ends]))
                slots, la, ln, hd, epochs = index._eligible_slots(
                    cache.on_nodes(nodes), needs, exclude
                )
            snaps, dep, _, _ = cache.get(slots, la, ln, hd)
            on = np.flatnonzero(snaps.edge >= 0)
            sub, dep = _rows(snaps, on), _dep_rows(dep, on)
            times = tree.times(sub, dep)
            found = np.flatnonzero((times <= min(limit, max_eta_s)) & (times < math.inf))
            if found.size >= kk or limit >= max_eta_s:
                break
            tries += 1
            limit = _widen(limit, tries, max_eta_s)
        ranked = (slots[on], epochs[on], la[on], ln[on])
        return self._top_near(q, tree, sub, times, found, ranked, kk=kk, lb_k=lb_k)

    def _hierarchy_on(self) -> bool:
        # Built, and not turned off (a threshold above the network's size).
        net = self._net
        return net.hierarchy is not None and self.hierarchy_min_nodes <= net.n_nodes

    def _hierarchy_pays(self, dest: Snap, radius: float) -> bool:
        # A long search (a disk of this radius holds many nodes) runs through the hierarchy.
        net = self._net
        if not self._hierarchy_on():
            return False
        if self.hierarchy_min_nodes <= 0 or not radius < 1e7:
            return True
        return net._nodes.count_within(dest.lat, dest.lng, radius) >= self.hierarchy_min_nodes

    def _rank_hierarchy(self, q: _NearQuery, *, kk: int, limit: float) -> list[Candidate] | None:
        # The marked departure nodes nearest the incident, settled by the hierarchy, until
        # kk eligible responders are in time before its frontier (every responder not
        # gathered takes at least that long); the number wanted grows 4x until they are.
        net, index, cache, dest = self._net, q.index, q.cache, q.dest
        cache.settle(dest.lat, dest.lng, self._span_m)  # the few that moved since snapped
        marks = cache.marks()
        assert marks is not None
        graph = net._graph
        a = net.arrays
        ends = np.unique(np.array([a.u[dest.edge], a.v[dest.edge]], dtype=np.int64))
        want = max(2 * kk, 8)
        while True:
            tree = net._hierarchy_tree(dest, marks, want=want, limit_s=limit)
            self.searches += 1
            self.hierarchy_searches += 1
            # Whoever departs from a node settled (filed under it or a head of its edges:
            # trips through the twin), or drives straight along the incident's edge.
            nodes = graph.around(np.concatenate([tree.reached_nodes(), ends]))
            slots, la, ln, hd, epochs = index._eligible_slots(
                cache.on_nodes(nodes, distinct=True), q.needs, q.exclude
            )
            snaps, dep, _, _ = cache.get(slots, la, ln, hd)
            on = np.flatnonzero(snaps.edge >= 0)
            sub, dep = _rows(snaps, on), _dep_rows(dep, on)
            times = tree.times(sub, dep)
            found = np.flatnonzero((times < tree.frontier) & (times <= limit))
            if found.size >= kk or tree.frontier == math.inf or tree.frontier > limit:
                break
            want *= 4
        ranked = (slots[on], epochs[on], la[on], ln[on])
        return self._top_near(q, tree, sub, times, found, ranked, kk=kk, lb_k=0.0)

    def _overlay_pays(self, dest: Snap, radius: float, fleet: int) -> bool:
        # A long search (a disk of this radius holds many nodes) runs through the overlay,
        # for a fleet too large to gather from a wide disk.
        net = self._net
        ov = net.overlay
        if ov is None:
            return False
        if self.overlay_min_nodes <= 0:
            return True
        if fleet <= _DISK_FLEET:
            return False
        if ov.n_overlay_edges > _OVERLAY_MAX_EDGE_SHARE * net.n_edges:
            return False
        if not radius < 1e7:
            return True
        return net._nodes.count_within(dest.lat, dest.lng, radius) >= self.overlay_min_nodes

    def _rank_overlay(
        self, q: _NearQuery, *, kk: int, lb_k: float, limit: float, tries: int
    ) -> list[Candidate] | None:
        dest, index, cache, max_eta_s = q.dest, q.index, q.cache, q.max_eta_s
        # The cells that may hold responders in time, in increasing order of their bound
        # (their fastest exit's time), until the k-th time found beats the next bound.
        net = self._net
        vmax = net.max_speed_mps
        a = net.arrays
        ends = np.unique(np.array([a.u[dest.edge], a.v[dest.edge]], dtype=np.int64))  # a loop: one
        while True:
            tree = net._overlay_tree(dest, limit)
            self.searches += 1
            self.overlay_searches += 1
            reach = limit * vmax + OFF_NETWORK_M
            cache.settle(dest.lat, dest.lng, min(reach, self._span_m))
            bound = min(limit, max_eta_s)
            # Per cell: slots, epochs, positions of the responders on the network.
            parts: list[tuple[NDArray[np.int64], NDArray[np.int64], _F64, _F64]] = []
            subs: list[SnapArrays] = []
            times_l: list[NDArray[np.float64]] = []
            ok_times = np.zeros(0)
            kth = math.inf
            cells, lbs = tree.cell_bounds()
            # Cells in batches (one gather per batch: the buckets' cost is per call; a
            # batch doubles while the last one held few responders), stopping when the
            # k-th time found beats the next batch's bound. Each cell gathers those filed
            # under its nodes (the head of their road, where their trip enters it); the
            # first also those on the incident's own edge, who may drive straight there.
            i, size = 0, 1
            while i < cells.size:
                cut = kth if ok_times.size >= kk else bound
                if lbs[i] > cut:
                    break
                # The batch: up to size cells, none whose bound is past the k-th time found.
                j = min(i + size, int(np.searchsorted(lbs, cut, side="right")))
                nodes = [tree.cell_nodes(c) for c in cells[i:j].tolist()]
                nodes = [x[~np.isin(x, ends)] for x in nodes]
                if i == 0:
                    nodes.append(ends)
                i = j
                slots = cache.on_nodes(np.concatenate(nodes), distinct=True)
                if slots.size > _PRUNE_SLOTS:
                    # Many: keep those whose road's head still lets a trip beat the k-th
                    # time found (or the limit); those on the incident's edge stay.
                    filed = cache.filed_under(slots)
                    slots = slots[(tree.bounds_at(filed) <= cut) | np.isin(filed, ends)]
                size = min(2 * size, _BATCH_CELLS) if slots.size < _BATCH_SLOTS else 1
                if not slots.size:
                    continue
                slots, la, ln, hd, ep = index._eligible_slots(slots, q.needs, q.exclude)
                if not slots.size:
                    continue
                snaps, dep, _, _ = cache.get(slots, la, ln, hd)
                on = np.flatnonzero(snaps.edge >= 0)
                if not on.size:
                    continue
                t = tree.times(_rows(snaps, on), _dep_rows(dep, on))
                parts.append((slots[on], ep[on], la[on], ln[on]))
                subs.append(_rows(snaps, on))
                times_l.append(t)
                ok_times = np.concatenate([ok_times, t[(t <= bound) & (t < math.inf)]])
                if ok_times.size >= kk:
                    kth = float(np.partition(ok_times, kk - 1)[kk - 1])
            if ok_times.size >= kk or limit >= max_eta_s:
                break
            tries += 1
            limit = _widen(limit, tries, max_eta_s)
        if not parts:
            return []
        ranked = tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))
        sub = SnapArrays._make(np.concatenate(cols) for cols in zip(*subs, strict=True))
        times = np.concatenate(times_l)
        found = np.flatnonzero((times <= bound) & (times < math.inf))
        return self._top_near(q, tree, sub, times, found, ranked, kk=kk, lb_k=lb_k)

    def rank(
        self,
        dest: Snap,
        lat: float,
        lng: float,
        cands: CandidateSet,
        *,
        k: int,
        max_eta_s: float = math.inf,
    ) -> list[Candidate]:
        """Return the ``k`` fastest candidates to ``dest``, sorted by ``(eta_s, responder_id)``.

        Candidates off the network, unreachable, or slower than ``max_eta_s`` are left out.
        ``lat, lng`` is the incident's reported position (for ``straight_m``).
        """
        on_network = cands.snaps.edge >= 0
        on = np.flatnonzero(on_network)
        if not on.size:
            return []
        if on.size == on_network.size:
            sub, dep, px, py = cands.snaps, cands.departures, cands.plane_x, cands.plane_y
        else:
            sub = _rows(cands.snaps, on)
            dep = _dep_rows(cands.departures, on)
            px, py = cands.plane_x[on], cands.plane_y[on]
        kk = min(k, on.size)
        lb_k = self._kth_bound(dest, px, py, kk)
        with self._lock:
            ratio = self._ratio
        limit = min(lb_k * ratio + 1.0, max_eta_s)
        tries = 0
        while True:
            tree, times, found = self._search(dest, sub, dep, limit, max_eta_s)
            if found.size >= kk or limit >= max_eta_s:
                break
            tries += 1
            limit = _widen(limit, tries, max_eta_s)
        names = cands.names
        top = self._top(
            tree,
            sub,
            times,
            found,
            lambda r: [names[i] for i in on[r].tolist()],
            cands.lat[on],
            cands.lng[on],
            lat,
            lng,
            k=k,
            kk=kk,
            lb_k=lb_k,
        )
        assert top is not None  # names of a candidate set never go away
        return top

    def _search(
        self,
        dest: Snap,
        sub: SnapArrays,
        dep: Departures,
        limit: float,
        max_eta_s: float,
    ) -> tuple[DestinationTree, NDArray[np.float64], NDArray[np.int64]]:
        # One search bounded at limit: the tree, every row's time and the rows within reach.
        tree = self._net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
        self.searches += 1
        times = tree.times(sub, dep)
        found = np.flatnonzero((times <= min(limit, max_eta_s)) & (times < math.inf))
        return tree, times, found

    def _top_near(
        self,
        q: _NearQuery,
        tree: DestinationTree | OverlayTree,
        sub: SnapArrays,
        times: NDArray[np.float64],
        found: NDArray[np.int64],
        ranked: tuple[NDArray[Any], ...],
        *,
        kk: int,
        lb_k: float,
    ) -> list[Candidate] | None:
        # _top for rows gathered from the index: ranked = (slots, epochs, lats, lngs).
        slots, epochs, rlat, rlng = ranked
        index = q.index
        return self._top(
            tree,
            sub,
            times,
            found,
            lambda r: index._names(slots[r], epochs[r]),
            rlat,
            rlng,
            q.lat,
            q.lng,
            k=q.k,
            kk=kk,
            lb_k=lb_k,
        )

    def _top(
        self,
        tree: DestinationTree | OverlayTree,
        sub: SnapArrays,
        times: NDArray[np.float64],
        found: NDArray[np.int64],
        names_of: Callable[[NDArray[np.int64]], list[str] | None],
        rlat: NDArray[np.float64],
        rlng: NDArray[np.float64],
        lat: float,
        lng: float,
        *,
        k: int,
        kk: int,
        lb_k: float,
    ) -> list[Candidate] | None:
        # The k fastest of the rows found within the search, with their routes' lengths
        # (names_of gives the ids of rows; None when one is gone: so is this answer).
        if not found.size:
            return []
        t = times[found]
        if found.size >= kk:
            # Everything tied with the k-th time stays, so ids can break the tie.
            kth = np.partition(t, kk - 1)[kk - 1]
            keep = t <= kth
            found, t = found[keep], t[keep]
            if lb_k > 0.0:
                self._learn(float(kth) / lb_k)
        names = names_of(found)
        if names is None:
            return None
        order = sorted(range(found.size), key=lambda i: (t[i], names[i]))[:k]
        rows = found[order]
        dist = tree.lengths_m(sub, rows.tolist())
        straight = haversine_m_array(rlat[rows], rlng[rows], lat, lng)
        return [
            Candidate(names[i], float(e), float(d), float(s))
            for i, e, d, s in zip(
                order, times[rows].tolist(), dist.tolist(), straight.tolist(), strict=True
            )
        ]

    def _kth_bound(
        self, dest: Snap, px: NDArray[np.float64], py: NDArray[np.float64], kk: int
    ) -> float:
        # Driving between two snapped points covers about the straight line between them,
        # at most at the network's top speed. Only the first search limit depends on this
        # estimate (never the result), so a flat local plane is good enough.
        vmax = self._net.max_speed_mps
        if not 0.0 < vmax < math.inf:
            return 0.0
        x, y = self._plane.xy(np.array([dest.lat]), np.array([dest.lng]))
        dx = px - x[0]
        dy = py - y[0]
        d2 = dx * dx + dy * dy
        return math.sqrt(float(np.partition(d2, kk - 1)[kk - 1])) / vmax

    def _learn(self, observed: float) -> None:
        with self._lock:
            target = min(max(observed * 1.2, 1.0), 1000.0)
            self._ratio = 0.7 * self._ratio + 0.3 * target

    def _learn_radius(self, d_k: float) -> None:
        # The disk that holds the k nearest next time (with room to spare).
        with self._lock:
            self._radius_m = 0.7 * self._radius_m + 0.3 * max(2.0 * d_k, 200.0)

    def times(
        self, dest: Snap, snaps: SnapArrays, dep: Departures, *, limit_s: float = math.inf
    ) -> NDArray[np.float64]:
        """Return every row's exact time to ``dest``, searching only up to ``limit_s``.

        ``inf``: off the network, unreachable, or slower than ``limit_s`` (every time
        ``<= limit_s`` is exact).
        """
        out = np.full(snaps.edge.shape[0], math.inf)
        on = np.flatnonzero(snaps.edge >= 0)
        if 0 < on.size == out.shape[0]:  # all on the network (a batch's usual case): no copy
            out = self._net.tree_to_snapped(dest, limit_s=limit_s).times(snaps, dep)
        elif on.size:
            tree = self._net.tree_to_snapped(dest, limit_s=limit_s)
            out[on] = tree.times(_rows(snaps, on), _dep_rows(dep, on))
        out[out > limit_s] = math.inf  # reached through a node in reach, maybe not fastest
        return out
