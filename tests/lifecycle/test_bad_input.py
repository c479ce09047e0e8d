"""Every bad input raises the documented leaf of the error tree."""

import pytest

from kayou_dispatch import (
    DuplicateIncidentError,
    InvalidCoordinateError,
    InvalidParameterError,
    InvalidTransitionError,
    OffNetworkError,
    ResponderIndex,
    UnknownIncidentError,
    UnknownResponderError,
)
from kayou_dispatch.lifecycle import Dispatcher, RunCard

from .world import at, make

LINE = [(f"r{i}", 100.0 * (i + 1), 0.0, ("mechanic",)) for i in range(3)]


@pytest.fixture
def d():
    return make(LINE)[0]


def test_unknown_incident(d):
    for call in (d.incident, d.dispatch, d.resolve, d.cancel):
        with pytest.raises(UnknownIncidentError) as err:
            call("nope")
        assert err.value.incident_id == "nope"
    for call in (d.accept, d.decline, d.depart, d.arrive):
        with pytest.raises(UnknownIncidentError):
            call("nope", "r0")
    with pytest.raises(UnknownIncidentError):
        d.assign_batch(["nope"])


def test_unknown_responder(d):
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    for call in (d.accept, d.decline, d.depart, d.arrive):
        with pytest.raises(UnknownResponderError) as err:
            call("i1", "ghost")
        assert err.value.responder_id == "ghost"
    with pytest.raises(UnknownResponderError):
        d.responder("ghost")


def test_duplicate_incident(d):
    d.report_incident("i1", *at(0), kind="breakdown")
    with pytest.raises(DuplicateIncidentError) as err:
        d.report_incident("i1", *at(100), kind="tyre")
    assert err.value.incident_id == "i1"


def test_accepting_offers_never_made_expired_or_taken(d):
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    with pytest.raises(InvalidTransitionError) as err:
        d.accept("i1", "r1")  # never made
    assert err.value.attempted == "accept" and err.value.subject == "r1"
    d.accept("i1", "r0")
    with pytest.raises(InvalidTransitionError):
        d.accept("i1", "r0")  # already taken
    clock = make(LINE)[3]
    d2 = make(LINE, clock=clock)[0]
    d2.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    clock.advance(1000.0)
    d2.tick()
    with pytest.raises(InvalidTransitionError):
        d2.accept("i1", "r0")  # expired and processed


def test_off_network_at_report_time(d):
    with pytest.raises(OffNetworkError):
        d.report_incident("far", 30.0, 100.0, kind="breakdown")
    with pytest.raises(UnknownIncidentError):
        d.incident("far")  # nothing recorded


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kind": "meteor"}, "kind"),
        ({"kind": 3}, "kind"),
        ({"kind": "tyre", "severity": 0}, "severity"),
        ({"kind": "tyre", "severity": 6}, "severity"),
        ({"kind": "tyre", "severity": 2.5}, "severity"),
        ({"kind": "tyre", "severity": True}, "severity"),
        ({"kind": "tyre", "units": 0}, "units"),
        ({"kind": "tyre", "units": -1}, "units"),
        ({"kind": "tyre", "units": 1.5}, "units"),
        ({"kind": "tyre", "units": 10_000}, "units"),
        ({"kind": "tyre", "needs": [""]}, "needs"),
        ({"kind": "tyre", "needs": [3]}, "needs"),
        ({"kind": "tyre", "needs": 7}, "needs"),
        ({"kind": "tyre", "needs": [["tow"], ["tow"]], "units": 3}, "needs"),
        ({"kind": "tyre", "needs": [["tow"], [""]]}, "needs"),
        ({"kind": "tyre", "request_id": ""}, "request_id"),
    ],
)
def test_bad_report_parameters(d, kwargs, name):
    with pytest.raises(InvalidParameterError) as err:
        d.report_incident("i1", *at(0), **kwargs)
    assert err.value.name == name
    with pytest.raises(UnknownIncidentError):
        d.incident("i1")


@pytest.mark.parametrize("bad", ["", None, 7])
def test_bad_incident_id(d, bad):
    with pytest.raises(InvalidParameterError):
        d.report_incident(bad, *at(0), kind="tyre")


def test_bad_coordinates(d):
    with pytest.raises(InvalidCoordinateError):
        d.report_incident("i1", 95.0, 0.0, kind="tyre")


def test_bad_run_cards_and_options():
    with pytest.raises(InvalidParameterError):
        RunCard(needs=[])
    with pytest.raises(InvalidParameterError):
        RunCard(needs="tow")
    with pytest.raises(InvalidParameterError):
        RunCard(needs=[["tow"]], mode="shout")
    with pytest.raises(InvalidParameterError):
        RunCard(needs=[["tow"]], offer_timeout_s=0)
    with pytest.raises(InvalidParameterError):
        RunCard(needs=[["tow"]], fan_out=0)
    index = ResponderIndex(clock=lambda: 0.0)
    with pytest.raises(InvalidParameterError):
        Dispatcher(index, rank=None)
    with pytest.raises(InvalidParameterError):
        Dispatcher(object(), rank=lambda *a, **k: [])
    with pytest.raises(InvalidParameterError):
        Dispatcher(index, rank=lambda *a, **k: [], unserved_after_s=-1)
    d = Dispatcher(index, rank=lambda *a, **k: [])
    with pytest.raises(InvalidParameterError):
        d.set_run_card("x", {"needs": []})
    with pytest.raises(InvalidParameterError):
        d.assign_batch()  # no eta_matrix given
    with pytest.raises(InvalidParameterError):
        d.subscribe("not callable")


def test_bad_batch_options(d):
    with pytest.raises(InvalidParameterError):
        d.assign_batch(policy="fastest")
    with pytest.raises(InvalidParameterError):
        d.assign_batch(coverage_margin_s=-5)
    d.report_incident("i1", *at(0), kind="breakdown")
    d.cancel("i1")
    with pytest.raises(InvalidTransitionError):
        d.assign_batch(["i1"])


def test_request_id_reused_for_another_command(d):
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True, request_id="q1")
    with pytest.raises(InvalidParameterError) as err:
        d.accept("i1", "r0", request_id="q1")
    assert err.value.name == "request_id"
