"""The contraction hierarchy against plain Dijkstra: random graphs, every real extract, files.

Oracle: :meth:`RoadNetwork.tree_to_snapped` (plain scipy Dijkstra on the whole graph). A
shortcut's weight is the sum of its arcs', so times may differ from plain Dijkstra's in the
last bits: compared at a relative ``1e-12``. The compiled kernels (numba) and the same code
run as plain Python must build and search bit-identically.
"""

import importlib.util
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import NetworkLoadError, RoadNetwork
from kayou_dispatch.network.hierarchy import ContractionHierarchy
from kayou_dispatch.network.hierarchy_tree import HierarchyTree
from kayou_dispatch.network.trips import DestinationTree

from ..strategies import road_graphs
from .oracle import assert_same_times, assert_same_trips
from .shared_data import EXTRACTS, need_data

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def _all_marked(ch):
    marks = ch.new_marks()
    ch.mark(marks, np.arange(ch.n))
    return marks


def _same_times(net, dest, limit, marks=None):
    plain = net.tree_to_snapped(dest, limit_s=limit, predecessors=True)
    marks = _all_marked(net.hierarchy) if marks is None else marks
    tree = net._hierarchy_tree(dest, marks, want=net.n_nodes + 1, limit_s=limit)
    assert_same_times(net, plain, tree, limit)
    return plain, tree


def _point(net, e, f):
    a = net.arrays
    lat = float(a.lat[a.u[e]] + f * (a.lat[a.v[e]] - a.lat[a.u[e]]))
    lng = float(a.lng[a.u[e]] + f * (a.lng[a.v[e]] - a.lng[a.u[e]]))
    return lat, lng


@FAST
@given(road_graphs(max_nodes=30, max_edges=80), st.data())
def test_hierarchy_times_equal_plain_dijkstra(g, data):
    net = RoadNetwork.from_networkx(g)
    net.build_hierarchy(compiled=False)
    e = data.draw(st.integers(0, net.n_edges - 1))
    dest = net.snap(*_point(net, e, data.draw(st.sampled_from([0.0, 0.3, 1.0]))))
    limit = data.draw(st.sampled_from([math.inf, 0.0, 50.0, 400.0]))
    plain, tree = _same_times(net, dest, limit)
    a = net.arrays
    assert_same_trips(net, plain, tree, net.snap_many(a.lat, a.lng))


@FAST
@given(road_graphs(max_nodes=30, max_edges=80), st.data())
def test_a_search_settles_the_nearest_marked_nodes_first(g, data):
    # With some nodes marked and a number wanted: every marked node faster than the
    # frontier is settled, with its exact time; none slower than it is.
    net = RoadNetwork.from_networkx(g)
    ch = net.build_hierarchy(compiled=False)
    marked = np.array(
        data.draw(st.lists(st.integers(0, net.n_nodes - 1), unique=True, max_size=net.n_nodes)),
        dtype=np.int64,
    )
    marks = ch.new_marks()
    if data.draw(st.booleans()):
        ch.mark(marks, marked)
    else:
        ch.remark(marks, marked)
    want = data.draw(st.integers(0, 6))
    dest = net.snap(*_point(net, data.draw(st.integers(0, net.n_edges - 1)), 0.5))
    tree = net._hierarchy_tree(dest, marks, want=want, limit_s=math.inf)
    ref = net.tree_to_snapped(dest).to_dest
    got = tree.times_at(np.arange(net.n_nodes))
    reached = tree.reached_nodes()
    assert set(reached.tolist()) <= set(marked.tolist())
    faster = marked[ref[marked] < tree.frontier]
    assert set(faster.tolist()) <= set(reached.tolist())
    np.testing.assert_allclose(got[reached], ref[reached], rtol=1e-12, atol=1e-9)
    if tree.frontier < math.inf:
        assert reached.size >= want


def test_marks_are_closed_upwards_and_set_afresh_drops_stale_ones():
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    ch = net.build_hierarchy()
    rng = np.random.default_rng(3)
    nodes = rng.integers(0, net.n_nodes, 40)
    marks = ch.new_marks()
    ch.mark(marks, nodes)
    fresh = ch.new_marks()
    ch.remark(fresh, nodes)
    np.testing.assert_array_equal(marks, fresh)  # the same marks either way
    # Closed upwards: every up arc from a node marked above lands on a node marked above.
    lo = np.repeat(np.arange(ch.n), np.diff(ch.upc_ptr))
    above = (marks & 2) > 0
    assert above[ch.upc_to[above[lo]]].all()
    assert ((marks & 1) > 0).sum() == np.unique(nodes).size
    ch.mark(marks, np.arange(net.n_nodes))
    ch.remark(marks, nodes)
    np.testing.assert_array_equal(marks, fresh)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (the fast extra)")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(road_graphs(max_nodes=40, max_edges=120), st.data())
