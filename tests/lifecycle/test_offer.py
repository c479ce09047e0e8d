"""``Dispatcher.offer``: a dispatcher offers an incident to the responder of its choosing."""

import math

import pytest

from kayou_dispatch import (
    InvalidParameterError,
    InvalidTransitionError,
    Status,
    UnknownIncidentError,
    UnknownResponderError,
)
from kayou_dispatch.lifecycle import DEFAULT_RUN_CARDS, Dispatcher, EventKind, IncidentStatus

from .invariants import check_invariants
from .world import GreatCircleRanker, at, make

LINE = [(f"r{i}", 100.0 * (i + 1), 0.0, ("mechanic",)) for i in range(4)]


def test_offer_goes_to_the_chosen_responder_not_the_best_ranked():
    d, index, ranker, clock = make([*LINE, ("plain", 50.0, 0.0, ())])
    d.report_incident("i1", *at(0), kind="breakdown")
    inc = d.offer("i1", "r3")
    [offer] = inc.offers
    assert inc == d.incident("i1")
    assert offer.responder_id == "r3" and offer.incident_id == "i1"
    assert offer.eta_s == pytest.approx(40.0, rel=1e-3)  # 400 m at 10 m/s, from eta_matrix
    assert offer.expires_at == clock.t + DEFAULT_RUN_CARDS["breakdown"].offer_timeout_s
    assert offer.needs == frozenset({"mechanic"})
    assert index.get("r3").status is Status.OFFERED
    assert d.incident("i1").offers == (offer,)
    assert not d.incident("i1").dispatched  # a hand-made offer does not start dispatching
    assert ranker.calls == 0
    check_invariants(d)


def test_a_hand_made_offer_is_accepted_like_any_other():
    d, index, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    assert [o.responder_id for o in d.incident("i1").offers] == ["r0"]
    d.offer("i1", "r2")  # beyond the sequential card's one offer: the dispatcher's call
    inc = d.accept("i1", "r2")
    assert inc.status is IncidentStatus.ASSIGNED and inc.assigned == ("r2",)
    assert inc.offers == ()  # the unit is filled: r0's offer is withdrawn
    assert index.get("r0").status is Status.AVAILABLE
    assert index.get("r2").status is Status.ASSIGNED
    check_invariants(d)


def test_offer_emits_an_offer_made_event():
    d, *_ = make(LINE)
    seen = []
    d.subscribe(seen.append)
    d.report_incident("i1", *at(0), kind="breakdown")
    d.offer("i1", "r1")
    assert [(e.kind, e.responder_id) for e in seen] == [
        (EventKind.REPORTED, None),
        (EventKind.OFFER_MADE, "r1"),
    ]


def test_offer_picks_the_first_missing_unit_the_responder_can_fill():
    crew = [("crane", 100.0, 0.0, ("crane",)), ("anyone", 200.0, 0.0, ())]
    d, *_ = make(crew)
    d.report_incident("i1", *at(0), kind="other", needs=[["crane"], []])
    by_rid = {o.responder_id: o for o in d.offer("i1", "anyone").offers}
    assert by_rid["anyone"].needs == frozenset()
    by_rid = {o.responder_id: o for o in d.offer("i1", "crane").offers}
    assert by_rid["crane"].needs == frozenset({"crane"})


def test_offer_refuses_what_cannot_be_offered():
    crew = [*LINE, ("plain", 50.0, 0.0, ())]
    d, index, _, clock = make(crew)
    d.report_incident("i1", *at(0), kind="breakdown")
    with pytest.raises(UnknownIncidentError):
        d.offer("nope", "r0")
    with pytest.raises(UnknownResponderError):
        d.offer("i1", "ghost")
    with pytest.raises(InvalidTransitionError, match="lacks the needs"):
        d.offer("i1", "plain")
    d.offer("i1", "r0")
    with pytest.raises(InvalidTransitionError, match="already offered"):
        d.offer("i1", "r0")
    d.report_incident("i2", *at(0), kind="breakdown")
    with pytest.raises(InvalidTransitionError, match="not AVAILABLE"):
        d.offer("i2", "r0")  # engaged on i1
    index.set_status("r3", Status.OFFLINE)
    with pytest.raises(InvalidTransitionError, match="not AVAILABLE"):
        d.offer("i2", "r3")
    index.set_status("r3", Status.AVAILABLE)
    d.decline("i1", "r0")
    with pytest.raises(InvalidTransitionError, match="declined"):
        d.offer("i1", "r0")
    d.offer("i1", "r3")
    clock.advance(3600.0)
    d.tick()  # r3's offer lapses
    with pytest.raises(InvalidTransitionError, match="lapse"):
        d.offer("i1", "r3")
    d.offer("i1", "r1")
    d.accept("i1", "r1")
    with pytest.raises(InvalidTransitionError, match="misses no unit"):
        d.offer("i1", "r2")
    d.cancel("i2")
    with pytest.raises(InvalidTransitionError, match="cancelled"):
        d.offer("i2", "r2")
    check_invariants(d)


def test_offer_refuses_an_unreachable_responder():
    _, index, ranker, clock = make(LINE)

    def no_road(points, ids):
        return [[math.inf] * len(ids) for _ in points]

    d2 = Dispatcher(index, rank=ranker.rank, eta_matrix=no_road, clock=clock)
    d2.report_incident("i1", *at(0), kind="breakdown")
    with pytest.raises(InvalidTransitionError, match="cannot reach"):
        d2.offer("i1", "r0")
    assert index.get("r0").status is Status.AVAILABLE


def test_offer_needs_an_eta_matrix():
    _, index, ranker, clock = make(LINE)
    d2 = Dispatcher(index, rank=ranker.rank, clock=clock)
    d2.report_incident("i1", *at(0), kind="breakdown")
    with pytest.raises(InvalidParameterError, match="eta_matrix"):
        d2.offer("i1", "r0")


def test_offer_is_idempotent_with_a_request_id_and_journaled(tmp_path):
    path = tmp_path / "j.db"
    d, index, _, clock = make(LINE, journal=path)
    d.report_incident("i1", *at(0), kind="breakdown")
    first = d.offer("i1", "r2", request_id="o-1")
    assert d.offer("i1", "r2", request_id="o-1") == first
    d.accept("i1", "r2")
    d.close()
    index2 = type(index)(clock=clock, position_ttl_s=10**9)
    for rid in sorted(index):
        r = index.get(rid)
        index2.update_position(rid, r.lat, r.lng, capabilities=r.capabilities)
    d2 = Dispatcher(index2, rank=GreatCircleRanker(index2).rank, clock=clock, journal=path)
    assert d2.incident("i1").assigned == ("r2",)
    assert index2.get("r2").status is Status.ASSIGNED
    # A retry after the restart returns what the first call did: the incident with the offer.
    assert d2.offer("i1", "r2", request_id="o-1") == first
    d2.close()


def test_offer_reopens_an_unserved_incident():
    d, index, _, clock = make([("far", 100.0, 0.0, ())], unserved_after_s=60.0)
    index.set_status("far", Status.OFFLINE)
    d.report_incident("i1", *at(0), kind="breakdown", needs=(), dispatch=True)
    clock.advance(61.0)
    d.tick()
    assert d.incident("i1").status is IncidentStatus.UNSERVED
    index.set_status("far", Status.AVAILABLE)
    d.offer("i1", "far")
    assert d.incident("i1").status is IncidentStatus.OPEN
    assert [o.responder_id for o in d.incident("i1").offers] == ["far"]
