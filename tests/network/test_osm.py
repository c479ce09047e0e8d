"""Tests for the OSM reader: hand-written extracts with hand-computed edges, then real data."""

import bz2
import sys

import numpy as np
import pytest

from kayou_dispatch.errors import InvalidCoordinateError, InvalidParameterError, NetworkLoadError
from kayou_dispatch.geo import haversine_m
from kayou_dispatch.network.osm import ATTRIBUTION, read_osm
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, get_profile

from .shared_data import DATA, need_data

pytest.importorskip("osmium")

# A row of nodes along the equator, 0.001 degree (about 111 m) apart, plus a triangle.
NODES = {
    1: (0.0, 0.000),
    2: (0.0, 0.001),
    3: (0.0, 0.002),
    4: (0.0, 0.003),
    5: (0.001, 0.000),
    6: (0.001, 0.001),
}
STEP_M = haversine_m(0.0, 0.0, 0.0, 0.001)


def write_osm(tmp_path, ways, *, nodes=None, name="test.osm"):
    """Write an OSM XML file; ``ways`` is a list of (node refs, tags)."""
    nodes = NODES if nodes is None else nodes
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for nid, (lat, lng) in nodes.items():
        lines.append(f'  <node id="{nid}" lat="{lat}" lon="{lng}"/>')
    for wid, (refs, tags) in enumerate(ways, start=100):
        lines.append(f'  <way id="{wid}">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path = tmp_path / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def edges(a):
    """The edge set as (from OSM id, to OSM id) pairs."""
    return sorted(zip(a.node_id[a.u].tolist(), a.node_id[a.v].tolist(), strict=True))


def read_one(tmp_path, refs, tags, **kwargs):
    return read_osm(write_osm(tmp_path, [(refs, tags)]), **kwargs)


# --- one-way rules --------------------------------------------------------------------------


def test_two_way_street_gives_both_directions(tmp_path):
    a = read_one(tmp_path, [1, 2, 3], {"highway": "residential"})
    assert edges(a) == [(1, 2), (2, 1), (2, 3), (3, 2)]
    assert a.node_id.tolist() == [1, 2, 3]
    assert a.lat.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(a.lng, [0.0, 0.001, 0.002])
    np.testing.assert_allclose(a.length_m, STEP_M, rtol=1e-6)
    np.testing.assert_allclose(a.travel_time_s, STEP_M / (20 / 3.6), rtol=1e-6)
    assert set(a.highway.tolist()) == {HIGHWAY_CLASSES.index("residential")}
    assert a.geom_offsets.tolist() == [0] * 5
    assert a.geom_lat.size == 0


@pytest.mark.parametrize("value", ["yes", "true", "1"])
def test_oneway_forward(tmp_path, value):
    a = read_one(tmp_path, [1, 2, 3], {"highway": "primary", "oneway": value})
    assert edges(a) == [(1, 2), (2, 3)]


@pytest.mark.parametrize("value", ["-1", "reverse"])
def test_oneway_backward(tmp_path, value):
    a = read_one(tmp_path, [1, 2, 3], {"highway": "primary", "oneway": value})
    assert edges(a) == [(2, 1), (3, 2)]


@pytest.mark.parametrize("value", ["reversible", "alternating", "no"])
def test_reversible_and_no_are_two_way(tmp_path, value):
    a = read_one(tmp_path, [1, 2], {"highway": "primary", "oneway": value})
    assert edges(a) == [(1, 2), (2, 1)]


@pytest.mark.parametrize("junction", ["roundabout", "circular"])
def test_roundabout_is_one_way_unless_oneway_no(tmp_path, junction):
    ring = [1, 2, 6, 1]
    a = read_one(tmp_path, ring, {"highway": "tertiary", "junction": junction})
    assert edges(a) == [(1, 2), (2, 6), (6, 1)]
    b = read_one(tmp_path, ring, {"highway": "tertiary", "junction": junction, "oneway": "no"})
    assert len(edges(b)) == 6


def test_motorway_is_implied_one_way_but_not_its_links(tmp_path):
    a = read_one(tmp_path, [1, 2, 3], {"highway": "motorway"})
    assert edges(a) == [(1, 2), (2, 3)]
    b = read_one(tmp_path, [1, 2, 3], {"highway": "motorway", "oneway": "no"})
    assert len(edges(b)) == 4
    c = read_one(tmp_path, [1, 2], {"highway": "motorway_link"})
    assert edges(c) == [(1, 2), (2, 1)]
    d = read_one(tmp_path, [1, 2, 3], {"highway": "motorway", "oneway": "-1"})
    assert edges(d) == [(2, 1), (3, 2)]


# --- which ways are roads -------------------------------------------------------------------


def test_only_drivable_classes_and_codes(tmp_path):
    path = write_osm(
        tmp_path,
        [
            ([1, 2], {"highway": "trunk", "oneway": "yes"}),
            ([2, 3], {"highway": "footway"}),
            ([3, 4], {"highway": "track"}),
            ([5, 6], {"highway": "service", "service": "parking_aisle", "oneway": "yes"}),
            ([1, 5], {"building": "yes"}),
        ],
    )
    a = read_osm(path)
    assert edges(a) == [(1, 2), (5, 6)]
    hw = {e: HIGHWAY_CLASSES[c] for e, c in zip(edges(a), a.highway.tolist(), strict=True)}
    assert hw == {(1, 2): "trunk", (5, 6): "service"}
    assert a.node_id.tolist() == [1, 2, 5, 6]
    assert a.meta["osm_ways"] == 2


def test_area_yes_is_not_a_road(tmp_path):
    path = write_osm(
        tmp_path,
        [
            ([1, 2, 6, 1], {"highway": "service", "area": "yes"}),
            ([3, 4], {"highway": "residential"}),
        ],
    )
    assert edges(read_osm(path)) == [(3, 4), (4, 3)]


@pytest.mark.parametrize(
    ("tags", "truck", "car"),
    [
        ({"access": "private"}, False, False),
        ({"access": "no"}, False, False),
        ({"access": "yes"}, True, True),
        ({"access": "destination"}, True, True),
        ({"motor_vehicle": "no"}, False, False),
        ({"access": "yes", "motor_vehicle": "no"}, False, False),
        ({"access": "no", "motor_vehicle": "yes"}, True, True),
        ({"access": "private", "motor_vehicle": "destination"}, True, True),
        ({"access": "no", "hgv": "designated"}, True, False),
        ({"access": "no", "motorcar": "yes"}, False, True),
        ({"hgv": "no"}, False, True),
        ({"goods": "no"}, False, True),
        ({"motor_vehicle": "no", "hgv": "yes"}, True, False),
        ({"motor_vehicle": "agricultural"}, False, False),
        ({"access": "emergency"}, False, False),
        ({"access": "customers"}, True, True),
        ({"access": "no", "vehicle": "destination"}, True, True),
    ],
)
def test_access_rules(tmp_path, tags, truck, car):
    path = write_osm(
        tmp_path,
        [([1, 2], {"highway": "secondary", **tags}), ([3, 4], {"highway": "secondary"})],
    )
    for profile, expected in (("truck", truck), ("car", car)):
        a = read_osm(path, profile=profile)
        assert ((1, 2) in edges(a)) is expected, profile
        assert (3, 4) in edges(a)
        assert a.meta["excluded_ways"] == (0 if expected else 1)


# --- speeds ---------------------------------------------------------------------------------


def speeds_kph(a):
    return dict(zip(edges(a), (a.length_m / a.travel_time_s * 3.6).round(6).tolist(), strict=True))


def test_class_default_speed(tmp_path):
    assert set(speeds_kph(read_one(tmp_path, [1, 2], {"highway": "motorway"})).values()) == {80.0}
    car = read_one(tmp_path, [1, 2], {"highway": "motorway"}, profile="car")
    assert set(speeds_kph(car).values()) == {100.0}


def test_maxspeed_honoured_and_capped(tmp_path):
    s = speeds_kph(read_one(tmp_path, [1, 2], {"highway": "residential", "maxspeed": "25"}))
    assert s == {(1, 2): 25.0, (2, 1): 25.0}
    s = speeds_kph(read_one(tmp_path, [1, 2], {"highway": "motorway", "maxspeed": "120"}))
    assert s == {(1, 2): 100.0}
    car = read_one(tmp_path, [1, 2], {"highway": "motorway", "maxspeed": "120"}, profile="car")
    assert speeds_kph(car) == {(1, 2): 120.0}
    s = speeds_kph(read_one(tmp_path, [1, 2], {"highway": "primary", "maxspeed": "CN:urban"}))
    assert set(s.values()) == {50.0}


def test_hgv_and_directional_maxspeed(tmp_path):
    tags = {"highway": "motorway", "maxspeed": "120", "maxspeed:hgv": "60"}
    assert speeds_kph(read_one(tmp_path, [1, 2], tags)) == {(1, 2): 60.0}
    assert speeds_kph(read_one(tmp_path, [1, 2], tags, profile="car")) == {(1, 2): 120.0}
    tags = {"highway": "primary", "maxspeed:forward": "40", "maxspeed:backward": "30"}
    assert speeds_kph(read_one(tmp_path, [1, 2], tags)) == {(1, 2): 40.0, (2, 1): 30.0}
    tags = {"highway": "primary", "maxspeed": "60", "maxspeed:hgv:backward": "20"}
    assert speeds_kph(read_one(tmp_path, [1, 2], tags)) == {(1, 2): 60.0, (2, 1): 20.0}


# --- clipped extracts, repeated nodes, bbox --------------------------------------------------


def test_missing_nodes_split_the_way(tmp_path):
    path = write_osm(tmp_path, [([1, 2, 99, 3, 4, 98], {"highway": "primary", "oneway": "yes"})])
    a = read_osm(path)
    assert edges(a) == [(1, 2), (3, 4)]
    assert a.meta["missing_nodes"] == 2
    assert a.meta["dropped_segments"] == 3


def test_way_of_only_missing_nodes_is_no_road(tmp_path):
    path = write_osm(tmp_path, [([97, 98, 99], {"highway": "primary"})])
    with pytest.raises(NetworkLoadError, match="no drivable road"):
        read_osm(path)


def test_nodes_after_ways_or_negative_ids_are_explained(tmp_path):
    late = tmp_path / "late.osm"
    late.write_text(
        '<osm version="0.6"><way id="1"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="primary"/></way>'
        '<node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.001"/></osm>'
    )
    with pytest.raises(NetworkLoadError, match=r"2 node\(s\) .* no location"):
        read_osm(late)


def test_repeated_node_makes_no_self_loop(tmp_path):
    a = read_one(tmp_path, [1, 2, 2, 3], {"highway": "primary", "oneway": "yes"})
    assert edges(a) == [(1, 2), (2, 3)]


def test_bbox_keeps_edges_with_both_ends_inside(tmp_path):
    path = write_osm(tmp_path, [([1, 2, 3, 4], {"highway": "primary", "oneway": "yes"})])
    a = read_osm(path, bbox=(-0.01, 0.0005, 0.01, 0.0025))
    assert edges(a) == [(2, 3)]
    assert a.node_id.tolist() == [2, 3]
    assert a.meta["bbox"] == [-0.01, 0.0005, 0.01, 0.0025]
    with pytest.raises(NetworkLoadError, match="no drivable road inside bbox"):
        read_osm(path, bbox=(10.0, 10.0, 11.0, 11.0))


@pytest.mark.parametrize(
    ("bbox", "error"),
    [
        ((0.0, 0.0, 1.0), InvalidParameterError),
        ("abcd", InvalidParameterError),
        ((1.0, 0.0, 0.0, 1.0), InvalidParameterError),
        ((0.0, 1.0, 1.0, 0.0), InvalidParameterError),
        ((0.0, 0.0, 91.0, 1.0), InvalidCoordinateError),
        ((0.0, -181.0, 1.0, 1.0), InvalidCoordinateError),
        ((float("nan"), 0.0, 1.0, 1.0), InvalidCoordinateError),
    ],
)
def test_bad_bbox(tmp_path, bbox, error):
    path = write_osm(tmp_path, [([1, 2], {"highway": "primary"})])
    with pytest.raises(error, match="bbox"):
        read_osm(path, bbox=bbox)


# --- input handling -------------------------------------------------------------------------


def test_meta(tmp_path):
    a = read_one(tmp_path, [1, 2], {"highway": "primary"}, profile="car")
    assert a.meta["source"] == "test.osm"
    assert a.meta["profile"] == "car"
    assert a.meta["attribution"] == ATTRIBUTION == "© OpenStreetMap contributors, ODbL 1.0"
    assert a.meta["osm_ways"] == 1
    assert a.meta["missing_nodes"] == 0
    assert a.meta["bbox"] is None


def test_format_is_recognised_from_content(tmp_path):
    xml = write_osm(tmp_path, [([1, 2, 3], {"highway": "primary", "oneway": "yes"})])
    packed = tmp_path / "test.osm.bz2"
    packed.write_bytes(bz2.compress(xml.read_bytes()))
    misnamed = tmp_path / "roads.dat"
    misnamed.write_bytes(xml.read_bytes())
    expected = edges(read_osm(xml))
    assert edges(read_osm(packed)) == expected == edges(read_osm(misnamed))


def test_profile_object_and_unknown_profile(tmp_path):
    path = write_osm(tmp_path, [([1, 2], {"highway": "primary"})])
    assert read_osm(path, profile=get_profile("car")).meta["profile"] == "car"
    with pytest.raises(InvalidParameterError, match="unknown profile"):
        read_osm(path, profile="bicycle")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"hello, this is not a map\n", "not an OpenStreetMap file"),
        (bytes(range(256)) * 20, "not an OpenStreetMap file"),
        (b"<html><body>404</body></html>", "cannot read OSM file"),
        (b'<?xml version="1.0"?><osm version="0.6"><node id="1"', "cannot read OSM file"),
        (b"\x00\x00\x00\x0d\n\tOSMHeader" + bytes(200), "cannot read OSM file"),
        (bz2.compress(b"not xml at all"), "cannot read OSM file"),
    ],
    ids=["empty", "text", "random-bytes", "html", "truncated-xml", "broken-pbf", "bad-bz2"],
)
def test_not_osm(tmp_path, content, match):
    path = tmp_path / "bad.osm.pbf"
    path.write_bytes(content)
    with pytest.raises(NetworkLoadError, match=match) as info:
        read_osm(path)
    assert info.value.source == path


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NetworkLoadError, match="no OSM file"):
        read_osm(tmp_path / "nowhere.osm.pbf")
    with pytest.raises(NetworkLoadError, match="not a file"):
        read_osm(tmp_path)


