"""The HTTP app on shared state: group-committed fixes, errors from a dead Redis."""

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

pytest.importorskip("redis")

from kayou_dispatch import DispatchEngine
from kayou_dispatch.server import create_app
from tests.processes import RedisServer

from .conftest import DISP, TOKENS

pytestmark = pytest.mark.redis


def put_many(app, fixes):
    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(
                *(
                    client.put(f"/v1/responders/{rid}/position", json=body, headers=DISP)
                    for rid, body in fixes
                )
            )

    return asyncio.run(run())


def test_concurrent_fixes_are_written_in_batches_with_each_verdict(network, redis_url):
    import redis

    engine = DispatchEngine(network, redis=redis_url, clock=lambda: 1_000.0)
    app = create_app(engine, auth=TOKENS, tick_interval_s=None)
    fixes = [(f"t{i}", {"lat": 60.17, "lng": 24.94, "ts": 500.0 + i}) for i in range(200)]
    fixes += [("t0", {"lat": 60.0, "lng": 24.0, "ts": 100.0})]  # older than t0's first fix
    replies = put_many(app, fixes)
    assert [r.status_code for r in replies] == [200] * 201
    assert all(r.json()["applied"] for r in replies[:200])
    assert replies[200].json() == {"responder_id": "t0", "applied": False}
    r = redis.Redis.from_url(redis_url)
    assert r.hget("kd:r:t0", "ts") == b"500.0" and r.hget("kd:r:t199", "ts") == b"699.0"
    entries = r.xlen("kd:pos")
    assert 1 <= entries < 200  # grouped: fewer writes than requests
    # Another process sees them all.
    other = DispatchEngine(network, redis=redis_url, clock=lambda: 1_000.0)
    assert len(other) == 200 and other.get("t0").ts == 500.0


def test_a_dead_redis_is_a_503_not_a_500(network, tmp_path):
    server = RedisServer(tmp_path).start()
    engine = DispatchEngine(network, redis=server.url, clock=lambda: 1_000.0)
    app = create_app(engine, auth=TOKENS, tick_interval_s=None)
    server.crash()
    (reply,) = put_many(app, [("t1", {"lat": 60.17, "lng": 24.94})])
    assert reply.status_code == 503 and reply.json()["error"] == "SharedStateError"
    # The full route: a string is no longer a coordinate (#17 item 13), so a body the fast
    # path declines is a 422 there too; the bulk route always takes the full path.
    (reply,) = put_many(app, [("t1", {"lat": 60.17, "lng": "24.94"})])
    assert reply.status_code == 422
    rows = {"positions": [{"id": "t1", "lat": 60.17, "lng": 24.94}]}
    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.post("/v1/positions", json=rows, headers=DISP)
    assert reply.status_code == 503
