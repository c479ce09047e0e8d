"""Unit tests of each lifecycle command against a small real world."""

import pytest

from kayou_dispatch import InvalidParameterError, InvalidTransitionError, Status
from kayou_dispatch.lifecycle import (
    DEFAULT_RUN_CARDS,
    EventKind,
    IncidentStatus,
    Offer,
    RunCard,
)

from .world import at, make

# A line of responders east of the centre, 100 m apart: r0 is nearest.
LINE = [(f"r{i}", 100.0 * (i + 1), 0.0, ("mechanic",)) for i in range(6)]


def test_report_records_an_open_incident_with_its_run_card():
    d, _, ranker, clock = make(LINE)
    inc = d.report_incident("i1", *at(0), kind="breakdown")
    assert inc.status is IncidentStatus.OPEN
    assert (inc.kind, inc.severity, inc.units, inc.needs) == (
        "breakdown",
        3,
        1,
        (frozenset({"mechanic"}),),
    )
    assert inc.reported_at == clock.t and not inc.dispatched
    assert inc.assigned == inc.offers == inc.declined == ()
    assert ranker.calls == 0  # reporting alone ranks nobody
    assert d.incident("i1") == inc


def test_needs_and_units_override_the_run_card():
    d, *_ = make()
    assert d.report_incident("a", *at(0), kind="breakdown", needs=()).needs == (frozenset(),)
    b = d.report_incident("b", *at(0), kind="rollover", units=5)
    assert b.needs == (frozenset({"crane"}),) + (frozenset(),) * 4
    c = d.report_incident("c", *at(0), kind="rollover", units=1)
    assert c.needs == (frozenset({"crane"}),)
    e = d.report_incident("e", *at(0), kind="other", needs={"tow"}, units=2)
    assert e.needs == (frozenset({"tow"}),) * 2
    f = d.report_incident("f", *at(0), kind="other", needs=[["tow"], ["first_aid", "tow"]])
    assert f.needs == (frozenset({"tow"}), frozenset({"tow", "first_aid"}))
    assert d.report_incident("g", *at(0), kind="tyre", needs="tyre").needs == (frozenset({"tyre"}),)


def test_dispatch_offers_the_nearest_and_marks_them_offered():
    d, index, _, clock = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown")
    offers = d.dispatch("i1")
    assert [o.responder_id for o in offers] == ["r0"]
    o = offers[0]
    assert isinstance(o, Offer) and o.incident_id == "i1"
    assert o.eta_s == pytest.approx(10.0, rel=1e-3)
    assert o.expires_at == clock.t + DEFAULT_RUN_CARDS["breakdown"].offer_timeout_s
    assert index.get("r0").status is Status.OFFERED
    assert d.incident("i1").offers == (o,)
    assert d.dispatch("i1") == []  # nothing missing: no new offer


def test_report_with_dispatch_true_dispatches():
    d, *_ = make(LINE)
    inc = d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    assert inc.dispatched and [o.responder_id for o in inc.offers] == ["r0"]


def test_an_offered_responder_is_not_offered_elsewhere():
    d, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    second = d.report_incident("i2", *at(0), kind="breakdown", dispatch=True)
    assert [o.responder_id for o in second.offers] == ["r1"]


def test_accept_assigns_and_only_outstanding_offers_can_be_accepted():
    d, index, *_ = make(LINE)

    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    with pytest.raises(InvalidTransitionError):
        d.accept("i1", "r3")  # never offered
    inc = d.accept("i1", "r0")
    assert inc.status is IncidentStatus.ASSIGNED and inc.assigned == ("r0",)
    assert inc.offers == () and inc.stages == (("r0", Status.ASSIGNED),)
    assert index.get("r0").status is Status.ASSIGNED
    with pytest.raises(InvalidTransitionError):
        d.accept("i1", "r0")  # already taken


def test_decline_cascades_to_the_next_candidate_and_never_returns():
    d, index, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    inc = d.decline("i1", "r0")
    assert inc.declined == ("r0",)
    assert [o.responder_id for o in inc.offers] == ["r1"]
    assert index.get("r0").status is Status.AVAILABLE
    inc = d.decline("i1", "r1")
    assert [o.responder_id for o in inc.offers] == ["r2"]
    # r0 and r1 are never offered i1 again, even when everyone else declines.
    for rid in ("r2", "r3", "r4", "r5"):
        inc = d.decline("i1", rid)
    assert inc.offers == () and inc.status is IncidentStatus.OPEN


def test_expiry_by_tick_frees_the_responder_and_offers_the_next():
    d, index, _, clock = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    clock.advance(89.0)
    assert d.tick() == []
    clock.advance(1.0)
    events = d.tick()
    assert [(e.kind, e.responder_id) for e in events] == [
        (EventKind.OFFER_EXPIRED, "r0"),
        (EventKind.OFFER_MADE, "r1"),
    ]
    inc = d.incident("i1")
    assert inc.expired == ("r0",) and [o.responder_id for o in inc.offers] == ["r1"]
    assert index.get("r0").status is Status.AVAILABLE


