"""DispatchEngine: the facade forwards to the index and ranks by road ETA."""

import math

import numpy as np
import pytest

from kayou_dispatch import (
    Candidate,
    DispatchEngine,
    InvalidCoordinateError,
    InvalidParameterError,
    OffNetworkError,
    RoadNetwork,
    Status,
    UnknownResponderError,
)
from kayou_dispatch.network import EdgeArrays


def line_network():
    """Three nodes 1112 m apart on the equator; two-way roads, 60 s per edge each way."""
    a = EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.0],
        lng=[0.0, 0.01, 0.02],
        u=[0, 1, 1, 2],
        v=[1, 0, 2, 1],
        length_m=[1112.0] * 4,
        travel_time_s=[60.0] * 4,
    )
    return RoadNetwork.from_arrays(a)


def divided_network():
    """A divided road: eastbound carriageway at lat 0, westbound 44 m south, U-turns at ends.

    Nodes: 0 (0, 0), 1 (0, 0.01) eastbound 0->1; 2 (-0.0004, 0.01), 3 (-0.0004, 0) westbound
    2->3; ramps 1->2 and 3->0 (10 s each).
    """
    a = EdgeArrays.straight(
        node_id=[10, 11, 12, 13],
        lat=[0.0, 0.0, -0.0004, -0.0004],
        lng=[0.0, 0.01, 0.01, 0.0],
        u=[0, 1, 2, 3],
        v=[1, 2, 3, 0],
        length_m=[1112.0, 44.0, 1112.0, 44.0],
        travel_time_s=[60.0, 10.0, 60.0, 10.0],
    )
    return RoadNetwork.from_arrays(a)


@pytest.fixture
def engine():
    return DispatchEngine(line_network(), clock=lambda: 1000.0, position_ttl_s=60.0)


def test_forwards_updates_and_queries_to_the_index(engine):
    assert engine.update_position("a", 0.0, 0.001, capabilities={"tow"}) is True
    assert engine.update_positions(["b", "c"], [0.0, 0.0], [0.015, 0.019]) == 2
    assert len(engine) == 3 and "a" in engine
    assert engine.get("a").capabilities == frozenset({"tow"})
    assert [n.responder_id for n in engine.nearby(0.0, 0.0, 500.0)] == ["a"]
    engine.index.set_status("a", Status.ASSIGNED)  # a host's own lifecycle
    assert engine.get("a").status is Status.ASSIGNED
    assert engine.nearby(0.0, 0.0, 500.0) == []
    engine.set_capabilities("b", ["crane"])
    assert engine.get("b").capabilities == frozenset({"crane"})
    engine.remove("c")
    assert "c" not in engine
    with pytest.raises(UnknownResponderError):
        engine.get("c")
    assert engine.index.position_ttl_s == 60.0 and engine.network.n_nodes == 3
    assert "DispatchEngine" in repr(engine)


def test_rank_sorts_by_eta_then_id(engine):
    engine.update_position("b", 0.0, 0.005)  # 30 s along 0->1, then 30 s on: 60 s... or back
    engine.update_position("a", 0.0, 0.005)
    engine.update_position("c", 0.0, 0.0095)
    got = engine.rank(0.0, 0.01)
    assert [c.responder_id for c in got] == ["c", "a", "b"]
    assert isinstance(got[0], Candidate)
    assert got[0].eta_s == pytest.approx(3.0, abs=0.05)
    assert got[1].eta_s == got[2].eta_s == pytest.approx(30.0, abs=0.05)
    assert got[1].distance_m == pytest.approx(556.0, abs=1.0)
    assert got[1].straight_m == pytest.approx(556.6, abs=1.0)
    with pytest.raises(AttributeError):
        got[0].eta_s = 0.0  # frozen


