"""Solve a batch of unit slots against available responders: optimal or greedy.

The functions here are pure numpy/scipy on a cost matrix; which slots and responders take
part, and what each pair costs, is decided by
:func:`~kayou_dispatch.matching.batch.plan_batch` (for
:meth:`~kayou_dispatch.lifecycle.Dispatcher.assign_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m_array

__all__ = ["ASSIGN_POLICIES", "coverage_penalty", "SEVERITY_WEIGHTS", "solve_slots"]

AssignPolicy = Literal["optimal", "greedy"]

#: The policies :func:`solve_slots` accepts.
ASSIGN_POLICIES: tuple[str, ...] = ("greedy", "optimal")

#: Multiplier of a slot's ETA by incident severity (5 is the most severe): a second of
#: delay to a severity-5 incident costs four times a second to a severity-1 one.
SEVERITY_WEIGHTS: dict[int, float] = {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.5, 5: 2.0}

# Serving a slot is worth this many (weighted) seconds, so when responders are short the
# solver keeps the most severe slots (a constant shift: it never changes which responder
# serves a slot when there are enough).
_SERVE_REWARD_S = 86_400.0


def solve_slots(
    eta_s: NDArray[np.float64],
    *,
    weights: NDArray[np.float64],
    penalty_s: NDArray[np.float64] | None = None,
    policy: str = "optimal",
) -> list[tuple[int, int]]:
    """Pair slots (rows) with responders (columns) at least total weighted ETA.

    Parameters
    ----------
    eta_s
        ``(n_slots, n_responders)`` travel times; ``inf`` (or NaN) marks a pair that must
        never be assigned.
    weights
        ``(n_slots,)`` severity weights (see :data:`SEVERITY_WEIGHTS`).
    penalty_s
        Optional extra cost per pair in weighted seconds (the coverage guard).
    policy
        ``"optimal"``: minimum total cost (maximum number of slots served first) with
        :func:`scipy.optimize.linear_sum_assignment`. ``"greedy"``: rows in the given
        order (callers order them by priority) each take their cheapest free responder.

    Returns
    -------
    list of (row, col)
        Sorted by row; each row and column at most once; never an infeasible pair.

    Examples
    --------
    >>> eta = np.array([[100.0, 110.0], [105.0, np.inf]])
    >>> solve_slots(eta, weights=np.ones(2), policy="greedy")
    [(0, 0)]
    >>> solve_slots(eta, weights=np.ones(2))
    [(0, 1), (1, 0)]
    """
    if policy not in ASSIGN_POLICIES:
        msg = f"policy must be one of {ASSIGN_POLICIES}, got {policy!r}"
        raise InvalidParameterError(msg, name="policy", value=policy)
    eta = np.asarray(eta_s, dtype=np.float64)
    if eta.ndim != 2 or eta.shape[0] != len(weights):
        msg = f"eta_s must be (n_slots, n_responders) with n_slots={len(weights)}, got {eta.shape}"
        raise InvalidParameterError(msg, name="eta_s", value=eta.shape)
    if eta.size == 0:
        return []
    feasible = np.isfinite(eta)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        cost = w * (eta - _SERVE_REWARD_S)  # inf stays inf; NaN is infeasible below
    if penalty_s is not None:
        cost += np.asarray(penalty_s, dtype=np.float64)
    if policy == "greedy":
        return _greedy(cost, feasible)
    rows = np.flatnonzero(feasible.any(axis=1))
    cols = np.flatnonzero(feasible.any(axis=0))
    if rows.size == 0:
        return []
    if rows.size < cost.shape[0] or cols.size < cost.shape[1]:
        cost, feasible = cost[np.ix_(rows, cols)], feasible[np.ix_(rows, cols)]
    # Larger than any sum of feasible costs: the solver uses an infeasible pair only when
    # it must (rectangular problems assign min(n, m) pairs), and those are dropped below.
    finite = cost[feasible]
    big = (max(abs(float(finite.max())), abs(float(finite.min()))) + 1.0) * (min(cost.shape) + 1)
    cost[~feasible] = big
    from scipy.optimize import linear_sum_assignment  # only here: a quick package import

    r, c = linear_sum_assignment(cost)
    keep = feasible[r, c]
    return sorted(zip(rows[r[keep]].tolist(), cols[c[keep]].tolist(), strict=True))


def _greedy(cost: NDArray[np.float64], feasible: NDArray[np.bool_]) -> list[tuple[int, int]]:
    cost = np.where(feasible, cost, np.inf)
    out = []
    for i in range(cost.shape[0]):
        j = int(np.argmin(cost[i]))
        if not np.isfinite(cost[i, j]):
            continue
        cost[:, j] = np.inf  # taken
        out.append((i, j))
    return out


def coverage_penalty(
    lats: NDArray[np.float64],
    lngs: NDArray[np.float64],
    capabilities: Sequence[frozenset[str]],
    slot_needs: Sequence[frozenset[str]],
    weights: NDArray[np.float64],
    *,
    rare: frozenset[str],
    radius_m: float,
    margin_s: float,
) -> NDArray[np.float64] | None:
    """Return the extra cost that keeps the last holder of a rare capability in its area.

    A responder (column) holding a capability of ``rare`` with no other holder within
    ``radius_m`` costs ``margin_s`` (times the slot's weight) more for every slot (row)
    whose needs lack that capability. The optimal solver then sends another responder
    whenever one arrives within the margin; slots needing the capability are unaffected.
    Only holders among the given responders (the batch's candidates) count.

    Returns
    -------
    ndarray or None
        ``(n_slots, n_responders)`` weighted seconds, or ``None`` when nobody is guarded.

    Examples
    --------
    >>> caps = [frozenset({"crane"}), frozenset()]
    >>> p = coverage_penalty(np.array([22.7, 22.7]), np.array([114.2, 114.21]), caps,
    ...                      [frozenset(), frozenset({"crane"})], np.array([1.0, 2.0]),
    ...                      rare=frozenset({"crane"}), radius_m=5000.0, margin_s=60.0)
    >>> p.tolist()
    [[60.0, 0.0], [0.0, 0.0]]
    """
    n_slots, n_resp = len(slot_needs), len(capabilities)
    penalty = np.zeros((n_slots, n_resp))
    w = np.asarray(weights, dtype=np.float64)
    guarded = False
    for cap in sorted(rare):
        holders = [j for j, caps in enumerate(capabilities) if cap in caps]
        if not holders:
            continue
        lat, lng = lats[holders], lngs[holders]
        lacks = ~np.fromiter((cap in n for n in slot_needs), bool, n_slots)
        for k, j in enumerate(holders):
            near = haversine_m_array(lat, lng, float(lat[k]), float(lng[k])) <= radius_m
            if int(near.sum()) > 1:
                continue  # another holder covers the area
            penalty[lacks, j] += margin_s * w[lacks]
            guarded = True
    return penalty if guarded else None
