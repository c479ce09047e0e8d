"""Responder state shared through Redis has one owner too (issues 13 and 16).

Bugs: ``engine.remove`` forgot a responder only in its own process; a fix mirrored into
another process (applied there as a bulk update) cleared its ``speed_kph``; a responder
engaged on an incident that another process's mirror (re)created came back AVAILABLE.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("redis")

from kayou_dispatch import DispatchEngine, InvalidTransitionError, Status, load_network

pytestmark = pytest.mark.redis
NOW = 10_000.0


@pytest.fixture(scope="module")
def net():
    return load_network()


def pair(net, url):
    return (DispatchEngine(net, redis=url, clock=lambda: NOW) for _ in range(2))


def test_remove_forgets_a_responder_in_every_process(net, redis_url):
    a, b = pair(net, redis_url)
    a.update_position("t1", *net.node_latlng(10))
    a.update_position("t2", *net.node_latlng(20))
    assert b.get("t1").lat == pytest.approx(net.node_latlng(10)[0])
    a.remove("t1")
    assert "t1" not in a
    b.refresh()
    assert "t1" not in b and "t2" in b
    late = DispatchEngine(net, redis=redis_url, clock=lambda: NOW)
    assert "t1" not in late and "t2" in late
    assert a.shared.positions.count() == 1


def test_removals_and_new_fixes_agree_in_stream_order(net, redis_url):
    # Found by the property test below: a removal by a process that had not loaded the
    # responder yet, and a responder made anew elsewhere after a removal.
    a, b = pair(net, redis_url)
    a.update_position("t2", *net.node_latlng(10))
    a.set_status("t2", "offline")
    b.remove("t2")  # b has not followed the stream yet
    b.refresh()
    a.refresh()
    assert "t2" not in a and "t2" not in b and a.shared.positions.count() == 0
    a.update_position("t3", *net.node_latlng(10), ts=NOW - 5)
    a.set_status("t3", "offline")
    a.remove("t3")
    b.update_position("t3", *net.node_latlng(11))  # new again, through b: AVAILABLE
    b.refresh()  # applies a's older fix, its "offline", then the removal of that t3
    assert b.get("t3").status is Status.AVAILABLE and a.get("t3").status is Status.AVAILABLE


def test_speed_survives_the_mirror(net, redis_url):
    a, b = pair(net, redis_url)
    a.update_position("t1", *net.node_latlng(10), speed_kph=42.0, heading=90.0)
    assert a.get("t1").speed_kph == 42.0
    assert b.get("t1").speed_kph == 42.0 and b.get("t1").heading == 90.0
    # A bulk update elsewhere (no speeds): the next fix has no speed, everywhere alike.
    b.update_positions(["t1", "t2"], [net.node_latlng(11)[0]] * 2, [net.node_latlng(11)[1]] * 2)
    assert a.get("t1").speed_kph is None and b.get("t1").speed_kph is None
    late = DispatchEngine(net, redis=redis_url, clock=lambda: NOW)
    b.update_position("t2", *net.node_latlng(12), speed_kph=7.5)
    assert late.get("t2").speed_kph == 7.5 and a.get("t2").speed_kph == 7.5


def test_an_engaged_responder_the_mirror_creates_later_keeps_its_lifecycle_status(net, redis_url):
    a, b = pair(net, redis_url)
    a.update_position("t1", *net.node_latlng(10))
    place = net.node_latlng(15)
    [offer] = a.report_incident("i1", *place, kind="directions", dispatch=True).offers
    assert offer.responder_id == "t1"
    # b reads the lifecycle log before its mirror has loaded t1's position; the position
    # then arrives (AVAILABLE, like any new one) and must take the lifecycle's status.
    assert b.incident("i1").offers[0].responder_id == "t1"
    assert "t1" not in {c.responder_id for c in b.rank(*place)}
    assert b.get("t1").status is Status.OFFERED


def test_availability_of_an_engaged_responder_is_refused_in_every_process(net, redis_url):
    a, b = pair(net, redis_url)
    a.update_position("t1", *net.node_latlng(10))
    a.report_incident("i1", *net.node_latlng(15), kind="directions", dispatch=True)
    with pytest.raises(InvalidTransitionError):
        b.set_status("t1", "offline")  # b had not seen the offer yet: it catches up first
    assert a.accept("i1", "t1").assigned == ("t1",)
    assert b.responder("t1").status is Status.ASSIGNED
    a.resolve("i1")
    b.set_status("t1", "offline")
    assert a.responder("t1").status is Status.OFFLINE


ops = st.lists(
    st.tuples(
        st.sampled_from(["fix", "bulk", "remove", "offline", "available", "caps"]),
        st.integers(0, 7),  # responder
        st.integers(0, 1),  # through engine a or b
        st.integers(0, 400),  # road node
        st.none() | st.floats(0.0, 120.0),  # speed
    ),
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=ops)
def test_any_mix_of_writes_through_either_engine_reads_as_one_local_engine(
    net, redis_server, script
):
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    clock = [NOW]
    a, b = (DispatchEngine(net, redis=redis_server.url, clock=lambda: clock[0]) for _ in range(2))
    local = DispatchEngine(net, clock=lambda: clock[0])
    for op, who, via, node, speed in script:
        clock[0] += 1.0
        rid, lat, lng = f"t{who}", *net.node_latlng(node)
        for e in ((a, b)[via], local):
            known = rid in local
            if op == "fix":
                e.update_position(rid, lat, lng, speed_kph=speed)
            elif op == "bulk":
                e.update_positions([rid], [lat], [lng])
            elif known and op == "remove":
                e.remove(rid)
            elif known and op in ("offline", "available"):
                e.set_status(rid, op)
            elif known and op == "caps":
                e.set_capabilities(rid, {"tow"} if speed is None else {"crane"})
    want = {rid: local.get(rid) for rid in sorted(local.index)}
    for e in (a, b):
        e.refresh()
        assert {rid: e.get(rid) for rid in sorted(e.index)} == want
