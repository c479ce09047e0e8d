"""The shard map (format, validation, lookups) and one shard's exactness across its border."""

from pathlib import Path

import h3
import numpy as np
import pytest

from kayou_dispatch import (
    DispatchEngine,
    InvalidCoordinateError,
    InvalidParameterError,
    RoadNetwork,
)
from kayou_dispatch.shared.shards import (
    SNAP_M,
    ShardMap,
    clip_network,
    load_shard_map,
)
from tests.test_engine import line_network

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
EXTRACT = DATA / "lower_saxony_main_roads.osm.pbf"


def three_shards(net, *, max_eta_s=300, urls=("http://127.0.0.1:1",) * 3):
    """The network's res-4 cells cut into three bands west to east."""
    cells = sorted(
        {h3.latlng_to_cell(a, b, 4) for a, b in zip(net.node_lat, net.node_lng, strict=True)}
    )
    order = sorted(cells, key=lambda c: (h3.cell_to_latlng(c)[1], c))
    parts = np.array_split(np.array(order), 3)
    return {
        "format": "kayou-shards/1",
        "resolution": 4,
        "max_eta_s": max_eta_s,
        "max_speed_kph": 100,
        "shards": [
            {"name": f"s{i}", "url": urls[i], "cells": [str(c) for c in p]}
            for i, p in enumerate(parts)
        ],
    }


@pytest.fixture(scope="module")
def net():
    if not EXTRACT.exists():
        pytest.skip(f"no {EXTRACT} (the shared real-data folder)")
    return RoadNetwork.from_osm(EXTRACT)


def good(**changes):
    a, b = h3.latlng_to_cell(52.4, 9.7, 4), h3.latlng_to_cell(52.4, 10.6, 4)
    data = {
        "format": "kayou-shards/1",
        "resolution": 4,
        "max_eta_s": 600,
        "max_speed_kph": 100,
        "shards": [
            {"name": "w", "url": "http://127.0.0.1:1", "cells": [a]},
            {"name": "e", "url": "http://127.0.0.1:2", "cells": [b]},
        ],
    }
    data.update(changes)
    return data


def test_a_valid_map_finds_owners_and_who_hears_of_a_fix():
    m = ShardMap.from_json(good())
    assert m.owner(52.4, 9.7).name == "w"
    assert m.owner(52.4, 10.6).name == "e"
    assert m.owner(10.0, 10.0) is None and m.notified(10.0, 10.0) == []
    # The two cells are neighbours: each shard hears of the other's fixes.
    assert [s.name for s in m.notified(52.4, 9.7)] == ["w", "e"]
    assert m.shard("e").redis_prefix == "kd:{e}"
    assert m.reach_m == pytest.approx(100 / 3.6 * 600 + SNAP_M)


def test_exactly_one_shard_ticks_each_incident_the_owner_of_its_cell():
    m = ShardMap.from_json(good())
    ticks = {s.name: m.ticks_for(s.name) for s in m.shards}
    for lat, lng, who in ((52.4, 9.7, "w"), (52.4, 10.6, "e"), (10.0, 10.0, "w")):
        # Outside the map (reported to a shard directly): the map's first shard.
        assert [name for name, owns in ticks.items() if owns(lat, lng)] == [who]
    with pytest.raises(InvalidParameterError):
        m.ticks_for("nowhere")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"format": "other"}, "not a shard map"),
        ({"resolution": 5}, "resolution must be 3 or 4"),
        ({"max_eta_s": 0}, "max_eta_s must be a number > 0"),
        ({"max_speed_kph": "fast"}, "max_speed_kph must be"),
        ({"shards": []}, "non-empty list"),
        ({"shards": [{"name": "w", "url": "http://h:1", "cells": []}]}, "has no cells"),
        ({"shards": [{"name": "w", "url": "ftp://h", "cells": ["x"]}]}, "url must be"),
        ({"shards": [{"name": "w", "url": "http://h:1", "cells": ["nope"]}]}, "not an H3 cell"),
        (
            {"shards": [{"name": "w", "url": "http://h:1", "cells": [h3.latlng_to_cell(1, 1, 3)]}]},
            "resolution 3, the map's is 4",
        ),
    ],
)
def test_a_bad_map_is_refused_with_a_typed_error(changes, says):
    with pytest.raises(InvalidParameterError, match=says) as err:
        ShardMap.from_json(good(**changes))
    assert err.value.name == "shards"


def test_overlapping_cells_duplicate_names_and_unknown_shards_are_refused(tmp_path):
    data = good()
    data["shards"][1]["cells"] = data["shards"][0]["cells"]
    with pytest.raises(InvalidParameterError, match="owned by both 'w' and 'e'"):
        ShardMap.from_json(data)
    data = good()
    data["shards"][1]["name"] = "w"
    with pytest.raises(InvalidParameterError, match="two shards are named 'w'"):
        ShardMap.from_json(data)
    with pytest.raises(
        InvalidParameterError, match="no shard named 'north' in the shard map; known: e, w"
    ):
        ShardMap.from_json(good()).shard("north")
    bad = tmp_path / "shards.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidParameterError, match="cannot read shard map"):
        load_shard_map(bad)


