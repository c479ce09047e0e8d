"""Building, converting, saving and describing a RoadNetwork."""

import math

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings

from kayou_dispatch import RoadNetwork
from kayou_dispatch.network import HIGHWAY_CLASSES, EdgeArrays, get_profile

from ..strategies import road_graphs

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _two_nodes(g=None):
    g = nx.MultiDiGraph(crs="epsg:4326") if g is None else g
    g.add_node(10, y=22.70, x=114.20)
    g.add_node(20, y=22.70, x=114.21)
    return g


@FAST
@given(road_graphs())
def test_from_networkx_keeps_every_node_and_edge(g):
    net = RoadNetwork.from_networkx(g)
    assert net.n_nodes == g.number_of_nodes()
    assert net.n_edges == g.number_of_edges()
    assert net.dropped_nodes == 0 and net.dropped_edges == 0
    for e, (a, b, k) in enumerate(g.edges(keys=True)):
        assert (net.node_ids[net.edge_u[e]], net.node_ids[net.edge_v[e]]) == (a, b)
        assert net.edge_travel_time_s[e] == g.edges[a, b, k]["travel_time"]


@FAST
@given(road_graphs())
def test_networkx_round_trip_preserves_travel_times_and_shapes(g):
    net = RoadNetwork.from_networkx(g)
    h = net.to_networkx()
    assert h.graph["crs"] == "epsg:4326"
    assert set(h.nodes) == set(g.nodes)
    for node, d in g.nodes(data=True):
        assert (h.nodes[node]["y"], h.nodes[node]["x"]) == (d["y"], d["x"])
    back = RoadNetwork.from_networkx(h)
    np.testing.assert_array_equal(back.edge_travel_time_s, net.edge_travel_time_s)
    np.testing.assert_array_equal(back.edge_length_m, net.edge_length_m)
    np.testing.assert_array_equal(back.arrays.geom_offsets, net.arrays.geom_offsets)
    np.testing.assert_allclose(back.arrays.geom_lat, net.arrays.geom_lat)
    for (a, b, d), (a2, b2, d2) in zip(g.edges(data=True), h.edges(data=True), strict=True):
        assert (a, b) == (a2, b2)
        assert ("geometry" in d) == ("geometry" in d2)


@FAST
@given(road_graphs())
def test_largest_component_keeps_the_largest_strong_component(g):
    net = RoadNetwork.from_networkx(g, largest_component=True)
    comps = list(nx.strongly_connected_components(g))
    size = max(len(c) for c in comps)
    assert net.n_nodes == size
    kept = set(net.node_ids.tolist())
    assert kept in [set(c) for c in comps]
    inside = sum(1 for a, b in g.edges() if a in kept and b in kept)
    assert net.n_edges == inside
    assert net.dropped_nodes == g.number_of_nodes() - size
    assert net.dropped_edges == g.number_of_edges() - inside
    assert net.meta["dropped_nodes"] == net.dropped_nodes
    assert net.meta["dropped_edges"] == net.dropped_edges
    sub = g.subgraph(kept)
    src = int(net.node_ids[0])
    expected = nx.single_source_dijkstra_path_length(sub, src, weight="travel_time")
    got = net.shortest_times_from(0)
    for j, node in enumerate(net.node_ids.tolist()):
        assert got[j] == pytest.approx(expected[node])


def test_largest_component_keeps_shape_points_of_kept_edges():
    g = _two_nodes()
    g.add_node(30, y=22.80, x=114.30)
    bend = shapely.LineString([(114.20, 22.70), (114.205, 22.701), (114.21, 22.70)])
    g.add_edge(
        10,
        30,
        travel_time=5.0,
        length=9.0,
        geometry=shapely.LineString([(114.20, 22.70), (114.25, 22.75), (114.30, 22.80)]),
    )
    g.add_edge(10, 20, travel_time=5.0, length=1.0, geometry=bend)
    g.add_edge(20, 10, travel_time=5.0, length=1.0)
    net = RoadNetwork.from_networkx(g, largest_component=True)
    assert (net.n_nodes, net.n_edges, net.dropped_nodes, net.dropped_edges) == (2, 2, 1, 1)
    assert net.arrays.geom_lat.tolist() == [22.701]
    assert net.arrays.geom_offsets.tolist() == [0, 1, 1]


