"""Drive the lifecycle with random commands against a plain dict model.

Each run journals to a temporary SQLite file and, at the end, replays it into a fresh index
and dispatcher (whose ranker must never be called) and compares.
"""

import os
import tempfile

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kayou_dispatch import InvalidTransitionError, ResponderIndex, Status
from kayou_dispatch.lifecycle import DEFAULT_RUN_CARDS, Dispatcher, EventKind, IncidentStatus

from .invariants import check_invariants
from .world import at, make, place

RESPONDERS = [
    ("m1", 100.0, 0.0, ("mechanic",)),
    ("m2", 400.0, 200.0, ("mechanic", "tow")),
    ("t1", -300.0, 100.0, ("tow",)),
    ("a1", 0.0, 300.0, ("first_aid",)),
    ("a2", 250.0, -250.0, ("first_aid", "mechanic")),
    ("h1", -100.0, -100.0, ()),
    ("h2", 600.0, 0.0, ()),
    ("c1", 300.0, 300.0, ("crane", "tow")),
]
IDS = [r[0] for r in RESPONDERS]
KINDS = ["breakdown", "stuck", "medical", "other", "rollover"]
UNSERVED_AFTER_S = 150.0
CLOSED = ("resolved", "cancelled")


class Lifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.journal = os.path.join(self.tmp.name, "dispatch.db")
        self.d, self.index, _, self.clock = make(
            RESPONDERS, unserved_after_s=UNSERVED_AFTER_S, journal=self.journal
        )
        self.events = self.d.events()
        self.n = 0
        # incident id -> dict(units, fan_out, status, offers{rid: (expires_at, needs)},
        #                     assigned{rid: (stage, needs)}, excluded, deadline, dispatched)
        self.incs = {}
        self.resp = dict.fromkeys(IDS)  # rid -> incident engaged with, or None
        self.command = None

    # -- the model --------------------------------------------------------------------------

    def status_of(self, m):
        if m["status"] in (*CLOSED, "unserved"):
            return m["status"]
        if any(s == "on_scene" for s, _ in m["assigned"].values()):
            return "on_scene"
        return "assigned" if m["assigned"] else "open"

    def drain(self):
        """Check every event against the model and apply it."""
        while not self.events.empty():
            e = self.events.get_nowait()
            m = self.incs[e.incident_id]
            rid = e.responder_id
            cmd = self.command
            if e.kind is EventKind.REPORTED:
                assert cmd == ("report", e.incident_id)
            elif e.kind is EventKind.OFFER_MADE:
                assert self.resp[rid] is None, (rid, self.resp[rid])
                assert rid not in m["excluded"] and rid not in m["assigned"]
                assert m["status"] not in (*CLOSED, "unserved") and m["dispatched"]
                m["offers"][rid] = (e.data["expires_at"], frozenset(e.data["needs"]))
                self.resp[rid] = e.incident_id
            elif e.kind in (EventKind.OFFER_WITHDRAWN, EventKind.OFFER_EXPIRED, EventKind.DECLINED):
                assert rid in m["offers"]
                if e.kind is EventKind.OFFER_EXPIRED:
                    assert m["offers"][rid][0] <= self.clock.t
                    m["excluded"].add(rid)
                if e.kind is EventKind.DECLINED:
                    assert cmd == ("decline", e.incident_id, rid)
                    m["excluded"].add(rid)
                del m["offers"][rid]
                self.resp[rid] = None
            elif e.kind is EventKind.ACCEPTED:
                assert cmd == ("accept", e.incident_id, rid)
                _, needs = m["offers"].pop(rid)
                m["assigned"][rid] = ("assigned", needs)
                assert len(m["assigned"]) <= m["units"]
            elif e.kind in (EventKind.DEPARTED, EventKind.ARRIVED):
                step = "depart" if e.kind is EventKind.DEPARTED else "arrive"
                assert cmd == (step, e.incident_id, rid)
                _, needs = m["assigned"][rid]
                m["assigned"][rid] = ("en_route" if step == "depart" else "on_scene", needs)
            elif e.kind in (EventKind.RESOLVED, EventKind.CANCELLED, EventKind.UNSERVED):
                assert not m["offers"]
                if e.kind is EventKind.UNSERVED:
                    assert not m["assigned"] and self.clock.t >= m["deadline"]
                else:
                    step = "resolve" if e.kind is EventKind.RESOLVED else "cancel"
                    assert cmd == (step, e.incident_id)
                for who in m["assigned"]:
                    self.resp[who] = None
                m["status"] = e.kind.value
            elif e.kind is EventKind.REOPENED:
                assert m["status"] == "unserved"
                m["status"] = "open"
            else:
                assert e.kind is EventKind.NO_CANDIDATE

    def ids(self):
        return sorted(self.incs)

    # -- rules ------------------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(KINDS),
        severity=st.integers(1, 5),
        go=st.booleans(),
        east=st.floats(-500, 500),
        north=st.floats(-500, 500),
    )
    def report(self, kind, severity, go, east, north):
        iid = f"i{self.n}"
        self.n += 1
        card = DEFAULT_RUN_CARDS[kind]
        self.incs[iid] = {
            "units": card.units,
            "fan_out": card.fan_out,
            "needs": card.needs,
            "status": "open",
            "offers": {},
            "assigned": {},
            "excluded": set(),
            "deadline": None,
            "dispatched": False,
        }
        self.command = ("report", iid)
        if go:
            self.incs[iid]["dispatched"] = True
            self.incs[iid]["deadline"] = self.clock.t + UNSERVED_AFTER_S
        inc = self.d.report_incident(
            iid, *at(east, north), kind=kind, severity=severity, dispatch=go
        )
        assert inc.status is IncidentStatus.OPEN or inc.status is IncidentStatus.UNSERVED
        self.drain()

    @precondition(lambda self: self.incs)
    @rule(data=st.data())
    def dispatch(self, data):
        iid = data.draw(st.sampled_from(self.ids()))
        m = self.incs[iid]
        self.command = ("dispatch", iid)
        if m["status"] in CLOSED:
            with pytest.raises(InvalidTransitionError):
                self.d.dispatch(iid)
            return
        if not m["dispatched"] or m["status"] == "unserved":
            m["deadline"] = self.clock.t + UNSERVED_AFTER_S
        m["dispatched"] = True
        offers = self.d.dispatch(iid)
        self.drain()
        assert {o.responder_id for o in offers} <= set(m["offers"])

    def pick(self, data, field):
        """An incident, most often one with outstanding offers / assigned responders."""
        busy = [i for i in self.ids() if self.incs[i][field]]
        return data.draw(st.sampled_from(busy or self.ids()) | st.sampled_from(self.ids()))

    def responder_step(self, data, step, valid):
        field = "offers" if step in ("accept", "decline") else "assigned"
        iid = self.pick(data, field)
        m = self.incs[iid]
        rid = data.draw(st.sampled_from(list(m[field]) or IDS) | st.sampled_from(IDS))
        self.command = (step, iid, rid)
        if valid(m, rid):
            getattr(self.d, step)(iid, rid)
            self.drain()
        else:
            with pytest.raises(InvalidTransitionError):
                getattr(self.d, step)(iid, rid)
            assert self.events.empty()

    @precondition(lambda self: self.incs)
    @rule(data=st.data())
    def accept(self, data):
        self.responder_step(
            data, "accept", lambda m, r: r in m["offers"] and self.clock.t < m["offers"][r][0]
        )

    @precondition(lambda self: self.incs)
    @rule(data=st.data())
    def decline(self, data):
        self.responder_step(data, "decline", lambda m, r: r in m["offers"])

    @precondition(lambda self: self.incs)
    @rule(data=st.data())
    def depart(self, data):
        def ok(m, r):
            return m["status"] not in CLOSED and m["assigned"].get(r, ("",))[0] == "assigned"

        self.responder_step(data, "depart", ok)

    @precondition(lambda self: self.incs)
    @rule(data=st.data())
    def arrive(self, data):
        def ok(m, r):
            stage = m["assigned"].get(r, ("",))[0]
            return m["status"] not in CLOSED and stage in ("assigned", "en_route")

        self.responder_step(data, "arrive", ok)

    @precondition(lambda self: self.incs)
    @rule(data=st.data(), cancel=st.booleans())
    def close(self, data, cancel):
        iid = self.pick(data, "assigned")
        m = self.incs[iid]
        step = "cancel" if cancel else "resolve"
        self.command = (step, iid)
        status = self.status_of(m)
        valid = status not in CLOSED if cancel else status in ("assigned", "on_scene")
        if valid:
            getattr(self.d, step)(iid)
            self.drain()
            assert m["status"] == ("cancelled" if cancel else "resolved")
        else:
            with pytest.raises(InvalidTransitionError):
                getattr(self.d, step)(iid)

    @rule(policy=st.sampled_from(["optimal", "greedy"]), margin=st.sampled_from([None, 60.0]))
    def batch(self, policy, margin):
        for m in self.incs.values():
            live = m["status"] not in (*CLOSED, "unserved")
            if live and len(m["assigned"]) < m["units"] and not m["dispatched"]:
                m["dispatched"] = True
                m["deadline"] = self.clock.t + UNSERVED_AFTER_S
        self.command = ("batch",)
        out = self.d.assign_batch(policy=policy, coverage_margin_s=margin)
        self.drain()
        for iid, offers in out.items():
            assert {o.responder_id for o in offers} <= set(self.incs[iid]["offers"])

    @rule(dt=st.sampled_from([1.0, 5.0, 10.0, 20.0, 100.0]))
    def tick(self, dt):
        self.clock.advance(dt)
        self.command = ("tick",)
        self.d.tick()
        self.drain()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def matches_model(self):
        check_invariants(self.d)
        for iid, m in self.incs.items():
            inc = self.d.incident(iid)
            assert inc.status.value == self.status_of(m)
            assert set(inc.assigned) == set(m["assigned"])
            assert {o.responder_id for o in inc.offers} == set(m["offers"])
            for rid, (stage, _) in m["assigned"].items():
                assert dict(inc.stages)[rid].value == (
                    "available" if m["status"] in CLOSED else stage
                )
            # Offers never outnumber what the missing units may receive.
            missing = {}
            for needs in m["needs"]:
                missing[needs] = missing.get(needs, 0) + 1
            for _, needs in m["assigned"].values():
                missing[needs] -= 1
            for needs, n in missing.items():
                out = sum(1 for _, nd in m["offers"].values() if nd == needs)
                assert out <= n * m["fan_out"]
        for rid, iid in self.resp.items():
            status = self.index.get(rid).status
            if iid is None:
                assert status is Status.AVAILABLE
            elif rid in self.incs[iid]["offers"]:
                assert status is Status.OFFERED
            else:
                assert status.value == self.incs[iid]["assigned"][rid][0]

    def teardown(self):
        """Replaying the journal gives back the same incidents and responder statuses."""
        try:
            before = {iid: self.d.incident(iid) for iid in self.incs}
            statuses = {rid: self.index.get(rid).status for rid in IDS}
            self.d.close()

            def no_rank(*args, **kwargs):
                raise AssertionError("replay must not rank")

            index = ResponderIndex(clock=self.clock, position_ttl_s=10**9)
            for rid, east, north, caps in RESPONDERS:
                place(index, rid, east, north, caps)
            again = Dispatcher(index, rank=no_rank, clock=self.clock, journal=self.journal)
            assert {iid: again.incident(iid) for iid in self.incs} == before
            assert {rid: index.get(rid).status for rid in IDS} == statuses
            again.close()
        finally:
            self.tmp.cleanup()


Lifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestLifecycle = Lifecycle.TestCase
