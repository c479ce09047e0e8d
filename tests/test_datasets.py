"""Tests for the synthetic regions: reproducible, sized, strongly connected, expressway-shaped."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kayou_dispatch.datasets import CENTRE_LATLNG, synthetic_region_arrays
from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m_array, in_china
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, get_profile

MOTORWAY = HIGHWAY_CLASSES.index("motorway")
LINK = HIGHWAY_CLASSES.index("motorway_link")
SERVICE = HIGHWAY_CLASSES.index("service")


@pytest.fixture(scope="module")
def region():
    return synthetic_region_arrays(seed=11, size=8_000)


def n_strong_components(a, mask=None):
    keep = np.ones(a.n_edges, dtype=bool) if mask is None else mask
    g = csr_matrix((np.ones(int(keep.sum())), (a.u[keep], a.v[keep])), shape=(a.n_nodes,) * 2)
    return connected_components(g, directed=True, connection="strong")


def has_twin(a, mask):
    """For each edge in ``mask``: is there an edge going the other way between the same nodes?"""
    pairs = set(zip(a.u.tolist(), a.v.tolist(), strict=True))
    return np.array([(v, u) in pairs for u, v in zip(a.u[mask], a.v[mask], strict=True)])


def same(a: EdgeArrays, b: EdgeArrays) -> bool:
    fields = ("node_id", "lat", "lng", "u", "v", "length_m", "travel_time_s", "highway")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields) and a.meta == b.meta


def test_same_seed_same_region():
    a = synthetic_region_arrays(seed=5, size=3_000)
    assert same(a, synthetic_region_arrays(seed=5, size=3_000))
    assert not same(a, synthetic_region_arrays(seed=6, size=3_000))
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert same(
        synthetic_region_arrays(seed=g1, size=3_000), synthetic_region_arrays(seed=g2, size=3_000)
    )
    assert synthetic_region_arrays(seed=None, size=3_000).meta["seed"] is None
    assert a.meta["seed"] == 5


@pytest.mark.parametrize("size", [2_000, 3_000, 5_500, 12_000, 30_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_size_within_ten_percent(size, seed):
    a = synthetic_region_arrays(seed=seed, size=size)
    assert abs(a.n_nodes - size) <= 0.10 * size
    assert a.meta["size"] == size


@pytest.mark.parametrize("size", [2_000, 8_000])
@pytest.mark.parametrize("seed", [0, 3])
def test_one_strongly_connected_component(size, seed):
    a = synthetic_region_arrays(seed=seed, size=size)
    n, _ = n_strong_components(a)
    assert n == 1


def test_arrays_are_valid_and_in_china(region):
    a = region
    a.validate()
    assert a.node_id.tolist() == list(range(a.n_nodes))
    assert a.geom_offsets.tolist() == [0] * (a.n_edges + 1)
    assert (a.highway >= 0).all()
    assert abs(a.lat.mean() - CENTRE_LATLNG[0]) < 0.2 and abs(a.lng.mean() - CENTRE_LATLNG[1]) < 0.2
    assert all(
        in_china(la, ln) for la, ln in [(a.lat.min(), a.lng.min()), (a.lat.max(), a.lng.max())]
    )
    np.testing.assert_allclose(
        a.length_m, haversine_m_array(a.lat[a.u], a.lng[a.u], a.lat[a.v], a.lng[a.v])
    )
    assert (a.length_m > 1.0).all()


def test_speeds_are_truck_class_defaults(region):
    a = region
    truck = get_profile("truck")
    expected = np.array([truck.speeds_kph[c][0] for c in HIGHWAY_CLASSES])[a.highway]
    np.testing.assert_allclose(a.length_m / a.travel_time_s * 3.6, expected)


def test_road_classes_present(region):
    present = {HIGHWAY_CLASSES[c] for c in np.unique(region.highway)}
    assert present == {
        "motorway",
        "motorway_link",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "service",
    }


def test_carriageways_are_one_way_and_30_m_apart(region):
    a = region
    motorway = a.highway == MOTORWAY
    assert motorway.sum() == a.meta["expressway_edges"] > 50
    assert not has_twin(a, motorway).any()
    # Each carriageway is one chain: every node has at most one motorway edge in and out.
    assert np.bincount(a.u[motorway]).max() == 1 and np.bincount(a.v[motorway]).max() == 1
    east = motorway & (a.lng[a.v] > a.lng[a.u])
    west = motorway & ~east
    assert abs(int(east.sum()) - int(west.sum())) <= 1
    eb_nodes, wb_nodes = np.unique(a.u[east]), np.unique(a.u[west])
    d = haversine_m_array(
        a.lat[eb_nodes][:, None], a.lng[eb_nodes][:, None], a.lat[wb_nodes], a.lng[wb_nodes]
    ).min(axis=1)
    assert np.median(d) == pytest.approx(30.0, abs=1.0)
    # Eastbound is the southern carriageway (right-hand traffic).
    assert a.lat[eb_nodes].mean() < a.lat[wb_nodes].mean()
    # Ramps are one-way too.
    assert has_twin(a, a.highway == LINK).sum() == 0


def test_two_way_national_roads_and_some_one_way_streets(region):
    a = region
    for name in ("trunk", "primary", "secondary", "tertiary", "service"):
        assert has_twin(a, a.highway == HIGHWAY_CLASSES.index(name)).all(), name
    residential = a.highway == HIGHWAY_CLASSES.index("residential")
    one_way = ~has_twin(a, residential)
    assert 0.05 < one_way.mean() < 0.6


def _carriageway_of_link(a, start, *, forward):
    """Follow motorway_link edges from ``start`` (forward or backward) to a carriageway node;
    return "east" or "west" for the direction of the carriageway reached."""
    link = a.highway == LINK
    node = start
    for _ in range(100):
        motor = (a.highway == MOTORWAY) & ((a.u == node) | (a.v == node))
        if motor.any():
            e = np.flatnonzero(motor)[0]
            return "east" if a.lng[a.v[e]] > a.lng[a.u[e]] else "west"
        step = np.flatnonzero(link & ((a.v == node) if forward is False else (a.u == node)))
        assert step.size == 1
        node = a.u[step[0]] if forward is False else a.v[step[0]]
    raise AssertionError("link chain never reaches the expressway")


def test_service_areas_reachable_from_one_carriageway_only(region):
    a = region
    service = a.highway == SERVICE
    nodes = np.unique(np.concatenate([a.u[service], a.v[service]]))
    g = csr_matrix(
        (np.ones(int(service.sum())), (a.u[service], a.v[service])), shape=(a.n_nodes,) * 2
    )
    _, label = connected_components(g, directed=False)
    areas = np.unique(label[nodes])
    assert areas.size == 2
    sides = []
    for area in areas:
        inside = np.zeros(a.n_nodes, dtype=bool)
        inside[nodes[label[nodes] == area]] = True
        entering = np.flatnonzero(~inside[a.u] & inside[a.v])
        leaving = np.flatnonzero(inside[a.u] & ~inside[a.v])
        assert entering.size == 1 and leaving.size == 1
        assert a.highway[entering[0]] == LINK and a.highway[leaving[0]] == LINK
        came_from = _carriageway_of_link(a, a.u[entering[0]], forward=False)
        goes_to = _carriageway_of_link(a, a.v[leaving[0]], forward=True)
        assert came_from == goes_to
        sides.append(came_from)
    assert sorted(sides) == ["east", "west"]


@pytest.mark.parametrize("size", [1_999, 5_000_001, 2.5e4, True, "20000", None])
def test_bad_size(size):
    with pytest.raises(InvalidParameterError, match="size"):
        synthetic_region_arrays(seed=0, size=size)


@pytest.mark.parametrize("seed", [-1, 1.5, "abc", True])
def test_bad_seed(seed):
    with pytest.raises(InvalidParameterError, match="seed"):
        synthetic_region_arrays(seed=seed, size=2_000)


@pytest.mark.slow
def test_half_a_million_nodes():
    a = synthetic_region_arrays(seed=2, size=500_000)
    assert abs(a.n_nodes - 500_000) <= 50_000
    n, _ = n_strong_components(a)
    assert n == 1