def test_travel_time_fallbacks_speed_highway_maxspeed_and_length():
    g = _two_nodes()
    g.add_edge(10, 20, length=1000.0, speed_kph=36.0)
    g.add_edge(10, 20, length=1000.0, highway=["footway", "primary"], maxspeed="30")
    g.add_edge(10, 20, length=1000.0, highway="motorway", maxspeed=["120", "90"])
    g.add_edge(20, 10, highway="residential")
    net = RoadNetwork.from_networkx(g)
    tt = net.edge_travel_time_s.tolist()
    assert tt[0] == pytest.approx(100.0)
    assert tt[1] == pytest.approx(1000.0 / (30.0 / 3.6))
    assert tt[2] == pytest.approx(1000.0 / (90.0 / 3.6))
    expected_len = 1025.8  # 0.01 degrees of longitude at 22.7 N
    assert net.edge_length_m[3] == pytest.approx(expected_len, abs=0.5)
    assert tt[3] == pytest.approx(net.edge_length_m[3] / (20.0 / 3.6))
    assert [HIGHWAY_CLASSES[h] if h >= 0 else None for h in net.arrays.highway] == [
        None,
        "primary",
        "motorway",
        "residential",
    ]
    car = RoadNetwork.from_networkx(g, profile="car")
    assert car.edge_travel_time_s[3] < tt[3]
    assert car.meta["profile"] == "car"


def test_custom_weight_name_and_length_from_geometry():
    g = _two_nodes()
    bend = shapely.LineString([(114.20, 22.70), (114.205, 22.705), (114.21, 22.70)])
    g.add_edge(10, 20, minutes_as_s=42.0, geometry=bend)
    net = RoadNetwork.from_networkx(g, weight="minutes_as_s")
    assert net.edge_travel_time_s.tolist() == [42.0]
    straight = 1025.8
    assert net.edge_length_m[0] > straight * 1.3  # measured along the bend


def test_parallel_edges_fastest_wins_and_digraph_accepted():
    g = _two_nodes()
    g.add_edge(10, 20, travel_time=30.0, length=1.0)
    g.add_edge(10, 20, travel_time=20.0, length=1.0)
    net = RoadNetwork.from_networkx(g)
    assert net.shortest_times_from(0).tolist() == [0.0, 20.0]
    dg = _two_nodes(nx.DiGraph())
    dg.add_edge(10, 20, travel_time=7.0, length=1.0)
    assert RoadNetwork.from_networkx(dg).shortest_times_from(0).tolist() == [0.0, 7.0]


def test_undirected_graph_gets_both_ways_with_reversed_shape():
    g = _two_nodes(nx.Graph())
    bend = shapely.LineString([(114.21, 22.70), (114.205, 22.701), (114.20, 22.70)])
    g.add_edge(20, 10, travel_time=9.0, length=1.0, geometry=bend)
    net = RoadNetwork.from_networkx(g)
    assert net.n_edges == 2
    assert net.shortest_times_from(0).tolist() == [0.0, 9.0]
    assert net.shortest_times_from(1).tolist() == [9.0, 0.0]
    assert net.arrays.geom_lng.tolist() == [114.205, 114.205]


def test_string_labels_become_positions():
    g = nx.MultiDiGraph()
    g.add_node("depot", y=1.0, x=1.0)
    g.add_node("yard", y=1.0, x=1.001)
    g.add_edge("depot", "yard", travel_time=3.0, length=111.0)
    net = RoadNetwork.from_networkx(g)
    assert net.node_ids.tolist() == [0, 1]


def test_save_load_round_trip(tmp_path):
    g = _two_nodes()
    g.add_edge(
        10,
        20,
        travel_time=30.0,
        length=1000.0,
        highway="primary",
        geometry=shapely.LineString([(114.20, 22.70), (114.205, 22.701), (114.21, 22.70)]),
    )
    g.add_edge(20, 10, travel_time=35.0, length=1000.0)
    g.add_node(99, y=22.9, x=114.9)
    g.add_edge(99, 10, travel_time=1.0, length=1.0)
    net = RoadNetwork.from_networkx(g, largest_component=True)
    path = tmp_path / "net.npz"
    net.save(path)
    back = RoadNetwork.load(path)
    for name in (
        "node_id",
        "lat",
        "lng",
        "u",
        "v",
        "length_m",
        "travel_time_s",
        "highway",
        "geom_offsets",
        "geom_lat",
        "geom_lng",
    ):
        np.testing.assert_array_equal(getattr(back.arrays, name), getattr(net.arrays, name))
    assert back.meta == net.meta
    assert (back.dropped_nodes, back.dropped_edges) == (1, 1)
    assert back.travel_time(22.70, 114.2025, 22.70, 114.2075) == pytest.approx(
        net.travel_time(22.70, 114.2025, 22.70, 114.2075)
    )


