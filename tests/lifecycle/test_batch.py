"""Batch assignment: optimal vs greedy, severity, infeasible pairs, coverage guard."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch import Status
from kayou_dispatch.lifecycle import SEVERITY_WEIGHTS, solve_slots
from kayou_dispatch.matching.assign import _SERVE_REWARD_S

from .world import at, make


def brute_force(eta, weights):
    """Most slots served, then least weighted (ETA - reward), by trying every assignment.

    The reward for serving a slot makes a shortage go to the most severe slots.
    """
    n, m = eta.shape
    best = (0, 0.0)
    cols = list(range(m)) + [None] * n
    for perm in itertools.permutations(cols, n):
        if len({c for c in perm if c is not None}) != sum(c is not None for c in perm):
            continue
        pairs = [(i, c) for i, c in enumerate(perm) if c is not None]
        if any(not np.isfinite(eta[i, c]) for i, c in pairs):
            continue
        served = len(pairs)
        cost = sum(weights[i] * (eta[i, c] - _SERVE_REWARD_S) for i, c in pairs)
        if served > best[0] or (served == best[0] and cost < best[1] - 1e-9):
            best = (served, cost)
    return best


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_optimal_matches_brute_force(data):
    n = data.draw(st.integers(1, 4))
    m = data.draw(st.integers(1, 4))
    values = st.one_of(st.floats(1.0, 1000.0), st.just(np.inf))
    eta = np.array(data.draw(st.lists(values, min_size=n * m, max_size=n * m))).reshape(n, m)
    weights = np.array(
        [
            SEVERITY_WEIGHTS[s]
            for s in data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
        ]
    )
    pairs = solve_slots(eta, weights=weights)
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
    assert all(np.isfinite(eta[i, j]) for i, j in pairs)
    served, cost = brute_force(eta, weights)
    assert len(pairs) == served
    assert sum(weights[i] * (eta[i, j] - _SERVE_REWARD_S) for i, j in pairs) <= cost + 1e-6
    greedy = solve_slots(eta, weights=weights, policy="greedy")
    assert all(np.isfinite(eta[i, j]) for i, j in greedy)
    assert len({j for _, j in greedy}) == len(greedy)


def crossing():
    # p has the only tow truck; A (severe, no needs) is nearest to p, B needs a tow.
    resp = [("p", 100.0, 0.0, ("tow",)), ("q", -110.0, 0.0, ())]
    d, index, _ranker, _clock = make(resp)
    d.report_incident("A", *at(0), kind="other", severity=5)
    d.report_incident("B", *at(200), kind="other", needs={"tow"}, severity=3)
    return d, index


def test_optimal_serves_both_where_greedy_strands_one():
    d, index = crossing()
    out = d.assign_batch(policy="optimal")
    assert {k: [o.responder_id for o in v] for k, v in out.items()} == {"A": ["q"], "B": ["p"]}
    assert index.get("p").status is Status.OFFERED
    assert d.incident("A").offers == tuple(out["A"]) and d.incident("A").dispatched

    d, index = crossing()
    out = d.assign_batch(policy="greedy")
    assert {k: [o.responder_id for o in v] for k, v in out.items()} == {"A": ["p"], "B": []}


def test_severity_wins_a_shortage():
    resp = [("m", 100.0, 0.0, ())]
    for policy in ("optimal", "greedy"):
        d, *_ = make(resp)
        d.report_incident("near-low", *at(0), kind="other", severity=1)
        d.report_incident("far-high", *at(3000), kind="other", severity=5)
        out = d.assign_batch(policy=policy)
        assert [o.responder_id for o in out["far-high"]] == ["m"], policy
        assert out["near-low"] == []


def test_multi_unit_slots_get_their_needs_and_exclusions_hold():
    resp = [
        ("crane", 500.0, 0.0, ("crane",)),
        ("h1", 100.0, 0.0, ()),
        ("h2", 200.0, 0.0, ()),
        ("h3", 300.0, 0.0, ()),
    ]
    d, *_ = make(resp)
    d.report_incident("x", *at(0), kind="rollover", dispatch=True)
    d.decline("x", "h1")
    for o in d.incident("x").offers:
        d.decline("x", o.responder_id)  # everyone declines once
    inc = d.incident("x")
    assert inc.offers == () and set(inc.declined) == {"crane", "h1", "h2", "h3"}
    assert d.assign_batch(["x"]) == {"x": []}  # nobody who declined is asked again
    d.report_incident("y", *at(0), kind="rollover")
    out = d.assign_batch(["y"])
    got = {o.responder_id: o.needs for o in out["y"]}
    assert got == {"crane": frozenset({"crane"}), "h1": frozenset(), "h2": frozenset()}
    assert d.assign_batch(["y"]) == {"y": []}  # every unit covered by an offer


def test_max_eta_and_unreachable_are_never_assigned():
    d, *_ = make([("far", 20_000.0, 0.0, ())])  # 2,000 s
    d.report_incident("dir", *at(0), kind="directions")  # max 900 s
    assert d.assign_batch() == {"dir": []}


def test_coverage_margin_keeps_the_last_crane_in_its_area():
    # The crane truck is nearest to a plain breakdown-helper job; a helper 60 s farther
    # can serve it. With a 120 s margin the crane stays free; with 30 s it goes.
    resp = [("crane", 100.0, 0.0, ("crane",)), ("helper", 700.0, 0.0, ())]
    for margin, expected in ((None, "crane"), (120.0, "helper"), (30.0, "crane")):
        d, *_ = make(resp)
        d.report_incident("job", *at(0), kind="other")
        out = d.assign_batch(coverage_margin_s=margin)
        assert [o.responder_id for o in out["job"]] == [expected], margin
    # A second crane in the area: neither is the last, no guard.
    d, *_ = make([*resp, ("crane2", 5000.0, 0.0, ("crane",))])
    d.report_incident("job", *at(0), kind="other")
    assert [o.responder_id for o in d.assign_batch(coverage_margin_s=120.0)["job"]] == ["crane"]
    # A job that needs the crane still gets it.
    d, *_ = make(resp)
    d.report_incident("roll", *at(0), kind="other", needs={"crane"})
    assert [o.responder_id for o in d.assign_batch(coverage_margin_s=120.0)["roll"]] == ["crane"]


def test_batch_offers_then_follow_the_lifecycle():
    d, _index, _, clock = make([(f"r{i}", 100.0 * (i + 1), 0.0, ()) for i in range(5)])
    for i in range(3):
        d.report_incident(f"i{i}", *at(50.0 * i), kind="other")
    out = d.assign_batch()
    taken = [o.responder_id for offers in out.values() for o in offers]
    assert len(taken) == len(set(taken)) == 3
    clock.advance(1000.0)
    d.tick()  # all expire and cascade, never back to the one who let it lapse
    for i in range(3):
        inc = d.incident(f"i{i}")
        assert len(inc.offers) == 1 and len(inc.expired) == 1
        assert inc.offers[0].responder_id != inc.expired[0]
    offered = [d.incident(f"i{i}").offers[0].responder_id for i in range(3)]
    assert len(set(offered)) == 3
