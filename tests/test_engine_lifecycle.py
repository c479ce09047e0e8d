"""The engine facade runs the incident lifecycle with its own road-ETA ranking."""

import numpy as np
import pytest

from kayou_dispatch import (
    DispatchEngine,
    DuplicateIncidentError,
    InvalidParameterError,
    InvalidTransitionError,
    OffNetworkError,
    Status,
    UnknownIncidentError,
    load_network,
)
from kayou_dispatch.lifecycle import EventKind, IncidentStatus


class Clock:
    def __init__(self):
        self.t = 1_000.0

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def fleet(engine, net, n=60, seed=0):
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, n, replace=False)
    for i, node in enumerate(nodes.tolist()):
        lat, lng = net.node_latlng(node)
        caps = {"mechanic"} if i % 3 == 0 else {"tyre", "first_aid"}
        engine.update_position(f"r{i}", lat, lng, capabilities=caps)


def test_report_dispatch_accept_arrive_resolve(net):
    clock = Clock()
    engine = DispatchEngine(net, clock=clock)
    fleet(engine, net)
    events = []
    engine.subscribe(events.append)
    lat, lng = net.node_latlng(100)
    inc = engine.report_incident("i1", lat, lng, kind="breakdown")
    assert inc.status == IncidentStatus.OPEN and inc.offers == ()
    best = engine.rank(lat, lng, k=1, needs={"mechanic"})[0]
    offers = engine.dispatch("i1")
    assert len(offers) == 1
    assert offers[0].responder_id == best.responder_id  # sequential: the road-ETA best
    assert offers[0].eta_s == pytest.approx(best.eta_s)
    rid = offers[0].responder_id
    assert engine.responder(rid).status is Status.OFFERED
    assert rid not in {c.responder_id for c in engine.rank(lat, lng, k=60)}
    engine.accept("i1", rid)
    assert engine.incident("i1").assigned == (rid,)
    assert engine.responder(rid).status is Status.ASSIGNED
    engine.depart("i1", rid)
    engine.arrive("i1", rid)
    assert engine.incident("i1").status == IncidentStatus.ON_SCENE
    engine.resolve("i1")
    assert engine.incident("i1").status == IncidentStatus.RESOLVED
    assert engine.responder(rid).status is Status.AVAILABLE
    kinds = [e.kind for e in events]
    for kind in (EventKind.OFFER_MADE, EventKind.ACCEPTED, EventKind.ARRIVED, EventKind.RESOLVED):
        assert kind in kinds


def test_decline_and_timeout_move_to_the_next_candidate(net):
    clock = Clock()
    engine = DispatchEngine(net, clock=clock)
    fleet(engine, net, seed=1)
    lat, lng = net.node_latlng(200)
    engine.report_incident("i2", lat, lng, kind="tyre", dispatch=True)
    first = engine.incident("i2").offers[0].responder_id
    engine.decline("i2", first)
    second = engine.incident("i2").offers[0].responder_id
    assert second != first and first in engine.incident("i2").declined
    clock.t += engine.run_cards["tyre"].offer_timeout_s + 1
    engine.tick()
    third = engine.incident("i2").offers[0].responder_id
    assert third not in (first, second)
    with pytest.raises(InvalidTransitionError):
        engine.accept("i2", second)  # expired


def test_set_ranker_changes_who_is_offered(net):
    engine = DispatchEngine(net, clock=Clock())
    fleet(engine, net, seed=2)
    lat, lng = net.node_latlng(300)
    worst = engine.rank(lat, lng, k=60)[-1]
    engine.set_ranker(lambda la, ln, **kw: [worst])
    offers = engine.report_incident("i3", lat, lng, kind="directions", dispatch=True).offers
    assert [o.responder_id for o in offers] == [worst.responder_id]
    engine.set_ranker(None)


def test_journal_replays_through_the_engine(net, tmp_path):
    clock = Clock()
    path = tmp_path / "dispatch.db"
    with DispatchEngine(net, clock=clock, journal=path) as engine:
        fleet(engine, net, seed=3)
        lat, lng = net.node_latlng(400)
        engine.report_incident("i4", lat, lng, kind="breakdown", dispatch=True)
        engine.report_incident("i4b", lat, lng, kind="fuel", requester_id="shipper-9")
        rid = engine.incident("i4").offers[0].responder_id
        engine.accept("i4", rid)
        before = engine.incident("i4")
    with DispatchEngine(net, clock=clock, journal=path) as again:
        fleet(again, net, seed=3)  # positions are not journaled: phones report again
        assert again.incident("i4") == before
        assert again.responder(rid).status is Status.ASSIGNED
        # Who asked for help is part of the report record: the server's requester
        # token still reads its incident after a restart.
        assert again.incident("i4b").requester_id == "shipper-9"
        assert again.incident("i4").requester_id is None


def test_lifecycle_bad_input(net):
    engine = DispatchEngine(net, clock=Clock())
    lat, lng = net.node_latlng(5)
    engine.report_incident("i5", lat, lng, kind="fuel")
    with pytest.raises(DuplicateIncidentError):
        engine.report_incident("i5", lat, lng, kind="fuel")
    with pytest.raises(OffNetworkError):
        engine.report_incident("far", 0.0, 0.0, kind="fuel")
    for bad in ("", 7):
        with pytest.raises(InvalidParameterError, match="requester_id"):
            engine.report_incident("i6", lat, lng, kind="fuel", requester_id=bad)
    with pytest.raises(UnknownIncidentError):
        engine.dispatch("nope")
    engine.update_position("r0", lat, lng)
    with pytest.raises(InvalidTransitionError):
        engine.accept("i5", "r0")  # never offered
    with pytest.raises(ValueError):
        engine.set_ranker(42)


def test_the_capability_registry_refuses_unknown_incident_needs(net):
    engine = DispatchEngine(net, clock=Clock(), capabilities={"tow", "crane"})
    lat, lng = net.node_latlng(100)
    for needs in (["rocket"], "rocket", [["tow"], ["rocket"]], (n for n in ["tow", "rocket"])):
        with pytest.raises(InvalidParameterError, match="rocket"):
            engine.report_incident("i", lat, lng, kind="fire", needs=needs)
    assert engine.open_incidents() == []
    inc = engine.report_incident("i", lat, lng, kind="fire", needs=(n for n in [["tow"], []]))
    assert inc.needs == (frozenset({"tow"}), frozenset())
    flat = engine.report_incident("j", lat, lng, kind="fire", needs=["crane"], units=2)
    assert flat.needs == (frozenset({"crane"}),) * 2
    for bad in ([["tow"], 5], 5, [None]):
        with pytest.raises(InvalidParameterError):
            engine.report_incident("k", lat, lng, kind="fire", needs=bad)
