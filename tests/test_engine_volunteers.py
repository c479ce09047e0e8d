"""The engine ranks by expected time to help on a real network, learned from its lifecycle.

Oracle: every responder's exact road ETA (``rank`` with ``k`` = all) scored with the
engine's learned odds and sorted.
"""

import math

import numpy as np
import pytest

from kayou_dispatch import (
    DispatchEngine,
    ExpectedCandidate,
    InvalidParameterError,
    UnknownResponderError,
    load_network,
)
from kayou_dispatch.matching.expected import expected_s

from .test_engine_lifecycle import Clock


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def fleet(engine, net, n=40, seed=3):
    rng = np.random.default_rng(seed)
    for i, node in enumerate(rng.choice(net.n_nodes, n, replace=False).tolist()):
        engine.update_position(f"r{i:02d}", *net.node_latlng(node), capabilities={"mechanic"})


def test_expected_ranking_equals_scoring_every_responder(net):
    clock = Clock()
    engine = DispatchEngine(net, clock=clock)
    fleet(engine, net)
    lat, lng = net.node_latlng(200)
    # History: the four nearest decline every time; the next ones accept.
    for i in range(8):
        iid = f"t{i}"
        engine.report_incident(iid, lat, lng, kind="breakdown", dispatch=True)
        for _ in range(4):
            clock.t += 2.0
            engine.decline(iid, engine.incident(iid).offers[0].responder_id)
        clock.t += 6.0
        engine.accept(iid, engine.incident(iid).offers[0].responder_id)
        engine.resolve(iid)
    engine.update_position("never-offered-yet", *net.node_latlng(1700), capabilities={"mechanic"})
    everyone = engine.rank(lat, lng, k=len(engine))
    odds = engine.dispatcher.acceptance_odds(
        [c.responder_id for c in everyone], kind="breakdown", offer_timeout_s=90.0
    )
    scored = sorted(
        ((expected_s(c.eta_s, o), c.responder_id) for c, o in zip(everyone, odds, strict=True)),
    )
    for k in (1, 3, 10):
        got = engine.rank(lat, lng, k=k, objective="expected", kind="breakdown")
        assert all(isinstance(c, ExpectedCandidate) for c in got)
        assert [c.responder_id for c in got] == [r for _, r in scored[:k]]
        assert [c.expected_s for c in got] == pytest.approx([e for e, _ in scored[:k]])
    decliners = {c.responder_id for c in everyone[:4]}
    assert (
        engine.rank(lat, lng, k=1, objective="expected", kind="breakdown")[0].responder_id
        not in decliners
    )
    # The default stays the road ETA.
    assert [c.responder_id for c in engine.rank(lat, lng, k=5)] == [
        c.responder_id for c in everyone[:5]
    ]
    for c in everyone[:4]:
        stats = engine.responder_stats(c.responder_id, kind="breakdown")
        assert stats.declined == 8 and stats.accepted == 0
        assert (
            stats.p_accept < engine.responder_stats("never-offered-yet", kind="breakdown").p_accept
        )
        assert math.isclose(stats.p_accept + stats.p_decline + stats.p_timeout, 1.0)


def test_bad_objective_or_kind_is_a_typed_error(net):
    engine = DispatchEngine(net, clock=Clock())
    fleet(engine, net, n=5)
    lat, lng = net.node_latlng(200)
    with pytest.raises(InvalidParameterError) as exc:
        engine.rank(lat, lng, objective="quickest")
    assert exc.value.name == "objective"
    with pytest.raises(InvalidParameterError) as exc:
        engine.rank(lat, lng, objective="expected", kind="meteor")
    assert exc.value.name == "kind"
    with pytest.raises(InvalidParameterError) as exc:
        engine.rank(lat, lng, kind="breakdown")  # kind means nothing to an ETA ranking
    assert exc.value.name == "kind"
    with pytest.raises(UnknownResponderError):
        engine.responder_stats("nobody")


def test_explain_says_why_a_volunteer_is_held_back(net):
    from kayou_dispatch import Reason, RunCard

    clock = Clock()
    cards = {"limited": RunCard(needs=[["mechanic"]], max_offers_per_window=1)}
    engine = DispatchEngine(net, clock=clock, run_cards=cards)
    fleet(engine, net, n=10)
    lat, lng = net.node_latlng(200)
    best = engine.rank(lat, lng, k=1)[0]
    rid = best.responder_id
    assert engine.explain(lat, lng, rid, kind="limited").ranked
    engine.report_driving(rid, continuous_driving_s=4 * 3600.0 - best.eta_s / 2)
    why = engine.explain(lat, lng, rid, kind="limited")
    assert not why.ranked and why.reasons == (Reason.NEEDS_REST,)
    assert "rest" in why.details[0]
    assert engine.explain(lat, lng, rid).ranked  # the ranking itself is unchanged
    engine.report_driving(rid, continuous_driving_s=0.0)
    engine.report_incident("a", lat, lng, kind="limited", dispatch=True)
    assert engine.incident("a").offers[0].responder_id == rid
    engine.cancel("a")
    why = engine.explain(lat, lng, rid, kind="limited")
    assert why.reasons == (Reason.OFFER_LIMIT,)
    burden = engine.burden_report()
    assert burden.max_offers == 1 and burden.max_assignments == 0
    assert len(burden.volunteers) == 10 and burden.offers_gini == pytest.approx(0.9)
