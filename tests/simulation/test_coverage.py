"""The coverage probe against the engine's own ranking: nobody within the limit <=> rank empty."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch import DispatchEngine, load_network
from kayou_dispatch.simulation import CoverageProbe, Segments, highway_segments
from kayou_dispatch.simulation.roads import edge_points


@pytest.fixture(scope="module")
def city():
    return load_network("helsinki")


def point_segments(net, edges, fractions):
    edges = np.asarray(edges, dtype=np.int64)
    lat, lng, _ = edge_points(net.arrays, edges, np.asarray(fractions, dtype=np.float64))
    n = edges.size
    return Segments(
        edges, lat, lng, ("x",) * n, np.ones(n), edges.copy(), np.arange(n + 1, dtype=np.int64)
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_resp=st.integers(1, 25),
    limit_s=st.sampled_from([20.0, 45.0, 90.0, 240.0]),
    headed=st.booleans(),
)
def test_reach_is_the_engines_rank_exactly(city, seed, n_resp, limit_s, headed):
    rng = np.random.default_rng(seed)
    a = city.arrays
    pts = rng.choice(city.n_edges, 30, replace=False)
    probe = CoverageProbe(
        city, limit_s=limit_s, segments=point_segments(city, pts, rng.uniform(0, 1, 30))
    )
    # Responders on the roads (some on the probed edges themselves), with GPS noise.
    e = np.r_[rng.choice(city.n_edges, n_resp), pts[: min(5, n_resp)]]
    lat, lng, heading = edge_points(a, e, rng.uniform(0, 1, e.size))
    lat = lat + rng.normal(0, 5, e.size) / 111_000
    lng = lng + rng.normal(0, 5, e.size) / 55_000
    hd = heading if headed else np.full(e.size, np.nan)
    engine = DispatchEngine(city, clock=lambda: 0.0)
    ids = [f"r{i}" for i in range(e.size)]
    for i, rid in enumerate(ids):
        h = None if np.isnan(hd[i]) else float(hd[i])
        engine.update_position(rid, float(lat[i]), float(lng[i]), ts=0.0, heading=h)
    got = probe.reach_s(lat, lng, hd)
    gaps = probe.gaps(lat, lng, hd)
    for j in range(len(probe)):
        ranked = engine.rank(
            float(probe.segments.lat[j]), float(probe.segments.lng[j]), k=1, max_eta_s=limit_s
        )
        if ranked:
            assert got[j] == pytest.approx(ranked[0].eta_s, abs=1e-6)
            assert not gaps[j]
        else:
            assert np.isinf(got[j]) and gaps[j]


def test_nobody_means_a_gap_everywhere(city):
    probe = CoverageProbe(city, segments=point_segments(city, [0, 1, 2], [0.5] * 3))
    assert probe.gaps([], [], []).all()


def test_region_segments_cover_its_motorways_one_carriageway_each():
    region = load_network()
    seg = highway_segments(region)
    assert 300 < len(seg) < 3_000
    assert set(seg.highway) == {"motorway", "trunk"}
    assert seg.offsets[-1] == seg.edges.size
    # The two carriageways of a motorway fall in different segments.
    twin = region.edge_twin
    members = np.repeat(np.arange(len(seg)), np.diff(seg.offsets))
    of_edge = dict(zip(seg.edges.tolist(), members.tolist(), strict=True))
    same = [of_edge[int(twin[e])] == of_edge[e] for e in seg.edges.tolist() if twin[e] in of_edge]
    assert not any(same)
    assert len(highway_segments(load_network("helsinki"))) == 0


def test_bad_limit_is_refused(city):
    from kayou_dispatch import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        CoverageProbe(city, limit_s=0)


def test_region_probe_agrees_with_rank_on_its_motorways():
    region = load_network()
    probe = CoverageProbe(region)
    rng = np.random.default_rng(0)
    e = rng.choice(region.n_edges, 200)
    lat, lng, heading = edge_points(region.arrays, e, rng.uniform(0, 1, e.size))
    lat = lat + rng.normal(0, 8, e.size) / 111_000
    lng = lng + rng.normal(0, 8, e.size) / 68_000
    engine = DispatchEngine(region, clock=lambda: 0.0)
    engine.update_positions([f"r{i}" for i in range(e.size)], lat, lng, ts=0.0, headings=heading)
    got = probe.reach_s(lat, lng, heading)
    assert 0 < np.isinf(got).sum() < len(probe)  # some gaps, not all
    for j in range(0, len(probe), 9):
        ranked = engine.rank(
            float(probe.segments.lat[j]), float(probe.segments.lng[j]), k=1, max_eta_s=900.0
        )
        want = ranked[0].eta_s if ranked else np.inf
        assert got[j] == pytest.approx(want, abs=1e-6)
