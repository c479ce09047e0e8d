"""Retried commands take effect once; events reach callbacks and queues in order."""

import threading

import pytest

from kayou_dispatch import Status
from kayou_dispatch.lifecycle import Event, EventKind

from .world import at, make

LINE = [(f"r{i}", 100.0 * (i + 1), 0.0, ("mechanic",)) for i in range(4)]


def test_report_retry_returns_the_first_result():
    d, *_ = make(LINE)
    first = d.report_incident("i1", *at(0), kind="breakdown", dispatch=True, request_id="a")
    again = d.report_incident("i1", *at(0), kind="breakdown", dispatch=True, request_id="a")
    assert again == first
    assert len(d.open_incidents()) == 1


def test_responder_command_retries_take_effect_once():
    d, index, _, clock = make(LINE)
    events = []
    d.subscribe(events.append)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    r1 = d.decline("i1", "r0", request_id="d1")
    assert d.decline("i1", "r0", request_id="d1") == r1  # not a second decline
    assert [o.responder_id for o in d.incident("i1").offers] == ["r1"]
    a = d.accept("i1", "r1", request_id="a1")
    clock.advance(5.0)
    assert d.accept("i1", "r1", request_id="a1") == a
    assert d.depart("i1", "r1", request_id="p1") == d.depart("i1", "r1", request_id="p1")
    assert d.arrive("i1", "r1", request_id="v1") == d.arrive("i1", "r1", request_id="v1")
    res = d.resolve("i1", request_id="z1")
    assert d.resolve("i1", request_id="z1") == res
    kinds = [e.kind for e in events]
    for kind in (EventKind.ACCEPTED, EventKind.DECLINED, EventKind.ARRIVED, EventKind.RESOLVED):
        assert kinds.count(kind) == 1
    assert index.get("r1").status is Status.AVAILABLE


def test_a_failed_command_is_not_remembered():
    d, *_ = make(LINE)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    from kayou_dispatch import InvalidTransitionError

    with pytest.raises(InvalidTransitionError):
        d.accept("i1", "r2", request_id="x")
    d.decline("i1", "r0")
    d.decline("i1", "r1")
    assert d.accept("i1", "r2", request_id="x").assigned == ("r2",)


def test_events_for_a_whole_lifecycle_in_order():
    d, _, _, clock = make(LINE)
    seen = []
    q = d.events()
    unsubscribe = d.subscribe(seen.append)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    clock.advance(100.0)
    d.tick()
    d.decline("i1", "r1")
    d.accept("i1", "r2")
    d.depart("i1", "r2")
    d.arrive("i1", "r2")
    d.resolve("i1")
    d.report_incident("i2", *at(0), kind="breakdown", dispatch=True)
    d.cancel("i2")
    expected = [
        (EventKind.REPORTED, None),
        (EventKind.OFFER_MADE, "r0"),
        (EventKind.OFFER_EXPIRED, "r0"),
        (EventKind.OFFER_MADE, "r1"),
        (EventKind.DECLINED, "r1"),
        (EventKind.OFFER_MADE, "r2"),
        (EventKind.ACCEPTED, "r2"),
        (EventKind.DEPARTED, "r2"),
        (EventKind.ARRIVED, "r2"),
        (EventKind.RESOLVED, None),
        (EventKind.REPORTED, None),
        (EventKind.OFFER_MADE, "r0"),
        (EventKind.OFFER_WITHDRAWN, "r0"),
        (EventKind.CANCELLED, None),
    ]
    assert [(e.kind, e.responder_id) for e in seen] == expected
    from_queue = [q.get_nowait() for _ in range(q.qsize())]
    assert from_queue == seen
    assert all(isinstance(e, Event) for e in seen)
    made = seen[1]
    assert made.at == 1000.0 and made.data["expires_at"] == 1090.0
    assert made.data["needs"] == ["mechanic"]
    assert seen[12].data["reason"] == "cancelled"
    with pytest.raises(TypeError):
        made.data["eta_s"] = 0  # read-only
    unsubscribe()
    d.report_incident("i3", *at(0), kind="breakdown")
    assert seen[-1].kind is EventKind.CANCELLED


def test_a_failing_subscriber_does_not_break_dispatch(caplog):
    d, *_ = make(LINE)

    def boom(event):
        raise RuntimeError("phone push failed")

    seen = []
    d.subscribe(boom)
    d.subscribe(seen.append)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    assert len(seen) == 2 and "phone push failed" in caplog.text


def test_a_subscriber_may_call_back_into_the_dispatcher():
    d, *_ = make(LINE)
    accepted = []

    def auto_accept(event):
        if event.kind is EventKind.OFFER_MADE:
            accepted.append(d.accept(event.incident_id, event.responder_id).assigned)

    d.subscribe(auto_accept)
    d.report_incident("i1", *at(0), kind="breakdown", dispatch=True)
    assert accepted == [("r0",)]
    assert d.incident("i1").assigned == ("r0",)


def test_events_are_delivered_in_order_across_threads():
    d, *_ = make([(f"r{i}", 10.0 * i, 0.0, ()) for i in range(200)])
    seen = []
    d.subscribe(seen.append)

    def work(t):
        for i in range(20):
            d.report_incident(f"t{t}-{i}", *at(0), kind="other", dispatch=True)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # Each incident's REPORTED precedes its OFFER_MADE, and every event arrived once.
    order = {}
    for n, e in enumerate(seen):
        order.setdefault((e.incident_id, e.kind), n)
    assert len(seen) == 320
    for inc in {e.incident_id for e in seen}:
        assert order[(inc, EventKind.REPORTED)] < order[(inc, EventKind.OFFER_MADE)]
