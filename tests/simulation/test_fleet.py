import numpy as np
import pytest

from kayou_dispatch import load_network
from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.simulation import Fleet


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def test_vehicles_stay_on_roads_and_move_at_road_speed(net):
    fleet = Fleet(net, volunteers=300, service_vehicles=10, gps_noise_m=0.0, seed=1)
    lat0, lng0, _ = fleet.true_positions()
    fleet.advance(20.0)
    lat1, lng1, heading = fleet.true_positions()
    moved = haversine_m_array(lat0, lng0, lat1, lng1)
    # Straight-line displacement can't beat the fastest road in 20 s.
    assert (moved <= net.max_speed_mps * 20.0 + 1e-6).all()
    assert (moved > 0).mean() > 0.95
    snaps = net.snap_many(lat1, lng1)
    assert (snaps.distance_m <= 1.0).all()  # on the road, or within 1 m of a node it snaps to
    assert ((heading >= 0) & (heading < 360)).all()


def test_held_vehicles_do_not_move(net):
    fleet = Fleet(net, volunteers=50, seed=2)
    fleet.held[:10] = True
    before = fleet.true_positions()
    fleet.advance(120.0)
    after = fleet.true_positions()
    assert np.array_equal(before[0][:10], after[0][:10])
    assert not np.array_equal(before[0][10:], after[0][10:])


def test_gps_noise_scale(net):
    fleet = Fleet(net, volunteers=2_000, gps_noise_m=10.0, seed=3)
    lat, lng, _ = fleet.true_positions()
    nlat, nlng, _ = fleet.gps_fixes()
    err = haversine_m_array(lat, lng, nlat, nlng)
    # 2-D Gaussian with sd 10 m per axis: mean error 10 * sqrt(pi / 2) ~ 12.5 m
    assert 11.0 < err.mean() < 14.0


def test_capabilities_and_ids(net):
    fleet = Fleet(net, volunteers=1_000, service_vehicles=8, seed=4)
    assert len(fleet) == 1_008 and len(set(fleet.ids)) == 1_008
    assert fleet.ids[0] == "driver-00000" and fleet.ids[-1] == "unit-007"
    assert all(
        "crane" in caps or "tow" in caps or "mechanic" in caps or "medical" in caps
        for caps in fleet.capabilities[1_000:]
    )
    tyre = np.mean(["tyre" in c for c in fleet.capabilities[:1_000]])
    assert 0.3 < tyre < 0.4


def test_same_seed_same_movement(net):
    a, b = Fleet(net, volunteers=100, seed=7), Fleet(net, volunteers=100, seed=7)
    for f in (a, b):
        f.advance(300.0)
    assert np.array_equal(a.gps_fixes()[0], b.gps_fixes()[0])