def test_no_drivable_road(tmp_path):
    path = write_osm(tmp_path, [([1, 2], {"highway": "footway"}), ([3, 4], {"waterway": "river"})])
    with pytest.raises(NetworkLoadError, match="no drivable road"):
        read_osm(path)
    closed = write_osm(tmp_path, [([1, 2], {"highway": "primary", "hgv": "no"})], name="b.osm")
    with pytest.raises(NetworkLoadError, match="no drivable road for the 'truck' profile"):
        read_osm(closed)
    assert read_osm(closed, profile="car").n_edges == 2


def test_osmium_missing_is_explained(tmp_path, monkeypatch):
    path = write_osm(tmp_path, [([1, 2], {"highway": "primary"})])
    monkeypatch.setitem(sys.modules, "osmium", None)
    with pytest.raises(NetworkLoadError, match=r"pip install 'kayou-dispatch\[osm\]'"):
        read_osm(path)


def test_old_osmium_is_explained(tmp_path, monkeypatch):
    import types

    path = write_osm(tmp_path, [([1, 2], {"highway": "primary"})])
    old = types.ModuleType("osmium")
    monkeypatch.setitem(sys.modules, "osmium", old)
    monkeypatch.setitem(sys.modules, "osmium.filter", types.ModuleType("osmium.filter"))
    with pytest.raises(NetworkLoadError, match="osmium >= 4"):
        read_osm(path)