def test_rank_leaves_out_busy_stale_lacking_excluded_and_caps_k(engine):
    engine.update_position("busy", 0.0, 0.011)
    engine.index.set_status("busy", "en_route")
    engine.update_position("stale", 0.0, 0.011, ts=900.0)
    engine.update_position("plain", 0.0, 0.012)
    engine.update_position("tow", 0.0, 0.013, capabilities={"tow"})
    engine.update_position("gone", 0.0, 0.0101)
    ids = [c.responder_id for c in engine.rank(0.0, 0.01, exclude=["gone"])]
    assert ids == ["plain", "tow"]
    assert [c.responder_id for c in engine.rank(0.0, 0.01, needs={"tow"})] == ["tow"]
    assert [c.responder_id for c in engine.rank(0.0, 0.01, k=1)] == ["gone"]
    assert len(engine.rank(0.0, 0.01, k=50)) == 3  # fewer than k: what exists


def test_rank_max_eta_s(engine):
    engine.update_position("near", 0.0, 0.011)  # 6 s
    engine.update_position("far", 0.0, 0.019)  # 54 s
    assert [c.responder_id for c in engine.rank(0.0, 0.01, max_eta_s=10.0)] == ["near"]
    assert engine.rank(0.0, 0.01, max_eta_s=0.0) == []
    assert len(engine.rank(0.0, 0.01, max_eta_s=math.inf)) == 2


def test_rank_leaves_out_off_network_and_unreachable():
    net = divided_network()
    engine = DispatchEngine(net, clock=lambda: 0.0)
    engine.update_position("off", 0.05, 0.005)  # 5.5 km away
    engine.update_position("ok", 0.0, 0.002)
    assert [c.responder_id for c in engine.rank(0.0, 0.005)] == ["ok"]
    # One-way only: a network of a single edge cannot be driven backwards.
    one_way = DispatchEngine(one_way_network(), clock=lambda: 0.0)
    one_way.update_position("behind", 0.0, 0.002)
    one_way.update_position("ahead", 0.0, 0.008)
    got = one_way.rank(0.0, 0.005)
    assert [c.responder_id for c in got] == ["behind"]
    assert all(math.isfinite(c.eta_s) for c in got)


def test_responder_heading_picks_the_carriageway():
    engine = DispatchEngine(divided_network(), clock=lambda: 0.0)
    # Between the carriageways, a little nearer the eastbound one, but driving west.
    engine.update_position("west", -0.00015, 0.004, heading=270.0)
    engine.update_position("east", -0.00015, 0.004, heading=90.0)
    engine.update_position("unknown", -0.00015, 0.004)
    got = {c.responder_id: c.eta_s for c in engine.rank(0.0, 0.006)}
    assert got["east"] == pytest.approx(12.0, abs=0.1)
    assert got["unknown"] == got["east"]
    # West: 24 s to node 3, the 10 s U-turn, 36 s east again.
    assert got["west"] == pytest.approx(24.0 + 10.0 + 36.0, abs=0.1)


def test_incident_heading_snaps_the_incident():
    engine = DispatchEngine(divided_network(), clock=lambda: 0.0)
    engine.update_position("r", 0.0, 0.002, heading=90.0)
    east = engine.rank(-0.00015, 0.006, heading=90.0)[0].eta_s
    west = engine.rank(-0.00015, 0.006, heading=270.0)[0].eta_s
    assert east == pytest.approx(24.0, abs=0.1)
    assert west == pytest.approx(48.0 + 10.0 + 24.0, abs=0.1)


def test_two_way_responder_turns_either_way(engine):
    engine.update_position("r", 0.0, 0.012)  # on the two-way 1-2 road
    # Behind it, westwards: it may drive west along the twin edge.
    assert engine.rank(0.0, 0.011)[0].eta_s == pytest.approx(6.0, abs=0.05)
    engine.update_position("r", 0.0, 0.012, heading=90.0)  # now driving east
    # East to node 2 (48 s), back west (54 s).
    assert engine.rank(0.0, 0.011)[0].eta_s == pytest.approx(102.0, abs=0.1)


def test_snaps_are_cached_until_the_position_changes(engine):
    engine.update_positions(["a", "b"], [0.0, 0.0], [0.001, 0.002])
    engine.rank(0.0, 0.01)
    snapped = engine._snaps.snapped
    engine.rank(0.0, 0.015)
    engine.update_position("a", 0.0, 0.001)  # re-reported, unchanged
    engine.rank(0.0, 0.005)
    assert engine._snaps.snapped == snapped
    engine.update_position("a", 0.0, 0.003)
    assert engine.rank(0.0, 0.01, k=1)[0].responder_id == "a"
    assert engine._snaps.snapped == snapped + 1


