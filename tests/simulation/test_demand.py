import collections

import numpy as np
import pytest

from kayou_dispatch import InvalidParameterError, load_network
from kayou_dispatch.network import HIGHWAY_CLASSES
from kayou_dispatch.simulation import Scenario, generate_requests
from kayou_dispatch.simulation.scenario import (
    NIGHT_PEAK_BY_HOUR,
    ORDINARY_KINDS,
    SERIOUS_KINDS,
    SEVERITY,
)


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def test_a_day_matches_the_calibration(net):
    reqs = generate_requests(net, Scenario(hours=24, share=0.1, seed=3))
    serious = sum(r.serious for r in reqs)
    ordinary = len(reqs) - serious
    # Poisson: 300 +- 3 sd, 3000 +- 3 sd
    assert abs(serious - 300) < 3 * 300**0.5
    assert abs(ordinary - 3000) < 3 * 3000**0.5
    kinds = collections.Counter(r.kind for r in reqs)
    assert set(kinds) <= set(SERIOUS_KINDS) | set(ORDINARY_KINDS)
    assert kinds["directions"] > kinds["fuel"] > kinds["fire"]
    assert [r.at_s for r in reqs] == sorted(r.at_s for r in reqs)
    assert len({r.incident_id for r in reqs}) == len(reqs)
    assert all(r.severity == SEVERITY[r.kind] for r in reqs)
    assert all(0 <= r.at_s < 24 * 3600 for r in reqs)


def test_night_profile_puts_more_serious_requests_in_the_small_hours(net):
    sc = Scenario(hours=24, share=1.0, seed=4, serious_by_hour=NIGHT_PEAK_BY_HOUR)
    reqs = generate_requests(net, sc)
    hours = np.array([int(r.at_s // 3600) for r in reqs if r.serious])
    night = np.isin(hours, [1, 2, 3, 4]).sum() / 4
    midday = np.isin(hours, [9, 10, 11, 12]).sum() / 4
    assert night > 1.5 * midday


def test_freight_profile_peaks_in_the_working_day(net):
    reqs = generate_requests(net, Scenario(hours=24, share=1.0, seed=4))
    hours = np.array([int(r.at_s // 3600) for r in reqs if not r.serious])
    night = np.isin(hours, [1, 2, 3]).sum()
    day = np.isin(hours, [8, 9, 10]).sum()
    assert day > 3 * night


def test_serious_requests_mostly_on_motorways_and_trunk_roads_one_carriageway():
    region = load_network()
    reqs = generate_requests(region, Scenario(hours=24, seed=2))
    serious = [r for r in reqs if r.serious]
    assert abs(len(serious) - 90) < 3 * 90**0.5  # the region's 3 % of 3,000
    main = {HIGHWAY_CLASSES.index("motorway"), HIGHWAY_CLASSES.index("trunk")}
    on_main = np.mean([int(region.arrays.highway[r.edge]) in main for r in serious])
    assert on_main > 0.6
    for r in serious[:40]:  # on the carriageway it was drawn on: nearest edge, not the other
        snap = region.snap(r.lat, r.lng)
        assert snap.distance_m < 1.0
        assert snap.edge == r.edge or snap.node is not None or snap.edge == region.edge_twin[r.edge]


def test_requests_lie_on_their_road(net):
    for r in generate_requests(net, Scenario(hours=1, share=0.2, seed=5))[:200]:
        snap = net.snap(r.lat, r.lng)
        assert snap.distance_m <= 1.0  # on the road (a point within 1 m of a node is the node)


def test_same_seed_same_day(net):
    a = generate_requests(net, Scenario(hours=3, seed=9))
    b = generate_requests(net, Scenario(hours=3, seed=9))
    c = generate_requests(net, Scenario(hours=3, seed=10))
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hours": 0},
        {"hours": float("nan")},
        {"responders": 0},
        {"responders": 2.5},
        {"share": 0},
        {"share": 1.5},
        {"start_hour": 24},
        {"gps_interval_s": -1},
        {"service_vehicles": -1},
        {"serious_by_hour": (1.0,) * 23},
        {"gps_noise_m": -1.0},
        {"hours": 169},
        {"serious_on_highway": 1.5},
        {"serious_on_highway": True},
        {"coverage_limit_s": 0},
        {"coverage_every_s": -5},
    ],
)
def test_scenario_rejects_bad_values(kwargs):
    with pytest.raises(InvalidParameterError):
        Scenario(**kwargs)


def test_truck_scenario_refuses_a_network_without_motorways(net):
    with pytest.raises(InvalidParameterError, match="no motorway or trunk road"):
        Scenario().check_network(net)
    Scenario(serious_on_highway=0).check_network(net)
