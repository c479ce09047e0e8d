"""Rank responders by exact road travel time to an incident: the k fastest, found cheaply.

Exact by construction: one reverse Dijkstra search from the incident, bounded at a time
limit ``L``, gives every candidate whose travel time is ``<= L`` exactly (see
:meth:`~kayou_dispatch.network.RoadNetwork.travel_times_to_snapped`) and tells that every
other one takes longer. When at least ``k`` candidates arrive within ``L``, they hold the
answer; otherwise ``L`` doubles (a few times, then the search goes unbounded), so the result
always equals sorting every candidate's exact time.

``L`` starts from a lower bound: the straight-line distance between snapped points at the
network's top speed, for the k-th best such bound, times a ratio learned from past
rankings (road time over that bound). A good start means one search, whose cost grows with
the area it covers rather than with the network.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.matching.candidates import CandidateSet, LocalPlane
from kayou_dispatch.network import RoadNetwork, Snap, SnapArrays
from kayou_dispatch.network.trips import Departures

__all__ = ["Candidate", "Ranker"]

# Bounded searches (doubling the limit) before one unbounded search.
_BOUNDED_TRIES = 4


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
        self.searches = 0  # searches run so far (for tests and benchmarks)
        self._plane = LocalPlane(network)

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
            tree = self._net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
            self.searches += 1
            times = tree.times(sub, dep)
            found = np.flatnonzero((times <= min(limit, max_eta_s)) & (times < math.inf))
            if found.size >= kk or limit >= max_eta_s:
                break
            tries += 1
            limit = min(2.0 * limit if tries < _BOUNDED_TRIES else math.inf, max_eta_s)
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
        names, slots = cands.names, cands.slots[on[found]].tolist()
        order = sorted(range(found.size), key=lambda i: (t[i], names[slots[i]]))[:k]
        rows = found[order]
        legs = tree.legs(sub, rows.tolist())
        dist = tree.distances_m(legs)
        at = on[rows]
        straight = haversine_m_array(cands.lat[at], cands.lng[at], lat, lng)
        return [
            Candidate(str(names[a]), float(e), float(d), float(s))
            for a, e, d, s in zip(
                cands.slots[at].tolist(),
                times[rows].tolist(),
                dist.tolist(),
                straight.tolist(),
                strict=True,
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

    def times(
        self, dest: Snap, snaps: SnapArrays, dep: Departures, *, limit_s: float = math.inf
    ) -> NDArray[np.float64]:
        """Return every row's exact time to ``dest``, searching only up to ``limit_s``.

        ``inf``: off the network, unreachable, or slower than ``limit_s`` (every time
        ``<= limit_s`` is exact).
        """
        out = np.full(snaps.edge.shape[0], math.inf)
        on = np.flatnonzero(snaps.edge >= 0)
        if on.size:
            tree = self._net.tree_to_snapped(dest, limit_s=limit_s)
            out[on] = tree.times(_rows(snaps, on), _dep_rows(dep, on))
        out[out > limit_s] = math.inf  # reached through a node in reach, maybe not fastest
        return out
