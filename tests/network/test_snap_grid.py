"""The grid fast path of snapping against the exhaustive path and the brute-force oracle."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import RoadNetwork
from kayou_dispatch.network import EdgeArrays
from kayou_dispatch.network import snap as snap_module

from ..strategies import road_graphs
from .oracle import NearestRoad

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Around the graphs of road_graphs (22.70..22.709 N, 114.20..114.209 E): on the roads, beside
# them, and up to ~3 km away (beyond every grid block, so the fallback serves those).
near = st.tuples(st.floats(22.6995, 22.7095), st.floats(114.1995, 114.2095))
far = st.tuples(st.floats(22.68, 22.73), st.floats(114.18, 114.23))
points = st.lists(st.one_of(near, near, far), min_size=1, max_size=12)
headings = st.one_of(st.none(), st.floats(0.0, 360.0))


def _exhaustive(net, lats, lngs, hd, max_distance_m, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(snap_module, "_BLOCKS", ())
        return net.snap_many(lats, lngs, headings=hd, max_distance_m=max_distance_m)


def _segment_distances(oracle, net, lat, lng, heading):
    """Oracle distance from the point to every edge (inf where the heading rules it out)."""
    a = net.arrays
    out = np.full(net.n_edges, math.inf)
    seg = 0
    for e in range(net.n_edges):
        k = a.geom_offsets[e + 1] - a.geom_offsets[e] + 1
        sub = NearestRoad.__new__(NearestRoad)
        sub.a_lat, sub.a_lng = oracle.a_lat[seg : seg + k], oracle.a_lng[seg : seg + k]
        sub.b_lat, sub.b_lng = oracle.b_lat[seg : seg + k], oracle.b_lng[seg : seg + k]
        out[e] = sub.distance_m(lat, lng, heading)
        seg += k
    return out


@FAST
@given(road_graphs(), points, st.booleans(), st.data())
def test_grid_equals_the_exhaustive_search(g, pts, headed, data):
    # Same function minimised over a subset that provably holds the minimum: every field
    # must be bit-identical to the exhaustive path's.
    net = RoadNetwork.from_networkx(g)
    lats = np.array([p[0] for p in pts])
    lngs = np.array([p[1] for p in pts])
    hd = None
    if headed:
        hd = np.array(
            data.draw(st.lists(st.floats(0.0, 360.0), min_size=len(pts), max_size=len(pts)))
        )
    with pytest.MonkeyPatch.context() as mp:
        slow = _exhaustive(net, lats, lngs, hd, math.inf, mp)
    fast = net.snap_many(lats, lngs, headings=hd, max_distance_m=math.inf)
    for name in fast._fields:
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)


@FAST
@given(road_graphs(), points, headings, st.sampled_from([30.0, 150.0, 1000.0, math.inf]))
def test_grid_snap_is_the_nearest_lowest_edge(g, pts, heading, max_distance_m):
    net = RoadNetwork.from_networkx(g)
    oracle = NearestRoad(net)
    lats = np.array([p[0] for p in pts])
    lngs = np.array([p[1] for p in pts])
    hd = None if heading is None else np.full(len(pts), heading)
    res = net.snap_many(lats, lngs, headings=hd, max_distance_m=max_distance_m)
    for i, (lat, lng) in enumerate(pts):
        per_edge = _segment_distances(oracle, net, lat, lng, heading)
        best = per_edge.min()
        e = int(res.edge[i])
        if e < 0:
            # Off the network: nothing qualifying within max_distance_m (up to the node rule).
            assert best > max_distance_m - 1.0 or best == math.inf
            continue
        assert per_edge[e] == pytest.approx(best, rel=1e-9, abs=1e-6)
        # Ties go to the lowest edge: no lower edge is as near.
        lower = per_edge[:e]
        assert not (lower <= best + 1e-7).any()
        assert res.distance_m[i] <= max_distance_m
        twin = int(net.edge_twin[e])
        if heading is None and res.node[i] < 0 and twin >= 0:
            assert res.twin[i] == twin and twin > e
        if heading is not None:
            assert res.twin[i] == -1


@FAST
@given(road_graphs(), points, headings, st.sampled_from([1.0, 30.0, 150.0, 1000.0]))
def test_not_measuring_far_points_changes_only_their_distance(g, pts, heading, max_distance_m):
    # measure_far=False may skip the search for a point off the network, and only for one.
    net = RoadNetwork.from_networkx(g)
    lats = np.array([p[0] for p in pts])
    lngs = np.array([p[1] for p in pts])
    hd = None if heading is None else np.full(len(pts), heading)
    full = net.snap_many(lats, lngs, headings=hd, max_distance_m=max_distance_m)
    quick = net.snap_many(
        lats, lngs, headings=hd, max_distance_m=max_distance_m, measure_far=False
    )
    on = full.edge >= 0
    for name in full._fields:
        np.testing.assert_array_equal(getattr(quick, name)[on], getattr(full, name)[on])
    np.testing.assert_array_equal(quick.edge[~on], -1)
    d = quick.distance_m[~on]
    assert ((d == full.distance_m[~on]) | (d == math.inf)).all()


def test_far_points_stop_at_the_bound_without_measuring_them(monkeypatch):
    # A point 20 km from the only road: without measure_far, its coarse blocks stop once
    # they reach past max_distance_m (proven off the network); with it, they widen on
    # until the nearest road is found and measured.
    a = EdgeArrays.straight(
        node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01], u=[0], v=[1],
        length_m=[1112.0], travel_time_s=[60.0],
    )
    net = RoadNetwork.from_arrays(a)
    sides = []
    real = snap_module.SegmentIndex._coarse_pass

    def spy(self, rows, side, *args):
        sides.append(side)
        return real(self, rows, side, *args)

    monkeypatch.setattr(snap_module.SegmentIndex, "_coarse_pass", spy)
    lats, lngs = np.array([0.18, 0.0001]), np.array([0.005, 0.005])
    res = net.snap_many(lats, lngs, max_distance_m=1000.0, measure_far=False)
    assert res.edge.tolist() == [-1, 0] and res.distance_m[0] == math.inf
    cell = net._segments.coarse.cell_m
    assert sides and 0.5 * (max(sides) - 1) * cell < 1000.0 * 1.01 + 1.0 + cell
    sides.clear()
    res = net.snap_many(lats, lngs, max_distance_m=1000.0)
    assert res.edge.tolist() == [-1, 0] and res.distance_m[0] == pytest.approx(20_015, rel=1e-3)
    assert 0.5 * (max(sides) - 1) * cell > 19_000.0  # out to the road (the whole grid)


@FAST
@given(road_graphs(), near, st.floats(0.0, 360.0))
def test_single_snap_equals_batch(g, p, heading):
    net = RoadNetwork.from_networkx(g)
    for h in (None, heading):
        many = net.snap_many(
            [p[0]], [p[1]], headings=None if h is None else [h], max_distance_m=math.inf
        )
        if many.edge[0] < 0:
            continue
        s = net.snap(*p, heading=h, max_distance_m=math.inf)
        assert (s.edge, s.fraction, s.distance_m, s.lat, s.lng) == (
            many.edge[0],
            many.fraction[0],
            many.distance_m[0],
            many.lat[0],
            many.lng[0],
        )
        assert (-1 if s.node is None else s.node) == many.node[0]
        assert (-1 if s.twin is None else s.twin) == many.twin[0]


def _two_way_street():
    """One street driven both ways (edges 1 and 2, twins), plus a one-way side street 0."""
    return EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.001],
        lng=[0.0, 0.002, 0.0],
        u=[2, 0, 1],
        v=[0, 1, 0],
        length_m=[111.0, 222.0, 222.0],
        travel_time_s=[10.0, 20.0, 20.0],
    )


def test_twins_tie_to_the_lower_edge_and_headings_pick_a_direction():
    net = RoadNetwork.from_arrays(_two_way_street())
    assert net.edge_twin.tolist() == [-1, 2, 1]
    s = net.snap(0.0001, 0.001)
    assert (s.edge, s.twin) == (1, 2)
    assert net.snap(0.0001, 0.001, heading=90.0).edge == 1
    west = net.snap(0.0001, 0.001, heading=270.0)
    assert (west.edge, west.twin) == (2, None)
    assert west.fraction == pytest.approx(1.0 - s.fraction)
    assert west.distance_m == s.distance_m
    many = net.snap_many([0.0001] * 3, [0.001] * 3, headings=[90.0, 270.0, 180.0])
    assert many.edge.tolist() == [1, 2, 0]


def test_grids_are_built_with_the_network_and_list_twins_once():
    net = RoadNetwork.from_arrays(_two_way_street())
    seg = net._segments
    before = set(vars(seg))
    net.snap(0.0001, 0.001)
    net.snap(0.5, 0.5, max_distance_m=math.inf)  # far away: the coarse grid
    assert set(vars(seg)) == before  # nothing is built on a query
    # Twins are listed once: two canonical segments, in both grids.
    assert set(seg.grid.seg.tolist()) == set(seg.coarse.seg.tolist()) == {0, 1}
    assert seg.grid.nbytes > 0 and seg.coarse.nbytes > 0


@pytest.mark.parametrize("name", ["andorra.osm.pbf", "porto.osm.pbf", "shanghai_central.osm"])
def test_grid_equals_the_exhaustive_search_on_real_roads(name):
    # Real shapes, two-way roads, one-way pairs and junctions: every field bit-identical.
    from .shared_data import need_data

    net = RoadNetwork.from_osm(need_data(name))
    rng = np.random.default_rng(7)
    n = 3000
    e = rng.integers(0, net.n_edges, n)
    f = rng.random(n)
    u, v = net.edge_u[e], net.edge_v[e]
    lats = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lngs = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    # On the road, beside it, and up to ~2 km off it.
    spread = rng.choice([0.0, 30.0, 300.0, 2000.0], n) / 111_195.0
    lats = lats + rng.uniform(-1.0, 1.0, n) * spread
    lngs = lngs + rng.uniform(-1.0, 1.0, n) * spread
    hd = rng.uniform(0.0, 360.0, n)
    for headings in (None, hd):
        with pytest.MonkeyPatch.context() as mp:
            slow = _exhaustive(net, lats, lngs, headings, math.inf, mp)
        fast = net.snap_many(lats, lngs, headings=headings, max_distance_m=math.inf)
        for field in fast._fields:
            np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), field)
        for i in range(0, n, 97):
            h = None if headings is None else headings[i]
            s = net.snap(lats[i], lngs[i], heading=h, max_distance_m=math.inf)
            assert (s.edge, s.fraction, s.distance_m) == (
                fast.edge[i],
                fast.fraction[i],
                fast.distance_m[i],
            )


@pytest.mark.parametrize("offset_deg", [0.0225, 0.03, -0.0225, 0.05])
@pytest.mark.parametrize("flip", [False, True])
def test_far_point_ties_twins_to_the_lowest_edge(offset_deg, flip):
    # Beyond 2 km every road is found by the coarse grid (once by an STRtree's nearest
    # search, which measured raw segments: twins drawn in opposite directions differed by
    # rounding). Ties are decided on canonical segments, so the lowest edge wins.
    lat = [22.7, 22.7013]
    lng = [114.2, 114.2071]
    u, v = ([1, 0], [0, 1]) if flip else ([0, 1], [1, 0])
    a = EdgeArrays.straight(node_id=[1, 2], lat=lat, lng=lng, u=u, v=v,
                            length_m=[740.0, 740.0], travel_time_s=[60.0, 60.0])
    net = RoadNetwork.from_arrays(a)
    for t in np.linspace(0.05, 0.95, 7):
        p = (lat[0] + t * (lat[1] - lat[0]) + offset_deg, lng[0] + t * (lng[1] - lng[0]))
        res = net.snap_many([p[0]], [p[1]], max_distance_m=math.inf)
        assert int(res.edge[0]) == 0
        assert net.snap(*p, max_distance_m=math.inf).edge == 0


def test_a_far_point_nearest_a_shared_node_snaps_to_the_lowest_edge():
    # Regression (found by exploration): 2.7 km from four edges meeting at node 3, every
    # edge is equally near (the node); the wider fallback search found edge 3 first and
    # kept it over the lower edges it measured later at the same distance.
    lat = [22.7, 22.708, 22.703, 22.707, 22.701]
    lng = [114.201, 114.207, 114.208, 114.203, 114.2]
    u, v = [2, 2, 3, 3, 0, 1], [3, 3, 2, 4, 1, 0]
    a = EdgeArrays.straight(
        node_id=list(range(5)), lat=lat, lng=lng, u=u, v=v,
        length_m=[900.0, 1100.0, 900.0, 700.0, 1000.0, 1000.0],
        travel_time_s=[60.0] * 6,
    )
    net = RoadNetwork.from_arrays(a)
    point = (22.722986691869966, 114.18267075142015)
    oracle = NearestRoad(net)
    per_edge = _segment_distances(oracle, net, *point, None)
    want = int(np.flatnonzero(per_edge <= per_edge.min() + 1e-7)[0])
    s = net.snap_many([point[0]], [point[1]], max_distance_m=math.inf)
    assert int(s.edge[0]) == want


def test_not_measuring_far_points_never_reports_a_farther_road():
    # Regression (found by exploration): past its bound, the coarse grid's search kept the
    # nearest road of its block even when a nearer one lay outside the block, so a point
    # off the network reported that farther road's distance. Seeded random networks of a
    # few straight roads, with points up to 3 km off them.
    rng = np.random.default_rng(11)
    for _ in range(60):
        m = int(rng.integers(2, 7))
        lat = 22.7 + rng.uniform(0.0, 0.03, 2 * m)
        lng = 114.2 + rng.uniform(0.0, 0.03, 2 * m)
        a = EdgeArrays.straight(
            node_id=list(range(2 * m)), lat=lat.tolist(), lng=lng.tolist(),
            u=list(range(0, 2 * m, 2)), v=list(range(1, 2 * m, 2)),
            length_m=[1000.0] * m, travel_time_s=[60.0] * m,
        )
        net = RoadNetwork.from_arrays(a)
        plat = 22.7 + rng.uniform(-0.03, 0.06, 40)
        plng = 114.2 + rng.uniform(-0.03, 0.06, 40)
        for limit in (1.0, 30.0, 150.0):
            full = net.snap_many(plat, plng, max_distance_m=limit)
            quick = net.snap_many(plat, plng, max_distance_m=limit, measure_far=False)
            np.testing.assert_array_equal(quick.edge, full.edge)
            off = full.edge < 0
            d = quick.distance_m[off]
            assert ((d == full.distance_m[off]) | (d == math.inf)).all()