def test_a_tick_scope_expires_and_refills_only_the_incidents_it_owns():
    """Shards: each incident's time-outs belong to one process (the owner of its cell)."""
    d, _, _, clock = make(LINE)
    d.report_incident("east", *at(0), kind="breakdown", dispatch=True)
    d.report_incident("west", *at(-50), kind="breakdown", dispatch=True)
    west_lng = d.incident("west").lng
    d.set_tick_scope(lambda lat, lng: lng != west_lng)  # this process owns "east" only
    clock.advance(90.0)
    events = d.tick()
    assert [(e.kind, e.incident_id) for e in events] == [
        (EventKind.OFFER_EXPIRED, "east"),
        (EventKind.OFFER_MADE, "east"),
    ]
    assert d.incident("west").expired == ()  # the owner's tick will expire it
    d.set_tick_scope(None)
    assert {(e.kind, e.incident_id) for e in d.tick()} >= {(EventKind.OFFER_EXPIRED, "west")}
    with pytest.raises(InvalidParameterError):
        d.set_tick_scope("east")


def test_an_expired_offer_cannot_be_accepted_even_before_tick():

    d, _, _, clock = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    clock.advance(90.0)
    with pytest.raises(InvalidTransitionError, match="expired"):
        d.accept("i1", "r0")


def test_full_lifecycle_depart_arrive_resolve():
    d, index, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    d.accept("i1", "r0")
    assert d.depart("i1", "r0").stages == (("r0", Status.EN_ROUTE),)
    assert index.get("r0").status is Status.EN_ROUTE
    inc = d.arrive("i1", "r0")
    assert inc.status is IncidentStatus.ON_SCENE and index.get("r0").status is Status.ON_SCENE
    inc = d.resolve("i1")
    assert inc.status is IncidentStatus.RESOLVED
    assert index.get("r0").status is Status.AVAILABLE
    assert d.open_incidents() == []


def test_arrive_may_skip_depart():
    d, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    d.accept("i1", "r0")
    assert d.arrive("i1", "r0").status is IncidentStatus.ON_SCENE


def test_cancel_withdraws_offers_and_releases_everyone():
    d, index, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="stuck", needs=("mechanic",), dispatch=True)
    d.accept("i1", "r0")
    assert d.engagement("r1") == "i1"
    inc = d.cancel("i1")
    assert inc.status is IncidentStatus.CANCELLED and inc.offers == ()
    assert {index.get(r).status for r in ("r0", "r1")} == {Status.AVAILABLE}
    assert d.engagement("r0") is None and d.engagement("r1") is None


def test_illegal_transitions_raise():

    d, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    with pytest.raises(InvalidTransitionError):
        d.depart("i1", "r0")  # offered, not assigned
    with pytest.raises(InvalidTransitionError):
        d.arrive("i1", "r0")
    with pytest.raises(InvalidTransitionError):
        d.resolve("i1")  # nobody assigned: cancel it instead
    with pytest.raises(InvalidTransitionError):
        d.decline("i1", "r4")
    d.accept("i1", "r0")
    d.arrive("i1", "r0")
    with pytest.raises(InvalidTransitionError):
        d.depart("i1", "r0")  # already on scene
    with pytest.raises(InvalidTransitionError):
        d.decline("i1", "r0")
    d.resolve("i1")
    for call in (d.resolve, d.cancel, d.dispatch):
        with pytest.raises(InvalidTransitionError):
            call("i1")
    with pytest.raises(InvalidTransitionError):
        d.arrive("i1", "r0")


def test_sequential_multi_unit_offers_one_per_unit_with_its_needs():
    resp = [
        ("tow1", 500.0, 0.0, ("tow",)),
        ("h1", 100.0, 0.0, ()),
        ("h2", 200.0, 0.0, ()),
    ]
    d, *_ = make(resp)
    inc = d.report_incident("i1", *at(0), kind="stuck", dispatch=True)  # tow + helper
    by_needs = {o.needs: o.responder_id for o in inc.offers}
    assert by_needs == {frozenset({"tow"}): "tow1", frozenset(): "h1"}


