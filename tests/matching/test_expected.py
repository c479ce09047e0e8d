"""Expected time to help and broadcast waves, against brute force.

Oracles: every permutation of a small cascade (the order by ``expected_s`` is optimal);
scoring and sorting every candidate (the widening ETA search returns the same top k);
enumerating all 2^n accept/decline outcomes (the Poisson-binomial chance).
"""

import itertools
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kayou_dispatch import InvalidParameterError
from kayou_dispatch.matching.expected import (
    Odds,
    cascade_time_s,
    check_objective,
    expected_s,
    order_by_expected,
)
from kayou_dispatch.matching.waves import accept_chance, check_target, wave_size

odds_st = st.builds(
    Odds,
    p_accept=st.floats(0.01, 1.0),
    accept_delay_s=st.floats(0.0, 60.0),
    fail_s=st.floats(0.0, 120.0),
)
cascade_st = st.lists(st.tuples(st.floats(0.0, 3600.0), odds_st), min_size=1, max_size=6)


@given(cascade=cascade_st, tail_s=st.floats(0.0, 3600.0))
def test_sorting_by_expected_s_minimises_the_cascade(cascade, tail_s):
    best = min(cascade_time_s(list(p), tail_s=tail_s) for p in itertools.permutations(cascade))
    ours = cascade_time_s(sorted(cascade, key=lambda c: expected_s(*c)), tail_s=tail_s)
    assert ours <= best + 1e-9 * max(1.0, best)


def test_a_certain_candidate_costs_its_eta_and_its_accept_delay():
    assert expected_s(100.0, Odds(1.0, 7.0, 90.0)) == 107.0
    assert expected_s(100.0, Odds(0.0, 7.0, 90.0)) == math.inf


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float


pool_st = st.lists(st.tuples(st.floats(0.0, 2000.0), odds_st), max_size=30)


@given(pool=pool_st, k=st.integers(1, 8))
def test_widening_eta_search_equals_scoring_everyone(pool, k):
    cands = [Cand(f"r{i:02d}", eta) for i, (eta, _) in enumerate(pool)]
    odds = {c.responder_id: o for c, (_, o) in zip(cands, pool, strict=True)}
    by_eta = sorted(cands, key=lambda c: (c.eta_s, c.responder_id))
    asked = []

    def fetch(n):
        asked.append(n)
        return by_eta[:n]

    got = order_by_expected(fetch, lambda ids: [odds[r] for r in ids], k=k)
    everyone = sorted(
        ((c, expected_s(c.eta_s, odds[c.responder_id])) for c in cands),
        key=lambda t: (t[1], t[0].responder_id),
    )
    want = [(c.responder_id, e) for c, e in everyone if math.isfinite(e)][:k]
    assert [(c.responder_id, e) for c, e, _ in got] == want
    assert asked[0] == k and all(b == 2 * a for a, b in itertools.pairwise(asked))


def test_the_search_stops_early_when_the_nearest_are_reliable():
    cands = [Cand(f"r{i:03d}", 60.0 * i) for i in range(200)]
    calls = []

    def fetch(n):
        calls.append(n)
        return cands[:n]

    got = order_by_expected(fetch, lambda ids: [Odds(0.9, 5.0, 10.0)] * len(ids), k=3)
    assert [c.responder_id for c, _, _ in got] == ["r000", "r001", "r002"]
    assert calls == [3, 6]


def test_bad_objective_is_a_typed_error():
    assert check_objective("expected") == "expected"
    with pytest.raises(InvalidParameterError) as exc:
        check_objective("fastest")
    assert exc.value.name == "objective"


# -- waves --------------------------------------------------------------------------------


def brute_chance(ps, need):
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=len(ps)):
        if sum(outcome) >= need:
            total += math.prod(p if o else 1.0 - p for p, o in zip(ps, outcome, strict=True))
    return total


@given(ps=st.lists(st.floats(0.0, 1.0), max_size=10), need=st.integers(0, 5))
def test_accept_chance_equals_enumeration(ps, need):
    assert math.isclose(accept_chance(ps, need=need), brute_chance(ps, need), abs_tol=1e-12)


probs = st.lists(st.floats(0.01, 0.99), max_size=8)


@given(
    outstanding=probs,
    candidates=probs,
    need=st.integers(1, 3),
    target=st.floats(0.05, 0.99),
    at_least=st.integers(0, 4),
)
def test_wave_size_is_the_fewest_that_reach_the_target(
    outstanding, candidates, need, target, at_least
):
    n = wave_size(outstanding, candidates, need=need, target=target, at_least=at_least)
    if brute_chance(outstanding, need) >= target:
        assert n == 0
        return
    # The fewest m >= at_least whose chance reaches the target (all of them if none does).
    want = next(
        (
            m
            for m in range(1, len(candidates) + 1)
            if m >= at_least and brute_chance([*outstanding, *candidates[:m]], need) >= target
        ),
        len(candidates),
    )
    if n != want:  # only where the two chances straddle the target by rounding
        chance = brute_chance([*outstanding, *candidates[: min(n, want)]], need)
        assert math.isclose(chance, target, rel_tol=1e-9)


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.1, 1.5, math.nan, "x", True, None])
def test_a_target_outside_zero_one_names_the_field(bad):
    with pytest.raises(InvalidParameterError) as exc:
        check_target(bad)
    assert exc.value.name == "accept_target"
