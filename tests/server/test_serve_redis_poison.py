"""One responder's odd capability strings must not break the other servers sharing Redis.

The audit's attack, with two real `kayou-dispatch serve` processes on one real Redis: a
client sets capabilities holding a TAB, a comma and other unicode through one
server; the other must read them back exactly, keep answering, and its follower (which
streams other servers' events) must stay alive. A raw garbage entry written straight into
the change stream is skipped the same way.
"""

import asyncio
import json

import httpx
import pytest

pytest.importorskip("redis")

from tests.processes import RedisServer, ServeProcess

from .conftest import SCENE, TOKENS

pytestmark = [pytest.mark.redis, pytest.mark.slow]
DISP = {"Authorization": "Bearer disp"}
R17 = {"Authorization": "Bearer r17"}
ODD = ["x\ty", "a,b", "new\nline", "ünï\u2028cødé", "back\\slash", "%09", "tow"]


@pytest.fixture
def pair(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    redis = RedisServer(tmp_path).start()
    args = ("--tokens", str(tokens), "--redis", redis.url, "--tick-interval", "0.5")
    servers = [ServeProcess(tmp_path, *args, name=f"poison-{i}").start() for i in range(2)]
    yield redis, servers
    for s in servers:
        s.stop()
    redis.stop()


def event_reaches(base_b, base_a, incident_id, timeout_s=10.0):
    """Whether an incident reported on A is streamed live by B's follower."""
    websockets = pytest.importorskip("websockets")

    async def run():
        async with websockets.connect(base_b.replace("http", "ws") + "/v1/events?token=disp") as ws:
            body = {"incident_id": incident_id, "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
            r = httpx.post(f"{base_a}/v1/incidents", json=body, headers=DISP)
            assert r.status_code == 201, r.text
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout_s
            while loop.time() < end:
                try:
                    got = json.loads(await asyncio.wait_for(ws.recv(), end - loop.time()))
                except TimeoutError:
                    return False
                if got.get("kind") == "reported" and got.get("incident_id") == incident_id:
                    return True
            return False

    return asyncio.run(run())


def test_odd_capabilities_round_trip_and_break_no_other_server(pair):
    _, servers = pair
    a, b = (s.base for s in servers)
    r = httpx.put(
        f"{a}/v1/responders/truck-17/position", json={"lat": 60.1699, "lng": 24.9384}, headers=R17
    )
    assert r.status_code == 200
    assert event_reaches(b, a, "before")
    body = {"capabilities": ODD}
    # A responder may no longer grant itself capabilities (#17 item 4); a dispatcher can.
    r = httpx.put(f"{a}/v1/responders/truck-17/availability", json=body, headers=R17)
    assert r.status_code == 403 and r.json()["error"] == "CapabilityGrantRefused"
    r = httpx.put(f"{a}/v1/responders/truck-17/availability", json=body, headers=DISP)
    assert r.status_code == 200, r.text
    assert r.json()["capabilities"] == sorted(ODD)
    # The other server reads exactly what was written, and keeps answering.
    r = httpx.get(f"{b}/v1/responders/truck-17", headers=DISP)
    assert r.status_code == 200, r.text
    assert r.json()["capabilities"] == sorted(ODD)
    r = httpx.get(f"{b}/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]}, headers=DISP)
    assert r.status_code == 200 and [c["responder_id"] for c in r.json()["candidates"]] == [
        "truck-17"
    ]
    r = httpx.get(
        f"{b}/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1], "needs": "x\ty"}, headers=DISP
    )
    assert r.status_code == 200 and len(r.json()["candidates"]) == 1
    # Its follower survived: events from A still stream from B.
    assert event_reaches(b, a, "after")
    r = httpx.put(
        f"{b}/v1/responders/truck-17/position",
        json={"lat": 60.1700, "lng": 24.9385},
        headers=R17,
    )
    assert r.status_code == 200 and r.json()["applied"] is True


def test_a_garbage_entry_in_the_change_stream_is_skipped(pair):
    import redis as redis_py

    redis, servers = pair
    a, b = (s.base for s in servers)
    r = httpx.put(
        f"{a}/v1/responders/truck-17/position", json={"lat": 60.1699, "lng": 24.9384}, headers=R17
    )
    assert r.status_code == 200
    assert httpx.get(f"{b}/v1/responders/truck-17", headers=DISP).status_code == 200
    raw = redis_py.Redis.from_url(redis.url)
    raw.xadd("kd:pos", {"m": b"\xff\xfe\tonly-two"})
    raw.xadd("kd:pos", {"p": b"truck-17\tnot-a-number\t1\t2\t\n"})
    raw.xadd("kd:pos", {"p": b"truck-17\t95.0\t24.9\t1e300\t\n"})  # out of range
    raw.xadd("kd:pos", {"zz": b"unknown field"})
    raw.close()
    r = httpx.put(
        f"{a}/v1/responders/truck-17/position", json={"lat": 60.1701, "lng": 24.9386}, headers=R17
    )
    assert r.status_code == 200
    got = httpx.get(f"{b}/v1/responders/truck-17", headers=DISP)
    assert got.status_code == 200, got.text
    assert (got.json()["lat"], got.json()["lng"]) == (60.1701, 24.9386)
    assert event_reaches(b, a, "after-garbage")
    assert "skipped" in servers[1].log.read_text()
