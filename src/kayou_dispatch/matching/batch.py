"""Plan a batch assignment: which responder each open unit slot of many incidents gets.

:func:`plan_batch` prices every (slot, candidate) pair by road ETA weighted by severity,
marks the infeasible ones (lacks the slot's needs, declined / lapsed, beyond the incident's
``max_eta_s``, unreachable) and solves with :func:`~kayou_dispatch.matching.assign.solve_slots`.
It knows nothing of the lifecycle: :meth:`~kayou_dispatch.lifecycle.Dispatcher.assign_batch`
builds its inputs from incident state and records the offers it returns.

Bounded searches
----------------
With a matrix that honours ``limit_s`` (``bounded=True``), each incident's search first
stops at :data:`FIRST_LIMIT_S` (or its ``max_eta_s``); a pair beyond is priced at the
limit, a lower bound. The optimal policy solves a sparse relaxation: the searched pairs,
plus one private "beyond" option per slot at its bound (any assignment on full ETAs maps
onto it at no more cost). If the solution takes a "beyond" option, those incidents search
:data:`WIDEN` times further and it is solved again; a solution without one is exactly the
solution on full ETAs. The greedy policy walks the slots once and widens an incident only
when a slot's cheapest free responder might lie beyond its limit.
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
    solve_slots,
)

__all__ = ["BatchCandidate", "BatchIncident", "BatchPick", "FIRST_LIMIT_S", "plan_batch"]

#: First search limit of a batch's ETA matrix (when the matrix takes ``limit_s``). On a
#: large network a bounded search costs about the same up to a few minutes (a whole-graph
#: search pays for initialising the network first), then grows with the square of its
#: limit: on a 250,000-node region with 5,000 responders (benchmarks/bench_assign.py) 250 s
#: widened 20 of 500 incidents where 150 s widened 110 (one search: about 1 ms either way).
FIRST_LIMIT_S = 250.0

#: How much further an incident searches each time its limit is not enough (rounds are
#: cheap: a sparse solve, and searches of the few incidents widened).
WIDEN = 2.0

# Above one searched pair in this many of the dense matrix, the optimal policy solves the
# dense matrix instead (linear_sum_assignment beats building and solving millions of edges).
_DENSE_SHARE = 8

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
    ids = [r.responder_id for r in cands]
    points = [(inc.lat, inc.lng) for inc in incidents]
    caps = np.array([math.inf if i.max_eta_s is None else i.max_eta_s for i in incidents])
    limits = np.minimum(caps, FIRST_LIMIT_S if bounded else math.inf)
    exact = etas(points, ids, limits)
    col_of = {rid: j for j, rid in enumerate(ids)}
    blocked = np.zeros(exact.shape, dtype=bool)  # declined / lapsed: never again
    for row, inc in enumerate(incidents):
        for rid in inc.excluded:
            j = col_of.get(rid)
            if j is not None:
                blocked[row, j] = True
    # Who has each distinct set of needs: one bit per capability asked for, one mask per
    # distinct capability set among the candidates (there are few).
    groups = list(dict.fromkeys(needs for _, needs in slots))
    group_of = {needs: g for g, needs in enumerate(groups)}
    bit = {c: 1 << k for k, c in enumerate(sorted({c for n in groups for c in n}))}
    masks: dict[frozenset[str], int] = {}
    for r in cands:
        if r.capabilities not in masks:
            masks[r.capabilities] = sum(bit.get(c, 0) for c in r.capabilities)
    held = np.fromiter((masks[r.capabilities] for r in cands), np.int64, len(cands))
    wants = np.array([sum(bit[c] for c in needs) for needs in groups], np.int64)
    has = (held[None, :] & wants[:, None]) == wants[:, None]  # (groups, candidates)
    slot_rows = np.fromiter((row for row, _ in slots), np.int64, len(slots))
    slot_group = np.fromiter((group_of[needs] for _, needs in slots), np.int64, len(slots))
    slot_needs = [needs for _, needs in slots]
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
        etas, points, ids, exact, limits, caps, blocked, has, slot_group, slot_rows, weights
    )
    batch.penalty = penalty
    picks = batch.greedy() if policy == "greedy" else batch.optimal()
    return [
        BatchPick(slots[i][0], slots[i][1], ids[j], float(batch.exact[slot_rows[i], j]))
        for i, j in picks
    ]


class _Bounded:
    """A batch's ETAs as searched so far, and the two solvers, which widen them as needed.

    ``exact[r]`` is exact up to ``limits[r]`` (every time there, ``inf`` beyond); a pair
    beyond is priced at the limit (a lower bound) while the limit is below the incident's
    cap, and is infeasible once it is not. Slot ``i`` belongs to incident ``slot_rows[i]``
    and may take the candidates ``has[slot_group[i]]``.
    """

    penalty: NDArray[np.float64] | None = None

    def __init__(
        self,
        etas: BatchEtas,
        points: list[tuple[float, float]],
        ids: list[str],
        exact: NDArray[np.float64],
        limits: NDArray[np.float64],
        caps: NDArray[np.float64],
        blocked: NDArray[np.bool_],
        has: NDArray[np.bool_],
        slot_group: NDArray[np.int64],
        slot_rows: NDArray[np.int64],
        weights: NDArray[np.float64],
    ) -> None:
        self.etas, self.points, self.ids = etas, points, ids
        self.exact, self.limits, self.caps, self.blocked = exact, limits, caps, blocked
        self.has, self.slot_group, self.slot_rows = has, slot_group, slot_rows
        self.weights = weights
        # Per slot, how many candidates are feasible but for their ETA (blocked are few).
        self.avail = has.sum(axis=1)[slot_group]
        excluding = np.asarray(blocked.any(axis=1))
        for i in np.flatnonzero(excluding[slot_rows]).tolist():
            self.avail[i] -= int(has[slot_group[i], blocked[slot_rows[i]]].sum())
        self.searched: list[NDArray[np.int64]] = [np.zeros(0, np.int64)] * exact.shape[0]
        self._refresh(np.arange(exact.shape[0]))

    def _refresh(self, rows: NDArray[np.int64]) -> None:
        # Each incident's searched, feasible (within limit and cap, not blocked) columns.
        sub = self.exact[rows]
        top = np.minimum(self.limits[rows], self.caps[rows])[:, None]
        row, col = np.nonzero(sub <= top)
        keep = (sub[row, col] < math.inf) & ~self.blocked[rows[row], col]
        row, col = row[keep], col[keep]
        at = np.searchsorted(row, np.arange(rows.shape[0] + 1)).tolist()
        for k, r in enumerate(rows.tolist()):
            self.searched[r] = col[at[k] : at[k + 1]]

    def widen(self, rows: list[int]) -> None:
        """Search these incidents further (to their cap, or everywhere past a day)."""
        at = np.array(rows, dtype=np.int64)
        wider = self.limits[at] * WIDEN
        self.limits[at] = np.where(wider > 86_400.0, math.inf, np.minimum(wider, self.caps[at]))
        self.exact[at] = self.etas([self.points[r] for r in rows], self.ids, self.limits[at])
        self._refresh(at)

    def _options(
        self,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
    ]:
        """The relaxation: (slot, column, cost) of every searched feasible pair, and the
        slots that have a pair beyond their limit with the cheapest such pair's bound cost."""
        exact, limits, caps, slot_rows = self.exact, self.limits, self.caps, self.slot_rows
        n_slots = slot_rows.shape[0]
        per = [self.searched[r] for r in slot_rows.tolist()]
        count = np.fromiter(map(len, per), np.int64, n_slots)
        slot = np.repeat(np.arange(n_slots), count)
        col = np.concatenate(per) if per else np.zeros(0, np.int64)
        keep = self.has[self.slot_group[slot], col]
        slot, col = slot[keep], col[keep]
        w = self.weights
        cost = w[slot] * (exact[slot_rows[slot], col] - _SERVE_REWARD_S)
        if self.penalty is not None:
            cost += self.penalty[slot, col]
        # Each slot's "beyond" option: its incident's bound, when some pair is beyond it.
        bound = np.where(limits < caps, limits, math.inf)[slot_rows]
        beyond = (self.avail > np.bincount(slot, minlength=n_slots)) & (bound < math.inf)
        far = np.flatnonzero(beyond)
        far_cost = w[far] * (bound[far] - _SERVE_REWARD_S)
        if self.penalty is not None and far.size:
            rows = slot_rows[far]
            unsearched = ~(exact[rows] <= limits[rows, None]) & ~self.blocked[rows]
            unsearched &= self.has[self.slot_group[far]]
            far_cost += np.where(unsearched, self.penalty[far], math.inf).min(axis=1)
        return slot, col, cost, far, far_cost

    # -- greedy ------------------------------------------------------------------------

    def greedy(self) -> list[tuple[int, int]]:
        """Slots in order each take their cheapest free responder, as on the full matrix.

        A slot takes its cheapest free searched responder only when that is cheaper than
        its cheapest free bound (so than every true ETA beyond); otherwise its incident is
        widened and it looks again. First, every incident with a slot whose cheapest is a
        bound even with everybody free is widened, together (one call, not one per slot).
        """
        n_slots = self.slot_rows.shape[0]
        while (self.limits < self.caps).any():  # (else nothing lies beyond a limit)
            slot, _, cost, far, far_cost = self._options()
            best = np.full(n_slots, math.inf)
            np.minimum.at(best, slot, cost)
            short = far[far_cost <= best[far]]
            if not short.size:
                break
            self.widen(sorted(set(self.slot_rows[short].tolist())))
        taken = np.zeros(self.exact.shape[1], dtype=bool)
        order = np.zeros(n_slots, dtype=np.int64)  # the taken columns, in order
        out: list[tuple[int, int]] = []
        rows, groups = self.slot_rows.tolist(), self.slot_group.tolist()
        # The least any pair beyond a limit can cost a slot (but its bound), to skip most
        # slots' look at the pairs beyond.
        least = np.zeros(n_slots) if self.penalty is None else self.penalty.min(axis=1)
        for i, (r, g) in enumerate(zip(rows, groups, strict=True)):
            while True:
                j, c = self._cheapest_searched(i, r, g, taken)
                limit = self.limits[r]
                if (
                    limit < self.caps[r]
                    and self.weights[i] * (limit - _SERVE_REWARD_S) + least[i] <= c
                ):
                    beyond = self._cheapest_beyond(i, r, g, taken, order[: len(out)])
                    if beyond <= c and beyond < math.inf:  # (equal: widen, not guess)
                        self.widen([r])
                        continue
                if j >= 0:
                    taken[j] = True
                    order[len(out)] = j
                    out.append((i, j))
                break
        return out

    def _cheapest_searched(
        self, i: int, r: int, g: int, taken: NDArray[np.bool_]
    ) -> tuple[int, float]:
        # Slot i's cheapest free searched column (the first of equals) and its cost.
        cols = self.searched[r]
        cols = cols[self.has[g, cols] & ~taken[cols]]
        if not cols.size:
            return -1, math.inf
        cost = self.weights[i] * (self.exact[r, cols] - _SERVE_REWARD_S)
        if self.penalty is not None:
            cost += self.penalty[i, cols]
        k = int(np.argmin(cost))
        return int(cols[k]), float(cost[k])

    def _cheapest_beyond(
        self, i: int, r: int, g: int, taken: NDArray[np.bool_], order: NDArray[np.int64]
    ) -> float:
        # The cost of slot i's cheapest free pair beyond its limit, priced at the bound.
        limit = self.limits[r]
        if not limit < self.caps[r]:
            return math.inf  # searched to the cap: nothing beyond is feasible
        price = self.weights[i] * (limit - _SERVE_REWARD_S)
        if self.penalty is None:
            free = self.avail[i] - int(self.has[g, self.searched[r]].sum())
            free -= int(
                (
                    self.has[g, order] & ~self.blocked[r, order] & ~(self.exact[r, order] <= limit)
                ).sum()
            )
            return float(price) if free > 0 else math.inf
        beyond = self.has[g] & ~self.blocked[r] & ~(self.exact[r] <= limit) & ~taken
        return float(price + self.penalty[i][beyond].min()) if beyond.any() else math.inf

    # -- optimal -----------------------------------------------------------------------

    def optimal(self) -> list[tuple[int, int]]:
        """The least-cost assignment on full ETAs (most slots served first).

        Solved on a relaxation: the searched pairs, plus for each slot one private
        "beyond" option priced at its cheapest bound. Any assignment on full ETAs maps
        onto it at no more cost (a pair beyond the limit onto the slot's own option), so
        a solution using no "beyond" option is optimal on full ETAs; otherwise the slots'
        incidents that used one are widened and it is solved again.
        """
        while True:
            picks, unsure = self._solve_relaxed()
            if not unsure:
                return picks
            self.widen(unsure)

    def _solve_relaxed(self) -> tuple[list[tuple[int, int]], list[int]]:
        n_pairs = sum(self.searched[r].shape[0] for r in self.slot_rows.tolist())
        if n_pairs * _DENSE_SHARE > self.slot_rows.shape[0] * self.exact.shape[1]:
            return self._solve_dense()
        slot, col, cost, far, far_cost = self._options()
        n_slots, n_cols = self.slot_rows.shape[0], self.exact.shape[1]
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
        return picks, sorted(set(self.slot_rows[r[past]].tolist()))

    def _solve_dense(self) -> tuple[list[tuple[int, int]], list[int]]:
        # Most pairs searched (an unbounded matrix): linear_sum_assignment on the dense
        # matrix, every pair beyond a limit priced at its bound (as exact a test: a
        # solution on searched pairs only is the solution on full ETAs).
        exact, limits, caps, slot_rows = self.exact, self.limits, self.caps, self.slot_rows
        known = exact <= limits[:, None]
        bound = np.where(limits < caps, limits, math.inf)[:, None]
        eta_inc = np.where(known, exact, bound)
        eta_inc[(eta_inc > caps[:, None]) | self.blocked] = math.inf
        eta = eta_inc[slot_rows]
        eta[~self.has[self.slot_group]] = math.inf
        picks = solve_slots(eta, weights=self.weights, penalty_s=self.penalty)
        unsure = {int(slot_rows[i]) for i, j in picks if not known[slot_rows[i], j]}
        return picks, sorted(unsure)
