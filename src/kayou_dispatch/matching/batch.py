"""Plan a batch assignment: which responder each open unit slot of many incidents gets.

:func:`plan_batch` prices every (slot, candidate) pair by road ETA weighted by severity,
marks the infeasible ones (lacks the slot's needs, declined / lapsed, beyond the incident's
``max_eta_s``, unreachable) and solves with :func:`~kayou_dispatch.matching.assign.solve_slots`.
It knows nothing of the lifecycle: :meth:`~kayou_dispatch.lifecycle.Dispatcher.assign_batch`
builds its inputs from incident state and records the offers it returns.

Bounded searches
----------------
With a matrix that honours ``limit_s`` (``bounded=True``), each incident's search first
stops at 150 s (or its ``max_eta_s``); a pair beyond is priced at the limit, a lower bound.
The optimal policy solves a sparse relaxation: the searched pairs, plus one private
"beyond" option per slot at its bound (any assignment on full ETAs maps onto it at no more
cost). If the solution takes a "beyond" option, those incidents search four times further
and it is solved again; a solution without one is exactly the solution on full ETAs. The
greedy policy walks the slots once and widens an incident only when a slot's cheapest is a
bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.matching.assign import (
    _SERVE_REWARD_S,
    ASSIGN_POLICIES,
    SEVERITY_WEIGHTS,
    coverage_penalty,
)

__all__ = ["BatchCandidate", "BatchIncident", "BatchPick", "FIRST_LIMIT_S", "plan_batch"]

#: First search limit of a batch's ETA matrix (when the matrix takes ``limit_s``). Searches
#: grow with the square of their limit and widen four times when needed (at most a third
#: more work than knowing the limit), so a short first one pays: on a 250,000-node region
#: with 5,000 responders (benchmarks/bench_assign.py) 150 s took 1.1-1.4 s against 1.7-2.4
#: s at 600 s.
FIRST_LIMIT_S = 150.0

#: ``etas(points, responder_ids, limits_s)``: seconds, shape (points, responders); exact up
#: to each point's limit (``inf`` where not searched or unreachable).
BatchEtas = Callable[
    [list[tuple[float, float]], list[str], NDArray[np.float64]], NDArray[np.float64]
]


class BatchCandidate(Protocol):
    """What the planner reads from a responder (a :class:`~kayou_dispatch.Responder` fits)."""

    @property
    def responder_id(self) -> str: ...

    @property
    def lat(self) -> float: ...

    @property
    def lng(self) -> float: ...

    @property
    def capabilities(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class BatchIncident:
    """One incident of a batch: its place, severity, bound, exclusions and open slots."""

    lat: float
    lng: float
    severity: int
    max_eta_s: float | None
    excluded: frozenset[str]
    slots: tuple[frozenset[str], ...]  # the needs of each slot to fill


@dataclass(frozen=True, slots=True)
class BatchPick:
    """One slot's responder: incident row, the slot's needs, who, and the ETA."""

    incident: int
    needs: frozenset[str]
    responder_id: str
    eta_s: float


def plan_batch(
    incidents: Sequence[BatchIncident],
    candidates: Sequence[BatchCandidate],
    etas: BatchEtas,
    *,
    bounded: bool,
    policy: str,
    coverage_margin_s: float | None = None,
    rare: Iterable[str] = (),
    coverage_radius_m: float = 10_000.0,
) -> list[BatchPick]:
    """Return the responder each slot gets (slots nobody feasible can serve get none).

    ``candidates`` are sorted by id first (ties are broken by column order). See the
    module docstring for ``bounded``; ``coverage_margin_s``, ``rare`` and
    ``coverage_radius_m`` are :func:`~kayou_dispatch.matching.assign.coverage_penalty`'s.
    """
    if policy not in ASSIGN_POLICIES:
        msg = f"policy must be one of {ASSIGN_POLICIES}, got {policy!r}"
        raise InvalidParameterError(msg, name="policy", value=policy)
    slots = [(row, needs) for row, inc in enumerate(incidents) for needs in inc.slots]
    if not slots or not candidates:
        return []
    cands = sorted(candidates, key=lambda r: r.responder_id)
    all_needs = {needs for _, needs in slots}
    ids = [r.responder_id for r in cands]
    col_of = {rid: j for j, rid in enumerate(ids)}
    points = [(inc.lat, inc.lng) for inc in incidents]
    caps = np.array([math.inf if i.max_eta_s is None else i.max_eta_s for i in incidents])
    limits = np.minimum(caps, FIRST_LIMIT_S if bounded else math.inf)
    exact = etas(points, ids, limits)
    blocked = np.zeros(exact.shape, dtype=bool)  # declined / lapsed: never again
    for row, inc in enumerate(incidents):
        for rid in inc.excluded:
            j = col_of.get(rid)
            if j is not None:
                blocked[row, j] = True
    has = {
        needs: np.fromiter((needs <= r.capabilities for r in cands), bool, len(cands))
        for needs in all_needs
    }
    slot_rows = np.fromiter((row for row, _ in slots), np.int64, len(slots))
    slot_needs = [needs for _, needs in slots]
    lacks = np.zeros((len(slots), len(cands)), dtype=bool)
    for needs in all_needs:
        if needs:
            rows = np.array([i for i, n in enumerate(slot_needs) if n == needs], np.intp)
            lacks[np.ix_(rows, np.flatnonzero(~has[needs]))] = True
    weights = np.fromiter(
        (SEVERITY_WEIGHTS[incidents[row].severity] for row, _ in slots), np.float64, len(slots)
    )
    penalty = None
    if coverage_margin_s:
        penalty = coverage_penalty(
            np.array([r.lat for r in cands]),
            np.array([r.lng for r in cands]),
            [r.capabilities for r in cands],
            slot_needs,
            weights,
            rare=frozenset(rare),
            radius_m=coverage_radius_m,
            margin_s=coverage_margin_s,
        )
    batch = _Bounded(
        etas, points, ids, exact, limits, caps, blocked, lacks, slot_rows, weights, penalty
    )
    picks = batch.greedy() if policy == "greedy" else batch.optimal()
    return [
        BatchPick(slots[i][0], slots[i][1], ids[j], float(batch.exact[slot_rows[i], j]))
        for i, j in picks
    ]


class _Bounded:
    """A batch's ETAs as searched so far, and the two solvers, which widen them as needed.

    ``exact[r]`` is exact up to ``limits[r]`` (every time there, ``inf`` beyond); a pair
    beyond is priced at the limit (a lower bound) while the limit is below the incident's
    cap, and is infeasible once it is not.
    """

    def __init__(
        self,
        etas: BatchEtas,
        points: list[tuple[float, float]],
        ids: list[str],
        exact: NDArray[np.float64],
        limits: NDArray[np.float64],
        caps: NDArray[np.float64],
        blocked: NDArray[np.bool_],
        lacks: NDArray[np.bool_],
        slot_rows: NDArray[np.int64],
        weights: NDArray[np.float64],
        penalty: NDArray[np.float64] | None,
    ) -> None:
        self.etas, self.points, self.ids = etas, points, ids
        self.exact, self.limits, self.caps = exact, limits, caps
        self.blocked, self.lacks, self.slot_rows = blocked, lacks, slot_rows
        self.weights, self.penalty = weights, penalty

    def widen(self, rows: list[int]) -> None:
        """Search these incidents four times further (to their cap, or everywhere)."""
        wider = self.limits[rows] * 4.0
        caps = self.caps[rows]
        self.limits[rows] = np.where(wider > 86_400.0, math.inf, np.minimum(wider, caps))
        self.exact[rows] = self.etas([self.points[r] for r in rows], self.ids, self.limits[rows])

    # -- greedy ------------------------------------------------------------------------

    def _greedy_cost(self, i: int, r: int) -> NDArray[np.float64]:
        # Slot i's row of solve_slots' greedy cost on the bounded matrix (the same floats).
        limit, cap = self.limits[r], self.caps[r]
        exact = self.exact[r]
        known = exact <= limit
        eta = np.where(known, exact, limit if limit < cap else math.inf)
        eta[(eta > cap) | self.blocked[r] | self.lacks[i]] = math.inf
        feasible = np.isfinite(eta)
        with np.errstate(invalid="ignore"):
            cost = self.weights[i] * (eta - _SERVE_REWARD_S)
        if self.penalty is not None:
            cost += self.penalty[i]
        out: NDArray[np.float64] = np.where(feasible, cost, math.inf)
        return out

    def greedy(self) -> list[tuple[int, int]]:
        """Slots in order each take their cheapest free responder, as on the full matrix.

        A slot whose cheapest is a bound (not searched) widens its incident and looks
        again: a searched pick is cheaper than every bound, so than every true ETA beyond.
        """
        taken = np.zeros(self.exact.shape[1], dtype=bool)
        out = []
        for i, r in enumerate(self.slot_rows.tolist()):
            while True:
                cost = self._greedy_cost(i, r)
                cost[taken] = math.inf
                j = int(np.argmin(cost))
                if not cost[j] < math.inf:
                    break
                if self.exact[r, j] <= self.limits[r]:  # searched: no bound is cheaper
                    taken[j] = True
                    out.append((i, j))
                    break
                self.widen([r])
        return out

    # -- optimal -----------------------------------------------------------------------

    def optimal(self) -> list[tuple[int, int]]:
        """The least-cost assignment on full ETAs (most slots served first).

        Solved on a relaxation: the searched pairs, plus for each slot one private
        "beyond" option priced at its cheapest bound. Any assignment on full ETAs maps
        onto it at no more cost (a pair beyond the limit onto the slot's own option), so
        a solution using no "beyond" option is optimal on full ETAs; otherwise the slots'
        incidents that used one are widened and it is solved again.
        """
        avail = (~self.lacks & ~self.blocked[self.slot_rows]).sum(axis=1)
        while True:
            picks, unsure = self._solve_relaxed(avail)
            if not unsure:
                return picks
            self.widen(unsure)

    def _solve_relaxed(self, avail: NDArray[np.int64]) -> tuple[list[tuple[int, int]], list[int]]:
        exact, limits, caps, slot_rows = self.exact, self.limits, self.caps, self.slot_rows
        n_slots, n_cols = slot_rows.shape[0], exact.shape[1]
        top = np.minimum(limits, caps)[:, None]
        ok = (exact <= top) & (exact < math.inf) & ~self.blocked
        inc, col = np.nonzero(ok)  # row-major: sorted by incident
        start = np.searchsorted(inc, np.arange(exact.shape[0] + 1))
        count = (start[1:] - start[:-1])[slot_rows]
        total = int(count.sum())
        slot = np.repeat(np.arange(n_slots), count)
        first = np.cumsum(count) - count
        col = col[np.repeat(start[:-1][slot_rows] - first, count) + np.arange(total)]
        keep = ~self.lacks[slot, col]
        slot, col = slot[keep], col[keep]
        w = self.weights
        cost = w[slot] * (exact[slot_rows[slot], col] - _SERVE_REWARD_S)
        if self.penalty is not None:
            cost += self.penalty[slot, col]
        # Each slot's "beyond" option: its incident's bound, when some pair is beyond it.
        bound = np.where(limits < caps, limits, math.inf)[slot_rows]
        beyond = (avail > np.bincount(slot, minlength=n_slots)) & (bound < math.inf)
        far = np.flatnonzero(beyond)
        far_cost = w[far] * (bound[far] - _SERVE_REWARD_S)
        if self.penalty is not None and far.size:
            rows = slot_rows[far]
            unsearched = ~(exact[rows] <= limits[rows, None]) & ~self.blocked[rows]
            unsearched &= ~self.lacks[far]
            far_cost += np.where(unsearched, self.penalty[far], math.inf).min(axis=1)
        if not (cost.size or far.size):
            return [], []
        costs = np.concatenate([cost, far_cost])
        lo, hi = float(costs.min()), float(costs.max())
        # Leaving a slot unserved costs more than any assignment can save: most slots first.
        big = 2.0 * (hi - lo + 1.0) * (n_slots + 1)
        every = np.arange(n_slots)
        graph = csr_matrix(
            (
                np.concatenate([costs - lo + 1.0, np.full(n_slots, big)]),
                (
                    np.concatenate([slot, far, every]),
                    np.concatenate([col, n_cols + far, n_cols + n_slots + every]),
                ),
            ),
            shape=(n_slots, n_cols + 2 * n_slots),
        )
        r, c = min_weight_full_bipartite_matching(graph)
        served = c < n_cols
        picks = list(zip(r[served].tolist(), c[served].tolist(), strict=True))
        past = (c >= n_cols) & (c < n_cols + n_slots)
        return picks, sorted(set(slot_rows[r[past]].tolist()))
