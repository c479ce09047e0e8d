"""``network_geometry``: every road drawn once, merged, simplified within the tolerance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely

from kayou_dispatch import InvalidParameterError, RoadNetwork, load_network
from kayou_dispatch.web import asset_bytes, asset_text, network_geometry

from ..network.shared_data import need_data


def drawn_lines(g):
    """The drawn polylines as shapely lines in a local metric frame, and that frame."""
    lat0, lng0 = g["origin"]
    kx = 111_320.0 * math.cos(math.radians((g["bounds"][0] + g["bounds"][2]) / 2))
    c = np.asarray(g["coords"], dtype=np.float64).reshape(-1, 2) / g["scale"]
    xy = np.column_stack((c[:, 1] * kx, c[:, 0] * 110_574.0))
    off = g["offsets"]
    lines = [shapely.LineString(xy[off[i] : off[i + 1]]) for i in range(len(off) - 1)]

    def to_xy(lat, lng):
        return np.column_stack(((lng - lng0) * kx, (lat - lat0) * 110_574.0))

    return lines, to_xy


@pytest.fixture(scope="module", params=["bundled", "andorra"])
def net(request):
    if request.param == "bundled":
        return load_network("helsinki")
    return RoadNetwork.from_osm(need_data("andorra.osm.pbf"))


def test_layout(net):
    g = network_geometry(net)
    n_lines = len(g["offsets"]) - 1
    assert g["offsets"][0] == 0 and g["offsets"][-1] * 2 == len(g["coords"])
    assert np.all(np.diff(g["offsets"]) >= 2)  # every line has its two ends
    assert len(g["cls"]) == n_lines and set(g["cls"]) <= {-1, *range(len(g["classes"]))}
    assert all(isinstance(c, int) and c >= 0 for c in g["coords"])
    twins = int((net.edge_twin >= 0).sum())
    assert n_lines <= net.n_edges - twins // 2  # two-way roads once, runs merged
    json.dumps(g, allow_nan=False)


def test_without_tolerance_every_road_end_is_drawn_exactly(net):
    g = network_geometry(net, tolerance_m=0)
    q = np.asarray(g["coords"]).reshape(-1, 2)
    drawn = {tuple(p) for p in q.tolist()}
    lat0, lng0 = g["origin"]
    used = np.unique(np.concatenate((net.edge_u, net.edge_v)))
    qlat = np.rint((net.node_lat[used] - lat0) * g["scale"]).astype(int)
    qlng = np.rint((net.node_lng[used] - lng0) * g["scale"]).astype(int)
    assert all((a, b) in drawn for a, b in zip(qlat.tolist(), qlng.tolist(), strict=True))


@pytest.mark.parametrize("tolerance_m", [2.0, 10.0])
def test_simplified_drawing_stays_within_the_tolerance(net, tolerance_m):
    full = network_geometry(net, tolerance_m=0)
    g = network_geometry(net, tolerance_m=tolerance_m)
    assert len(g["coords"]) < len(full["coords"])
    lines, to_xy = drawn_lines(g)
    tree = shapely.STRtree(lines)
    # Every road node lies within the tolerance (plus the ~1 m grid) of a drawn line.
    used = np.unique(np.concatenate((net.edge_u, net.edge_v)))
    pts = shapely.points(to_xy(net.node_lat[used], net.node_lng[used]))
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    assert dist.max() <= tolerance_m + 1.5


def test_tolerance_is_checked():
    net = load_network("helsinki")
    for bad in (-1, math.nan, math.inf, "2"):
        with pytest.raises(InvalidParameterError, match="tolerance_m"):
            network_geometry(net, tolerance_m=bad)


def test_assets_are_shipped():
    assert b"class KayouMap" in asset_bytes("map.js")
    assert "kayouConsole" in asset_text("console.js")
    assert "{{DATA}}" in asset_text("replay.html")
    with pytest.raises(InvalidParameterError, match="no browser asset"):
        asset_bytes("../_assets.py")
