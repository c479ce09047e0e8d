"""One owner of a responder's status: the lifecycle while it is engaged, the responder otherwise.

Bugs found by the code-health review (issue 16): ``engine.set_status`` accepted any status
for an engaged responder, so an offered responder set "available" was ranked again, and one
set "offline" was then assigned; a responder removed while engaged and seen again came back
AVAILABLE although the lifecycle still held it.
"""

import pytest

from kayou_dispatch import (
    DispatchEngine,
    InvalidParameterError,
    InvalidTransitionError,
    Status,
    load_network,
)


@pytest.fixture(scope="module")
def net():
    return load_network()


@pytest.fixture
def engine(net):
    engine = DispatchEngine(net, clock=lambda: 1_000.0)
    for i, node in enumerate((10, 20, 30)):
        engine.update_position(f"r{i}", *net.node_latlng(node), capabilities={"mechanic"})
    return engine


def offered(engine, net):
    lat, lng = net.node_latlng(15)
    [offer] = engine.report_incident("i1", lat, lng, kind="breakdown", dispatch=True).offers
    return offer.responder_id, (lat, lng)


def test_an_offered_responder_set_available_is_refused_and_never_ranked(engine, net):
    rid, place = offered(engine, net)
    with pytest.raises(InvalidTransitionError, match="engaged"):
        engine.set_status(rid, "available")
    assert engine.responder(rid).status is Status.OFFERED
    assert rid not in {c.responder_id for c in engine.rank(*place)}


def test_an_offered_responder_cannot_go_offline_and_accepting_assigns_it(engine, net):
    rid, _ = offered(engine, net)
    with pytest.raises(InvalidTransitionError, match="engaged"):
        engine.set_status(rid, Status.OFFLINE)
    assert engine.accept("i1", rid).assigned == (rid,)
    assert engine.responder(rid).status is Status.ASSIGNED
    for status in ("available", "offline", "en_route", "offered"):
        with pytest.raises(InvalidTransitionError):
            engine.set_status(rid, status)
    assert engine.responder(rid).status is Status.ASSIGNED


def test_a_free_responder_toggles_availability(engine, net):
    engine.set_status("r1", "offline")
    assert engine.responder("r1").status is Status.OFFLINE
    engine.set_status("r1", "available")
    assert engine.responder("r1").status is Status.AVAILABLE
    rid, _ = offered(engine, net)
    engine.decline("i1", rid)  # released: its own choice again
    others = [r for r in ("r0", "r1", "r2") if engine.dispatcher.engagement(r) is None]
    assert rid in others
    engine.set_status(rid, "offline")
    assert engine.responder(rid).status is Status.OFFLINE


def test_a_responder_removed_while_engaged_comes_back_with_its_lifecycle_status(engine, net):
    rid, place = offered(engine, net)
    engine.remove(rid)
    engine.update_position(rid, *net.node_latlng(16))
    assert rid not in {c.responder_id for c in engine.rank(*place)}
    assert engine.get(rid).status is Status.OFFERED
    assert engine.accept("i1", rid).assigned == (rid,)


@pytest.mark.parametrize("status", ["offered", "assigned", "en_route", "on_scene", Status.ASSIGNED])
def test_a_free_responder_may_not_choose_a_lifecycle_status(engine, status):
    # Only the lifecycle sets OFFERED/ASSIGNED/EN_ROUTE/ON_SCENE: a free responder set
    # "assigned" by hand would be busy with no incident, and never offered again.
    with pytest.raises(InvalidTransitionError, match="available or offline") as info:
        engine.set_status("r1", status)
    assert info.value.subject == "r1" and info.value.current is Status.AVAILABLE
    assert engine.responder("r1").status is Status.AVAILABLE
    engine.set_status("r1", "offline")
    with pytest.raises(InvalidTransitionError):
        engine.set_status("r1", status)
    assert engine.responder("r1").status is Status.OFFLINE


def test_capabilities_registered_before_the_first_position_come_with_it(net):
    engine = DispatchEngine(net, clock=lambda: 1_000.0, capabilities={"tow", "crane"})
    assert engine.register("new", capabilities={"tow"}) is False
    assert "new" not in engine and engine.registration("new") == frozenset({"tow"})
    engine.update_position("new", *net.node_latlng(40))
    assert engine.get("new").capabilities == frozenset({"tow"})
    assert engine.registration("new") is None
    assert engine.register("new", capabilities={"crane"}) is True  # known: replaced now
    assert engine.get("new").capabilities == frozenset({"crane"})
    # A first position with its own capabilities wins over the registration.
    engine.register("b", capabilities={"tow"})
    engine.update_position("b", *net.node_latlng(41), capabilities={"crane"})
    assert engine.get("b").capabilities == frozenset({"crane"})
    # Bulk positions bring registrations too.
    engine.register("c", capabilities={"crane", "tow"})
    engine.update_positions(["c", "d"], net.node_lat[50:52], net.node_lng[50:52])
    assert engine.get("c").capabilities == frozenset({"crane", "tow"})
    assert engine.get("d").capabilities == frozenset()
    with pytest.raises(InvalidParameterError):
        engine.register("e", capabilities={"jetpack"})  # outside the registry
    with pytest.raises(InvalidParameterError):
        engine.register("", capabilities={"tow"})
    assert engine.registration("e") is None
