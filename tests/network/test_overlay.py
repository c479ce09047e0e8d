"""The cell overlay against plain Dijkstra: random graphs, every real extract, saved files.

Oracle: :meth:`RoadNetwork.tree_to_snapped` (plain scipy Dijkstra on the whole graph). The
overlay adds a clique's edge times before the rest of a path, so times may differ from
plain Dijkstra's in the last bits: compared at a relative ``1e-12``.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import InvalidParameterError, KayouDispatchError, NetworkLoadError, RoadNetwork
from kayou_dispatch.network.overlay_tree import OverlayTree

from ..strategies import road_graphs
from .oracle import assert_same_times, assert_same_trips
from .shared_data import EXTRACTS, need_data

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same_times(net, dest, limit):
    plain = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
    tree = net._overlay_tree(dest, limit)
    assert_same_times(net, plain, tree, limit)
    return plain, tree


@FAST
@given(road_graphs(max_nodes=30, max_edges=80), st.sampled_from([8, 9, 10]), st.data())
def test_overlay_times_equal_plain_dijkstra(g, res, data):
    net = RoadNetwork.from_networkx(g)
    net.build_overlay(resolution=res)
    e = data.draw(st.integers(0, net.n_edges - 1))
    f = data.draw(st.sampled_from([0.0, 0.3, 1.0]))
    a = net.arrays
    lat = float(a.lat[a.u[e]] + f * (a.lat[a.v[e]] - a.lat[a.u[e]]))
    lng = float(a.lng[a.u[e]] + f * (a.lng[a.v[e]] - a.lng[a.u[e]]))
    dest = net.snap(lat, lng)
    limit = data.draw(st.sampled_from([math.inf, 0.0, 50.0, 400.0]))
    plain, tree = _same_times(net, dest, limit)
    origins = net.snap_many(a.lat, a.lng)
    assert_same_trips(net, plain, tree, origins)


@pytest.mark.parametrize("name", EXTRACTS)
def test_overlay_equals_plain_dijkstra_on_real_extracts(name):
    from .test_real_data import _net, _points_near_roads

    need_data(name)
    net = _net(name)
    net = RoadNetwork.from_arrays(net.arrays)  # its own overlay: the cached one stays plain
    ov = net.build_overlay(cell_nodes=800)
    assert ov.n_cells >= 2
    rng = np.random.default_rng(11)
    lat, lng = _points_near_roads(net, rng, 200, 30.0)
    origins = net.snap_many(lat, lng)
    for i, limit in enumerate([math.inf, 300.0, 900.0]):
        dest = net.snap(float(lat[i]), float(lng[i]))
        plain, tree = _same_times(net, dest, limit)
        assert_same_trips(net, plain, tree, origins)


def test_overlay_is_saved_and_checked(tmp_path):
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    ov = net.build_overlay(resolution=9)
    path = tmp_path / "net.npz"
    net.save(path)
    back = RoadNetwork.load(path)
    assert back.overlay is not None
    assert back.overlay.n_overlay_edges == ov.n_overlay_edges
    dest = back.snap(float(back.node_lat[5]), float(back.node_lng[5]))
    _same_times(back, dest, math.inf)
    # Without derived structures: no overlay either.
    net.save(tmp_path / "bare.npz", derived=False)
    assert RoadNetwork.load(tmp_path / "bare.npz").overlay is None


def test_an_overlay_of_another_graph_is_refused(tmp_path):
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    net.build_overlay(resolution=9)
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["derived/overlay_fingerprint"] = np.array("0" * 40 + "/overlay1")
    np.savez(tmp_path / "edited.npz", **members)
    with pytest.raises(NetworkLoadError, match="cell overlay"):
        RoadNetwork.load(tmp_path / "edited.npz")
    del members["derived/_overlay/over_len"]
    members["derived/overlay_fingerprint"] = np.array(net._overlay_fingerprint())
    np.savez(tmp_path / "cut.npz", **members)
    with pytest.raises(NetworkLoadError, match="incomplete"):
        RoadNetwork.load(tmp_path / "cut.npz")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cell_nodes": 0},
        {"cell_nodes": 2.5},
        {"cell_nodes": True},
        {"resolution": 16},
        {"resolution": -1},
        {"resolution": "7"},
    ],
)
def test_build_overlay_refuses_bad_options(kwargs):
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    with pytest.raises(InvalidParameterError) as info:
        net.build_overlay(**kwargs)
    assert isinstance(info.value, KayouDispatchError)
    assert net.overlay is None


def test_overlay_tree_is_a_destination_tree():
    from kayou_dispatch import load_network
    from kayou_dispatch.network.trips import DestinationTree

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    net.build_overlay(resolution=9)
    tree = net._overlay_tree(net.snap(float(net.node_lat[0]), float(net.node_lng[0])), 120.0)
    assert isinstance(tree, OverlayTree) and isinstance(tree, DestinationTree)
    cells, lbs = tree.cell_bounds()
    assert (np.diff(lbs) >= 0).all() and lbs[0] == 0.0 and len(set(cells.tolist())) == cells.size
    tree.times_at(np.arange(net.n_nodes))
    reached = tree.reached_nodes()
    plain = net.tree_to_snapped(tree.dest, limit_s=120.0)
    assert set(reached.tolist()) == set(plain.reached_nodes().tolist())
