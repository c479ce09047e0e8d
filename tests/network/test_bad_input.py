"""Every public entry point of RoadNetwork fed garbage raises a typed error."""

import math

import networkx as nx
import numpy as np
import pytest

from kayou_dispatch import (
    InvalidCoordinateError,
    InvalidParameterError,
    KayouDispatchError,
    NetworkLoadError,
    OffNetworkError,
    RoadNetwork,
)
from kayou_dispatch.network import EdgeArrays

BAD_POINTS = [(math.nan, 0.0), (0.0, math.inf), (91.0, 0.0), (0.0, -180.5), ("x", 0.0), (None, 0)]
BAD_HEADINGS = [math.nan, -1.0, 360.5, math.inf, "north", [90.0]]
BAD_DISTANCES = [-1.0, 0.0, math.nan, "far", None]


@pytest.fixture(scope="module")
def net():
    a = EdgeArrays.straight(
        node_id=[1, 2, 3],
        lat=[0.0, 0.0, 0.001],
        lng=[0.0, 0.001, 0.001],
        u=[0, 1, 1],
        v=[1, 0, 2],
        length_m=[111.2, 111.2, 111.2],
        travel_time_s=[10.0, 10.0, 10.0],
    )
    return RoadNetwork.from_arrays(a)


def _graph():
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, y=0.0, x=0.0)
    g.add_node(2, y=0.0, x=0.001)
    return g


@pytest.mark.parametrize("point", BAD_POINTS)
def test_bad_coordinates(net, point):
    lat, lng = point
    with pytest.raises(InvalidCoordinateError):
        net.snap(lat, lng)
    with pytest.raises(InvalidCoordinateError):
        net.travel_time(lat, lng, 0.0, 0.0005)
    with pytest.raises(InvalidCoordinateError):
        net.travel_time(0.0, 0.0005, lat, lng)
    with pytest.raises(InvalidCoordinateError):
        net.route(lat, lng, 0.0, 0.0005)
    with pytest.raises(InvalidCoordinateError):
        net.travel_times_to(lat, lng, [0.0], [0.0005])
    with pytest.raises(InvalidCoordinateError):
        net.travel_times_to(0.0, 0.0005, [0.0, lat], [0.0005, lng])
    with pytest.raises(InvalidCoordinateError):
        net.snap_many([0.0, lat], [0.0, lng])


def test_bad_coordinate_arrays(net):
    with pytest.raises(InvalidCoordinateError):
        net.snap_many([0.0, 0.0], [0.0])
    with pytest.raises(InvalidCoordinateError):
        net.snap_many([[0.0]], [[0.0]])
    with pytest.raises(InvalidCoordinateError) as info:
        net.travel_times_to(0.0, 0.0, [0.0, 0.0, 95.0], [0.0, 0.0, 0.0])
    assert info.value.rows == (2,)


@pytest.mark.parametrize("heading", BAD_HEADINGS)
def test_bad_heading(net, heading):
    with pytest.raises(InvalidParameterError) as info:
        net.snap(0.0, 0.0005, heading=heading)
    assert info.value.name == "heading"
    with pytest.raises(InvalidParameterError):
        net.travel_time(0.0, 0.0005, 0.0, 0.0, heading=heading)
    with pytest.raises(InvalidParameterError):
        net.route(0.0, 0.0005, 0.0, 0.0, heading=heading)


@pytest.mark.parametrize("headings", [[math.nan], [400.0], [90.0, 90.0], "east", [[90.0]]])
def test_bad_headings_array(net, headings):
    with pytest.raises(InvalidParameterError):
        net.snap_many([0.0], [0.0005], headings=headings)
    with pytest.raises(InvalidParameterError):
        net.travel_times_to(0.0, 0.0, [0.0], [0.0005], origin_headings=headings)


@pytest.mark.parametrize("max_distance_m", BAD_DISTANCES)
def test_bad_max_distance(net, max_distance_m):
    with pytest.raises(InvalidParameterError) as info:
        net.snap(0.0, 0.0005, max_distance_m=max_distance_m)
    assert info.value.name == "max_distance_m"
    with pytest.raises(InvalidParameterError):
        net.snap_many([0.0], [0.0005], max_distance_m=max_distance_m)


