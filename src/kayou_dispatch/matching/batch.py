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
If the solution uses such a pair, those incidents search four times further and it is
solved again; a solution without one is exactly the solution on full ETAs (lower bounds
everywhere else cannot make another solution cheaper).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.matching.assign import SEVERITY_WEIGHTS, coverage_penalty, solve_slots

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
    while True:
        known = exact <= limits[:, None]
        bound = np.where(limits < caps, limits, np.inf)[:, None]
        eta_inc = np.where(known, exact, bound)
        eta_inc[(eta_inc > caps[:, None]) | blocked] = np.inf
        eta = eta_inc[slot_rows]
        eta[lacks] = np.inf
        picks = solve_slots(eta, weights=weights, penalty_s=penalty, policy=policy)
        unsure = sorted({slot_rows[i] for i, j in picks if not known[slot_rows[i], j]})
        if not unsure:
            break
        wider = limits[unsure] * 4.0
        limits[unsure] = np.where(wider > 86_400.0, math.inf, np.minimum(wider, caps[unsure]))
        exact[unsure] = etas([points[r] for r in unsure], ids, limits[unsure])
    return [BatchPick(slots[i][0], slots[i][1], ids[j], float(eta[i, j])) for i, j in picks]
