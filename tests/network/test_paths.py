"""Shortest travel times against networkx Dijkstra (the slow, obvious oracle)."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import InvalidParameterError, OffNetworkError, RoadNetwork, haversine_m_array
from kayou_dispatch.network import EdgeArrays, Route

from ..strategies import offsets_m, road_graphs
from .oracle import nx_times_from, split_graph_time

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(road_graphs())
def test_shortest_times_from_and_to_match_networkx(g):
    net = RoadNetwork.from_networkx(g)
    ids = net.node_ids.tolist()
    for source in list(g.nodes)[:3]:
        i = net.node_index(source)
        expected = nx_times_from(g, source)
        got = net.shortest_times_from(i)
        for j, node in enumerate(ids):
            assert got[j] == pytest.approx(expected.get(node, math.inf), rel=1e-12, abs=1e-9)
        back = nx.single_source_dijkstra_path_length(
            g.reverse(copy=True), source, weight="travel_time"
        )
        got_to = net.shortest_times_to(i)
        for j, node in enumerate(ids):
            assert got_to[j] == pytest.approx(back.get(node, math.inf), rel=1e-12, abs=1e-9)


@FAST
@given(road_graphs(), st.data())
def test_shortest_path_is_a_fastest_path(g, data):
    net = RoadNetwork.from_networkx(g)
    s = data.draw(st.integers(0, net.n_nodes - 1))
    t = data.draw(st.integers(0, net.n_nodes - 1))
    path = net.shortest_path(s, t)
    expected = nx_times_from(g, int(net.node_ids[s])).get(int(net.node_ids[t]), math.inf)
    if math.isinf(expected):
        assert path == []
        return
    assert path[0] == s and path[-1] == t
    total = 0.0
    for a, b in itertools.pairwise(path):
        ua, vb = int(net.node_ids[a]), int(net.node_ids[b])
        total += min(d["travel_time"] for d in g.get_edge_data(ua, vb).values())
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-9)


@st.composite
def _point_near_edge(draw, net):
    e = draw(st.integers(0, net.n_edges - 1))
    f = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)))
    u, v = int(net.edge_u[e]), int(net.edge_v[e])
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    dlat, dlng = draw(st.one_of(st.just((0.0, 0.0)), offsets_m()))
    return float(lat + dlat), float(lng + dlng)


@FAST
@given(road_graphs(), st.data())
def test_point_to_point_matches_split_graph_oracle(g, data):
    net = RoadNetwork.from_networkx(g)
    p1 = data.draw(_point_near_edge(net))
    p2 = data.draw(_point_near_edge(net))
    s1, s2 = net.snap(*p1), net.snap(*p2)
    got = net.travel_time(*p1, *p2)
    expected = split_graph_time(g, net, s1, s2)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)
    r = net.route(*p1, *p2)
    assert r.eta_s == pytest.approx(got, rel=1e-12, abs=1e-9)
    if math.isinf(got):
        assert r == Route(math.inf, math.inf, ())
    else:
        assert r.coords[0] == (s1.lat, s1.lng)
        assert r.coords[-1] == (s2.lat, s2.lng)
        assert r.distance_m >= 0.0


@FAST
@given(road_graphs(), st.data())
def test_travel_times_to_matches_travel_time(g, data):
    net = RoadNetwork.from_networkx(g)
    dest = data.draw(_point_near_edge(net))
    origins = data.draw(st.lists(_point_near_edge(net), min_size=1, max_size=6))
    lats = [p[0] for p in origins]
    lngs = [p[1] for p in origins]
    got = net.travel_times_to(*dest, lats, lngs)
    assert got.shape == (len(origins),) and got.dtype == np.float64
    for i, p in enumerate(origins):
        assert got[i] == pytest.approx(net.travel_time(*p, *dest), rel=1e-12, abs=1e-9)


def _line(tt=(10.0, 10.0), lng=(0.0, 0.001, 0.002)):
    return EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.0],
        lng=list(lng),
        u=[0, 1],
        v=[1, 2],
        length_m=[111.2, 111.2],
        travel_time_s=list(tt),
    )


def test_partial_edges_at_both_ends():
    net = RoadNetwork.from_arrays(_line())
    # From a quarter of edge 0 to three quarters of edge 1: 7.5 s + 7.5 s.
    assert net.travel_time(0.0, 0.00025, 0.0, 0.00175) == pytest.approx(15.0)
    # Same edge, forwards: only the part between.
    assert net.travel_time(0.0, 0.00025, 0.0, 0.00075) == pytest.approx(5.0)
    # Same edge, backwards on a one-way road: no way round.
    assert net.travel_time(0.0, 0.00075, 0.0, 0.00025) == math.inf


def test_same_edge_backwards_goes_around_a_loop():
    a = EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.001],
        lng=[0.0, 0.001, 0.0005],
        u=[0, 1, 2],
        v=[1, 2, 0],
        length_m=[111.2, 124.3, 124.3],
        travel_time_s=[10.0, 4.0, 6.0],
    )
    net = RoadNetwork.from_arrays(a)
    # From 3/4 of edge 0 back to 1/4 of it: 2.5 + 4 + 6 + 2.5.
    assert net.travel_time(0.0, 0.00075, 0.0, 0.00025) == pytest.approx(15.0)
    r = net.route(0.0, 0.00075, 0.0, 0.00025)
    assert r.eta_s == pytest.approx(15.0)
    expected = [(0.0, 0.00075), (0.0, 0.001), (0.001, 0.0005), (0.0, 0.0), (0.0, 0.00025)]
    np.testing.assert_allclose(np.array(r.coords), expected, atol=1e-12)
    assert r.distance_m == pytest.approx(0.25 * 111.2 + 124.3 + 124.3 + 0.25 * 111.2)


def test_route_follows_shape_points():
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, y=0.0, x=0.0)
    g.add_node(2, y=0.0, x=0.002)
    import shapely

    bend = shapely.LineString([(0.0, 0.0), (0.001, 0.001), (0.002, 0.0)])
    g.add_edge(1, 2, travel_time=20.0, length=314.5, geometry=bend)
    net = RoadNetwork.from_networkx(g)
    r = net.route(0.0, 0.0, 0.0, 0.002)
    np.testing.assert_allclose(np.array(r.coords), [(0, 0), (0.001, 0.001), (0, 0.002)])
    assert r.eta_s == pytest.approx(20.0) and r.distance_m == pytest.approx(314.5)
    # Halfway along the bent edge is its corner: 10 s from either end.
    assert net.travel_time(0.0, 0.0, 0.001, 0.001) == pytest.approx(10.0, abs=0.01)


def test_route_without_path_and_to_itself():
    net = RoadNetwork.from_arrays(_line())
    assert net.route(0.0, 0.0015, 0.0, 0.0005) == Route(math.inf, math.inf, ())
    r = net.route(0.0, 0.0005, 0.0, 0.0005)
    assert r.eta_s == 0.0 and r.distance_m == 0.0
    assert len(r.coords) == 2 and r.coords[0] == r.coords[1]


def test_node_snap_starts_free_of_its_edge():
    # Two edges leave node 2; a truck standing on node 2 may take either.
    a = EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.001],
        lng=[0.0, 0.001, 0.001],
        u=[1, 1],
        v=[0, 2],
        length_m=[111.2, 111.2],
        travel_time_s=[10.0, 10.0],
    )
    net = RoadNetwork.from_arrays(a)
    s = net.snap(0.0, 0.001)
    assert s.node == 1 and s.fraction == 0.0
    assert net.travel_time(0.0, 0.001, 0.001, 0.001) == pytest.approx(10.0)
    assert net.travel_time(0.0, 0.001, 0.0, 0.0) == pytest.approx(10.0)


def test_travel_times_to_is_one_search_for_many_origins():
    rng = np.random.default_rng(3)
    net = RoadNetwork.from_arrays(_line(tt=(10.0, 30.0)))
    lats = rng.uniform(-1e-4, 1e-4, 200)
    lngs = rng.uniform(0.0, 0.002, 200)
    got = net.travel_times_to(0.0, 0.002, lats, lngs)
    expected = [net.travel_time(la, ln, 0.0, 0.002) for la, ln in zip(lats, lngs, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_travel_times_to_snapped_reuses_snaps():
    net = RoadNetwork.from_arrays(_line(tt=(10.0, 30.0)))
    lats, lngs = [0.0, 0.0001, 0.0], [0.0005, 0.0012, 0.0019]
    trucks = net.snap_many(lats, lngs)
    dest = net.snap(0.0, 0.0015)
    got = net.travel_times_to_snapped(dest, trucks)
    np.testing.assert_array_equal(got, net.travel_times_to(0.0, 0.0015, lats, lngs))


def _polyline_m(coords):
    lat = np.array([c[0] for c in coords])
    lng = np.array([c[1] for c in coords])
    return float(haversine_m_array(lat[:-1], lng[:-1], lat[1:], lng[1:]).sum())


@FAST
@given(road_graphs(), st.data())
def test_route_coords_trace_the_driven_distance(g, data):
    # With lengths measured along the geometry, the route's polyline is its distance.
    for *_, d in g.edges(data=True):
        del d["length"]
    net = RoadNetwork.from_networkx(g)
    p1 = data.draw(_point_near_edge(net))
    p2 = data.draw(_point_near_edge(net))
    r = net.route(*p1, *p2)
    if math.isinf(r.eta_s):
        return
    # Fractions are interpolated in degrees, lengths are great-circle: they agree to ~1e-5.
    assert _polyline_m(r.coords) == pytest.approx(r.distance_m, rel=1e-5, abs=1e-2)


@FAST
@given(road_graphs(), st.data())
def test_travel_times_to_with_headings_matches_travel_time(g, data):
    net = RoadNetwork.from_networkx(g)
    dest = data.draw(_point_near_edge(net))
    origins = data.draw(st.lists(_point_near_edge(net), min_size=1, max_size=4))
    headings = data.draw(
        st.lists(st.floats(0.0, 360.0), min_size=len(origins), max_size=len(origins))
    )
    lats = [p[0] for p in origins]
    lngs = [p[1] for p in origins]
    snaps = net.snap_many(lats, lngs, headings=headings)
    if (snaps.edge < 0).any():
        with pytest.raises(OffNetworkError):
            net.travel_times_to(*dest, lats, lngs, origin_headings=headings)
        return
    got = net.travel_times_to(*dest, lats, lngs, origin_headings=headings)
    for i, p in enumerate(origins):
        expected = net.travel_time(*p, *dest, heading=headings[i])
        assert got[i] == pytest.approx(expected, rel=1e-12, abs=1e-9)


@FAST
@given(road_graphs(), st.data())
def test_point_to_point_with_heading_matches_split_graph_oracle(g, data):
    net = RoadNetwork.from_networkx(g)
    p1 = data.draw(_point_near_edge(net))
    p2 = data.draw(_point_near_edge(net))
    heading = data.draw(st.floats(0.0, 360.0))
    try:
        s1 = net.snap(*p1, heading=heading)
    except OffNetworkError:
        return
    assert s1.twin is None
    got = net.travel_time(*p1, *p2, heading=heading)
    assert got == pytest.approx(split_graph_time(g, net, s1, net.snap(*p2)), rel=1e-9, abs=1e-6)
    assert net.route(*p1, *p2, heading=heading).eta_s == got


def _two_way(tt_forward=10.0, tt_back=20.0):
    # 1 -- 2 -- 3 along the equator; 1-2 two-way (edges 0 and 1), 2->3 one-way (edge 2).
    return EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.0],
        lng=[0.0, 0.001, 0.002],
        u=[0, 1, 1],
        v=[1, 0, 2],
        length_m=[111.2, 111.2, 111.2],
        travel_time_s=[tt_forward, tt_back, 10.0],
    )


def test_two_way_road_is_left_and_reached_along_both_directions():
    net = RoadNetwork.from_arrays(_two_way())
    assert net.edge_twin.tolist() == [1, 0, -1]
    s = net.snap(0.0, 0.0003)
    assert s.edge == 0 and s.twin == 1
    # Backwards along the twin: 0.3 of edge 1's 20 s, not round a loop (there is none).
    assert net.travel_time(0.0, 0.0003, 0.0, 0.0001) == pytest.approx(0.2 * 20.0)
    assert net.travel_time(0.0, 0.0003, 0.0, 0.0) == pytest.approx(0.3 * 20.0)
    # From the one-way edge 2->3 nothing comes back; from node 2 the twin leads to node 1.
    assert net.travel_time(0.0, 0.0015, 0.0, 0.0003) == math.inf
    assert net.travel_time(0.0, 0.001, 0.0, 0.0003) == pytest.approx(0.7 * 20.0)
    # A heading pins the start to one direction; the destination stays reachable both ways.
    s_east = net.snap(0.0, 0.0003, heading=90.0)
    assert s_east.edge == 0 and s_east.twin is None
    # East to node 2 (7 s), then back along the twin (0.9 of 20 s): a U-turn at the node.
    assert net.travel_time(0.0, 0.0003, 0.0, 0.0001, heading=90.0) == pytest.approx(25.0)
    assert net.travel_time(0.0, 0.0003, 0.0, 0.0001, heading=270.0) == pytest.approx(4.0)
    r = net.route(0.0, 0.0003, 0.0, 0.0001)
    assert r.eta_s == pytest.approx(4.0) and r.distance_m == pytest.approx(0.2 * 111.2)
    np.testing.assert_allclose(np.array(r.coords), [(0.0, 0.0003), (0.0, 0.0001)], atol=1e-12)


def test_divided_carriageway_has_no_twin():
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, y=0.0, x=0.0)
    g.add_node(2, y=0.0, x=0.002)
    import shapely

    g.add_edge(1, 2, travel_time=20.0, length=222.0)
    g.add_edge(
        2,
        1,
        travel_time=20.0,
        length=230.0,
        geometry=shapely.LineString([(0.002, 0.0), (0.001, 0.0002), (0.0, 0.0)]),
    )
    net = RoadNetwork.from_networkx(g)
    assert net.edge_twin.tolist() == [-1, -1]


@FAST
@given(road_graphs(), st.data())
def test_bounded_times_are_exact_up_to_the_limit(g, data):
    net = RoadNetwork.from_networkx(g)
    dest = net.snap(*data.draw(_point_near_edge(net)))
    pts = data.draw(st.lists(_point_near_edge(net), min_size=1, max_size=8))
    headings = data.draw(st.none() | st.just(90.0))
    snaps = net.snap_many([p[0] for p in pts], [p[1] for p in pts])
    if headings is not None:
        headed = net.snap_many(
            [p[0] for p in pts], [p[1] for p in pts], headings=[headings] * len(pts)
        )
        if (headed.edge >= 0).all():
            snaps = headed
        else:
            headings = None
    full = net.travel_times_to_snapped(dest, snaps)
    finite = full[np.isfinite(full)]
    limit = data.draw(
        st.sampled_from([0.0, *finite.tolist()]) | st.floats(0.0, 2000.0) | st.just(math.inf)
    )
    got = net.travel_times_to_snapped(dest, snaps, limit_s=limit)
    np.testing.assert_array_equal(got, np.where(full <= limit, full, np.inf))
    # The search tree's routes: same times as route(), the same driven distances.
    tree = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
    legs = tree.legs(snaps, range(len(pts)))
    dist = tree.distances_m(legs)
    for i in range(len(pts)):
        assert legs[i].eta_s == got[i]
        start = net.snap(*pts[i], heading=headings)
        r = net.route_snapped(start, dest)
        assert r.eta_s == full[i]
        if got[i] < math.inf:
            assert dist[i] == pytest.approx(r.distance_m, rel=1e-9, abs=1e-6)


def test_bad_limit_s():
    net = RoadNetwork.from_arrays(_line())
    dest = net.snap(0.0, 0.0015)
    snaps = net.snap_many([0.0], [0.0005])
    for bad in (-1.0, math.nan, "x"):
        with pytest.raises(InvalidParameterError):
            net.travel_times_to_snapped(dest, snaps, limit_s=bad)


@st.composite
def _geometric_networks(draw):
    # Straight edges whose lengths are their great-circle lengths and whose speeds vary:
    # the setting of a bounded local search (a finite top speed).
    g = draw(road_graphs(shapes=False))
    nodes = list(g.nodes)
    lat = np.array([g.nodes[x]["y"] for x in nodes])
    lng = np.array([g.nodes[x]["x"] for x in nodes])
    where = {x: i for i, x in enumerate(nodes)}
    u = np.array([where[a] for a, _ in g.edges()], dtype=np.int64)
    v = np.array([where[b] for _, b in g.edges()], dtype=np.int64)
    length = haversine_m_array(lat[u], lng[u], lat[v], lng[v])
    speeds = draw(st.lists(st.floats(1.0, 40.0), min_size=u.size, max_size=u.size))
    a = EdgeArrays.straight(node_id=nodes, lat=lat, lng=lng, u=u, v=v, length_m=length,
                            travel_time_s=length / np.array(speeds))
    return RoadNetwork.from_arrays(a)


@FAST
@given(_geometric_networks(), st.floats(22.699, 22.71), st.floats(114.199, 114.21),
       st.floats(0.0, 120.0), st.booleans())
def test_local_bounded_search_equals_the_whole_graph_search(net, lat, lng, limit, headed):
    # A bounded search on the subgraph of the nodes within reach gives bit-identical times
    # and the same routes as the search on the whole graph, up to the limit.
    from kayou_dispatch.network import _graph

    try:
        dest = net.snap(lat, lng, max_distance_m=math.inf)
    except OffNetworkError:
        return
    origins = net.snap_many(
        net.node_lat + 1e-5, net.node_lng, headings=np.zeros(net.n_nodes) if headed else None,
        max_distance_m=math.inf,
    )
    on = np.flatnonzero(origins.edge >= 0)
    origins = origins._make(c[on] for c in origins)
    whole = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
    assert whole._within is None
    saved = _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE
    _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = 0, 0
    try:
        local = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
    finally:
        _graph._LOCAL_MIN_NODES, _graph._LOCAL_SHARE = saved
    if 0.0 < net.max_speed_mps < math.inf:
        assert local._within is not None and local._within.size <= net.n_nodes
    np.testing.assert_array_equal(local.times(origins), whole.times(origins))
    rows = list(range(origins.edge.size))
    for a, b in zip(local.legs(origins, rows), whole.legs(origins, rows), strict=True):
        assert (a.eta_s, a.nodes, a.first_edge, a.last_edge) == (
            b.eta_s, b.nodes, b.first_edge, b.last_edge)
    np.testing.assert_array_equal(local.to_dest, whole.to_dest)