def test_distance_matches_route(engine):
    rng = np.random.default_rng(5)
    lngs = rng.uniform(0.0, 0.02, 30)
    engine.update_positions([f"r{i}" for i in range(30)], np.zeros(30), lngs)
    for c in engine.rank(0.0, 0.013, k=30):
        r = engine.get(c.responder_id)
        route = engine.network.route(r.lat, r.lng, 0.0, 0.013)
        assert c.eta_s == route.eta_s
        assert c.distance_m == pytest.approx(route.distance_m, rel=1e-12)


def test_eta_matrix(engine):
    engine.update_positions(["a", "b"], [0.0, 0.0], [0.001, 0.019])
    engine.update_position("off", 0.5, 0.01)
    engine.index.set_status("b", "assigned")  # the matrix does not filter
    m = engine.eta_matrix([(0.0, 0.01), (0.0, 0.02)], ["a", "b", "off"])
    assert m.shape == (2, 3) and m.dtype == np.float64
    for i, (lat, lng) in enumerate([(0.0, 0.01), (0.0, 0.02)]):
        for j, rid in enumerate(["a", "b"]):
            r = engine.get(rid)
            assert m[i, j] == engine.network.travel_time(r.lat, r.lng, lat, lng)
    assert np.isinf(m[:, 2]).all()
    assert engine.eta_matrix([], ["a"]).shape == (0, 1)
    assert engine.eta_matrix(np.array([[0.0, 0.01]]), []).shape == (1, 0)


def test_bounded_eta_matrix_is_exact_up_to_each_limit(engine):
    lngs = np.linspace(0.0, 0.02, 25)
    ids = [f"r{i}" for i in range(25)]
    engine.update_positions(ids, np.zeros(25), lngs)
    points = [(0.0, 0.004), (0.0, 0.013), (0.0, 0.019)]
    full = engine.eta_matrix(points, ids)
    for limits in (100.0, [0.0, 250.0, math.inf], [30.0, 60.0, 90.0]):
        got = engine.eta_matrix(points, ids, limit_s=limits)
        cap = np.broadcast_to(np.asarray(limits, dtype=float), (3,))[:, None]
        assert np.array_equal(got, np.where(full <= cap, full, np.inf))


def test_capability_registry():
    engine = DispatchEngine(line_network(), clock=lambda: 0.0, capabilities={"tow", "crane"})
    assert engine.capabilities == frozenset({"tow", "crane"})
    engine.update_position("a", 0.0, 0.001, capabilities={"tow"})
    assert engine.rank(0.0, 0.01, needs={"tow"})[0].responder_id == "a"
    with pytest.raises(InvalidParameterError, match="unknown capabilities"):
        engine.rank(0.0, 0.01, needs={"toww"})
    with pytest.raises(InvalidParameterError):
        engine.update_position("a", 0.0, 0.001, capabilities={"jetpack"})
    with pytest.raises(InvalidParameterError):
        engine.set_capabilities("a", ["jetpack"])
    with pytest.raises(InvalidParameterError):
        engine.nearby(0.0, 0.0, 100.0, needs=["jetpack"])
    with pytest.raises(InvalidParameterError):
        engine.explain(0.0, 0.01, "a", needs=["jetpack"])
    # Without a registry any names go.
    free = DispatchEngine(line_network(), clock=lambda: 0.0)
    free.update_position("a", 0.0, 0.001, capabilities={"jetpack"})
    assert free.rank(0.0, 0.01, needs={"anything"}) == []


# --- bad input, one test per entry point ------------------------------------------------

