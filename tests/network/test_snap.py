"""Snapping against a brute-force oracle (shapely distance to every edge)."""

import math

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import OffNetworkError, RoadNetwork, haversine_m
from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network import EdgeArrays

from ..strategies import road_graphs
from .oracle import nearest_road_m

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


@FAST
@given(road_graphs(), st.floats(22.695, 22.715), st.floats(114.195, 114.215))
def test_snap_distance_matches_brute_force(g, lat, lng):
    net = RoadNetwork.from_networkx(g)
    s = net.snap(lat, lng, max_distance_m=math.inf)
    expected = nearest_road_m(net, lat, lng)
    # A node snap moves the point up to 1 m along the road; the oracle's plane is good to
    # about 1e-4 relative at kilometres.
    assert s.distance_m == pytest.approx(expected, rel=1e-4, abs=1e-3 if s.node is None else 1.0)
    assert s.distance_m == pytest.approx(haversine_m(lat, lng, s.lat, s.lng), abs=1e-6)
    assert 0.0 <= s.fraction <= 1.0
    if s.node is not None:
        assert s.node in (net.edge_u[s.edge], net.edge_v[s.edge])
        assert s.fraction == (0.0 if s.node == net.edge_u[s.edge] else 1.0)


@settings(max_examples=25, deadline=None)
@given(
    road_graphs(max_nodes=8, lat0=20.0, lng0=100.0, shapes=False),
    st.data(),
)
def test_snap_finds_the_nearest_road_on_a_country_sized_network(g, data):
    # Stretch the grid over 20..50 degrees north, 100..120 east: the global plane's
    # east-west scale is off by up to 1.4 there, so candidates must be searched widely.
    for _, d in g.nodes(data=True):
        d["y"] = 20.0 + (d["y"] - 20.0) * 30.0 / 0.009
        d["x"] = 100.0 + (d["x"] - 100.0) * 20.0 / 0.009
    for *_, d in g.edges(data=True):
        d["length"] = 1.0
    net = RoadNetwork.from_networkx(g)
    e = data.draw(st.integers(0, net.n_edges - 1))
    f = data.draw(st.floats(0.0, 1.0))
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    lat += data.draw(st.floats(-0.004, 0.004))  # up to ~450 m off the road
    lng += data.draw(st.floats(-0.004, 0.004))
    s = net.snap(lat, lng, max_distance_m=math.inf)
    expected = nearest_road_m(net, lat, lng)
    assert s.distance_m == pytest.approx(
        expected, rel=1e-4, abs=1.0 if s.node is not None else 1e-3
    )


@FAST
@given(
    road_graphs(),
    st.lists(
        st.tuples(st.floats(22.695, 22.715), st.floats(114.195, 114.215)), min_size=1, max_size=8
    ),
)
def test_snap_many_equals_snap(g, points):
    net = RoadNetwork.from_networkx(g)
    lats = np.array([p[0] for p in points])
    lngs = np.array([p[1] for p in points])
    many = net.snap_many(lats, lngs, max_distance_m=300.0)
    for i, p in enumerate(points):
        try:
            s = net.snap(*p, max_distance_m=300.0)
        except OffNetworkError as err:
            assert many.edge[i] == -1 and math.isnan(many.fraction[i])
            assert many.distance_m[i] == pytest.approx(err.distance_m)
            continue
        assert (many.edge[i], many.fraction[i], many.distance_m[i]) == (
            s.edge,
            s.fraction,
            s.distance_m,
        )
        assert (many.lat[i], many.lng[i]) == (s.lat, s.lng)
        assert many.node[i] == (-1 if s.node is None else s.node)


def _expressway():
    """Two one-way carriageways 30 m apart: eastbound south, westbound north."""
    d = 30.0 / 111_195.0
    return EdgeArrays.straight(
        node_id=[1, 2, 3, 4],
        lat=[0.0, 0.0, d, d],
        lng=[0.0, 0.01, 0.01, 0.0],
        u=[0, 2],
        v=[1, 3],
        length_m=[1112.0, 1112.0],
        travel_time_s=[50.0, 50.0],
    )


