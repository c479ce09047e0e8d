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
    driving = ~fleet.paused
    fleet.advance(20.0)
    lat1, lng1, heading = fleet.true_positions()
    moved = haversine_m_array(lat0, lng0, lat1, lng1)
    # Straight-line displacement can't beat the fastest road in 20 s.
    assert (moved <= net.max_speed_mps * 20.0 + 1e-6).all()
    assert (moved[driving] > 0).mean() > 0.95
    assert (moved[~driving] == 0).all()  # on a break, or waiting at the depot
    assert fleet.paused[-10:].all()
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


@pytest.fixture(scope="module")
def region():
    return load_network()


def test_trucks_drive_their_trips_and_take_breaks(region):
    fleet = Fleet(region, volunteers=60, service_vehicles=4, gps_noise_m=0.0, seed=5)
    hubs = fleet.hubs
    assert hubs.nodes.size >= 8 and hubs.gateway.any() and hubs.depots.size >= 4
    lat0, lng0, _ = fleet.true_positions()
    paused = []
    for _ in range(12 * 60):  # 12 hours in 60 s steps
        fleet.advance(60.0)
        paused.append(fleet.paused[:60].mean())
    lat1, lng1, _ = fleet.true_positions()
    moved_km = haversine_m_array(lat0, lng0, lat1, lng1) / 1000
    assert np.median(moved_km[:60]) > 10  # trucks on trips go places
    assert fleet.trip[:60].sum() >= 30  # and reach their hubs, load, set off again
    assert 0.1 < np.mean(paused) < 0.7  # breaks and loading, not parked all day
    assert (moved_km[60:] == 0).all()  # service vehicles wait at their depots
    snaps = region.snap_many(lat1, lng1)
    assert (snaps.distance_m <= 1.0).all()


def test_a_vehicle_sent_to_a_point_follows_the_route_and_arrives_on_time(region):
    fleet = Fleet(region, volunteers=5, gps_noise_m=0.0, seed=6)
    target = int(np.flatnonzero(region.arrays.highway == 0)[100])
    eta, edges, frac = fleet.route_to(0, target, 0.5)
    assert np.isfinite(eta) and edges[-1] in (target, region.edge_twin[target])
    lat, lng, _ = fleet.true_positions(np.array([0]))
    oracle = region.travel_time(float(lat[0]), float(lng[0]), *region.node_latlng(0))
    assert np.isfinite(oracle)
    fleet.send(0, edges, frac)
    fleet.advance(eta + 1.0)
    lat, lng, _ = fleet.true_positions(np.array([0]))
    from kayou_dispatch.simulation.roads import edge_points

    want_lat, want_lng, _ = edge_points(region.arrays, np.array([edges[-1]]), np.array([frac]))
    assert haversine_m_array(lat, lng, want_lat, want_lng)[0] < 1.0
    fleet.advance(600.0)  # held there until released
    assert haversine_m_array(*fleet.true_positions(np.array([0]))[:2], want_lat, want_lng)[0] < 1


def test_moving_some_vehicles_first_lands_them_where_moving_all_at_once_does(region):
    a = Fleet(region, volunteers=40, service_vehicles=2, gps_noise_m=0.0, seed=8)
    b = Fleet(region, volunteers=40, service_vehicles=2, gps_noise_m=0.0, seed=8)
    rng = np.random.default_rng(1)
    t = 0.0
    for _ in range(120):
        t += float(rng.uniform(1.0, 200.0))
        some = rng.choice(42, size=5, replace=False)
        a.advance_to(t - float(rng.uniform(0.0, 1.0)), some)  # a few first, a little earlier
        a.advance_to(t)
        b.advance_to(t)
    pa, pb = a.true_positions(), b.true_positions()
    assert haversine_m_array(pa[0], pa[1], pb[0], pb[1]).max() < 0.5
    assert (a.trip == b.trip).all() and (a.mode == b.mode).all()