def test_compiled_and_plain_kernels_are_bit_identical(g, data):
    net = RoadNetwork.from_networkx(g)
    plain = ContractionHierarchy(net.arrays, compiled=False)
    fast = ContractionHierarchy(net.arrays, compiled=True)
    for name in ContractionHierarchy.FIELDS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name), err_msg=name)
    marks = _all_marked(plain)
    seeds = np.array([data.draw(st.integers(0, net.n_nodes - 1))], dtype=np.int64)
    want = data.draw(st.integers(0, net.n_nodes + 1))
    a = plain.search(seeds, np.zeros(1), marks, want=want)
    b = fast.search(seeds, np.zeros(1), marks, want=want)
    assert a.frontier == b.frontier
    np.testing.assert_array_equal(a.nodes, b.nodes)
    np.testing.assert_array_equal(a.times_at(a.nodes), b.times_at(b.nodes))
    graph = net._graph
    for x in a.nodes.tolist():
        assert a.trace(x, net.arrays, graph) == b.trace(x, net.arrays, graph)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXTRACTS)
def test_hierarchy_equals_plain_dijkstra_on_real_extracts(name):
    from .test_real_data import _net, _points_near_roads

    need_data(name)
    net = RoadNetwork.from_arrays(_net(name).arrays)  # its own hierarchy: the cached one stays
    net.build_hierarchy()
    rng = np.random.default_rng(12)
    lat, lng = _points_near_roads(net, rng, 200, 30.0)
    origins = net.snap_many(lat, lng)
    marks = _all_marked(net.hierarchy)
    for i, limit in enumerate([math.inf, 300.0, 900.0]):
        dest = net.snap(float(lat[i]), float(lng[i]))
        plain, tree = _same_times(net, dest, limit, marks)
        assert_same_trips(net, plain, tree, origins)


def test_hierarchy_is_saved_and_checked(tmp_path):
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    ch = net.build_hierarchy()
    path = tmp_path / "net.npz"
    net.save(path)
    back = RoadNetwork.load(path)
    assert back.hierarchy is not None
    for name in ContractionHierarchy.FIELDS:
        np.testing.assert_array_equal(getattr(back.hierarchy, name), getattr(ch, name))
    dest = back.snap(float(back.node_lat[5]), float(back.node_lng[5]))
    _same_times(back, dest, math.inf)
    net.save(tmp_path / "bare.npz", derived=False)
    assert RoadNetwork.load(tmp_path / "bare.npz").hierarchy is None


def test_a_hierarchy_of_another_graph_or_version_is_refused(tmp_path):
    from kayou_dispatch import load_network

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    net.build_hierarchy()
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["derived/hierarchy_fingerprint"] = np.array("0" * 40 + "/ch1")
    np.savez(tmp_path / "edited.npz", **members)
    with pytest.raises(NetworkLoadError, match="contraction hierarchy does not match"):
        RoadNetwork.load(tmp_path / "edited.npz")
    good = np.array(net._hierarchy_fingerprint())
    cut = {k: v for k, v in members.items() if k != "derived/_hierarchy/up_w"}
    cut["derived/hierarchy_fingerprint"] = good
    np.savez(tmp_path / "cut.npz", **cut)
    with pytest.raises(NetworkLoadError, match="incomplete"):
        RoadNetwork.load(tmp_path / "cut.npz")
    short = dict(members, **{"derived/_hierarchy/up_w": members["derived/_hierarchy/up_w"][:-1]})
    short["derived/hierarchy_fingerprint"] = good
    np.savez(tmp_path / "short.npz", **short)
    with pytest.raises(NetworkLoadError, match="does not fit"):
        RoadNetwork.load(tmp_path / "short.npz")


def test_hierarchy_tree_is_a_destination_tree():
    assert issubclass(HierarchyTree, DestinationTree)


def test_compiled_is_checked_and_numba_is_optional(monkeypatch):
    from kayou_dispatch import InvalidParameterError, load_network
    from kayou_dispatch.network import hierarchy

    net = RoadNetwork.from_arrays(load_network("helsinki").arrays)
    with pytest.raises(InvalidParameterError, match="compiled"):
        net.build_hierarchy(compiled="yes")
    monkeypatch.setattr(hierarchy, "_have_numba", lambda: False)
    with pytest.raises(InvalidParameterError, match="needs numba"):
        net.build_hierarchy(compiled=True)
    ch = net.build_hierarchy()  # without numba: the plain kernels
    assert ch.kernels() is hierarchy.kernels(False)
