"""Ranking against the brute force (every candidate's exact time, sorted) on random graphs."""

import contextlib
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import DispatchEngine, OffNetworkError, RoadNetwork, Status

from ..strategies import offsets_m, road_graphs
from .oracle import brute_force_rank, edge_point

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CAPS = ["tow", "crane", "fuel"]


@st.composite
def near_edge(draw, net):
    e = draw(st.integers(0, net.n_edges - 1))
    f = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)))
    lat, lng = edge_point(net, e, f)
    dlat, dlng = draw(st.one_of(st.just((0.0, 0.0)), offsets_m()))
    return lat + dlat, lng + dlng


@st.composite
def scenes(draw):
    """A network, an engine full of responders, and an incident with rank options."""
    g = draw(road_graphs())
    net = RoadNetwork.from_networkx(g)
    now = 1000.0
    engine = DispatchEngine(net, clock=lambda: now, position_ttl_s=60.0)
    n = draw(st.integers(0, 12))
    for _ in range(n):
        lat, lng = draw(near_edge(net))
        if draw(st.integers(0, 9)) == 0:
            lat += 0.02  # ~2 km off the network
        heading = draw(st.none() | st.floats(0.0, 359.9))
        ts = draw(st.sampled_from([now, now - 30.0, now - 61.0]))
        caps = draw(st.sets(st.sampled_from(CAPS)))
        rid = f"r{draw(st.integers(0, 99)):02d}"
        engine.update_position(rid, lat, lng, ts=ts, heading=heading, capabilities=caps)
        status = draw(st.sampled_from([Status.AVAILABLE] * 3 + [Status.ASSIGNED]))
        engine.index.set_status(rid, status)
    ids = sorted(engine.index)
    opts = {
        "k": draw(st.integers(1, 6)),
        "needs": draw(st.sets(st.sampled_from(CAPS), max_size=1)),
        "max_eta_s": draw(st.none() | st.floats(0.0, 3000.0)),
        "heading": draw(st.none() | st.floats(0.0, 360.0)),
        "exclude": draw(st.sets(st.sampled_from(ids))) if ids else set(),
    }
    incident = draw(near_edge(net))
    return engine, incident, opts


def check_against_oracle(engine, incident, opts, *, rel=0.0):
    """Compare a ranking with the brute force: exact times, or within ``rel`` (overlay)."""
    try:
        expected = brute_force_rank(engine, *incident, **opts)
    except OffNetworkError:
        with pytest.raises(OffNetworkError):
            engine.rank(*incident, **opts)
        return
    got = engine.rank(*incident, **opts)
    assert [c.responder_id for c in got] == [rid for _, rid, _ in expected]
    if rel:
        assert [c.eta_s for c in got] == pytest.approx([t for t, _, _ in expected], rel=rel)
    else:
        assert [c.eta_s for c in got] == [t for t, _, _ in expected]  # exact, not approximate
    net = engine.network
    for c, (_, _, r) in zip(got, expected, strict=True):
        assert math.isfinite(c.eta_s) and math.isfinite(c.distance_m)
        if opts["heading"] is None:
            route = net.route(r.lat, r.lng, *incident, heading=r.heading)
            assert c.eta_s == pytest.approx(route.eta_s, rel=rel, abs=0.0)
            assert c.distance_m == pytest.approx(route.distance_m, rel=1e-9, abs=1e-6)
        assert c.straight_m >= 0.0
    return got


@FAST
@given(scenes())
def test_rank_equals_brute_force(scene):
    engine, incident, opts = scene
    check_against_oracle(engine, incident, opts)


PATHS = ["whole network", "bounded searches"]


@contextlib.contextmanager
def ranked(path):
    """Rank small networks the whole-network way (their default), or as large ones are."""
    from kayou_dispatch.matching import _whole

    saved = _whole.WHOLE_MAX_NODES
    if path == "bounded searches":
        _whole.WHOLE_MAX_NODES = 0
    try:
        yield
    finally:
        _whole.WHOLE_MAX_NODES = saved


@pytest.mark.parametrize("path", PATHS)
@FAST
@given(scene=scenes(), data=st.data())
def test_rank_equals_brute_force_either_way(path, scene, data):
    # The same scenes ranked both ways, several incidents each (the first limit learned).
    engine, incident, opts = scene
    net = engine.network
    with ranked(path):
        for _ in range(3):
            got = check_against_oracle(engine, incident, opts)
            if got is not None and 0.0 < net.max_speed_mps < math.inf:
                assert engine._ranker._whole.pays() == (path == "whole network")
            incident = data.draw(near_edge(net))
            opts = {**opts, "k": data.draw(st.integers(1, 6))}


def test_rank_equals_brute_force_on_the_bundled_network():
    import numpy as np

    from kayou_dispatch import load_network

    from .oracle import place_near_edges

    net = load_network("helsinki")
    rng = np.random.default_rng(2026)
    engine = DispatchEngine(net, clock=lambda: 0.0)
    lat, lng = place_near_edges(net, rng, 200)
    headings = np.where(rng.random(200) < 0.5, rng.uniform(0.0, 360.0, 200), np.nan)
    engine.update_positions([f"h{i:03d}" for i in range(200)], lat, lng, headings=headings)
    for i in range(0, 200, 9):
        engine.index.set_status(f"h{i:03d}", "assigned")
    ilat, ilng = place_near_edges(net, rng, 25)
    for i in range(25):
        opts = {"k": 1 + i % 7, "max_eta_s": None if i % 3 else 120.0, "heading": None}
        check_against_oracle(engine, (float(ilat[i]), float(ilng[i])), opts)


@FAST
@given(scenes())
def test_rank_equals_brute_force_with_local_searches(scene):
    # Networks here are small, so bounded searches normally cover the whole graph; forced
    # onto the subgraph within reach they must give the same ranking, bit for bit.
    from kayou_dispatch.network import _graph

    engine, incident, opts = scene
    saved = _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE
    _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = 0, 0
    try:
        check_against_oracle(engine, incident, opts)
    finally:
        _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = saved


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n_responders"),
    [("andorra.osm.pbf", 2_000), ("lower_saxony_main_roads.osm.pbf", 5_000),
     ("shenzhen_longgang.osm", 100)],
)
@pytest.mark.parametrize("path", PATHS)
def test_rank_equals_brute_force_on_real_extracts(name, n_responders, path):
    # Large enough that ranking touches only the responders and nodes near each incident.
    import numpy as np

    from ..network.shared_data import need_data
    from .oracle import place_near_edges

    pytest.importorskip("osmium")
    net = RoadNetwork.from_osm(need_data(name))
    rng = np.random.default_rng(20261202)
    engine = DispatchEngine(net, clock=lambda: 0.0)
    lat, lng = place_near_edges(net, rng, n_responders)
    headings = np.where(rng.random(n_responders) < 0.5, rng.uniform(0, 360, n_responders), np.nan)
    ids = [f"t{i:05d}" for i in range(n_responders)]
    engine.update_positions(ids, lat, lng, headings=headings)
    for i in range(0, n_responders, 7):
        engine.index.set_status(ids[i], "assigned")
    ilat, ilng = place_near_edges(net, rng, 12)
    for i in range(12):
        opts = {"k": (1, 10, 25)[i % 3], "max_eta_s": None if i % 4 else 600.0, "heading": None}
        incident = (float(ilat[i]), float(ilng[i]))
        expected = brute_force_rank(engine, *incident, **opts)
        with ranked(path):
            got = engine.rank(*incident, **opts)
        assert [(c.responder_id, c.eta_s) for c in got] == [(r, t) for t, r, _ in expected]
