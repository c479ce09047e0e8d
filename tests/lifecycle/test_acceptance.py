"""Learned acceptance: counted by the reducer, equal to a recount of the journal, replayed.

The oracle reads the journal's outcome records one by one and recomputes every count and
every estimate of :mod:`kayou_dispatch.lifecycle.acceptance` from its docstring's
formulas, with plain loops over per-responder lists (no incremental aggregates).
"""

import contextlib
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import (
    InvalidParameterError,
    KayouDispatchError,
    ResponderIndex,
    ResponderStats,
    UnknownResponderError,
)
from kayou_dispatch.lifecycle import AcceptanceTally, Dispatcher, Journal, RunCard
from kayou_dispatch.lifecycle.acceptance import (
    DEFAULT_DELAY_S,
    DELAY_PRIOR_ANSWERS,
    estimate_prior_offers,
)

from .world import GreatCircleRanker, at, make, place

RESP = [(f"r{i}", 120.0 * (i + 1), 40.0 * (i % 3), ()) for i in range(8)]
CARDS = {
    "one": RunCard(needs=[[]], mode="sequential", offer_timeout_s=30.0),
    "two": RunCard(needs=[[], []], mode="broadcast", fan_out=2, offer_timeout_s=20.0),
}


# -- the oracle: recount the journal ---------------------------------------------------------


def recount(rows):
    """Per responder: lists of (kind, outcome, delay_s), straight from the records."""
    kinds, offered, ended = {}, {}, {}
    for row in rows:
        for rec in row.records:
            op, iid, rid = rec["op"], rec["incident_id"], rec.get("responder_id")
            if op == "report":
                kinds[iid] = rec["kind"]
            elif op == "offer":
                offered[(iid, rid)] = row.at
            elif op in ("accept", "decline", "expire", "withdraw"):
                outcome = {
                    "accept": "accepted",
                    "decline": "declined",
                    "expire": "timed_out",
                    "withdraw": "withdrawn",
                }[op]
                delay = max(0.0, row.at - offered.pop((iid, rid)))
                ended.setdefault(rid, []).append((kinds[iid], outcome, delay))
    return ended


def slow_stats(ended, rid, kind=None):
    """Every estimate of the module docstring, computed from the lists directly."""

    def n_of(items, outcome):
        return sum(1 for _, o, _ in items if o == outcome)

    def answered(items):
        return [x for x in items if x[1] != "withdrawn"]

    everyone = [x for items in ended.values() for x in items]
    a_all = n_of(everyone, "accepted")
    n_all = len(answered(everyone))
    p_all = (a_all + 1) / (n_all + 2)
    m = estimate_prior_offers(
        [(n_of(items, "accepted"), len(answered(items))) for items in ended.values()]
    )
    mine = ended.get(rid, [])
    p_r = (n_of(mine, "accepted") + m * p_all) / (len(answered(mine)) + m)
    if kind is None:
        cell, p = mine, p_r
    else:
        of_kind = [x for x in everyone if x[0] == kind]
        p_kind = (n_of(of_kind, "accepted") + m * p_all) / (len(answered(of_kind)) + m)
        logit = lambda q: math.log(q / (1 - q))  # noqa: E731
        prior = 1 / (1 + math.exp(-(logit(p_kind) + logit(p_r) - logit(p_all))))
        cell = [x for x in mine if x[0] == kind]
        p = (n_of(cell, "accepted") + m * prior) / (len(answered(cell)) + m)
    t_all, d_all = n_of(everyone, "timed_out"), n_of(everyone, "declined")
    q_all = (t_all + 1) / (t_all + d_all + 2)
    t_r, d_r = n_of(mine, "timed_out"), n_of(mine, "declined")
    q_r = (t_r + m * q_all) / (t_r + d_r + m)

    def median(outcome):
        pop = [math.log1p(d) for _, o, d in everyone if o == outcome]
        pop_mu = (sum(pop) + math.log1p(DEFAULT_DELAY_S)) / (len(pop) + 1)
        own = [math.log1p(d) for _, o, d in mine if o == outcome]
        return math.expm1(
            (sum(own) + DELAY_PRIOR_ANSWERS * pop_mu) / (len(own) + DELAY_PRIOR_ANSWERS)
        )

    return {
        "accepted": n_of(cell, "accepted"),
        "declined": n_of(cell, "declined"),
        "timed_out": n_of(cell, "timed_out"),
        "withdrawn": n_of(cell, "withdrawn"),
        "p_accept": p,
        "p_decline": (1 - p) * (1 - q_r),
        "p_timeout": (1 - p) * q_r,
        "accept_delay_s": median("accepted"),
        "decline_delay_s": median("declined"),
        "prior_offers": m,
    }


def assert_matches(stats: ResponderStats, want: dict) -> None:
    for name, value in want.items():
        got = getattr(stats, name)
        if isinstance(value, int):
            assert got == value, name
        else:
            assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12), (name, got, value)


