"""Dispatchers sharing one log (Redis, PostgreSQL) behave as one dispatcher (oracle: a local one).

The contract every shared :class:`~kayou_dispatch.lifecycle.CommandLog` keeps: each test
runs on a real redis-server and a real PostgreSQL (the ``shared_logs`` fixture).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import KayouDispatchError, ResponderIndex, SharedStateError, Status
from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.lifecycle import CommandLog, Dispatcher, RunCard
from kayou_dispatch.shared import RedisLog

RESPONDERS = {f"r{i}": (22.700 + 0.002 * i, 114.250 + 0.001 * (i % 3)) for i in range(8)}
CARDS = {
    "one": RunCard(needs=[[]], mode="sequential", offer_timeout_s=30.0),
    "two": RunCard(needs=[[], []], mode="broadcast", fan_out=2, offer_timeout_s=20.0),
}


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float


def make_dispatcher(journal, now, responders=RESPONDERS):
    index = ResponderIndex(clock=lambda: now[0])
    for rid, (lat, lng) in responders.items():
        index.update_position(rid, lat, lng)

    def rank(lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
        near = index.nearest(lat, lng, k=k + len(exclude), needs=needs)
        found = [Cand(n.responder_id, n.distance_m / 10.0) for n in near]
        return [c for c in found if c.responder_id not in exclude][:k]

    return Dispatcher(index, rank=rank, clock=lambda: now[0], run_cards=CARDS, journal=journal)


def state(d):
    incidents = {i.incident_id: i for i in d.open_incidents()}
    statuses = {rid: d.responder(rid).status for rid in RESPONDERS}
    return incidents, statuses


incident_ids = st.sampled_from(["a", "b", "c"])
responder_ids = st.sampled_from(sorted(RESPONDERS))
ops = st.one_of(
    st.tuples(st.just("report"), incident_ids, st.sampled_from(sorted(CARDS)), st.booleans()),
    st.tuples(st.just("dispatch"), incident_ids),
    st.tuples(st.just("accept"), incident_ids, responder_ids),
    st.tuples(st.just("decline"), incident_ids, responder_ids),
    st.tuples(st.just("arrive"), incident_ids, responder_ids),
    st.tuples(st.just("resolve"), incident_ids),
    st.tuples(st.just("cancel"), incident_ids),
    st.tuples(st.just("tick"), st.integers(0, 40)),
)


def run(d, op, now):
    name, *args = op
    if name == "report":
        iid, kind, dispatch = args
        return d.report_incident(iid, 22.705, 114.251, kind=kind, dispatch=dispatch)
    if name == "tick":
        now[0] += args[0]
        return d.tick()
    return getattr(d, name)(*args)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.tuples(ops, st.booleans()), max_size=25))
def test_two_dispatchers_on_one_log_match_a_single_dispatcher(shared_logs, steps):
    shared_logs.reset()
    now = [1000.0]
    model = make_dispatcher(None, now)
    a = make_dispatcher(shared_logs.new(), now)
    b = make_dispatcher(shared_logs.new(), now)
    for op, on_a in steps:
        shared = a if on_a else b
        try:
            want = run(model, op, now)
        except KayouDispatchError as exc:
            if op[0] == "tick":
                now[0] -= op[1]
            with pytest.raises(type(exc)):
                run(shared, op, now)
            continue
        if op[0] == "tick":
            now[0] -= op[1]
        got = run(shared, op, now)
        assert got == want
    assert state(a) == state(model) == state(b)
    a.close()
    b.close()


def test_a_restarted_dispatcher_replays_the_shared_log(shared_logs):
    now = [1000.0]
    a = make_dispatcher(shared_logs.new(), now)
    a.report_incident("x", 22.70, 114.25, kind="one", dispatch=True, request_id="req-1")
    rid = a.incident("x").offers[0].responder_id
    a.accept("x", rid)
    a.close()
    again = make_dispatcher(shared_logs.new(), now)
    assert again.incident("x").assigned == (rid,)
    assert again.responder(rid).status is Status.ASSIGNED
    # The idempotency key survived too: a retry returns the first result, not a 409.
    assert again.report_incident("x", 22.70, 114.25, kind="one", request_id="req-1").status
    assert isinstance(again._journal, CommandLog)


def test_concurrent_accepts_across_dispatchers_never_double_assign(shared_logs):
    # 100 responders, 20 broadcast incidents of 2 units (fan-out 2): 80 offers, 40 seats.
    # Everyone offered accepts at once, half through each dispatcher, 16 threads.
    responders = {
        f"r{i}": (22.70 + 0.003 * (i % 10), 114.25 + 0.003 * (i // 10)) for i in range(100)
    }
    now = [1000.0]
    a = make_dispatcher(shared_logs.new(), now, responders)
    b = make_dispatcher(shared_logs.new(), now, responders)
    for i in range(20):
        lat, lng = responders[f"r{3 * i}"]
        (a if i % 2 else b).report_incident(f"i{i}", lat, lng, kind="two", dispatch=True)
    offers = [(o.incident_id, o.responder_id) for inc in a.open_incidents() for o in inc.offers]
    assert len(offers) == 80
    accepted = []
    lock = threading.Lock()

    def accept(k, pair):
        try:
            (a if k % 2 else b).accept(*pair)
        except KayouDispatchError:
            return
        with lock:
            accepted.append(pair)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(accept, range(len(offers)), offers))
    seats = {}
    for iid, rid in accepted:
        seats.setdefault(iid, []).append(rid)
    assert all(len(rids) <= 2 for rids in seats.values())
    assert len(accepted) >= 20  # the first accept of each incident always wins
    assert len({rid for _, rid in accepted}) == len(accepted)
    for d in (a, b):
        assigned = [r for inc in d.open_incidents() for r in inc.assigned]
        assert sorted(assigned) == sorted(rid for _, rid in accepted)
        assert len(assigned) == len(set(assigned))


def test_an_append_after_losing_the_lock_is_refused_and_state_rebuilt(shared_logs):
    # Redis: the lock key expires. PostgreSQL: the server ends the idle session holding
    # the row lock (idle_in_transaction_session_timeout).
    now = [1000.0]
    log = shared_logs.new(lock_ttl_s=0.05)
    a = make_dispatcher(log, now)
    b = make_dispatcher(shared_logs.new(), now)
    original = log.append

    def stall_then_append(**kw):
        # The lock expires while this process stalls; another takes it and appends.
        threading.Event().wait(0.1)
        b.report_incident("other", 22.70, 114.25, kind="one")
        return original(**kw)

    log.append = stall_then_append
    with pytest.raises(SharedStateError):
        a.report_incident("mine", 22.70, 114.25, kind="one")
    log.append = original
    # Not acknowledged, not applied anywhere; A rebuilt from the log.
    assert [i.incident_id for i in a.open_incidents()] == ["other"]
    assert [i.incident_id for i in b.open_incidents()] == ["other"]
    assert shared_logs.raw_count() == len(log) == 1


@pytest.mark.redis
def test_bad_options_and_a_dead_redis_are_typed_errors(redis_url):
    with pytest.raises(InvalidParameterError):
        RedisLog("http://example.com")
    with pytest.raises(InvalidParameterError):
        RedisLog(redis_url, prefix="bad prefix")
    with pytest.raises(InvalidParameterError):
        RedisLog(redis_url, lock_ttl_s=0)
    from tests.processes import free_port

    dead = RedisLog(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(SharedStateError, match="failed while"):
        list(dead.rows())