def test_heading_picks_the_right_carriageway():
    net = RoadNetwork.from_arrays(_expressway())
    lat = 20.0 / 111_195.0  # closer to the westbound (north) carriageway
    assert net.snap(lat, 0.005).edge == 1
    assert net.snap(lat, 0.005, heading=90.0).edge == 0
    assert net.snap(lat, 0.005, heading=130.0).edge == 0  # within 60 degrees of east
    assert net.snap(lat, 0.005, heading=275.0).edge == 1
    with pytest.raises(OffNetworkError) as info:
        net.snap(lat, 0.005, heading=0.0)  # nothing runs north
    assert info.value.distance_m == math.inf
    many = net.snap_many([lat, lat], [0.005, 0.005], headings=[90.0, 270.0])
    assert many.edge.tolist() == [0, 1]


def test_heading_widens_the_search_until_a_matching_road():
    net = RoadNetwork.from_arrays(_expressway())
    # 500 m north of the westbound carriageway, heading east: the eastbound one is 530 m away.
    lat = 530.0 / 111_195.0
    s = net.snap(lat, 0.005, heading=90.0)
    assert s.edge == 0 and s.distance_m == pytest.approx(530.0, abs=0.5)
    with pytest.raises(OffNetworkError):
        net.snap(lat, 0.005, heading=90.0, max_distance_m=520.0)


def test_point_within_a_metre_of_a_node_is_that_node():
    net = RoadNetwork.from_arrays(_expressway())
    s = net.snap(0.0, 0.01 - 0.5 / 111_195.0)
    assert (s.edge, s.node, s.fraction, s.lat, s.lng) == (0, 1, 1.0, 0.0, 0.01)
    s = net.snap(0.0, 2.0 / 111_195.0)
    assert s.node is None and s.fraction == pytest.approx(2.0 / 1112.0, rel=1e-3)


def test_off_network_error_carries_context():
    net = RoadNetwork.from_arrays(_expressway())
    with pytest.raises(OffNetworkError) as info:
        net.snap(0.1, 0.005)
    err = info.value
    assert err.distance_m == pytest.approx(0.1 * 111_195.0 - 30.0, rel=1e-3)
    assert (err.lat, err.lng, err.max_distance_m) == (0.1, 0.005, 1000.0)
    assert "max_distance_m" in str(err)


def test_snap_many_empty_and_large():
    net = RoadNetwork.from_arrays(_expressway())
    empty = net.snap_many([], [])
    assert empty.edge.shape == (0,)
    rng = np.random.default_rng(0)
    lats = rng.uniform(-0.001, 0.001, 5000)
    lngs = rng.uniform(0.0, 0.01, 5000)
    many = net.snap_many(lats, lngs)
    assert (many.edge >= 0).all()
    assert (many.distance_m <= 200.0).all()


def test_snap_bent_geometry_fraction_by_length():
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, y=0.0, x=0.0)
    g.add_node(2, y=0.0, x=0.002)
    g.add_edge(
        1,
        2,
        travel_time=20.0,
        length=314.5,
        geometry=shapely.LineString([(0.0, 0.0), (0.001, 0.001), (0.002, 0.0)]),
    )
    net = RoadNetwork.from_networkx(g)
    s = net.snap(0.0011, 0.001)
    assert s.fraction == pytest.approx(0.5, abs=1e-6)
    assert (s.lat, s.lng) == pytest.approx((0.001, 0.001))


def test_snap_corrects_the_plane_distortion_far_from_the_centre():
    # The network spans 20..50 N, so its plane's east-west scale at 50 N is
    # cos(35)/cos(50) = 1.27: a road 100 m east looks farther than one 120 m north.
    dlat = 1.0 / 111_195.0
    dlng = dlat / math.cos(math.radians(50.0))
    lat, lng = 50.0, 110.0
    a = EdgeArrays.straight(
        node_id=[1, 2, 3, 4, 5, 6],
        lat=[lat - 0.01, lat + 0.01, lat + 120 * dlat, lat + 120 * dlat, 20.0, 20.0],
        lng=[lng + 100 * dlng, lng + 100 * dlng, lng - 0.01, lng + 0.01, 110.0, 110.01],
        u=[0, 2, 4],
        v=[1, 3, 5],
        length_m=[2224.0, 1430.0, 1045.0],
        travel_time_s=[100.0, 100.0, 100.0],
    )
    net = RoadNetwork.from_arrays(a)
    s = net.snap(lat, lng)
    assert s.edge == 0
    assert s.distance_m == pytest.approx(100.0, abs=0.05)
    many = net.snap_many([lat], [lng])
    assert many.edge.tolist() == [0]


