"""plan_batch on bounded searches equals the dense solvers on the full matrix (oracle).

Larger and rougher than the lifecycle tests: random ETAs up to an hour (so searches widen
over several rounds), unreachable pairs, caps, exclusions, needs and the coverage guard.
The oracle is :func:`~kayou_dispatch.matching.assign.solve_slots` on the full matrix
(``linear_sum_assignment``, itself checked against brute force in tests/lifecycle).
"""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from kayou_dispatch.matching import batch
from kayou_dispatch.matching.assign import (
    _SERVE_REWARD_S,
    SEVERITY_WEIGHTS,
    coverage_penalty,
    solve_slots,
)
from kayou_dispatch.matching.batch import FIRST_LIMIT_S, BatchIncident, plan_batch

CAPS = ("tow", "crane", "first_aid")


@dataclass(frozen=True)
class Resp:
    responder_id: str
    lat: float
    lng: float
    capabilities: frozenset[str]


def instance(seed):
    rng = np.random.default_rng(seed)
    n_inc, n_resp = int(rng.integers(1, 25)), int(rng.integers(1, 80))
    resp = [
        Resp(
            f"r{j:03d}",
            22.7 + rng.uniform(-0.2, 0.2),
            114.2 + rng.uniform(-0.2, 0.2),
            frozenset(c for c in CAPS if rng.random() < 0.3),
        )
        for j in range(n_resp)
    ]
    rng.shuffle(resp)  # plan_batch sorts by id itself
    incs = []
    for _ in range(n_inc):
        slots = tuple(
            frozenset(c for c in CAPS if rng.random() < 0.15)
            for _ in range(int(rng.integers(1, 4)))
        )
        excluded = frozenset(r.responder_id for r in resp if rng.random() < 0.05)
        cap = None if rng.random() < 0.7 else float(rng.choice([120.0, 900.0, 3000.0]))
        incs.append(
            BatchIncident(
                22.7 + rng.uniform(-0.2, 0.2),
                114.2 + rng.uniform(-0.2, 0.2),
                int(rng.integers(1, 6)),
                cap,
                excluded,
                slots,
            )
        )
    # ETA spread wide (beyond several widenings), some unreachable; some exact ties.
    full = np.round(rng.exponential(400.0, (n_inc, n_resp)) * rng.uniform(0.2, 3.0), 0)
    full[rng.random(full.shape) < 0.1] = np.inf
    return incs, resp, full


def oracle(incs, resp, full, policy, margin):
    """solve_slots on the full matrix, built as plan_batch documents it."""
    cands = sorted(resp, key=lambda r: r.responder_id)
    ids = [r.responder_id for r in cands]
    slots = [(row, needs) for row, inc in enumerate(incs) for needs in inc.slots]
    cols = [ids.index(r.responder_id) for r in resp]
    eta_inc = np.empty_like(full)
    eta_inc[:, cols] = full
    for row, inc in enumerate(incs):
        if inc.max_eta_s is not None:
            eta_inc[row, eta_inc[row] > inc.max_eta_s] = np.inf
        for j, rid in enumerate(ids):
            if rid in inc.excluded:
                eta_inc[row, j] = np.inf
    eta = eta_inc[[row for row, _ in slots]]
    for i, (_, needs) in enumerate(slots):
        for j, r in enumerate(cands):
            if not needs <= r.capabilities:
                eta[i, j] = np.inf
    weights = np.array([SEVERITY_WEIGHTS[incs[row].severity] for row, _ in slots])
    penalty = None
    if margin:
        penalty = coverage_penalty(
            np.array([r.lat for r in cands]),
            np.array([r.lng for r in cands]),
            [r.capabilities for r in cands],
            [needs for _, needs in slots],
            weights,
            rare=frozenset({"crane"}),
            radius_m=10_000.0,
            margin_s=margin,
        )
    picks = solve_slots(eta, weights=weights, penalty_s=penalty, policy=policy)
    cost = sum(weights[i] * (eta[i, j] - _SERVE_REWARD_S) for i, j in picks)
    if penalty is not None:
        cost += sum(penalty[i, j] for i, j in picks)
    out = [(slots[i][0], slots[i][1], ids[j], float(eta[i, j])) for i, j in picks]
    return out, cost, weights, penalty, slots, ids


@pytest.mark.parametrize(
    ("policy", "dense_share"),
    [("optimal", 0), ("optimal", 10**9), ("greedy", batch._DENSE_SHARE)],
    ids=["optimal-sparse", "optimal-dense", "greedy"],
)
@pytest.mark.parametrize("margin", [None, 300.0])
@pytest.mark.parametrize("seed", range(40))
def test_bounded_plan_equals_the_full_matrix_oracle(seed, policy, dense_share, margin, monkeypatch):
    monkeypatch.setattr(batch, "_DENSE_SHARE", dense_share)  # each optimal solver alike
    incs, resp, full = instance(seed)
    order = {r.responder_id: j for j, r in enumerate(resp)}
    limits_seen = []

    def etas(points, ids, limits):
        rows = [next(i for i, inc in enumerate(incs) if (inc.lat, inc.lng) == p) for p in points]
        got = full[np.ix_(rows, [order[rid] for rid in ids])]
        limits_seen.append(np.asarray(limits, dtype=np.float64).copy())
        return np.where(got <= np.asarray(limits)[:, None], got, np.inf)

    want, want_cost, weights, penalty, slots, ids = oracle(incs, resp, full, policy, margin)
    for bounded in (True, False):
        picks = plan_batch(
            incs,
            resp,
            etas,
            bounded=bounded,
            policy=policy,
            coverage_margin_s=margin,
            rare={"crane"},
        )
        got = [(p.incident, p.needs, p.responder_id, p.eta_s) for p in picks]
        assert all(math.isfinite(eta) for *_, eta in got)
        for inc, _needs, rid, eta in got:  # every ETA exact, never a bound
            assert eta == full[inc, order[rid]]
        if policy == "greedy":
            assert got == want
            continue
        assert len(got) == len(want)
        assert len({rid for _, _, rid, _ in got}) == len(got)
        # The same total cost (ties may pair differently). Slots of one incident with the
        # same needs are the same row of costs, so any of them prices a pick.
        cost = 0.0
        for inc, needs, rid, eta in got:
            i, j = slots.index((inc, needs)), ids.index(rid)
            assert needs <= resp[order[rid]].capabilities and rid not in incs[inc].excluded
            cost += weights[i] * (eta - _SERVE_REWARD_S)
            cost += 0.0 if penalty is None else penalty[i, j]
        assert np.isclose(cost, want_cost, rtol=1e-12, atol=1e-6)
    assert float(np.min(limits_seen[0])) <= FIRST_LIMIT_S  # the first run searched bounded