def test_broadcast_first_accepts_fill_and_the_rest_are_withdrawn():
    resp = [(f"h{i}", 100.0 * (i + 1), 0.0, ("first_aid",) if i < 4 else ()) for i in range(10)]
    d, index, *_ = make(resp)
    seen = []
    d.subscribe(seen.append)
    inc = d.report_incident("m1", *at(0), kind="medical", dispatch=True)  # first_aid + helper
    assert inc.mode == "broadcast"
    aid = [o.responder_id for o in inc.offers if o.needs == frozenset({"first_aid"})]
    helpers = [o.responder_id for o in inc.offers if o.needs == frozenset()]
    assert aid == ["h0", "h1", "h2"] and helpers == ["h3", "h4", "h5"]
    inc = d.accept("m1", "h2")
    assert inc.assigned == ("h2",)
    assert sorted(o.responder_id for o in inc.offers) == ["h3", "h4", "h5"]
    assert index.get("h0").status is Status.AVAILABLE
    withdrawn = [e.responder_id for e in seen if e.kind is EventKind.OFFER_WITHDRAWN]
    assert withdrawn == ["h0", "h1"]
    inc = d.accept("m1", "h5")
    assert inc.assigned == ("h2", "h5") and inc.offers == ()

    with pytest.raises(InvalidTransitionError):
        d.accept("m1", "h3")  # withdrawn: the incident never holds more than its units


def test_two_helper_units_share_broadcast_offers():
    resp = [("c", 900.0, 0.0, ("crane",))] + [(f"h{i}", 100.0 * (i + 1), 0.0, ()) for i in range(8)]
    d, *_ = make(resp)
    inc = d.report_incident("x", *at(0), kind="rollover", dispatch=True)
    helpers = sorted(o.responder_id for o in inc.offers if not o.needs)
    assert len(helpers) == 6  # fan_out 3 per missing helper unit
    d.accept("x", helpers[0])
    # One helper unit still missing: the three nearest other helpers keep their offers.
    inc = d.incident("x")
    assert sorted(o.responder_id for o in inc.offers) == ["c", "h1", "h2", "h3"]
    inc = d.accept("x", helpers[1])
    assert [o.responder_id for o in inc.offers] == ["c"]


def test_severity_orders_re_offers_in_tick():
    # One mechanic, two incidents both starved; when it appears, the severe one gets it.
    d, index, *_ = make()
    d.report_incident("low", *at(0), kind="breakdown", severity=1, dispatch=True)
    d.report_incident("high", *at(5000), kind="breakdown", severity=5, dispatch=True)
    from .world import place

    place(index, "m", 10.0, 0.0, ("mechanic",))  # nearer to "low"
    d.tick()
    assert [o.responder_id for o in d.incident("high").offers] == ["m"]
    assert d.incident("low").offers == ()
    assert [i.incident_id for i in d.open_incidents()] == ["high", "low"]


def test_unserved_after_the_configured_time_and_reopen():
    d, index, _, clock = make(unserved_after_s=120.0)
    events = []
    d.subscribe(events.append)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    assert [e.kind for e in events] == [EventKind.REPORTED, EventKind.NO_CANDIDATE]
    clock.advance(60.0)
    d.tick()
    assert d.incident("i1").status is IncidentStatus.OPEN
    assert events[-1].kind is EventKind.NO_CANDIDATE  # not repeated
    clock.advance(60.0)
    d.tick()
    assert d.incident("i1").status is IncidentStatus.UNSERVED
    assert events[-1].kind is EventKind.UNSERVED
    assert d.open_incidents() == []
    from .world import place

    place(index, "m", 10.0, 0.0, ("mechanic",))
    offers = d.dispatch("i1")  # re-open
    assert [o.responder_id for o in offers] == ["m"]
    assert d.incident("i1").status is IncidentStatus.OPEN
    assert EventKind.REOPENED in [e.kind for e in events]


def test_max_eta_limits_candidates():
    d, *_ = make([("far", 20_000.0, 0.0, ())])  # 2,000 s away at 10 m/s
    inc = d.report_incident("i1", *at(0), kind="directions", dispatch=True)  # max 900 s
    assert inc.offers == ()


def test_run_cards_can_be_overridden():
    card = RunCard(needs=[["tow"]], mode="broadcast", offer_timeout_s=10.0, fan_out=2)
    d, _, _, clock = make(
        [(f"t{i}", 100.0 * (i + 1), 0.0, ("tow",)) for i in range(3)], run_cards={"fuel": card}
    )
    inc = d.report_incident("i1", *at(0), kind="fuel", dispatch=True)
    assert [o.responder_id for o in inc.offers] == ["t0", "t1"]
    assert inc.offers[0].expires_at == clock.t + 10.0
    d.set_run_card("hazmat", RunCard(needs=[["tow"], []]))
    assert d.report_incident("i2", *at(0), kind="hazmat").units == 2
    assert d.run_cards["fuel"] is card


def test_replay_free_offers_never_double_offer_when_index_disagrees():
    # The host sets an offered responder AVAILABLE behind our back: still not re-offered.
    d, index, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    index.set_status("r0", Status.AVAILABLE)
    inc = d.report_incident("i2", *at(0), kind="breakdown", dispatch=True)
    assert [o.responder_id for o in inc.offers] == ["r1"]