# -- a random lifecycle ----------------------------------------------------------------------

incident_ids = st.sampled_from(["a", "b", "c"])
responder_ids = st.sampled_from([r for r, *_ in RESP])
ops = st.one_of(
    st.tuples(st.just("report"), incident_ids, st.sampled_from(sorted(CARDS))),
    st.tuples(st.just("dispatch"), incident_ids),
    st.tuples(st.just("accept"), incident_ids, responder_ids),
    st.tuples(st.just("decline"), incident_ids, responder_ids),
    st.tuples(st.just("answer"), incident_ids, st.booleans()),
    st.tuples(st.just("answer"), incident_ids, st.booleans()),
    st.tuples(st.just("answer"), incident_ids, st.booleans()),
    st.tuples(st.just("resolve"), incident_ids),
    st.tuples(st.just("cancel"), incident_ids),
    st.tuples(st.just("tick"), st.integers(0, 35)),
)


def run(d, clock, op):
    name, *args = op
    if name == "report":
        iid, kind = args
        return d.report_incident(iid, *at(50.0), kind=kind, dispatch=True)
    if name == "tick":
        clock.advance(args[0])
        return d.tick()
    if name == "answer":  # whoever holds the first offer answers
        iid, yes = args
        offers = d.incident(iid).offers
        if offers:
            rid = offers[0].responder_id
            return d.accept(iid, rid) if yes else d.decline(iid, rid)
        return None
    return getattr(d, name)(*args)


def drive(d, clock, steps):
    kinds, steps = steps
    for iid, kind in zip("abc", kinds, strict=True):
        run(d, clock, ("report", iid, kind))
    for op, dt in steps:
        clock.advance(dt)
        with contextlib.suppress(KayouDispatchError):
            run(d, clock, op)


steps_strategy = st.tuples(
    st.lists(st.sampled_from(sorted(CARDS)), min_size=3, max_size=3),
    st.lists(st.tuples(ops, st.floats(0.0, 12.0)), max_size=40),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps_strategy)
def test_stats_equal_a_recount_of_the_journal_and_survive_a_restart(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("acc") / "dispatch.db"
    d, _, _, clock = make(RESP, journal=path, run_cards=CARDS)
    drive(d, clock, steps)
    ids = [r for r, *_ in RESP]
    before = {
        (rid, kind): d.responder_stats(rid, kind=kind) for rid in ids for kind in (None, *CARDS)
    }
    d.close()

    journal = Journal(path)
    ended = recount(journal.rows())
    journal.close()
    for (rid, kind), stats in before.items():
        assert_matches(stats, slow_stats(ended, rid, kind))
        assert (
            stats.offers
            == stats.accepted + stats.declined + stats.timed_out + stats.withdrawn + stats.pending
        )
        assert math.isclose(stats.p_accept + stats.p_decline + stats.p_timeout, 1.0)

    # A restart on the same journal, without ranking: the same numbers.
    index2 = ResponderIndex(clock=clock, position_ttl_s=10**9)
    for rid, east, north, caps in RESP:
        place(index2, rid, east, north, caps)
    again = Dispatcher(
        index2, rank=GreatCircleRanker(index2).rank, clock=clock, journal=path, run_cards=CARDS
    )
    after = {
        (rid, kind): again.responder_stats(rid, kind=kind) for rid in ids for kind in (None, *CARDS)
    }
    again.close()
    assert after == before


# -- the estimator's promises ------------------------------------------------------------------

outcomes = st.sampled_from(["accepted", "declined", "timed_out", "withdrawn"])
histories = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3", "r4"]),
        st.sampled_from(["k1", "k2"]),
        outcomes,
        st.floats(0, 120),
    ),
    max_size=60,
)


@given(history=histories)
def test_a_new_volunteer_gets_exactly_the_population(history):
    tally = AcceptanceTally()
    for rid, kind, outcome, delay in history:
        tally.observe(rid, kind, outcome, delay_s=delay)
    new = tally.stats("newcomer")
    assert new.p_accept == tally.population()
    for kind in ("k1", "k2"):
        assert math.isclose(tally.stats("newcomer", kind=kind).p_accept, tally.population(kind))
    assert (new.offers, new.accepted, new.declined, new.timed_out) == (0, 0, 0, 0)
    for rid in ("r1", "r2", "r3", "r4", "newcomer"):
        s = tally.stats(rid)
        assert 0.0 < s.p_accept < 1.0 and 0.0 < s.p_decline < 1.0 and 0.0 < s.p_timeout < 1.0
        assert s.accept_delay_s >= 0.0 and s.decline_delay_s >= 0.0


