"""SnapCache and gather: snaps once per position, with the heading, off-network marked."""

import numpy as np
import pytest

from kayou_dispatch import ResponderIndex, UnknownResponderError
from kayou_dispatch.matching import SnapCache, gather

from ..test_engine import divided_network


def test_cache_snaps_with_heading_and_only_what_moved():
    net = divided_network()
    index = ResponderIndex(clock=lambda: 0.0)
    cache = SnapCache(net)
    index.update_position("w", -0.00015, 0.004, heading=270.0)
    index.update_position("e", -0.00015, 0.004)
    index.update_position("off", 0.2, 0.004)
    c = gather(index, cache, needs=frozenset(), exclude=frozenset())
    by_id = {c.names[s]: i for i, s in enumerate(c.slots.tolist())}
    assert c.snaps.edge[by_id["w"]] == 2  # the westbound carriageway
    assert c.snaps.edge[by_id["e"]] == 0  # the nearest road
    assert c.snaps.edge[by_id["off"]] == -1
    assert cache.snapped == 3
    again = gather(index, cache, needs=frozenset(), exclude=frozenset())
    assert cache.snapped == 3
    np.testing.assert_array_equal(again.snaps.edge, c.snaps.edge)
    index.update_position("w", -0.00015, 0.004, heading=90.0)  # same place, turned round
    turned = gather(index, cache, needs=frozenset(), exclude=frozenset())
    assert cache.snapped == 4
    assert turned.snaps.edge[by_id["w"]] == 0
    # The departures follow the snap: edge head and the rest of the edge's time.
    dep = turned.departures
    i = by_id["w"]
    assert dep.node_a[i] == net.edge_v[0]
    assert dep.off_a[i] == pytest.approx(0.6 * 60.0, abs=0.1)
    assert np.isinf(dep.off_b[i])  # a one-way carriageway: no twin


def test_gather_filters_and_only_raises_for_unknown_ids():
    net = divided_network()
    index = ResponderIndex(clock=lambda: 100.0, position_ttl_s=10.0)
    cache = SnapCache(net)
    index.update_position("a", 0.0, 0.001, capabilities={"tow"})
    index.update_position("b", 0.0, 0.002, ts=50.0)  # stale
    index.update_position("c", 0.0, 0.003)
    index.set_status("c", "assigned")
    index.update_position("d", 0.0, 0.004)
    c = gather(index, cache, needs=frozenset(), exclude=frozenset({"d"}))
    assert [c.names[s] for s in c.slots.tolist()] == ["a"]
    c = gather(index, cache, needs=frozenset({"tow"}), exclude=frozenset())
    assert [c.names[s] for s in c.slots.tolist()] == ["a"]
    with pytest.raises(UnknownResponderError):
        index._eligible(only=["a", "zz"])


def test_cache_refuses_a_network_beyond_int32_indices(monkeypatch):
    from kayou_dispatch import InvalidParameterError
    from kayou_dispatch.matching import candidates

    net = divided_network()
    monkeypatch.setattr(candidates, "MAX_NETWORK_INDEX", net.n_edges - 1)
    with pytest.raises(InvalidParameterError, match="int32") as err:
        SnapCache(net)
    assert err.value.name == "network"


def test_cached_snaps_keep_int64_indices():
    net = divided_network()
    index = ResponderIndex(clock=lambda: 0.0)
    cache = SnapCache(net)
    index.update_position("a", -0.00015, 0.004)
    c = gather(index, cache, needs=frozenset(), exclude=frozenset())
    direct = net.snap_many([-0.00015], [0.004], max_distance_m=1000.0)
    for got, want in zip(c.snaps, direct, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_node_and_twin_codes_give_back_every_snap_and_keep_odd_ones_exactly():
    from kayou_dispatch import synthetic_region
    from kayou_dispatch.matching import candidates
    from kayou_dispatch.network import SnapArrays

    region = synthetic_region(seed=5, size=3_000)
    rng = np.random.default_rng(3)
    n = 4000
    s, w, north, east = region.bounds
    lat = rng.uniform(s, north, n)
    lng = rng.uniform(w, east, n)
    e = rng.integers(0, region.n_edges, n // 4)  # some right at a node
    lat[: e.size] = region.node_lat[region.edge_v[e]]
    lng[: e.size] = region.node_lng[region.edge_v[e]]
    seen = np.zeros(3, dtype=int)
    for headings in (None, rng.uniform(0.0, 360.0, n)):
        res = region.snap_many(lat, lng, headings=headings, max_distance_m=1000.0)
        codes, odd = candidates._end_codes(region, res)
        assert odd.size == 0
        node, twin = candidates._decode_ends(region, codes, res.edge)
        np.testing.assert_array_equal(node, res.node)
        np.testing.assert_array_equal(twin, res.twin)
        seen += [(res.node >= 0).sum(), (res.twin >= 0).sum(), (res.edge < 0).sum()]
    assert (seen[:2] > 0).all()
    net = divided_network()
    # A snap whose node is no end of its edge (or twin not its edge's) is kept as it was.
    e = np.array([0, 0, -1])
    f = np.array([0.5, 0.5, np.nan])
    weird = SnapArrays(e, f, f, f, f, np.array([-1, 999, -1]), np.array([7, -1, -1]))
    codes, odd = candidates._end_codes(net, weird)
    assert odd.tolist() == [0, 1] and codes[2] == 0
    cache = SnapCache(net)
    cache._grow(4)
    cache._ends[:3] = codes
    cache._odd.update({0: (-1, 7), 1: (999, -1)})
    node, twin = cache._node_twin(np.arange(3), e)
    assert node.tolist() == [-1, 999, -1] and twin.tolist() == [7, -1, -1]
