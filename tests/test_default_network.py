"""The bundled default network: real OSM roads that load offline."""

import math

import numpy as np

from kayou_dispatch import RoadNetwork, load_network


def test_bundled_network_loads_offline_and_is_real():
    net = load_network()
    assert isinstance(net, RoadNetwork)
    assert net.n_nodes > 1_500 and net.n_edges > 2_500
    meta = net.meta
    assert meta["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert "Helsinki.osm.pbf" in meta["source"]
    assert meta["profile"] == "truck"
    min_lat, min_lng, max_lat, max_lng = net.bounds
    assert 60.1 < min_lat < max_lat < 60.25 and 24.85 < min_lng < max_lng < 25.05


def test_bundled_network_is_strongly_connected_and_routable():
    net = load_network()
    times = net.shortest_times_from(0)
    assert np.isfinite(times).all()
    lat0, lng0 = net.node_latlng(0)
    lat1, lng1 = net.node_latlng(net.n_nodes - 1)
    eta = net.travel_time(lat0, lng0, lat1, lng1)
    assert math.isfinite(eta) and eta > 0
    route = net.route(lat0, lng0, lat1, lng1)
    assert route.eta_s == eta and route.distance_m > 0