BAD_OPTIONS = [
    ({"k": 0}, "k"),
    ({"k": -3}, "k"),
    ({"k": 1.5}, "k"),
    ({"k": True}, "k"),
    ({"k": "10"}, "k"),
    ({"max_eta_s": -1.0}, "max_eta_s"),
    ({"max_eta_s": math.nan}, "max_eta_s"),
    ({"max_eta_s": "soon"}, "max_eta_s"),
    ({"heading": 400.0}, "heading"),
    ({"heading": math.nan}, "heading"),
    ({"heading": "north"}, "heading"),
    ({"needs": [1]}, "needs"),
    ({"exclude": [None]}, "exclude"),
]


@pytest.mark.parametrize(("opts", "name"), BAD_OPTIONS)
def test_rank_bad_input(engine, opts, name):
    engine.update_position("a", 0.0, 0.001)
    with pytest.raises(InvalidParameterError) as info:
        engine.rank(0.0, 0.01, **opts)
    assert info.value.name == name
    with pytest.raises(InvalidCoordinateError):
        engine.rank(math.nan, 0.01)
    with pytest.raises(InvalidCoordinateError):
        engine.rank(0.0, 200.0)
    with pytest.raises(OffNetworkError):
        engine.rank(0.5, 0.01)


@pytest.mark.parametrize(("opts", "name"), BAD_OPTIONS)
def test_explain_bad_input(engine, opts, name):
    engine.update_position("a", 0.0, 0.001)
    with pytest.raises(InvalidParameterError) as info:
        engine.explain(0.0, 0.01, "a", **opts)
    assert info.value.name == name
    with pytest.raises(UnknownResponderError):
        engine.explain(0.0, 0.01, "nobody")
    with pytest.raises(InvalidCoordinateError):
        engine.explain(math.nan, 0.01, "a")
    with pytest.raises(OffNetworkError):
        engine.explain(0.5, 0.01, "a")


def test_eta_matrix_bad_input(engine):
    engine.update_position("a", 0.0, 0.001)
    with pytest.raises(InvalidCoordinateError):
        engine.eta_matrix([(math.nan, 0.0)], ["a"])
    with pytest.raises(OffNetworkError):
        engine.eta_matrix([(0.5, 0.01)], ["a"])
    with pytest.raises(UnknownResponderError):
        engine.eta_matrix([(0.0, 0.01)], ["nobody"])
    for bad in ([(0.0, 0.01, 3.0)], [0.0, 0.01], "x", [("a", "b")]):
        with pytest.raises(InvalidParameterError):
            engine.eta_matrix(bad, ["a"])
    with pytest.raises(InvalidParameterError):
        engine.eta_matrix([(0.0, 0.01)], "a")
    for bad in (-1.0, math.nan, "x", [1.0, 2.0]):
        with pytest.raises(InvalidParameterError, match="limit_s"):
            engine.eta_matrix([(0.0, 0.01)], ["a"], limit_s=bad)


def test_constructor_bad_input():
    with pytest.raises(InvalidParameterError):
        DispatchEngine("not a network")
    with pytest.raises(InvalidParameterError):
        DispatchEngine(line_network(), capabilities=[""])
    with pytest.raises(InvalidParameterError):
        DispatchEngine(line_network(), resolution=99)
    with pytest.raises(InvalidParameterError):
        DispatchEngine(line_network(), position_ttl_s=-1.0)


def test_snap_cache_is_not_fooled_by_a_refresh_elsewhere(engine):
    engine.update_positions(["a", "b"], [0.0, 0.0], [0.001, 0.019])
    assert engine.rank(0.0, 0.0, k=1)[0].responder_id == "a"
    engine.update_position("a", 0.0, 0.0199)  # a moves far away...
    engine.explain(0.0, 0.0, "a")  # ...and is re-snapped alone, for explain
    got = engine.rank(0.0, 0.0, k=2)  # the cached candidate arrays must not be reused
    assert [c.responder_id for c in got] == ["b", "a"]


def one_way_network():
    """A single edge, 1.1 km east in 60 s: it cannot be driven backwards."""
    a = EdgeArrays.straight(
        node_id=[1, 2],
        lat=[0.0, 0.0],
        lng=[0.0, 0.01],
        u=[0],
        v=[1],
        length_m=[1112.0],
        travel_time_s=[60.0],
    )
    return RoadNetwork.from_arrays(a)
