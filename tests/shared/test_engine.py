"""Engines on one Redis rank as one engine holding every position (oracle: a local engine)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("redis")

from kayou_dispatch import DispatchEngine, InvalidParameterError
from kayou_dispatch.datasets import synthetic_region

pytestmark = pytest.mark.redis
NOW = 10_000.0


@pytest.fixture(scope="module")
def region():
    return synthetic_region(seed=7, size=4_000)


def engines(region, url):
    a = DispatchEngine(region, redis=url, clock=lambda: NOW)
    b = DispatchEngine(region, redis=url, clock=lambda: NOW)
    local = DispatchEngine(region, clock=lambda: NOW)
    return a, b, local


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 12), tow=st.booleans())
def test_rank_on_either_engine_equals_one_engine_with_every_fix(redis_server, region, seed, k, tow):
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    a, b, local = engines(region, redis_server.url)
    rng = np.random.default_rng(seed)
    lo, la, hi, ha = region.bounds
    n = 120
    ids = [f"t{i}" for i in range(n)]
    lat, lng = rng.uniform(lo, hi, n), rng.uniform(la, ha, n)
    ts = NOW - rng.uniform(0, 100, n)
    half = n // 2
    for e in (a, local):
        e.update_positions(ids[:half], lat[:half], lng[:half], ts=ts[:half])
    for e in (b, local):
        e.update_positions(ids[half:], lat[half:], lng[half:], ts=ts[half:])
    # Some trucks moved later, reported through the other engine; a stale duplicate too.
    for i in rng.choice(n, 20, replace=False):
        nl, ng = rng.uniform(lo, hi), rng.uniform(la, ha)
        for e in (b if i < half else a, local):
            assert e.update_position(ids[i], nl, ng, ts=ts[i] + 50)
        assert not (a if i < half else b).update_position(ids[i], lat[i], lng[i], ts=ts[i])
    for i in rng.choice(n, 30, replace=False):
        for e in (a if i % 2 else b, local):
            e.set_capabilities(ids[i], {"tow"})
    for i in rng.choice(n, 10, replace=False):
        for e in (b if i % 2 else a, local):
            e.set_status(ids[i], "offline")
    needs = {"tow"} if tow else set()
    for _ in range(3):
        node = rng.integers(region.n_nodes)
        q = (region.node_lat[node] + 1e-4, region.node_lng[node])
        want = [(c.responder_id, c.eta_s) for c in local.rank(*q, k=k, needs=needs)]
        for e in (a, b):
            assert [(c.responder_id, c.eta_s) for c in e.rank(*q, k=k, needs=needs)] == want
    rid = ids[0]
    assert a.get(rid) == b.get(rid) == local.get(rid)


def test_an_incident_reported_on_one_engine_is_served_from_the_other(region, redis_url):
    a, b, _ = engines(region, redis_url)
    centre = (region.node_lat[5], region.node_lng[5])
    a.update_position("t1", *centre)
    inc = b.report_incident("i1", *centre, kind="directions", dispatch=True)
    assert [o.responder_id for o in inc.offers] == ["t1"]
    assert a.accept("i1", "t1").assigned == ("t1",)
    assert b.responder("t1").status.value == "assigned"
    assert b.dispatcher.engagement("t1") == "i1"


def test_events_from_another_engine_reach_subscribers_on_refresh(region, redis_url):
    a, b, _ = engines(region, redis_url)
    seen = b.events()
    a.update_position("t1", region.node_lat[0], region.node_lng[0])
    a.report_incident("i1", region.node_lat[0], region.node_lng[0], kind="directions")
    assert b.refresh(wait_s=1.0)
    event = seen.get(timeout=1)
    assert (event.kind.value, event.incident_id) == ("reported", "i1")
    assert not b.refresh(wait_s=0.05)


@pytest.mark.parametrize("wait", [-1, "1", float("nan"), True, 61])
def test_refresh_refuses_bad_waits(region, wait):
    with pytest.raises(InvalidParameterError, match="wait_s"):
        DispatchEngine(region).refresh(wait_s=wait)


def test_redis_and_journal_exclude_each_other(region, redis_url, tmp_path):
    with pytest.raises(InvalidParameterError, match="journal or redis"):
        DispatchEngine(region, redis=redis_url, journal=tmp_path / "j.db")


def test_a_new_engine_loads_the_shared_fleet_and_reloads_after_a_gap(region, redis_url):
    import redis

    a = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    lat, lng = region.node_lat[:50], region.node_lng[:50]
    a.update_positions([f"t{i}" for i in range(50)], lat, lng)
    a.set_status("t3", "offline")
    late = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    assert len(late) == 50 and late.get("t3").status.value == "offline"
    # The stream loses entries this engine had not read (trimmed): it reloads everything.
    cursor = late.shared.cursor
    a.update_position("t0", region.node_lat[60], region.node_lng[60], ts=NOW + 1)
    redis.Redis.from_url(redis_url).xtrim("kd:pos", maxlen=0)
    reloads = late.shared.reloads
    assert late.get("t0").lat == region.node_lat[60]
    assert late.shared.reloads == reloads + 1 and late.shared.cursor != cursor
