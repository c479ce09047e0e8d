"""Everything the library accepts round-trips bit-identical through Redis; garbage is skipped.

Oracle: the writing engine's own index. Another engine following the change stream, and a
fresh engine loading the hashes, must hold exactly the same floats (compared by their bits)
and the same capability strings, whatever characters those hold.
"""

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("redis")

from kayou_dispatch import DispatchEngine, InvalidParameterError
from kayou_dispatch.datasets import synthetic_region
from kayou_dispatch.shared import RedisPositions
from kayou_dispatch.shared.positions import decode_capabilities, encode_capabilities
from kayou_dispatch.spatial.responders import MAX_ID_CHARS
from tests.strategies import lat_values, lng_values

pytestmark = pytest.mark.redis
NOW = 1.0e9

# Any text, surrogates and control characters included.
any_text = st.text(st.characters(codec=None, categories=None), min_size=1, max_size=40)
ids = st.text(
    st.characters(exclude_characters="\t\n\r", exclude_categories=["Cs"]),
    min_size=1,
    max_size=MAX_ID_CHARS,
)
capability_sets = st.frozensets(
    st.one_of(any_text, st.sampled_from(["x\ty", "a,b", ",", "[", '["a"]', "\\", "\n"])),
    max_size=6,
)
times = st.floats(-1e12, NOW)
headings = st.none() | st.floats(-720.0, 720.0)


@pytest.fixture(scope="module")
def region():
    return synthetic_region(seed=3, size=2_000)


def bits(r):
    fields = (r.lat, r.lng, r.ts, np.nan if r.heading is None else r.heading)
    return tuple(float(x).hex() for x in fields), r.capabilities


@given(caps=capability_sets)
def test_capabilities_encode_and_decode_exactly(caps):
    assert decode_capabilities(encode_capabilities(caps)) == caps


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(ids, lat_values, lng_values, times, headings, capability_sets),
        min_size=1,
        max_size=4,
        unique_by=lambda r: r[0],
    ),
    bulk=st.booleans(),
)
def test_every_accepted_value_round_trips_bit_identical(redis_server, region, rows, bulk):
    import redis

    with redis.Redis.from_url(redis_server.url) as raw:
        raw.flushall()
    a = DispatchEngine(region, redis=redis_server.url, clock=lambda: NOW)
    b = DispatchEngine(region, redis=redis_server.url, clock=lambda: NOW)
    if bulk:
        rid, lat, lng, ts, hd, _ = zip(*rows, strict=True)
        hd = [np.nan if h is None else h for h in hd]
        assert a.update_positions(list(rid), lat, lng, ts=ts, headings=hd) == len(rows)
    for rid, lat, lng, ts, hd, caps in rows:
        if not bulk:
            assert a.update_position(rid, lat, lng, ts=ts, heading=hd)
        a.set_capabilities(rid, caps)
    late = DispatchEngine(region, redis=redis_server.url, clock=lambda: NOW)  # loads the hashes
    for rid, *_ in rows:
        want = bits(a.get(rid))
        assert bits(b.get(rid)) == want  # followed the change stream
        assert bits(late.get(rid)) == want  # loaded the hashes
    for e in (a, b, late):
        e.close()


def test_undecodable_entries_and_hashes_are_skipped_and_logged(redis_url, region, caplog):
    import redis

    a = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    b = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    lat, lng = float(region.node_lat[0]), float(region.node_lng[0])
    a.update_position("t1", lat, lng, ts=NOW - 5)
    assert b.get("t1").ts == NOW - 5
    raw = redis.Redis.from_url(redis_url)
    poison = [
        {"m": b"\xff\xfe"},
        {"m": b"t1", "st": b"offline", "caps": b"[1, 2]"},
        {"m": b"t1\tonly-two"},
        {"p": b"t1\tnan\t1\t2\t\n"},
        {"p": b"t1\t1\t2\n"},
        {"p": b"t1\t1\t2\t3\tinf\n"},
        {"p": b"t\rx\t1\t2\t3\t\n"},
        {"p": b"\t1\t2\t3\t\n"},
        {"p": b"x" * 300 + b"\t1\t2\t3\t\n"},
        {"p": b"\xff\t1\t2\t3\t\n"},
        {"zz": b"no known field"},
    ]
    for fields in poison:
        raw.xadd("kd:pos", fields)
    raw.hset("kd:r:bad", mapping={"lat": "north", "lng": "1", "ts": "1", "cell": "0"})
    a.update_position("t1", lat, lng, ts=NOW - 1)
    cursor = b.shared.cursor
    with caplog.at_level(logging.ERROR, logger="kayou_dispatch.shared"):
        assert b.get("t1").ts == NOW - 1  # the good entry after the garbage was applied
        assert b.shared.cursor != cursor and b.shared.cursor == b.shared.positions.tip()
        late = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    assert "bad" not in late and late.get("t1").ts == NOW - 1
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(poison) + 1
    assert b.get("t1").status.value == "available"  # the bad meta changed nothing
    raw.close()
    for e in (a, b, late):
        e.close()


@pytest.mark.parametrize(
    "rid", ["", "tab\there", "new\nline", "cr\rhere", "x" * (MAX_ID_CHARS + 1), "\ud800", 5]
)
def test_ids_no_store_can_hold_are_typed_errors_everywhere(redis_url, region, rid):
    local = DispatchEngine(region, clock=lambda: NOW)
    shared = DispatchEngine(region, redis=redis_url, clock=lambda: NOW)
    store = RedisPositions(redis_url)
    one = np.array([1.0])
    for call in (
        lambda: local.update_position(rid, 1.0, 1.0),
        lambda: shared.update_position(rid, 1.0, 1.0),
        lambda: local.update_positions([rid], one, one),
        lambda: shared.update_positions(["fine", rid], [1.0, 1.0], [1.0, 1.0]),
        lambda: store.write([rid], one, one, one),
    ):
        with pytest.raises(InvalidParameterError, match=r"responder_id|ids") as exc:
            call()
        assert len(str(exc.value)) < 400  # a 1 MB id is not echoed whole
    assert len(local) == len(shared) == store.count() == 0
    shared.close()
    store.close()
