"""Ranking stays exact while the fleet churns: bulk and single fixes, removals, reused slots.

The ranking finds responders through structures kept up to date at ingest (the index's
cell buckets, the snap cache's dirty cells and node buckets); these tests fold them often
(tiny thresholds) and compare every ranking with the brute force.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch.spatial import ResponderIndex, _cells

from .oracle import brute_force_rank, edge_point
from .test_rank import FAST, check_against_oracle, near_edge, scenes


@pytest.fixture(autouse=True, params=["by disk", "by node", "whole network"])
def _fold_often(request):
    # Fold the buckets often, and gather one way or another (by the index's disk, by the
    # nodes the search reached, or every slot of a small network timed at once): each
    # must give the brute force's ranking.
    from kayou_dispatch.matching import _whole, rank

    saved = _cells._MOVED_MIN, rank._DISK_PER_NODE, rank._PRUNE_SLOTS, _whole.WHOLE_MAX_NODES
    _cells._MOVED_MIN = 2
    rank._DISK_PER_NODE = math.inf if request.param == "by disk" else 0.0
    if request.param != "whole network":
        _whole.WHOLE_MAX_NODES = 0
    yield
    _cells._MOVED_MIN, rank._DISK_PER_NODE, rank._PRUNE_SLOTS, _whole.WHOLE_MAX_NODES = saved


@st.composite
def churn(draw, engine):
    """One change to the fleet: a bulk batch, one fix, a removal, or a new responder."""
    net = engine.network
    ids = sorted(engine.index)
    kind = draw(st.sampled_from(["bulk", "one", "remove", "new"] if ids else ["new"]))
    if kind == "bulk":
        chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=6, unique=True))
        pts = [draw(near_edge(net)) for _ in chosen]
        ts = [engine.get(r).ts for r in chosen]
        return lambda: engine.update_positions(
            chosen, [p[0] for p in pts], [p[1] for p in pts], ts=ts
        )
    if kind == "one":
        rid = draw(st.sampled_from(ids))
        lat, lng = draw(near_edge(net))
        ts = engine.get(rid).ts
        return lambda: engine.update_position(rid, lat, lng, ts=ts)
    if kind == "remove":
        rid = draw(st.sampled_from(ids))
        return lambda: engine.index.remove(rid)
    rid = f"n{draw(st.integers(0, 99)):02d}"
    lat, lng = draw(near_edge(net))
    return lambda: engine.update_position(rid, lat, lng, ts=engine.index.clock())


@FAST
@given(scenes(), st.data())
def test_rank_stays_exact_as_the_fleet_churns(scene, data):
    engine, incident, opts = scene
    net = engine.network
    for _ in range(4):
        check_against_oracle(engine, incident, opts)
        for _ in range(data.draw(st.integers(1, 4))):
            data.draw(churn(engine))()
        incident = data.draw(near_edge(net))


@FAST
@given(scenes(), st.data())
def test_rank_stays_exact_as_the_fleet_churns_with_local_searches(scene, data):
    from kayou_dispatch.network import _graph

    saved = _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE
    _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = 0, 0
    try:
        test_rank_stays_exact_as_the_fleet_churns.hypothesis.inner_test(scene, data)
    finally:
        _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = saved


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.sampled_from([8, 9, 10]), st.data())
def test_rank_through_the_cell_overlay_equals_brute_force(scene, res, data):
    # Every search through the overlay (a cell per few nodes): the same ranking, with
    # times equal to plain Dijkstra's up to the overlay's rounding.
    from kayou_dispatch.matching import rank

    engine, incident, opts = scene
    net = engine.network
    net.build_overlay(resolution=res)
    rank._PRUNE_SLOTS = data.draw(st.sampled_from([0, 10**9]))  # reset by _fold_often
    engine._ranker.overlay_min_nodes = 0
    before = engine._ranker.overlay_searches
    ranked = False
    for _ in range(3):
        ranked |= bool(check_against_oracle(engine, incident, opts, rel=1e-12))
        for _ in range(data.draw(st.integers(1, 4))):
            data.draw(churn(engine))()
        incident = data.draw(near_edge(net))
    if ranked and 0.0 < net.max_speed_mps < math.inf:
        assert engine._ranker.overlay_searches > before


@pytest.mark.parametrize("prune", [0, 10**9])
@pytest.mark.parametrize("res", [8, 9])
def test_rank_through_the_overlay_equals_plain_ranking_on_a_city(res, prune, monkeypatch):
    # A real city, cells of tens to hundreds of nodes, a fleet that moves between rankings:
    # the overlay's rankings are plain Dijkstra's (ids, times, lengths).
    from kayou_dispatch import DispatchEngine, RoadNetwork, load_network
    from kayou_dispatch.matching import rank

    monkeypatch.setattr(rank, "_PRUNE_SLOTS", prune)  # prune every batch, or none
    arrays = load_network("helsinki").arrays
    plain_net, ov_net = RoadNetwork.from_arrays(arrays), RoadNetwork.from_arrays(arrays)
    ov_net.build_overlay(resolution=res)
    plain = DispatchEngine(plain_net, clock=lambda: 0.0)
    fast = DispatchEngine(ov_net, clock=lambda: 0.0)
    fast._ranker.overlay_min_nodes = 0
    rng = np.random.default_rng(res)
    ids = [f"t{i}" for i in range(300)]
    for q in range(60):
        if q % 10 == 0:  # the fleet moves
            pts = [
                edge_point(plain_net, int(e), float(f))
                for e, f in zip(
                    rng.integers(0, plain_net.n_edges, 300), rng.random(300), strict=True
                )
            ]
            for eng in (plain, fast):
                eng.update_positions(ids, [p[0] for p in pts], [p[1] for p in pts])
        lat, lng = edge_point(plain_net, int(rng.integers(plain_net.n_edges)), float(rng.random()))
        k = int(rng.integers(1, 12))
        want, got = plain.rank(lat, lng, k=k), fast.rank(lat, lng, k=k)
        assert [c.responder_id for c in got] == [c.responder_id for c in want]
        assert [c.eta_s for c in got] == pytest.approx([c.eta_s for c in want], rel=1e-12)
        assert [c.distance_m for c in got] == pytest.approx([c.distance_m for c in want], rel=1e-9)
    assert fast._ranker.overlay_searches >= 60


def test_names_of_a_reused_slot_are_refused():
    index = ResponderIndex(clock=lambda: 0.0)
    index.update_positions(["a", "b"], [0.0, 0.0], [0.0, 0.001])
    slots, _, _, _, _, epochs = index._near(0.0, 0.0, 1000.0)
    assert sorted(index._names(slots, epochs)) == ["a", "b"]
    index.remove("a")
    index.update_position("c", 0.0, 0.0)  # takes a's slot
    assert index._names(slots, epochs) is None
    slots, _, _, _, _, epochs = index._near(0.0, 0.0, 1000.0)
    assert sorted(index._names(slots, epochs)) == ["b", "c"]


def test_settle_snaps_only_the_moved_near_the_point():
    from kayou_dispatch import load_network
    from kayou_dispatch.matching import SnapCache

    net = load_network("helsinki")
    index = ResponderIndex(clock=lambda: 0.0)
    cache = SnapCache(net)
    cache.follow(index)
    rng = np.random.default_rng(7)
    e = rng.integers(0, net.n_edges, 300)
    pts = [edge_point(net, int(i), 0.5) for i in e]
    ids = [f"t{i}" for i in range(300)]
    index.update_positions(ids, [p[0] for p in pts], [p[1] for p in pts])
    lat, lng = pts[0]
    cache.settle(lat, lng, 200.0)
    near = index.nearby(lat, lng, 200.0)
    assert cache.snapped == len(near)  # those within 200 m, no one else
    cache.settle(lat, lng, 200.0)
    assert cache.snapped == len(near)  # nothing moved: nothing snapped again
    index.update_position(ids[0], *pts[1])
    cache.settle(lat, lng, 200.0)
    moved_in = index.nearby(lat, lng, 200.0)
    assert cache.snapped == len(near) + (ids[0] in {n.responder_id for n in moved_in})


def test_the_engine_snaps_fixes_at_ingest_in_batches():
    from kayou_dispatch import DispatchEngine, load_network
    from kayou_dispatch import engine as engine_module

    net = load_network("helsinki")
    engine = DispatchEngine(net, clock=lambda: 0.0)
    cache = engine._snaps
    rng = np.random.default_rng(8)
    n = engine_module._SNAP_BATCH + 44
    pts = [edge_point(net, int(i), 0.5) for i in rng.integers(0, net.n_edges, n)]
    ids = [f"t{i}" for i in range(n)]
    engine.update_positions(ids, [p[0] for p in pts], [p[1] for p in pts])
    assert cache.snapped == n  # one bulk update: snapped at once
    engine.rank(*pts[0], k=5)
    assert cache.snapped == n  # the ranking found everyone snapped
    # Single fixes wait for a batch (a ranking snaps those near it meanwhile) ...
    for i in range(engine_module._SNAP_BATCH - 1):
        engine.update_position(ids[i], *pts[i + 1], ts=1.0)
    assert cache.snapped == n
    engine.update_position(ids[-1], *pts[0], ts=1.0)  # ... the batch is full: snapped
    assert cache.snapped == n + engine_module._SNAP_BATCH
    assert not cache._dirty.any()
    # The rankings equal the oracle's all along (snapped at ingest or near the incident).
    for lat, lng in pts[:5]:
        got = [(c.responder_id, c.eta_s) for c in engine.rank(lat, lng, k=5)]
        want = [(r, t) for t, r, _ in brute_force_rank(engine, lat, lng, k=5)]
        assert got == want


def test_a_fix_during_settle_moved_stays_to_be_snapped(monkeypatch):
    # A responder that moves while its old position is being snapped (a fix from another
    # thread) stays dirty, so the next ranking snaps and files it where it is now.
    from kayou_dispatch import DispatchEngine, load_network
    from kayou_dispatch.matching import SnapCache

    net = load_network("helsinki")
    engine = DispatchEngine(net, clock=lambda: 0.0)
    cache = engine._snaps
    rng = np.random.default_rng(9)
    pts = [edge_point(net, int(i), 0.5) for i in rng.integers(0, net.n_edges, 300)]
    ids = [f"t{i}" for i in range(300)]
    real = SnapCache._snap_moved
    moved = {}

    def snap_then_move(self, slots, lat, lng, heading):
        out = real(self, slots, lat, lng, heading)
        if not moved:  # the fix lands between the snap and the flags being cleared
            moved["t0"] = pts[150]
            engine.index.update_position("t0", *pts[150], ts=5.0)
        return out

    monkeypatch.setattr(SnapCache, "_snap_moved", snap_then_move)
    engine.update_positions(ids, [p[0] for p in pts], [p[1] for p in pts])
    slot = engine.index._slot_of["t0"]
    assert cache._dirty[slot]  # its snap is of the old position
    monkeypatch.setattr(SnapCache, "_snap_moved", real)
    got = [(c.responder_id, c.eta_s) for c in engine.rank(*pts[150], k=5)]
    want = [(r, t) for t, r, _ in brute_force_rank(engine, *pts[150], k=5)]
    assert got == want and "t0" in {r for r, _ in got}


def test_settle_moved_refuses_bad_input_with_typed_errors():
    from kayou_dispatch import InvalidParameterError, KayouDispatchError, load_network
    from kayou_dispatch.matching import SnapCache

    cache = SnapCache(load_network("helsinki"))
    with pytest.raises(InvalidParameterError):
        cache.settle_moved()  # follows nothing yet
    cache.follow(ResponderIndex(clock=lambda: 0.0))
    for bad in (0, -3, 2.5, "256", True, None):
        with pytest.raises(InvalidParameterError) as info:
            cache.settle_moved(at_least=bad)
        assert isinstance(info.value, KayouDispatchError)
    assert cache.settle_moved() == 0  # nothing moved


def test_a_snap_cache_follows_one_index_and_settles_only_when_following():
    from kayou_dispatch import InvalidParameterError, KayouDispatchError, load_network
    from kayou_dispatch.matching import SnapCache

    cache = SnapCache(load_network("helsinki"))
    with pytest.raises(InvalidParameterError) as info:
        cache.settle(60.17, 24.94, 100.0)  # follows nothing yet
    assert isinstance(info.value, KayouDispatchError)
    first = ResponderIndex(clock=lambda: 0.0)
    cache.follow(first)
    cache.follow(first)  # idempotent
    with pytest.raises(InvalidParameterError):
        cache.follow(ResponderIndex(clock=lambda: 0.0))  # its slots are another index's


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.booleans(), st.booleans(), st.data())
def test_rank_through_the_hierarchy_equals_brute_force(scene, remark_often, by_scan, data):
    # Every search through the contraction hierarchy, its marks kept as the fleet churns
    # (or set afresh at every snap): the same ranking, times up to the hierarchy's rounding.
    # by_scan: taken because a disk would pass over a (large) fleet, not forced.
    from kayou_dispatch.matching import _whole, candidates, rank

    engine, incident, opts = scene
    net = engine.network
    net.build_hierarchy(compiled=False)
    # by_scan: the threshold no disk short of the whole network reaches (above it: off).
    engine._ranker.hierarchy_min_nodes = net.n_nodes if by_scan else 0
    saved = candidates._REMARK_AFTER, rank._DISK_FLEET, _whole.WHOLE_MAX_NODES
    candidates._REMARK_AFTER = -(10**9) if remark_often else 10**9
    if by_scan:  # any fleet is large, no network small
        rank._DISK_FLEET, _whole.WHOLE_MAX_NODES = -1, -1
    try:
        before = engine._ranker.hierarchy_searches
        ranked = False
        for _ in range(3):
            ranked |= bool(check_against_oracle(engine, incident, opts, rel=1e-12))
            for _ in range(data.draw(st.integers(1, 4))):
                data.draw(churn(engine))()
            incident = data.draw(near_edge(net))
    finally:
        candidates._REMARK_AFTER, rank._DISK_FLEET, _whole.WHOLE_MAX_NODES = saved
    if ranked and not by_scan and 0.0 < net.max_speed_mps < math.inf:
        assert engine._ranker.hierarchy_searches > before


def test_rank_through_the_hierarchy_equals_plain_ranking_on_a_city():
    # A real city, a fleet that moves between rankings (headings half the time): the
    # hierarchy's rankings are plain Dijkstra's (ids, times, lengths).
    from kayou_dispatch import DispatchEngine, RoadNetwork, load_network

    arrays = load_network("helsinki").arrays
    plain_net, ch_net = RoadNetwork.from_arrays(arrays), RoadNetwork.from_arrays(arrays)
    ch_net.build_hierarchy()
    plain = DispatchEngine(plain_net, clock=lambda: 0.0)
    fast = DispatchEngine(ch_net, clock=lambda: 0.0)
    fast._ranker.hierarchy_min_nodes = 0
    rng = np.random.default_rng(5)
    ids = [f"t{i}" for i in range(300)]
    for q in range(60):
        if q % 10 == 0:  # the fleet moves
            pts = [
                edge_point(plain_net, int(e), float(f))
                for e, f in zip(
                    rng.integers(0, plain_net.n_edges, 300), rng.random(300), strict=True
                )
            ]
            heads = np.where(rng.random(300) < 0.5, rng.random(300) * 360.0, np.nan)
            for eng in (plain, fast):
                eng.update_positions(
                    ids, [p[0] for p in pts], [p[1] for p in pts], headings=heads
                )
        lat, lng = edge_point(plain_net, int(rng.integers(plain_net.n_edges)), float(rng.random()))
        k = int(rng.integers(1, 12))
        want, got = plain.rank(lat, lng, k=k), fast.rank(lat, lng, k=k)
        assert [c.responder_id for c in got] == [c.responder_id for c in want]
        assert [c.eta_s for c in got] == pytest.approx([c.eta_s for c in want], rel=1e-12)
        assert [c.distance_m for c in got] == pytest.approx([c.distance_m for c in want], rel=1e-9)
    assert fast._ranker.hierarchy_searches >= 60
