"""Drive the index with random command sequences against a plain dict model."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kayou_dispatch import ResponderIndex, Status, UnknownResponderError

from .oracle import Row, assert_nearby, assert_nearest, brute

IDS = st.sampled_from([f"r{i}" for i in range(12)])
CAPS = st.frozensets(st.sampled_from(["tow", "crane", "mechanic"]), max_size=2)
# Two clusters a few km wide, one straddling the antimeridian.
CENTERS = [(22.72, 114.25), (-16.5, 179.99)]
POINTS = st.tuples(
    st.sampled_from(CENTERS),
    st.floats(min_value=-0.03, max_value=0.03),
    st.floats(min_value=-0.03, max_value=0.03),
).map(lambda t: (t[0][0] + t[1], (t[0][1] + t[2] + 180.0) % 360.0 - 180.0))
TTL = 120.0


class IndexMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = 1_000.0
        self.index = ResponderIndex(resolution=9, position_ttl_s=TTL, clock=lambda: self.now)
        self.model: dict[str, Row] = {}

    def _apply(self, rid, lat, lng, ts, caps=None):
        row = self.model.get(rid)
        if row is not None and ts < row.ts:
            return False
        if row is None:
            row = self.model[rid] = Row(lat, lng, ts)
        row.lat, row.lng, row.ts = lat, lng, ts
        if caps is not None:
            row.caps = caps
        return True

    @rule(rid=IDS, p=POINTS, age=st.floats(min_value=-5, max_value=200), caps=st.none() | CAPS)
    def update(self, rid, p, age, caps):
        ts = self.now - age
        expected = self._apply(rid, *p, ts, caps)
        assert self.index.update_position(rid, *p, ts=ts, capabilities=caps) == expected

    @rule(rows=st.lists(st.tuples(IDS, POINTS, st.floats(min_value=0, max_value=200)), max_size=8))
    def bulk_update(self, rows):
        ids = [r[0] for r in rows]
        lats = np.array([r[1][0] for r in rows])
        lngs = np.array([r[1][1] for r in rows])
        ts = np.array([self.now - r[2] for r in rows])
        # Model: per id, the newest row (later row on ties) applied if not older than stored.
        best = {}
        for i, rid in enumerate(ids):
            if rid not in best or ts[i] >= ts[best[rid]]:
                best[rid] = i
        applied = sum(self._apply(rid, lats[i], lngs[i], ts[i]) for rid, i in best.items())
        assert self.index.update_positions(ids, lats, lngs, ts=ts) == applied

    @rule(rid=IDS, status=st.sampled_from(list(Status)))
    def set_status(self, rid, status):
        if rid in self.model:
            self.index.set_status(rid, status)
            self.model[rid].status = status
        else:
            try:
                self.index.set_status(rid, status)
            except UnknownResponderError:
                pass
            else:
                raise AssertionError("set_status on an unknown id must raise")

    @rule(rid=IDS)
    def remove(self, rid):
        if rid in self.model:
            self.index.remove(rid)
            del self.model[rid]

    @rule(dt=st.floats(min_value=0, max_value=90))
    def advance(self, dt):
        self.now += dt

    @rule(
        c=st.sampled_from(CENTERS),
        radius=st.floats(min_value=0, max_value=6_000),
        k=st.integers(1, 6),
        needs=st.sampled_from([(), ("tow",)]),
        statuses=st.sampled_from([(Status.AVAILABLE,), None]),
    )
    def query(self, c, radius, k, needs, statuses):
        expected = brute(self.model, self.now, TTL, *c, needs=needs, statuses=statuses)
        got = self.index.nearby(*c, radius, needs=needs, statuses=statuses)
        assert_nearby(got, expected, radius)
        assert_nearest(self.index.nearest(*c, k=k, needs=needs, statuses=statuses), expected, k)

    @invariant()
    def same_as_model(self):
        assert len(self.index) == len(self.model)
        assert set(self.index) == set(self.model)
        for rid, row in self.model.items():
            r = self.index.get(rid)
            assert (r.lat, r.lng, r.ts, r.status, r.capabilities) == (
                row.lat,
                row.lng,
                row.ts,
                row.status,
                row.caps,
            )
            assert r.fresh == (row.ts >= self.now - TTL)


IndexMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestIndexMachine = IndexMachine.TestCase
