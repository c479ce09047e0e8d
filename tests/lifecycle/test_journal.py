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

from .invariants import check_invariants
from .world import GreatCircleRanker, at, make, place

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
    assert index2.get(rid).status is Status.AVAILABLE  # the index alone cannot know
    assert d2.responder(rid).status is Status.ASSIGNED  # written on the next look-up
    assert d2.sync_statuses() == []
    assert d2.engagement(rid) == "a"
    # The next command also writes the statuses of responders that appeared meanwhile.
    index3 = ResponderIndex(clock=clock)
    d3 = Dispatcher(index3, rank=GreatCircleRanker(index3).rank, clock=clock, journal=path)
    place(index3, rid, 0.0, 0.0, ("mechanic",))
    place(index3, "free", 500.0, 0.0, ("mechanic",))
    inc = d3.report_incident("b", *at(0), kind="other", dispatch=True)
    assert index3.get(rid).status is Status.ASSIGNED
    assert [o.responder_id for o in inc.offers] == ["free"]  # not the engaged one
    d3.close()
    d2.close()


def test_not_a_journal(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidParameterError):
        Journal(path)


CHILD = textwrap.dedent(
    """
    import itertools, sys, time
    sys.path[:0] = {paths!r}
    from tests.lifecycle.world import make, at
    resp = [(f"r{{i}}", 50.0 * i, 0.0, ("mechanic",)) for i in range(40)]
    d, index, ranker, clock = make(resp, clock=time.time, journal={journal!r})
    # Resume after a crash: phones retry accepts of offers still outstanding.
    for inc in d.open_incidents():
        for offer in inc.offers:
            d.accept(inc.incident_id, offer.responder_id, request_id=f"acc-{{inc.incident_id}}")
            print("ACK", inc.incident_id, offer.responder_id, flush=True)
    print("READY", flush=True)
    for n in itertools.count(len(d._incidents)):
        iid = f"i{{n}}"
        inc = d.report_incident(iid, *at(10.0 * (n % 50)), kind="breakdown", dispatch=True)
        for offer in inc.offers:
            d.accept(iid, offer.responder_id, request_id=f"acc-{{iid}}")
            print("ACK", iid, offer.responder_id, flush=True)
        if not inc.offers:
            d.cancel(iid)  # nobody free
        elif n % 10:
            d.resolve(iid)  # keep every tenth responder busy
    """
)


def run_and_kill(script, root, n_acks):
    """Run the child until it acknowledged ``n_acks`` more accepts, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    acks = []
    try:
        deadline = time.monotonic() + 30.0
        ready = False
        while time.monotonic() < deadline and (not ready or len(acks) < n_acks):
            line = proc.stdout.readline()
            if not line:
                break  # the child died: the returncode check below reports it
            ready = ready or line.startswith("READY")
            if line.startswith("ACK"):
                acks.append(tuple(line.split()[1:]))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acks


def test_kill_9_keeps_every_acknowledged_accept(tmp_path):
    journal = str(tmp_path / "dispatch.db")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(paths=[root], journal=journal))
    acks = []
    for n_acks in (40, 25, 60):  # killed three times, resuming from the journal each time
        acks += run_and_kill(script, root, n_acks)
    assert len(acks) >= 125

    d, _, ranker, _ = make(
        [(f"r{i}", 50.0 * i, 0.0, ("mechanic",)) for i in range(40)],
        clock=time.time,
        journal=journal,
    )
    assert ranker.calls == 0
    for iid, rid in acks:
        assert d.incident(iid).assigned == (rid,)

    def accepts():
        return [
            (rec["incident_id"], rec["responder_id"])
            for row in d._journal.rows()
            for rec in row.records
            if rec["op"] == "accept"
        ]

    # Nothing applied twice: one accept per incident, no responder on two live incidents.
    before = accepts()
    assert len(before) == len({iid for iid, _ in before}) >= len(acks)
    # A phone retrying an acknowledged accept after the crash gets the same answer, once.
    for iid, rid in acks[-5:]:
        assert rid in d.accept(iid, rid, request_id=f"acc-{iid}").assigned
    assert accepts() == before
    engaged = check_invariants(d)
    assert all(d.incident(i).units == 1 for i in set(engaged.values()))
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