def test_properties():
    a = EdgeArrays.straight(
        node_id=[5, 6, 7],
        lat=[1.0, 1.0, 1.002],
        lng=[2.0, 2.001, 2.001],
        u=[0, 1, 2],
        v=[1, 2, 2],
        length_m=[100.0, 200.0, 0.0],
        travel_time_s=[10.0, 8.0, 0.0],
    )
    net = RoadNetwork.from_arrays(a)
    assert net.max_speed_mps == 25.0
    assert net.bounds == (1.0, 2.0, 1.002, 2.001)
    assert net.node_latlng(2) == (1.002, 2.001)
    assert net.node_index(7) == 2
    assert "3 nodes" in repr(net)
    zero = EdgeArrays.straight(
        node_id=[1, 2],
        lat=[0.0, 0.0],
        lng=[0.0, 0.001],
        u=[0],
        v=[1],
        length_m=[100.0],
        travel_time_s=[0.0],
    )
    assert RoadNetwork.from_arrays(zero).max_speed_mps == math.inf


def test_default_profile_speeds_are_used():
    assert get_profile("truck").speed_kph("residential") == 20.0


def test_huge_integer_labels_become_positions():
    g = nx.MultiDiGraph()
    g.add_node(2**70, y=1.0, x=1.0)
    g.add_node(5, y=1.0, x=1.001)
    g.add_edge(2**70, 5, travel_time=3.0, length=111.0)
    assert RoadNetwork.from_networkx(g).node_ids.tolist() == [0, 1]


def test_network_arrays_are_read_only():
    g = _two_nodes()
    g.add_edge(10, 20, travel_time=3.0, length=111.0)
    net = RoadNetwork.from_networkx(g)
    with pytest.raises(ValueError, match="read-only"):
        net.edge_travel_time_s[0] = 0.0


def test_load_builds_nothing_eagerly(tmp_path):
    g = _two_nodes()
    g.add_edge(10, 20, travel_time=3.0, length=111.0)
    RoadNetwork.from_networkx(g).save(tmp_path / "n.npz", derived=False)
    net = RoadNetwork.load(tmp_path / "n.npz")
    assert "_graph" not in vars(net) and "_segments" not in vars(net)
    net.snap(22.70, 114.205)
    assert "_segments" in vars(net) and "_graph" not in vars(net)


def _structures(net):
    from kayou_dispatch.network import _persist

    out = {"twin": net.edge_twin}
    for name, _ in net._DERIVED:
        _persist.dump(getattr(net, name), name, out, net._NESTED)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(road_graphs())
def test_saved_search_structures_load_ready_and_identical(g):
    # A loaded network answers from the structures saved with it: nothing is rebuilt, and
    # every array equals the one a fresh build makes (so every answer is the same).
    import tempfile
    from pathlib import Path

    net = RoadNetwork.from_networkx(g)
    with tempfile.TemporaryDirectory() as d:
        net.save(Path(d) / "n.npz")
        back = RoadNetwork.load(Path(d) / "n.npz")
    assert {"_graph", "_segments", "_nodes", "edge_twin"} <= set(vars(back))
    fresh, loaded = _structures(net), _structures(back)
    assert fresh.keys() == loaded.keys()
    for key in fresh:
        np.testing.assert_array_equal(fresh[key], loaded[key], err_msg=key)
    lat, lng = float(net.node_lat[0]) + 1e-4, float(net.node_lng[0])
    dest = net.snap(lat, lng, max_distance_m=math.inf)
    assert back.snap(lat, lng, max_distance_m=math.inf) == dest
    origins = net.snap_many(net.node_lat, net.node_lng)
    origins = origins._make(c[origins.edge >= 0] for c in origins)
    np.testing.assert_array_equal(
        back.travel_times_to_snapped(dest, origins), net.travel_times_to_snapped(dest, origins)
    )
