"""OSM input the audit sent: typed errors or sane handling, never osmium's or Python's own."""

import math

import pytest

from kayou_dispatch import NetworkLoadError, RoadNetwork
from kayou_dispatch.network.profiles import MIN_MAXSPEED_KPH, parse_maxspeed

pytest.importorskip("osmium")

NODES = (
    '<node id="1" lat="{lat}" lon="113.5"/><node id="2" lat="23.0" lon="113.501"/>'
    '<node id="3" lat="23.0" lon="113.502"/>'
)


def osm(tmp_path, *, lat="23.0", maxspeed=None):
    tag = "" if maxspeed is None else f'<tag k="maxspeed" v="{maxspeed}"/>'
    xml = (
        f'<osm version="0.6">{NODES.format(lat=lat)}'
        f'<way id="7"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/>{tag}</way>'
        '<way id="8"><nd ref="2"/><nd ref="3"/><tag k="highway" v="primary"/></way></osm>'
    )
    path = tmp_path / "x.osm"
    path.write_text(xml)
    return path


@pytest.mark.parametrize("lat", ["nan", "north", ""])
def test_a_node_location_that_is_no_number_is_a_network_load_error(tmp_path, lat):
    with pytest.raises(NetworkLoadError, match="cannot read OSM file"):
        RoadNetwork.from_osm(osm(tmp_path, lat=lat))


@pytest.mark.parametrize("source", [5, None, 3.5, b"x.osm", ["x.osm"]])
def test_a_path_that_is_no_path_is_a_network_load_error(source):
    with pytest.raises(NetworkLoadError, match="must be a file path"):
        RoadNetwork.from_osm(source)


@pytest.mark.parametrize("maxspeed", ["0." + "0" * 319 + "1", "0.5", "0", "9" * 400])
def test_one_absurd_maxspeed_falls_back_to_the_class_speed(tmp_path, maxspeed):
    net = RoadNetwork.from_osm(osm(tmp_path, maxspeed=maxspeed))
    plain = RoadNetwork.from_osm(osm(tmp_path))
    assert net.n_edges == plain.n_edges == 4
    assert all(math.isfinite(t) and t > 0 for t in net.edge_travel_time_s.tolist())
    assert net.edge_travel_time_s.tolist() == plain.edge_travel_time_s.tolist()


def test_parse_maxspeed_ignores_values_below_walking_pace():
    assert parse_maxspeed("1e-320") is None and parse_maxspeed(1e-320) is None
    assert parse_maxspeed("0." + "0" * 319 + "1") is None
    assert parse_maxspeed(str(MIN_MAXSPEED_KPH)) == MIN_MAXSPEED_KPH
    assert parse_maxspeed("9" * 400) is None  # overflows to inf: no limit given
    assert parse_maxspeed("5;0.001") == 5.0
