"""Batch assignment on bounded ETA searches equals batch assignment on the full matrix."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch import ResponderIndex
from kayou_dispatch.lifecycle import SEVERITY_WEIGHTS, Dispatcher

from .world import ALL_CAPS, Clock, GreatCircleRanker, at, place, snap_check

KINDS = ("breakdown", "tyre", "collision", "rollover", "fire", "directions", "other")


def world(responders, *, bounded):
    clock = Clock()
    index = ResponderIndex(clock=clock, position_ttl_s=10**9)
    for rid, east, north, caps in responders:
        place(index, rid, east, north, caps)
    ranker = GreatCircleRanker(index)
    limits_seen = []

    def matrix(points, responder_ids, *, limit_s):
        """Exact ETAs up to each point's limit, inf beyond (as the engine's)."""
        limit_s = np.asarray(limit_s, dtype=np.float64)
        limits_seen.append(limit_s.copy())
        full = ranker.eta_matrix(points, responder_ids)
        full[full > limit_s[:, None]] = np.inf
        return full

    d = Dispatcher(
        index,
        rank=ranker.rank,
        eta_matrix=matrix if bounded else ranker.eta_matrix,
        clock=clock,
        snap_check=snap_check,
    )
    return d, limits_seen


responder = st.tuples(
    st.floats(-20_000, 20_000),
    st.floats(-20_000, 20_000),
    st.sets(st.sampled_from(ALL_CAPS), max_size=3),
)
incident = st.tuples(
    st.floats(-20_000, 20_000),
    st.floats(-20_000, 20_000),
    st.sampled_from(KINDS),
    st.integers(1, 5),
    st.sampled_from([None, (), ("tow",), ("crane",), ("first_aid",)]),
)


@settings(max_examples=60, deadline=None)
@given(
    fleet=st.lists(responder, min_size=1, max_size=25),
    burst=st.lists(incident, min_size=1, max_size=8),
    policy=st.sampled_from(["optimal", "greedy"]),
    margin=st.sampled_from([None, 120.0]),
)
def test_bounded_searches_give_the_full_matrix_answer(fleet, burst, policy, margin):
    responders = [(f"r{i}", e, n, caps) for i, (e, n, caps) in enumerate(fleet)]
    results = []
    for bounded in (False, True):
        d, limits_seen = world(responders, bounded=bounded)
        for i, (e, n, kind, severity, needs) in enumerate(burst):
            d.report_incident(f"i{i}", *at(e, n), kind=kind, severity=severity, needs=needs)
        out = d.assign_batch(policy=policy, coverage_margin_s=margin)
        pairs = sorted(
            (iid, o.responder_id, o.eta_s) for iid, offers in out.items() for o in offers
        )
        weighted = sum(SEVERITY_WEIGHTS[d.incident(iid).severity] * eta for iid, _, eta in pairs)
        results.append((pairs, weighted, limits_seen))
    (full, full_cost, _), (bounded, bounded_cost, limits_seen) = results
    if limits_seen:  # (no candidate at all: no matrix either)
        assert float(np.min(limits_seen[0])) <= 600.0  # it did search bounded
    if policy == "greedy":
        assert bounded == full
    else:  # ties may pair differently at the same cost
        assert len(bounded) == len(full)
        assert np.isclose(bounded_cost, full_cost, rtol=1e-9, atol=1e-6)
    # Every offer's ETA is exact (never a bound).
    exact = {(iid, rid): eta for iid, rid, eta in full}
    for iid, rid, eta in bounded:
        if (iid, rid) in exact:
            assert eta == exact[iid, rid]


def test_far_responders_widen_the_search():
    # The only responder is ~15 km away: beyond the first limit (FIRST_LIMIT_S) at the test speed.
    d, limits_seen = world([("far", 15_000.0, 0.0, ())], bounded=True)
    d.report_incident("i", *at(0.0), kind="other", needs=())
    out = d.assign_batch()
    assert [o.responder_id for o in out["i"]] == ["far"]
    assert len(limits_seen) >= 2 and limits_seen[-1][0] > limits_seen[0][0]
