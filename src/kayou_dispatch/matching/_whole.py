"""Rank on a small network: one search over the whole graph, every snapped responder timed at once.

On a network of a few thousand nodes a bounded search costs tens of microseconds, and so
does each of the steps :meth:`~kayou_dispatch.matching.Ranker.rank_near` takes to touch
only what can matter (the k nearest by straight line, the nodes the search reached, the
responders filed under them): together they cost many times the search. Here instead:

* the search limit is learned from past rankings' k-th times, for a small fleet from the
  k-th nearest snapped responder by straight line (one pass over the cached snaps, no
  query of the index);
* one search over the whole graph (the network is small) bounded at that limit;
* every slot of the snap cache is timed at once from its cached departures
  (:meth:`~kayou_dispatch.matching.SnapCache.in_time`), after the responders that moved
  near enough were snapped (:meth:`~kayou_dispatch.matching.SnapCache.settle`), plus those
  on the incident's own edge (who may drive straight to it);
* those in time are checked (eligible, snapped from their current position) and timed
  exactly, as :meth:`~kayou_dispatch.matching.Ranker.rank_near` does.

Exact for the same reason: when at least ``k`` eligible responders arrive within the limit
they hold the answer (everyone else takes longer); otherwise the limit widens, then the
search goes unbounded.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from kayou_dispatch.matching.candidates import OFF_NETWORK_M
from kayou_dispatch.network import RoadNetwork, SnapArrays
from kayou_dispatch.network.trips import Departures

if TYPE_CHECKING:
    from kayou_dispatch.matching.rank import Candidate, Ranker, _NearQuery

__all__ = ["WholeNetwork"]

#: Networks up to this many nodes are ranked this way (tests set it to 0 or to a lot).
WHOLE_MAX_NODES = 50_000
# Bounded searches (widening the limit) before one unbounded search.
_BOUNDED_TRIES = 4
# The first limit: the learned k-th time times this (a second search costs more than a
# limit somewhat too wide).
_MARGIN = 2.0
# A fleet up to this many slots guesses each first limit from its k-th nearest snap by
# straight line instead (one pass over the slots): a sparse fleet's k-th time varies a lot.
_NEAREST_FLEET = 5_000


class WholeNetwork:
    """The whole-network ranking of one :class:`~kayou_dispatch.matching.Ranker`'s network.

    Holds what it learns: the typical k-th time (the first search's limit).
    """

    def __init__(self, network: RoadNetwork) -> None:
        self._net = network
        self._lock = threading.Lock()
        self._log_kth = math.nan  # log of the learned k-th time (nan: nothing learned yet)
        self._ratio = 3.0  # k-th time over the k-th nearest's straight line at top speed

    def pays(self) -> bool:
        """Whether rankings on this network go this way."""
        net = self._net
        return net.n_nodes <= WHOLE_MAX_NODES and 0.0 < net.max_speed_mps < math.inf

    def _first_limit(self, q: _NearQuery) -> tuple[float, float]:
        # The first search's limit, and the straight-line bound it came from (0: none).
        with self._lock:
            g, ratio = self._log_kth, self._ratio
        if len(q.index) <= _NEAREST_FLEET:
            d = q.cache.kth_nearest_m(q.dest.lat, q.dest.lng, q.k)
            if d < math.inf:
                lb = d / self._net.max_speed_mps
                return lb * ratio + 1.0, lb
        return (math.inf if math.isnan(g) else _MARGIN * math.exp(g)), 0.0

    def _learn(self, kth: float, lb: float) -> None:
        target = math.log(max(kth, 1.0))
        with self._lock:
            g = self._log_kth
            self._log_kth = target if math.isnan(g) else 0.7 * g + 0.3 * target
            if lb > 0.0:
                r = min(max(kth / lb * 1.2, 1.0), 1000.0)
                self._ratio = 0.7 * self._ratio + 0.3 * r

    def rank(self, ranker: Ranker, q: _NearQuery) -> list[Candidate] | None:
        """:meth:`Ranker.rank_near`'s answer (``None``: a ranked responder went away)."""
        net = self._net
        dest, index, cache, k, max_eta_s = q.dest, q.index, q.cache, q.k, q.max_eta_s
        cache.follow(index)
        vmax = net.max_speed_mps
        a = net.arrays
        ends = (int(a.u[dest.edge]), int(a.v[dest.edge]))
        span = ranker._span_m
        first, lb = self._first_limit(q)
        limit = min(first, max_eta_s)
        tries = 0
        while True:
            tree = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
            ranker.searches += 1
            cache.settle(dest.lat, dest.lng, min(limit * vmax + OFF_NETWORK_M, span))
            slots = cache.in_time(tree.to_dest, limit, ends)
            slots, la, ln, hd, epochs = index._eligible_slots(slots, q.needs, q.exclude)
            snaps, dep, _, _ = cache.get(slots, la, ln, hd)
            on = np.flatnonzero(snaps.edge >= 0)
            if on.size != snaps.edge.shape[0]:
                snaps = SnapArrays._make(c[on] for c in snaps)
                dep = Departures._make(c[on] for c in dep)
                slots, la, ln, epochs = slots[on], la[on], ln[on], epochs[on]
            times = tree.times(snaps, dep)
            found = np.flatnonzero((times <= min(limit, max_eta_s)) & (times < math.inf))
            if found.size >= k or limit >= max_eta_s:
                break
            tries += 1
            if tries > _BOUNDED_TRIES:
                limit = max_eta_s
            else:
                # Responders found grow about with the area searched (the limit squared).
                # At most double: on a sparse fleet a limit far too wide costs a search of
                # most of the network (measured on Andorra, 100 responders).
                grow = 2.0 if not found.size else 1.3 * math.sqrt(k / found.size)
                limit = min(limit * min(max(grow, 1.5), 2.0), max_eta_s)
        if found.size >= k:
            self._learn(float(np.partition(times[found], k - 1)[k - 1]), lb)
        ranked = (slots, epochs, la, ln)
        return ranker._top_near(q, tree, snaps, times, found, ranked, kk=k, lb_k=0.0)