def test_a_map_missing_cells_of_the_network_or_too_slow_is_refused(net):
    m = ShardMap.from_json(good())
    with pytest.raises(InvalidParameterError, match="cells of the road network belong to no shard"):
        m.check_covers(net)
    slow = three_shards(net)
    slow["max_speed_kph"] = 50
    with pytest.raises(InvalidParameterError, match="above the shard map's max_speed_kph 50"):
        ShardMap.from_json(slow).check_covers(net)
    ShardMap.from_json(three_shards(net)).check_covers(net)  # the real map covers it


def test_each_shard_ranks_its_incidents_exactly_like_one_engine(net):
    """Responders fed as the gateway feeds them; rankings near and across every border."""
    m = ShardMap.from_json(three_shards(net))
    clock = lambda: 1000.0  # noqa: E731
    whole = DispatchEngine(net, clock=clock)
    shards = {}
    for s in m.shards:
        clipped = clip_network(net, m.reach_cells(s.name), margin_m=SNAP_M)
        assert clipped.n_nodes < net.n_nodes or len(m.reach_cells(s.name)) >= 10
        e = DispatchEngine(clipped, clock=clock)
        e.serve_shard(m.reach_cells(s.name), resolution=4, max_eta_s=m.max_eta_s)
        shards[s.name] = e
    rng = np.random.default_rng(7)
    n = 3000
    nodes = rng.integers(0, net.n_nodes, n)
    lat = net.node_lat[nodes] + rng.normal(0, 0.002, n)
    lng = net.node_lng[nodes] + rng.normal(0, 0.002, n)
    for step in range(2):  # everyone moves once: some cross a border
        if step:
            lat = lat + rng.normal(0, 0.03, n)
            lng = lng + rng.normal(0, 0.05, n)
        ids = [f"r{i}" for i in range(n)]
        whole.update_positions(ids, lat, lng, ts=900.0 + step)
        for s in m.shards:
            keep = [i for i in range(n) if s in m.notified(lat[i], lng[i])]
            shards[s.name].update_positions(
                [ids[i] for i in keep], lat[keep], lng[keep], ts=900.0 + step
            )
    # No responder is held outside the shard's reach (it was forgotten when it left).
    for s in m.shards:
        reach = m.reach_cells(s.name)
        for r in shards[s.name].responders():
            assert m.cell(r.lat, r.lng) in reach
    checked = 0
    for q in rng.integers(0, net.n_nodes, 400):
        la, ln = float(net.node_lat[q]), float(net.node_lng[q])
        owner = m.owner(la, ln)
        want = whole.rank(la, ln, k=8, max_eta_s=m.max_eta_s)
        got = shards[owner.name].rank(la, ln, k=8)  # bounded by the map's max_eta_s
        assert [(c.responder_id, c.eta_s) for c in got] == [(c.responder_id, c.eta_s) for c in want]
        checked += bool(want)
    assert checked > 300


def _line_engine_serving_a_shard():
    """An engine on three equator nodes serving the one res-4 cell that holds them."""
    e = DispatchEngine(line_network(), clock=lambda: 1000.0)
    cell = int(h3.str_to_int(h3.latlng_to_cell(0.0, 0.01, 4)))
    e.serve_shard(frozenset({cell}), resolution=4, max_eta_s=600.0)
    return e


@pytest.mark.parametrize(
    ("ids", "lats", "lngs"),
    [
        (["a"], ["north"], [0.01]),  # not a number
        (["a", "b"], [0.0], [0.01, 0.02]),  # lats and lngs of different lengths
        (["a"], [[0.0]], [[0.01]]),  # not 1-D
        (["a"], [95.0], [0.01]),  # off the globe
    ],
)
def test_a_shard_refuses_a_bad_batch_with_the_index_typed_error(ids, lats, lngs):
    """The reach filter checks a batch with the package's one validator: typed error, no row."""
    e = _line_engine_serving_a_shard()
    with pytest.raises(InvalidCoordinateError):
        e.update_positions(ids, lats, lngs, ts=999.0)
    assert len(e.index) == 0


def test_a_shard_keeps_a_batch_inside_its_reach_and_forgets_who_left():
    e = _line_engine_serving_a_shard()
    assert e.update_positions(["a", "b"], [0.0, 0.0], [0.01, 0.02], ts=999.0) == 2
    assert e.update_positions(["a", "b"], [0.0, 40.0], [0.01, 40.0], ts=999.5) == 1
    assert sorted(r.responder_id for r in e.responders()) == ["a"]


def test_a_shard_refuses_one_fix_off_the_globe():
    """A single fix is checked before the reach test (it used to count as 'left the reach')."""
    e = _line_engine_serving_a_shard()
    with pytest.raises(InvalidCoordinateError):
        e.update_position("a", 95.0, 0.01, ts=999.0)
    assert len(e.index) == 0
