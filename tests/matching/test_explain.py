"""explain: the route, the ETA, and every reason a responder is not ranked."""

import math

import pytest
from hypothesis import given

from kayou_dispatch import DispatchEngine, Explanation, OffNetworkError, Reason

from ..test_engine import divided_network, line_network, one_way_network
from .test_rank import FAST, scenes


@pytest.fixture
def engine():
    return DispatchEngine(line_network(), clock=lambda: 1000.0, position_ttl_s=60.0)


def test_ranked_responder_has_its_place_and_route(engine):
    engine.update_position("a", 0.0, 0.011)
    engine.update_position("b", 0.0, 0.015)
    ex = engine.explain(0.0, 0.01, "b")
    assert isinstance(ex, Explanation)
    assert ex.ranked and ex.position == 2 and ex.reasons == () and ex.reason is None
    c = engine.rank(0.0, 0.01)[1]
    assert (ex.eta_s, ex.straight_m) == (c.eta_s, c.straight_m)
    assert ex.distance_m == pytest.approx(c.distance_m)
    assert ex.route.coords[0] == pytest.approx((0.0, 0.015))
    assert ex.route.coords[-1] == pytest.approx((0.0, 0.01))
    assert "ranked #2" in ex.summary


@pytest.mark.parametrize(
    ("setup", "opts", "reason"),
    [
        (
            lambda e: (e.remove("x"), e.update_position("x", 0.0, 0.012, ts=900.0)),
            {},
            Reason.STALE,
        ),
        (lambda e: e.index.set_status("x", "on_scene"), {}, Reason.BUSY),
        (lambda e: None, {"needs": {"crane"}}, Reason.LACKS_CAPABILITY),
        (lambda e: None, {"exclude": ["x"]}, Reason.EXCLUDED),
        (lambda e: None, {"max_eta_s": 5.0}, Reason.BEYOND_MAX_ETA),
        (lambda e: e.update_position("x", 0.05, 0.012), {}, Reason.OFF_NETWORK),
        (lambda e: None, {"k": 1}, Reason.OUTRANKED),
    ],
)
def test_each_reason(engine, setup, opts, reason):
    engine.update_position("x", 0.0, 0.012, capabilities={"tow"})  # 12 s away
    engine.update_position("y", 0.0, 0.011)  # 6 s away
    setup(engine)
    ex = engine.explain(0.0, 0.01, "x", **opts)
    assert not ex.ranked and ex.position is None
    assert ex.reasons == (reason,) and ex.reason is reason and ex.reason == reason.value
    assert len(ex.details) == 1 and ex.details[0] in ex.summary
    if reason is Reason.OFF_NETWORK:
        assert ex.route is None and math.isinf(ex.eta_s)
    else:  # the route is given whatever the reason
        assert ex.eta_s == pytest.approx(12.0, abs=0.05)
        assert ex.route is not None


def test_unreachable_and_several_reasons():
    engine = DispatchEngine(divided_network(), clock=lambda: 0.0)
    engine.update_position("r", 0.0, 0.005)
    engine.index.set_status("r", "assigned")
    # The divided road is a loop: everything is reachable. Cut it: a one-way network.
    ex = engine.explain(0.0, 0.002, "r", needs=["tow"])
    assert ex.reasons == (Reason.BUSY, Reason.LACKS_CAPABILITY)
    one_way = DispatchEngine(one_way_network(), clock=lambda: 0.0)
    one_way.update_position("ahead", 0.0, 0.008)
    ex = one_way.explain(0.0, 0.005, "ahead")
    assert ex.reasons == (Reason.UNREACHABLE,) and ex.route is None
    assert math.isinf(ex.eta_s) and math.isinf(ex.distance_m)


@FAST
@given(scenes())
def test_explain_agrees_with_rank(scene):
    engine, incident, opts = scene
    try:
        ranking = engine.rank(*incident, **opts)
    except OffNetworkError:  # the only error these scenes can raise: explain agrees
        for rid in sorted(engine.index):
            with pytest.raises(OffNetworkError):
                engine.explain(*incident, rid, **opts)
        return
    by_id = {c.responder_id: (i, c) for i, c in enumerate(ranking, 1)}
    for rid in sorted(engine.index):
        ex = engine.explain(*incident, rid, **opts)
        assert ex.ranked == (rid in by_id)
        assert ex.ranked == (ex.reasons == ())
        if ex.ranked:
            pos, c = by_id[rid]
            assert ex.position == pos and ex.eta_s == c.eta_s
            assert ex.distance_m == pytest.approx(c.distance_m, rel=1e-9, abs=1e-6)