@FAST
@given(
    road_graphs(),
    st.floats(22.695, 22.715),
    st.floats(114.195, 114.215),
    st.floats(0.0, 360.0),
)
def test_snap_with_heading_matches_brute_force(g, lat, lng, heading):
    net = RoadNetwork.from_networkx(g)
    expected = nearest_road_m(net, lat, lng, heading)
    try:
        s = net.snap(lat, lng, heading=heading, max_distance_m=math.inf)
    except OffNetworkError as err:
        assert expected == math.inf and err.distance_m == math.inf
        return
    tol = 1.0 if s.node is not None else 1e-3
    assert s.distance_m == pytest.approx(expected, rel=1e-4, abs=tol)


@settings(max_examples=30, deadline=None)
@given(road_graphs(), st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))
def test_far_points_report_the_nearest_road(g, dlat, dlng):
    # Up to ~55 km away: beyond the one-pass search radius, served by the nearest search.
    net = RoadNetwork.from_networkx(g)
    lat, lng = 22.705 + dlat, 114.205 + dlng
    expected = nearest_road_m(net, lat, lng)
    many = net.snap_many([lat], [lng])
    if expected > 1001.0:
        assert many.edge[0] == -1
        assert many.distance_m[0] == pytest.approx(expected, rel=1e-3)
    s = net.snap(lat, lng, max_distance_m=math.inf)
    assert s.distance_m == pytest.approx(expected, rel=1e-3, abs=1.0)


def test_many_far_points_stay_cheap():
    net = RoadNetwork.from_arrays(_expressway())
    rng = np.random.default_rng(5)
    lats = rng.uniform(1.0, 2.0, 3000)  # 110 to 220 km north of every road
    lngs = rng.uniform(-1.0, 1.0, 3000)
    many = net.snap_many(lats, lngs, max_distance_m=math.inf)
    assert (many.edge >= 0).all()
    assert many.distance_m.min() > 100_000.0


@FAST
@given(
    st.lists(st.floats(0.0, 3.0), min_size=1, max_size=8),
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.floats(0.0, 360.0),
)
def test_every_node_snaps_to_itself_even_on_sub_metre_edges(gaps_m, two_way, bearing):
    # A chain of nodes a few centimetres to a few metres apart (short ramps, split ways):
    # a node's own point is that node, at distance 0, even within 1 m of both ends of an
    # edge. Nodes that coincide (gap 0) are one place: either will do.
    lat0, lng0 = 22.70, 114.20
    d = np.concatenate([[0.0], np.cumsum(gaps_m)])
    b = math.radians(bearing)
    lat = lat0 + d * math.cos(b) / M_PER_DEG
    lng = lng0 + d * math.sin(b) / (M_PER_DEG * math.cos(math.radians(lat0)))
    n = lat.shape[0]
    u = list(range(n - 1))
    v = list(range(1, n))
    for i in range(n - 1):
        if two_way[i]:
            u.append(i + 1)
            v.append(i)
    length = [haversine_m(lat[a], lng[a], lat[c], lng[c]) for a, c in zip(u, v, strict=True)]
    arrays = EdgeArrays.straight(
        node_id=list(range(1, n + 1)), lat=lat, lng=lng, u=u, v=v,
        length_m=length, travel_time_s=[1.0 + x for x in length],
    )
    net = RoadNetwork.from_arrays(arrays)
    res = net.snap_many(net.node_lat, net.node_lng)
    assert (res.distance_m == 0.0).all()
    for i in range(net.n_nodes):
        j = int(res.node[i])
        assert j == i or (net.node_lat[j], net.node_lng[j]) == (net.node_lat[i], net.node_lng[i])
        s = net.snap(float(net.node_lat[i]), float(net.node_lng[i]))
        assert s.node == j and s.distance_m == 0.0
