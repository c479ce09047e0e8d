"""Run cards that know their volunteers: expected-time cascades and broadcast waves.

Oracles: the first offer is the best of every AVAILABLE responder scored by hand
(great-circle ETA and the dispatcher's learned odds); a wave's size is the fewest that
reach the target by :func:`~kayou_dispatch.matching.waves.accept_chance`'s brute twin.
"""

import pytest

from kayou_dispatch import InvalidParameterError, ResponderIndex
from kayou_dispatch.lifecycle import Dispatcher, RunCard
from kayou_dispatch.matching.expected import expected_s
from kayou_dispatch.matching.waves import accept_chance, wave_size

from .world import GreatCircleRanker, at, make, place

RESP = [(f"r{i}", 150.0 * (i + 1), 0.0, ()) for i in range(10)]
CARDS = {
    "eta": RunCard(needs=[[]], mode="sequential", offer_timeout_s=30.0),
    "smart": RunCard(needs=[[]], mode="sequential", offer_timeout_s=30.0, objective="expected"),
    "grab": RunCard(needs=[[]], mode="broadcast", offer_timeout_s=20.0, accept_target=0.95),
    "grab2": RunCard(needs=[[], []], mode="broadcast", offer_timeout_s=20.0, accept_target=0.9),
}


def train(d, clock, rounds, *, decliner="r0"):
    """The nearest responder declines every offer; whoever comes next accepts."""
    for i in range(rounds):
        iid = f"t{i}"
        d.report_incident(iid, *at(0.0), kind="eta", dispatch=True)
        clock.advance(3.0)
        first = d.incident(iid).offers[0].responder_id
        assert first == decliner
        d.decline(iid, first)
        clock.advance(5.0)
        d.accept(iid, d.incident(iid).offers[0].responder_id)
        d.resolve(iid)


def test_expected_objective_skips_a_nearest_driver_who_always_declines():
    d, _, ranker, clock = make(RESP, run_cards=CARDS)
    train(d, clock, 12)
    assert d.responder_stats("r0").declined == 12
    # Oracle: score every available responder by hand, before the offer.
    cands = ranker.rank(*at(0.0), k=len(RESP))
    odds = d.acceptance_odds([c.responder_id for c in cands], kind="smart", offer_timeout_s=30.0)
    best = min(
        zip(cands, odds, strict=True),
        key=lambda t: (expected_s(t[0].eta_s, t[1]), t[0].responder_id),
    )
    d.report_incident("x", *at(0.0), kind="smart", dispatch=True)
    first = d.incident("x").offers[0].responder_id
    assert first != "r0"
    assert first == best[0].responder_id
    # The same history, an ETA card: the decliner is asked first again.
    d.report_incident("y", *at(0.0), kind="eta", dispatch=True)
    assert d.incident("y").offers[0].responder_id == "r0"


def test_without_history_expected_equals_eta_order():
    d, *_ = make(RESP, run_cards=CARDS)
    d.report_incident("x", *at(0.0), kind="smart", dispatch=True)
    assert d.incident("x").offers[0].responder_id == "r0"


def test_a_broadcast_wave_is_sized_to_reach_the_target_and_withdrawn_when_filled():
    d, *_ = make(RESP, run_cards=CARDS)
    d.report_incident("g", *at(0.0), kind="grab", dispatch=True)
    offers = [o.responder_id for o in d.incident("g").offers]
    p = [o.p_accept for o in d.acceptance_odds(offers, kind="grab", offer_timeout_s=20.0)]
    assert accept_chance(p, need=1) >= 0.95 > accept_chance(p[:-1], need=1)
    assert len(offers) == 5  # p = 1/2 for everybody before any answer
    d.accept("g", offers[2])
    inc = d.incident("g")
    assert inc.assigned == (offers[2],) and inc.offers == ()
    assert sum(d.responder_stats(r).withdrawn for r in offers) == 4


def test_later_waves_widen_when_the_first_falls_short():
    d, _, _, clock = make(RESP, run_cards=CARDS)
    d.report_incident("g", *at(0.0), kind="grab", dispatch=True)
    first = [o.responder_id for o in d.incident("g").offers]
    clock.advance(21.0)
    d.tick()  # all five time out
    second = [o.responder_id for o in d.incident("g").offers]
    assert not set(first) & set(second)
    assert len(second) >= len(first)
    odds = d.acceptance_odds(second, kind="grab", offer_timeout_s=20.0)
    pool = [f"r{i}" for i in range(10) if f"r{i}" not in first]
    pool_odds = d.acceptance_odds(pool, kind="grab", offer_timeout_s=20.0)
    want = wave_size([], [o.p_accept for o in pool_odds], need=1, target=0.95, at_least=5)
    assert len(second) == want
    assert [o.p_accept for o in odds] == [o.p_accept for o in pool_odds[: len(second)]]


def test_a_wave_for_two_units_keeps_its_offers_until_both_are_filled():
    d, *_ = make(RESP, run_cards=CARDS)
    d.report_incident("g", *at(0.0), kind="grab2", dispatch=True)
    offers = [o.responder_id for o in d.incident("g").offers]
    p = [o.p_accept for o in d.acceptance_odds(offers, kind="grab2", offer_timeout_s=20.0)]
    assert accept_chance(p, need=2) >= 0.9 > accept_chance(p[:-1], need=2)
    d.accept("g", offers[0])
    assert len(d.incident("g").offers) == len(offers) - 1
    d.accept("g", offers[1])
    assert d.incident("g").offers == ()


def test_run_card_settings_survive_a_restart(tmp_path):
    path = tmp_path / "j.db"
    d, _, _, clock = make(RESP, run_cards=CARDS, journal=path)
    d.report_incident("g", *at(0.0), kind="grab2", dispatch=True)
    offers = [o.responder_id for o in d.incident("g").offers]
    d.close()
    index = ResponderIndex(clock=clock, position_ttl_s=10**9)
    for rid, east, north, caps in RESP:
        place(index, rid, east, north, caps)
    again = Dispatcher(index, rank=GreatCircleRanker(index).rank, clock=clock, journal=path)
    again.accept("g", offers[0])  # the wave is kept whole: the card's setting came back
    assert len(again.incident("g").offers) == len(offers) - 1
    again.close()


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"mode": "broadcast", "accept_target": 0.0}, "accept_target"),
        ({"mode": "broadcast", "accept_target": 1.0}, "accept_target"),
        ({"mode": "broadcast", "accept_target": -0.5}, "accept_target"),
        ({"mode": "broadcast", "accept_target": 1.2}, "accept_target"),
        ({"mode": "broadcast", "accept_target": "high"}, "accept_target"),
        ({"mode": "sequential", "accept_target": 0.9}, "accept_target"),
        ({"mode": "broadcast", "accept_target": 0.9, "max_wave": 0}, "max_wave"),
        ({"max_wave": -3}, "max_wave"),
        ({"objective": "fastest"}, "objective"),
    ],
)
def test_bad_volunteer_settings_name_the_field(fields, name):
    with pytest.raises(InvalidParameterError) as exc:
        RunCard(needs=[[]], **fields)
    assert exc.value.name == name
