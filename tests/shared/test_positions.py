"""Positions shared in Redis: newest fix wins, cell sets follow moves, pulls are complete."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("redis")

from kayou_dispatch.geo import haversine_m
from kayou_dispatch.shared import RedisPositions

pytestmark = pytest.mark.redis


def write(store, rid, lat, lng, ts, heading=np.nan):
    one = lambda x: np.array([x], dtype=np.float64)  # noqa: E731
    return bool(store.write([rid], one(lat), one(lng), one(ts), one(heading))[0])


def test_a_newer_fix_wins_whichever_process_stores_it(redis_url):
    a, b = RedisPositions(redis_url), RedisPositions(redis_url)
    assert write(a, "t1", 22.70, 114.25, ts=100.0)
    assert write(b, "t1", 22.71, 114.26, ts=105.0, heading=90.0)
    assert not write(a, "t1", 22.60, 114.10, ts=101.0)  # late delivery of an older fix
    rows = a.pull(ids=["t1", "nobody"])
    f = rows.fixes
    assert f.ids == ["t1"]
    assert (f.lat[0], f.lng[0], f.ts[0], f.heading[0]) == (22.71, 114.26, 105.0, 90.0)
    assert rows.status == ["available"] and rows.capabilities == [frozenset()]


def test_a_move_changes_cell_sets_atomically(redis_url):
    import redis

    store = RedisPositions(redis_url, cell_resolution=7)
    r = redis.Redis.from_url(redis_url)
    write(store, "t1", 22.70, 114.25, ts=1.0)
    first = r.hget("kd:r:t1", "cell").decode()
    assert r.smembers(f"kd:c:{first}") == {b"t1"}
    write(store, "t1", 23.10, 113.30, ts=2.0)  # ~100 km away
    second = r.hget("kd:r:t1", "cell").decode()
    assert second != first
    assert r.smembers(f"kd:c:{first}") == set() and r.smembers(f"kd:c:{second}") == {b"t1"}
    assert store.pull(near=(22.70, 114.25, 5000.0)).fixes.ids == []
    assert store.pull(near=(23.10, 113.30, 100.0)).fixes.ids == ["t1"]


def test_status_and_capabilities_only_for_known_responders(redis_url):
    store = RedisPositions(redis_url)
    assert not store.set_status("ghost", "offline")
    write(store, "t1", 22.70, 114.25, ts=1.0)
    assert store.set_status("t1", "offline") and store.set_capabilities("t1", ["tow", "crane"])
    rows = store.pull(ids=["t1"])
    assert rows.status == ["offline"] and rows.capabilities == [frozenset({"tow", "crane"})]
    assert store.count() == 1


points = st.tuples(st.floats(22.5, 22.9), st.floats(114.0, 114.4))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fleet=st.lists(points, min_size=1, max_size=60),
    centre=points,
    radius=st.floats(10.0, 30_000.0),
    res=st.sampled_from([5, 7, 9]),
)
def test_pull_near_returns_everyone_within_the_radius(redis_server, fleet, centre, radius, res):
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    store = RedisPositions(redis_server.url, cell_resolution=res)
    ids = [f"t{i}" for i in range(len(fleet))]
    lat = np.array([p[0] for p in fleet])
    lng = np.array([p[1] for p in fleet])
    assert store.write(ids, lat, lng, np.full(len(ids), 1.0)).all()
    got = set(store.pull(near=(*centre, radius)).fixes.ids)
    within = {
        i for i, (a, b) in zip(ids, fleet, strict=True) if haversine_m(*centre, a, b) <= radius
    }
    assert within <= got


def test_the_change_stream_carries_applied_fixes_and_meta_in_order(redis_url):
    store, other = RedisPositions(redis_url), RedisPositions(redis_url)
    start = other.tip()
    assert start == ""
    write(store, "t1", 22.70, 114.25, ts=10.0)
    assert not write(store, "t1", 22.0, 114.0, ts=5.0)  # refused: not in the stream
    store.set_status("t1", "offline")
    changes, cursor, more, gap = other.changes(start)
    assert not gap and not more and cursor == other.tip()
    assert [type(c).__name__ for c in changes] == ["Fixes", "Meta"]
    assert changes[0].ids == ["t1"] and changes[0].lat.tolist() == [22.70]
    assert (changes[1].responder_id, changes[1].status) == ("t1", "offline")
    assert store.changes(start) == ([], cursor, False, False)  # its own: already applied
    assert other.changes(cursor) == ([], cursor, False, False)
    assert other.changes("1-1")[3]  # an entry the stream does not hold: a gap
    for i in range(5):
        write(store, f"u{i}", 22.70, 114.25, ts=1.0)
    first, at, more, _ = other.changes(cursor, count=3)
    assert more and len(first) == 1 and first[0].ids == ["u0", "u1", "u2"]
    rest, _, more, _ = other.changes(at, count=3)
    assert not more and rest[0].ids == ["u3", "u4"]


def test_snapshot_loads_every_responder(redis_url):
    store = RedisPositions(redis_url)
    n = 12_345
    ids = [f"t{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    store.write(ids, rng.uniform(20, 40, n), rng.uniform(100, 120, n), np.ones(n))
    loaded = [rid for rows in store.snapshot(batch=5_000) for rid in rows.fixes.ids]
    assert sorted(loaded) == sorted(ids)


def test_bad_options_and_ids_are_typed_errors(redis_url):
    from kayou_dispatch import DispatchEngine, InvalidParameterError, load_network

    for kw in ({"cell_resolution": 2}, {"cell_resolution": True}, {"stream_cap": 10}):
        with pytest.raises(InvalidParameterError):
            RedisPositions(redis_url, **kw)
    with pytest.raises(InvalidParameterError, match="redis:// URL"):
        RedisPositions(42)
    store = RedisPositions(redis_url)
    with pytest.raises(InvalidParameterError, match="tabs or newlines"):
        write(store, "bad\tid", 22.7, 114.25, ts=1.0)
    engine = DispatchEngine(load_network("helsinki"), redis=redis_url)
    with pytest.raises(InvalidParameterError, match="tabs or newlines"):
        engine.update_position("bad\nid", 60.17, 24.94)
    assert "bad\nid" not in engine  # refused before anything changed
    with pytest.raises(InvalidParameterError, match="redis"):
        DispatchEngine(load_network("helsinki"), redis="http://example.com")
