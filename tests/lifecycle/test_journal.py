"""The SQLite journal: durable before acknowledgement, replayed to the same state."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kayou_dispatch import InvalidParameterError, ResponderIndex, Status
from kayou_dispatch.lifecycle import Dispatcher, IncidentStatus, Journal

from .world import Clock, at, make, place

RESP = [(f"r{i}", 150.0 * (i + 1), 0.0, ("mechanic", "tow", "first_aid")) for i in range(12)]


def state(d):
    incs = {i: d.incident(i) for i in sorted(d._incidents)}
    statuses = {rid: d.index.get(rid).status for rid in sorted(d.index)}
    return incs, statuses


def scenario(d, clock):
    first = d.report_incident("a", *at(0), kind="breakdown", dispatch=True, request_id="ra")
    d.report_incident("b", *at(300), kind="medical", severity=5, dispatch=True)
    d.report_incident("c", *at(600), kind="stuck", dispatch=True)
    d.report_incident("e", *at(900), kind="tyre")  # not dispatched
    d.decline("a", d.incident("a").offers[0].responder_id)
    b_offers = d.incident("b").offers
    acc = d.accept("b", b_offers[0].responder_id, request_id="acc-b")
    d.accept("a", d.incident("a").offers[0].responder_id)
    d.depart("a", d.incident("a").assigned[0])
    clock.advance(200.0)
    d.tick()
    c = d.incident("c")
    d.accept("c", c.offers[0].responder_id)
    d.arrive("c", c.offers[0].responder_id)
    d.resolve("c")
    return first, acc


def test_replay_restores_incidents_offers_assignments_and_statuses(tmp_path):
    path = tmp_path / "dispatch.db"
    d, _, _, clock = make(RESP, journal=path)
    first, acc = scenario(d, clock)
    before = state(d)
    d.close()

    index2 = ResponderIndex(clock=clock, position_ttl_s=10**9)
    for rid, east, north, caps in RESP:
        place(index2, rid, east, north, caps)

    def no_rank(*args, **kwargs):
        raise AssertionError("replay must not rank")

    d2 = Dispatcher(index2, rank=no_rank, clock=clock, journal=str(path))
    assert state(d2) == before
    # request ids survive a restart: a phone retrying after the server came back
    assert d2.accept("b", acc.assigned[0], request_id="acc-b") == acc
    assert d2.report_incident("a", *at(0), kind="breakdown", request_id="ra") == first
    d2.close()


def test_statuses_of_responders_loaded_after_replay(tmp_path):
    path = tmp_path / "dispatch.db"
    d, _, _, clock = make(RESP, journal=path)
    d.report_incident("a", *at(0), kind="breakdown", dispatch=True)
    rid = d.incident("a").offers[0].responder_id
    d.accept("a", rid)
    d.close()
    index2 = ResponderIndex(clock=clock, position_ttl_s=10**9)
    ranker_calls = []

    def rank(*args, **kwargs):
        ranker_calls.append(1)
        return []

    d2 = Dispatcher(index2, rank=rank, clock=clock, journal=path)
    assert d2.sync_statuses() == [rid]
    place(index2, rid, 0.0, 0.0, ("mechanic",))
    assert d2.sync_statuses() == []
    assert index2.get(rid).status is Status.ASSIGNED
    assert d2.engagement(rid) == "a"
    d2.close()


def test_not_a_journal(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidParameterError):
        Journal(path)


CHILD = textwrap.dedent(
    """
    import itertools, sys
    sys.path[:0] = {paths!r}
    from tests.lifecycle.world import make, at
    resp = [(f"r{{i}}", 50.0 * i, 0.0, ("mechanic",)) for i in range(40)]
    d, index, ranker, clock = make(resp, journal={journal!r})
    print("READY", flush=True)
    for n in itertools.count():
        iid = f"i{{n}}"
        inc = d.report_incident(iid, *at(10.0 * (n % 50)), kind="breakdown", dispatch=True)
        for offer in inc.offers:
            d.accept(iid, offer.responder_id, request_id=f"acc-{{iid}}")
            print("ACK", iid, offer.responder_id, flush=True)
        clock.advance(1.0)
        if n % 3 == 0:
            d.resolve(iid)
    """
)


def test_kill_9_keeps_every_acknowledged_accept(tmp_path):
    journal = str(tmp_path / "dispatch.db")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(paths=[root], journal=journal))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    acks = []
    try:
        assert proc.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 30.0
        while len(acks) < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("ACK"):
                acks.append(tuple(line.split()[1:]))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acks) >= 60

    clock = Clock()
    d, index, ranker, _ = make(
        [(f"r{i}", 50.0 * i, 0.0, ("mechanic",)) for i in range(40)],
        clock=clock,
        journal=journal,
    )
    assert ranker.calls == 0
    for iid, rid in acks:
        assert d.incident(iid).assigned == (rid,)
    # Nothing applied twice: one accept record per incident, no responder on two live ones.
    accepts = [
        (rec["incident_id"], rec["responder_id"])
        for row in d._journal.rows()
        for rec in row.records
        if rec["op"] == "accept"
    ]
    assert len(accepts) == len(set(accepts)) >= len(acks)
    engaged = {}
    for inc in d.open_incidents():
        assert len(inc.assigned) <= inc.units
        for rid in (*inc.assigned, *(o.responder_id for o in inc.offers)):
            assert rid not in engaged
            engaged[rid] = inc.incident_id
    for rid in index:
        expected = Status.AVAILABLE
        if rid in engaged:
            inc = d.incident(engaged[rid])
            expected = Status.OFFERED if rid not in inc.assigned else dict(inc.stages)[rid]
        assert index.get(rid).status is expected
    resolved = [i for i in d._incidents if d.incident(i).status is IncidentStatus.RESOLVED]
    assert resolved  # the child resolved some: their responders were released
    d.close()


def test_a_second_dispatcher_replays_while_the_first_is_still_open(tmp_path):
    path = tmp_path / "dispatch.db"
    d, _, _, clock = make(RESP, journal=path)
    d.report_incident("a", *at(0), kind="medical", dispatch=True)
    d.accept("a", d.incident("a").offers[0].responder_id)
    d2 = make(RESP, clock=clock, journal=path)[0]
    assert d2.incident("a") == d.incident("a")
    d2.close()
    d.close()


def test_without_a_journal_nothing_is_written(tmp_path):
    d, *_ = make(RESP)
    d.report_incident("a", *at(0), kind="breakdown", dispatch=True)
    assert list(tmp_path.iterdir()) == []
    d.close()
