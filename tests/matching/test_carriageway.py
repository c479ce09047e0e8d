"""Carriageway sense on a divided road: explain names the opposite carriageway, run cards
prefer helpers upstream on the incident's.

Oracle: a 10 km motorway with two carriageways 30 m apart (6 min each way at 100 km/h)
and one interchange (link roads of 5 s) at each end, where every trip's time is written by
hand from where the helper is and which way it drives.
"""

import dataclasses

import numpy as np
import pytest

from kayou_dispatch import DispatchEngine, InvalidParameterError, RoadNetwork, RunCard
from kayou_dispatch.matching.carriageway import (
    divided_edges,
    opposite_carriageway,
    upstream_on_carriageway,
)
from kayou_dispatch.network import EdgeArrays

DLAT = 30 / 111_195  # the westbound carriageway, 30 m north
SPAN = 0.09  # degrees of longitude at the equator: 10 km
T = 360.0  # seconds along a whole carriageway
LINK = 5.0


@pytest.fixture(scope="module")
def net():
    a = EdgeArrays.straight(
        node_id=[1, 2, 3, 4],
        lat=[0.0, 0.0, DLAT, DLAT],
        lng=[0.0, SPAN, SPAN, 0.0],
        u=[0, 2, 1, 3],
        v=[1, 3, 2, 0],
        length_m=[10_000.0, 10_000.0, 40.0, 40.0],
        travel_time_s=[T, T, LINK, LINK],
        highway=[0, 0, 1, 1],  # motorway, motorway_link
    )
    return RoadNetwork.from_arrays(a)


def _eta_east(x, xd):
    """Eastbound at fraction x to the incident at xd (eastbound)."""
    return (xd - x) * T if x <= xd else (1 - x) * T + LINK + T + LINK + xd * T


def _eta_west(x, xd):
    """Westbound at fraction x (of the way east) to the incident at xd (eastbound)."""
    return x * T + LINK + xd * T


def test_divided_edges_are_the_one_way_motorway_edges(net):
    assert divided_edges(net).tolist() == [True, True, False, False]


@pytest.mark.parametrize("seed", range(5))
def test_upstream_and_opposite_match_the_hand_written_times(net, seed):
    rng = np.random.default_rng(seed)
    xd = float(rng.uniform(0.2, 0.9))
    dest = net.snap(0.0, xd * SPAN, heading=90.0)
    xs = rng.uniform(0.02, 0.98, 12).tolist()
    east = [net.snap(0.0, x * SPAN, heading=90.0) for x in xs]
    west = [net.snap(DLAT, x * SPAN, heading=270.0) for x in xs]
    up = upstream_on_carriageway(net, dest, east + west).tolist()
    assert up == [x <= xd for x in xs] + [False] * len(xs)
    for x, e, w in zip(xs, east, west, strict=True):
        sense = opposite_carriageway(net, dest, w, heading=270.0)
        assert sense.eta_s == pytest.approx(_eta_west(x, xd), abs=0.05)
        assert sense.other_way_eta_s == pytest.approx(_eta_east(x, xd), abs=0.05)
        extra = _eta_west(x, xd) - _eta_east(x, xd)
        assert sense.opposite == (x <= xd and extra >= 60.0)
        if sense.opposite:
            assert sense.extra_s == pytest.approx(extra, abs=0.05)
            assert sense.detail == f"opposite carriageway: +{extra / 60:.0f} min via the next exit"
        # Without a heading the direction of its snapped edge is used.
        assert opposite_carriageway(net, dest, w).opposite == sense.opposite
        # On the incident's own carriageway it is never "opposite".
        assert not opposite_carriageway(net, dest, e, heading=90.0).opposite


def test_explain_says_opposite_carriageway_and_same(net):
    engine = DispatchEngine(net, clock=lambda: 0.0)
    engine.update_position("behind", 0.0, 0.2 * SPAN, heading=90.0)
    engine.update_position("across", DLAT, 0.5 * SPAN, heading=270.0)
    why = engine.explain(0.0, 0.6 * SPAN, "across")
    extra = _eta_west(0.5, 0.6) - _eta_east(0.5, 0.6)
    assert why.carriageway == "opposite"
    assert why.notes == (f"opposite carriageway: +{extra / 60:.0f} min via the next exit",)
    assert why.notes[0] in why.summary
    assert engine.explain(0.0, 0.6 * SPAN, "behind").carriageway == "same"


@pytest.fixture(scope="module")
def ramp_net():
    """The motorway split at its middle M, with an on-ramp from a local road south of M."""
    a = EdgeArrays.straight(
        node_id=[1, 2, 3, 4, 5, 6],
        lat=[0.0, 0.0, 0.0, DLAT, DLAT, -0.005],
        lng=[0.0, SPAN / 2, SPAN, SPAN, 0.0, SPAN / 2],
        u=[0, 1, 3, 2, 4, 5],
        v=[1, 2, 4, 3, 0, 1],
        length_m=[5_000.0, 5_000.0, 10_000.0, 40.0, 40.0, 556.0],
        travel_time_s=[T / 2, T / 2, T, LINK, LINK, 40.0],
        highway=[0, 0, 0, 1, 1, 4],  # motorway x3, links, a primary road's ramp
    )
    return RoadNetwork.from_arrays(a)


@pytest.mark.parametrize(
    ("prefer_s", "first"), [(None, "local"), (30.0, "local"), (60.0, "behind")]
)
def test_run_card_prefers_upstream_helpers_on_the_same_carriageway(ramp_net, prefer_s, first):
    net = ramp_net
    engine = DispatchEngine(net, clock=lambda: 0.0)
    engine.update_position("behind", 0.0, 0.3 * SPAN, heading=90.0)  # 72 + 36 = 108 s
    engine.update_position("local", -0.0045, SPAN / 2, heading=0.0)  # 36 + 36 = 72 s
    lat, lng = 0.0, 0.6 * SPAN
    etas = {c.responder_id: c.eta_s for c in engine.rank(lat, lng, k=2)}
    assert etas == pytest.approx({"behind": 108.0, "local": 72.0}, abs=0.5)
    dest = net.snap(lat, lng)
    starts = [net.snap(0.0, 0.3 * SPAN, heading=90.0), net.snap(-0.0045, SPAN / 2, heading=0.0)]
    assert upstream_on_carriageway(net, dest, starts).tolist() == [True, False]
    assert engine.explain(lat, lng, "local").carriageway is None
    assert engine.explain(lat, lng, "behind").carriageway == "same"
    card = dataclasses.replace(engine.run_cards["other"], prefer_same_carriageway_s=prefer_s)
    engine.set_run_card("other", card)
    engine.report_incident("i1", lat, lng, kind="other", dispatch=True)
    assert [o.responder_id for o in engine.incident("i1").offers] == [first]
    # The second offer (after a decline) goes to the other one.
    engine.decline("i1", first)
    assert [o.responder_id for o in engine.incident("i1").offers] == [
        "behind" if first == "local" else "local"
    ]


def test_bad_preference_is_a_typed_error():
    for bad in (-1.0, float("nan"), "x"):
        with pytest.raises(InvalidParameterError) as e:
            RunCard(needs=[[]], prefer_same_carriageway_s=bad)
        assert e.value.name == "prefer_same_carriageway_s"
