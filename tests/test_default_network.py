"""The bundled networks: real OSM roads that load offline (regional default, Helsinki by name)."""

import math

import numpy as np
import pytest

from kayou_dispatch import InvalidParameterError, RoadNetwork, load_network
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES


@pytest.fixture(scope="module")
def region():
    return load_network()


def test_default_is_the_lower_saxony_region(region):
    assert isinstance(region, RoadNetwork)
    assert region.n_nodes > 90_000 and region.n_edges > 150_000
    meta = region.meta
    assert meta["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert "lower_saxony_main_roads.osm.pbf" in meta["source"]
    assert meta["region"] == "lower_saxony" and meta["profile"] == "truck"
    min_lat, min_lng, max_lat, max_lng = region.bounds
    assert 51.8 < min_lat < max_lat < 52.9 and 9.2 < min_lng < max_lng < 11.1
    hw = region.arrays.highway
    km = {
        c: region.arrays.length_m[hw == HIGHWAY_CLASSES.index(c)].sum() / 1000
        for c in ("motorway", "trunk")
    }
    assert km["motorway"] > 500 and km["trunk"] > 300  # A2, A7, A39 both ways; B roads


def test_default_by_name_is_the_same(region):
    other = load_network("lower_saxony")
    assert other.n_nodes == region.n_nodes and other.n_edges == region.n_edges


def test_shipped_file_is_small():
    from importlib import resources

    ref = resources.files("kayou_dispatch") / "data" / "lower_saxony_truck.npz"
    with resources.as_file(ref) as p:
        assert p.stat().st_size < 5_000_000


def test_region_is_strongly_connected_and_routable(region):
    times = region.shortest_times_from(0)
    assert np.isfinite(times).all()
    # Hannover centre to Braunschweig centre: about 65 km, mostly A2.
    eta = region.travel_time(52.3745, 9.7386, 52.2643, 10.5237)
    assert 35 * 60 < eta < 90 * 60


def test_helsinki_loads_by_name():
    net = load_network("helsinki")
    assert net.n_nodes > 1_500 and net.n_edges > 2_500
    meta = net.meta
    assert meta["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert "Helsinki.osm.pbf" in meta["source"]
    assert meta["profile"] == "truck"
    min_lat, min_lng, max_lat, max_lng = net.bounds
    assert 60.1 < min_lat < max_lat < 60.25 and 24.85 < min_lng < max_lng < 25.05
    times = net.shortest_times_from(0)
    assert np.isfinite(times).all()
    lat0, lng0 = net.node_latlng(0)
    lat1, lng1 = net.node_latlng(net.n_nodes - 1)
    eta = net.travel_time(lat0, lng0, lat1, lng1)
    assert math.isfinite(eta) and eta > 0
    route = net.route(lat0, lng0, lat1, lng1)
    assert route.eta_s == eta and route.distance_m > 0


@pytest.mark.parametrize("name", ["berlin", "", 3, None])
def test_unknown_name_is_refused(name):
    with pytest.raises(InvalidParameterError, match="no bundled network"):
        load_network(name)