def test_off_network(net):
    with pytest.raises(OffNetworkError):
        net.travel_time(0.5, 0.5, 0.0, 0.0)
    with pytest.raises(OffNetworkError):
        net.travel_time(0.0, 0.0, 0.5, 0.5)
    with pytest.raises(OffNetworkError):
        net.route(0.0, 0.0, 0.5, 0.5)
    with pytest.raises(OffNetworkError):
        net.travel_times_to(0.5, 0.5, [0.0], [0.0])
    with pytest.raises(OffNetworkError) as info:
        net.travel_times_to(0.0, 0.0, [0.0, 0.0, 0.3, 0.4], [0.0, 0.001, 0.3, 0.4])
    assert "row 2" in str(info.value)
    assert (info.value.lat, info.value.lng) == (0.3, 0.3)
    many = net.snap_many([0.3], [0.4])
    assert many.edge.tolist() == [-1] and many.distance_m[0] > 1000.0


@pytest.mark.parametrize("node", [-1, 3, 1.5, "1", None, True])
def test_bad_node(net, node):
    with pytest.raises(InvalidParameterError):
        net.shortest_times_from(node)
    with pytest.raises(InvalidParameterError):
        net.shortest_times_to(node)
    with pytest.raises(InvalidParameterError):
        net.shortest_path(node, 0)
    with pytest.raises(InvalidParameterError):
        net.shortest_path(0, node)
    with pytest.raises(InvalidParameterError):
        net.node_latlng(node)


@pytest.mark.parametrize("node_id", [0, 4, "1", None, 1.5, 2**70])
def test_unknown_node_id(net, node_id):
    with pytest.raises(InvalidParameterError):
        net.node_index(node_id)


def _with(edit):
    g = _graph()
    edit(g)
    return g


@pytest.mark.parametrize(
    ("graph", "words"),
    [
        (nx.MultiDiGraph(), "0 nodes"),
        (_graph(), "0 edges"),
        ("not a graph", "networkx graph"),
        ({1: [2]}, "networkx graph"),
        (_with(lambda g: g.add_node(3)), "no usable coordinates"),
        (_with(lambda g: g.add_node(3, y=math.nan, x=0.0)), "no usable coordinates"),
        (_with(lambda g: g.add_node(3, y="22.7", x=0.0)), "no usable coordinates"),
        (_with(lambda g: g.add_node(3, y=500.0, x=0.0)), "no usable coordinates"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=-1.0, length=1.0)), "travel times"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=math.nan, length=1.0)), "travel times"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=math.inf, length=1.0)), "travel times"),
        (_with(lambda g: g.add_edge(1, 2, travel_time="9", length=1.0)), "travel times"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=5.0, length=-3.0)), "lengths"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=5.0, length=math.nan)), "lengths"),
        (_with(lambda g: g.add_edge(1, 2, length=5.0)), "no 'travel_time'"),
        (_with(lambda g: g.add_edge(1, 2, length=5.0, highway="footway")), "drivable"),
        (_with(lambda g: g.add_edge(1, 2, length=5.0, speed_kph=0.0)), "speed_kph"),
        (_with(lambda g: g.add_edge(1, 2, travel_time=1.0, geometry="LINESTRING")), "geometry"),
        (_with(lambda g: g.graph.update(crs="epsg:32650") or g.add_node(3, y=2.5e6, x=4e5)), "crs"),
    ],
)
def test_from_networkx_rejects(graph, words):
    if isinstance(graph, nx.Graph) and graph.graph.get("crs") == "epsg:32650":
        graph.add_edge(1, 2, travel_time=1.0, length=1.0)
    with pytest.raises(NetworkLoadError) as info:
        RoadNetwork.from_networkx(graph)
    assert words in str(info.value)


def test_from_networkx_bad_options():
    g = _graph()
    g.add_edge(1, 2, travel_time=1.0, length=1.0)
    with pytest.raises(InvalidParameterError):
        RoadNetwork.from_networkx(g, profile="bicycle")
    with pytest.raises(InvalidParameterError):
        RoadNetwork.from_networkx(g, weight=3)


def test_from_arrays_rejects():
    with pytest.raises(NetworkLoadError):
        RoadNetwork.from_arrays({"u": [0]})
    bad = EdgeArrays(
        node_id=np.array([1, 2]),
        lat=np.array([0.0, 0.0]),
        lng=np.array([0.0, 0.001]),
        u=np.array([0]),
        v=np.array([5]),
        length_m=np.array([1.0]),
        travel_time_s=np.array([1.0]),
        highway=np.array([-1], dtype=np.int8),
        geom_offsets=np.array([0, 0]),
        geom_lat=np.zeros(0),
        geom_lng=np.zeros(0),
    )
    with pytest.raises(NetworkLoadError):
        RoadNetwork.from_arrays(bad)
    with pytest.raises(InvalidParameterError):
        RoadNetwork(bad)