@given(history=histories, rid=st.sampled_from(["r1", "r2"]))
def test_one_more_accept_never_lowers_the_estimate_one_more_decline_never_raises_it(history, rid):
    tally = AcceptanceTally()
    for who, kind, outcome, delay in history:
        tally.observe(who, kind, outcome, delay_s=delay)
    m = tally.prior_offers()
    base = tally.stats(rid).p_accept
    up, down = AcceptanceTally(), AcceptanceTally()
    for who, kind, outcome, delay in history:
        up.observe(who, kind, outcome, delay_s=delay)
        down.observe(who, kind, outcome, delay_s=delay)
    up.observe(rid, "k1", "accepted", delay_s=5.0)
    down.observe(rid, "k1", "declined", delay_s=5.0)
    # Compare at the same prior weight (the population moves too, by design).
    if up.prior_offers() == m:
        assert up.stats(rid).p_accept >= base
    if down.prior_offers() == m:
        assert down.stats(rid).p_accept <= base


def test_a_long_record_outweighs_the_prior():
    tally = AcceptanceTally()
    for i in range(400):
        tally.observe("steady", "k", "accepted" if i % 5 else "declined", delay_s=10.0)
        tally.observe("rare", "k", "accepted" if i % 20 == 0 else "timed_out", delay_s=30.0)
    assert abs(tally.stats("steady").p_accept - 0.8) < 0.03
    assert abs(tally.stats("rare").p_accept - 0.05) < 0.03
    assert abs(tally.stats("steady").accept_delay_s - 10.0) < 0.5
    # Few offers: close to the population, not to the raw 100 %.
    tally.observe("lucky", "k", "accepted", delay_s=1.0)
    assert tally.stats("lucky").p_accept < 0.7


def test_prior_weight_follows_the_spread_of_volunteers():
    alike = [(40, 100)] * 10
    mixed = [(90, 100), (5, 100)] * 5
    assert estimate_prior_offers(mixed) < estimate_prior_offers(alike)


def test_bad_observations_are_refused():
    tally = AcceptanceTally()
    with pytest.raises(InvalidParameterError) as exc:
        tally.observe("r1", "k", "ignored", delay_s=1.0)  # type: ignore[arg-type]
    assert exc.value.name == "outcome"
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(InvalidParameterError):
            tally.observe("r1", "k", "accepted", delay_s=bad)


# -- the lifecycle's reads ------------------------------------------------------------------


def test_dispatcher_counts_accepts_declines_time_outs_and_withdrawals():
    d, _, _, clock = make(RESP, run_cards=CARDS)
    d.report_incident("a", *at(0.0), kind="one", dispatch=True)
    first = d.incident("a").offers[0].responder_id
    assert d.responder_stats(first).pending == 1 and d.responder_stats(first).offers == 1
    clock.advance(4.0)
    d.decline("a", first)
    second = d.incident("a").offers[0].responder_id
    clock.advance(31.0)
    d.tick()  # second times out, third offered
    third = d.incident("a").offers[0].responder_id
    clock.advance(7.0)
    d.accept("a", third)
    s1, s2, s3 = (d.responder_stats(r) for r in (first, second, third))
    assert (s1.declined, s2.timed_out, s3.accepted) == (1, 1, 1)
    assert s3.accept_delay_s > 0 and s1.p_accept < s3.p_accept
    # A broadcast filled: the others are withdrawn, counted as withdrawn only.
    d.report_incident("b", *at(200.0), kind="two", dispatch=True)
    offers = [o.responder_id for o in d.incident("b").offers]
    assert len(offers) == 4
    d.accept("b", offers[0])
    d.accept("b", offers[1])
    assert sum(d.responder_stats(r).withdrawn for r in offers[2:]) == 2
    assert d.responder_stats(offers[2], kind="one").withdrawn == 0


def test_unknown_responder_or_kind_is_a_typed_error():
    d, *_ = make(RESP, run_cards=CARDS)
    with pytest.raises(UnknownResponderError):
        d.responder_stats("ghost")
    with pytest.raises(InvalidParameterError) as exc:
        d.responder_stats("r1", kind="nonsense")
    assert exc.value.name == "kind"
    assert d.responder_stats("r1").offers == 0  # in the index, never offered


@pytest.mark.redis
def test_processes_sharing_a_redis_log_learn_the_same_numbers(redis_url):
    pytest.importorskip("redis")
    from kayou_dispatch.shared import RedisLog

    a, _, _, clock = make(RESP, journal=RedisLog(redis_url), run_cards=CARDS)
    b, *_ = make(RESP, clock=clock, journal=RedisLog(redis_url), run_cards=CARDS)
    a.report_incident("x", *at(0.0), kind="one", dispatch=True)
    rid = b.incident("x").offers[0].responder_id
    clock.advance(3.0)
    b.decline("x", rid)
    nxt = a.incident("x").offers[0].responder_id
    b.accept("x", nxt)
    for who in (rid, nxt):
        assert a.responder_stats(who) == b.responder_stats(who)
    assert a.responder_stats(rid).declined == 1 and a.responder_stats(nxt).accepted == 1
    a.close()
    b.close()
    c, *_ = make(RESP, clock=clock, journal=RedisLog(redis_url), run_cards=CARDS)
    assert c.responder_stats(rid).declined == 1
    c.close()
