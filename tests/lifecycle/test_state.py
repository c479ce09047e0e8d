"""The pure reducer alone: no index, journal, clock or ranker -- just records and state."""

from kayou_dispatch.lifecycle import EventKind, IncidentStatus, Journal
from kayou_dispatch.lifecycle.state import LifecycleState, apply_record, snapshot
from kayou_dispatch.spatial import Status

from .test_journal import RESP, scenario
from .world import make


def test_replaying_a_journal_through_the_reducer_gives_the_dispatchers_state(tmp_path):
    path = tmp_path / "dispatch.db"
    d, _, _, clock = make(RESP, journal=path)
    events = []
    d.subscribe(events.append)
    scenario(d, clock)
    want = {i: d.incident(i) for i in sorted(d._incidents)}
    statuses = {rid: d.index.get(rid).status for rid in sorted(d.index)}
    d.close()

    state = LifecycleState()
    replayed, last = [], {}
    journal = Journal(path)
    for row in journal.rows():
        for rec in row.records:
            applied = apply_record(state, rec, row.at)
            if applied.event is not None:
                replayed.append(applied.event)
            last.update(dict(applied.statuses))
    journal.close()  # releases the lock file (left open it warned at exit: ResourceWarning)
    assert {i: snapshot(inc) for i, inc in sorted(state.incidents.items())} == want
    assert replayed == events
    for rid, status in statuses.items():
        assert state.status_of(rid) == status
        assert last.get(rid, Status.AVAILABLE) == status


def test_an_offer_then_a_decline():
    state = LifecycleState()
    report = {"op": "report", "incident_id": "i", "kind": "tyre", "severity": 2, "lat": 1.0,
              "lng": 2.0, "needs": [["tyre"]], "mode": "sequential", "offer_timeout_s": 60.0,
              "fan_out": 1, "max_eta_s": None}  # fmt: skip
    assert apply_record(state, report, 0.0).statuses == ()
    offer = {"op": "offer", "incident_id": "i", "responder_id": "r", "eta_s": 5.0,
             "expires_at": 60.0, "needs": ["tyre"]}  # fmt: skip
    assert apply_record(state, offer, 1.0).statuses == (("r", Status.OFFERED),)
    assert state.busy == {"r": "i"}
    declined = apply_record(state, {"op": "decline", "incident_id": "i", "responder_id": "r"}, 2)
    assert declined.event.kind is EventKind.DECLINED
    assert declined.statuses == (("r", Status.AVAILABLE),) and state.busy == {}
    inc = snapshot(state.incidents["i"])
    assert inc.status is IncidentStatus.OPEN and inc.declined == ("r",)