def test_load_rejects(tmp_path):
    with pytest.raises(NetworkLoadError):
        RoadNetwork.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(NetworkLoadError):
        RoadNetwork.load(junk)
    with pytest.raises(NetworkLoadError):
        RoadNetwork.load(tmp_path)


def test_load_rejects_a_damaged_or_unsafe_file(tmp_path, net):
    # Saved members are mapped, not copied: their CRC-32 is still checked, and an array
    # of Python objects (which numpy would load only "unsafely") is refused.
    path = tmp_path / "net.npz"
    net.save(path)
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("travel_time_s.npy")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + info.file_size] ^= 0xFF  # its last byte
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(NetworkLoadError, match="CRC"):
        RoadNetwork.load(bad)
    unsafe = tmp_path / "objects.npz"
    with open(unsafe, "wb") as fh:
        np.savez(fh, format_version=np.array(1), node_id=np.array([object()], dtype=object))
    with pytest.raises(NetworkLoadError, match="objects"):
        RoadNetwork.load(unsafe)
    packed = tmp_path / "packed.npz"
    net.save(packed, compress=True)  # compressed members are read as before
    assert RoadNetwork.load(packed).n_edges == net.n_edges


def test_saved_arrays_load_aligned_and_read_only(tmp_path, net):
    # Mapped members start 64-byte aligned (numpy and scipy take slow paths, or copy,
    # on misaligned data); np.load still reads the file; old unaligned files are copied.
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = RoadNetwork.load(path)
    for name in ("u", "v", "lat", "lng", "travel_time_s", "length_m"):
        arr = getattr(loaded.arrays, name)
        assert arr.flags.aligned and not arr.flags.writeable, name
        assert arr.ctypes.data % 64 == 0 or arr.size == 0, name
    with np.load(path) as z:
        np.testing.assert_array_equal(z["travel_time_s"], net.arrays.travel_time_s)
    old = tmp_path / "old.npz"
    with open(old, "wb") as fh:  # the layout of files written by np.savez (earlier versions)
        np.savez(fh, **dict(np.load(path)))
    again = RoadNetwork.load(old)
    assert all(getattr(again.arrays, n).flags.aligned for n in ("u", "v", "travel_time_s"))
    np.testing.assert_array_equal(again.arrays.v, net.arrays.v)


def test_save_rejects(net):
    with pytest.raises(InvalidParameterError):
        net.save(None)


def test_every_error_is_in_the_tree(net):
    with pytest.raises(KayouDispatchError):
        net.snap(math.nan, 0.0)


def test_travel_times_to_snapped_rejects(net):
    dest = net.snap(0.0, 0.0005)
    ok = net.snap_many([0.0], [0.0005])
    off = net.snap_many([0.0, 0.5], [0.0005, 0.5])
    with pytest.raises(InvalidParameterError) as info:
        net.travel_times_to_snapped(dest, off)
    assert "row 1" in str(info.value)
    with pytest.raises(InvalidParameterError):
        net.travel_times_to_snapped("here", ok)
    with pytest.raises(InvalidParameterError):
        net.travel_times_to_snapped(dest, [(0, 0.5)])
    with pytest.raises(InvalidParameterError):
        net.travel_times_to_snapped(dest, ok._replace(edge=np.array([99])))


@pytest.mark.parametrize("edit", ["graph", "structure", "missing"])
def test_load_refuses_search_structures_that_do_not_match_the_graph(tmp_path, net, edit):
    # An edited file, or one whose structures another version wrote: refused, never used.
    path = tmp_path / "n.npz"
    net.save(path)
    z = dict(np.load(path))
    if edit == "graph":
        z["travel_time_s"] = z["travel_time_s"] * 1.5
    elif edit == "structure":
        z["derived/fingerprint"] = np.array("0" * 40)
    else:
        del z["derived/_graph/forward/__csr__data"]
    np.savez(path, **z)
    with pytest.raises(NetworkLoadError, match="search structures"):
        RoadNetwork.load(path)