# --- real extracts --------------------------------------------------------------------------

REAL = sorted(DATA.glob("*.osm*")) if DATA.is_dir() else []


def test_andorra_counts():
    a = read_osm(need_data("andorra.osm.pbf"))
    # 26,136 nodes lie on drivable ways; a few ways are private or closed to trucks.
    assert 25_000 <= a.n_nodes <= 26_136
    assert 46_000 <= a.n_edges <= 48_500
    assert a.meta["missing_nodes"] == 0
    assert 2_400 <= a.meta["osm_ways"] <= 2_478
    assert a.lat.min() > 41.3 and a.lat.max() < 42.7
    assert a.lng.min() > 1.4 and a.lng.max() < 1.8


def test_shenzhen_has_one_way_motorways():
    a = read_osm(need_data("shenzhen_longgang.osm"))
    motorway = a.highway == HIGHWAY_CLASSES.index("motorway")
    assert motorway.sum() > 100
    pairs = set(zip(a.u.tolist(), a.v.tolist(), strict=True))
    twins = [(v, u) in pairs for u, v in zip(a.u[motorway], a.v[motorway], strict=True)]
    assert not any(twins)
    assert 21.0 < a.lat.mean() < 24.0 and 113.0 < a.lng.mean() < 115.0


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
@pytest.mark.parametrize("profile", ["truck", "car"])
def test_real_extract_parses_within_caps(path, profile):
    a = read_osm(path, profile=profile)
    a.validate()
    prof = get_profile(profile)
    caps = np.array([prof.speeds_kph[c][1] for c in HIGHWAY_CLASSES])
    speed = a.length_m / np.maximum(a.travel_time_s, 1e-12) * 3.6
    moving = a.length_m > 0
    assert (a.highway >= 0).all()
    assert (speed[moving] <= caps[a.highway[moving]] + 1e-6).all()
    assert a.meta["attribution"] == ATTRIBUTION


def test_real_bbox_is_a_subset():
    path = need_data("shenzhen_longgang.osm")
    full = read_osm(path)
    lat0, lng0 = float(np.median(full.lat)), float(np.median(full.lng))
    box = (lat0 - 0.02, lng0 - 0.02, lat0 + 0.02, lng0 + 0.02)
    part = read_osm(path, bbox=box)
    assert 0 < part.n_edges < full.n_edges
    assert set(part.node_id.tolist()) <= set(full.node_id.tolist())
    assert (part.lat >= box[0]).all() and (part.lat <= box[2]).all()
    assert (part.lng >= box[1]).all() and (part.lng <= box[3]).all()
