"""Two `kayou-dispatch serve` processes on one real Redis: races, restarts, a Redis crash."""

import asyncio
import json
import random

import httpx
import pytest

pytest.importorskip("redis")

from tests.processes import RedisServer, ServeProcess

from .conftest import TOKENS

pytestmark = [pytest.mark.redis, pytest.mark.slow]
DISP = {"Authorization": "Bearer disp"}


@pytest.fixture
def cluster(tmp_path):
    """A fresh Redis (AOF, fsync always) and two servers on it."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    redis = RedisServer(tmp_path).start()
    args = ("--tokens", str(tokens), "--redis", redis.url, "--tick-interval", "0.5")
    servers = [ServeProcess(tmp_path, *args, name=f"server-{i}") for i in range(2)]
    for s in servers:
        s.start()
    yield redis, servers, args
    for s in servers:
        s.stop()
    redis.stop()


def seed_fleet(base, n=300, seed=1):
    """n responders spread over the bundled network, sent in one bulk call."""
    from kayou_dispatch import load_network

    net = load_network("helsinki")
    rng = random.Random(seed)
    nodes = [rng.randrange(net.n_nodes) for _ in range(n)]
    rows = [
        {"id": f"truck-{i}", "lat": float(net.node_lat[v]), "lng": float(net.node_lng[v])}
        for i, v in enumerate(nodes)
    ]
    r = httpx.post(f"{base}/v1/positions", json={"positions": rows}, headers=DISP)
    assert r.json() == {"received": n, "applied": n}
    return net


def report_fires(bases, net, count, seed=2):
    """Broadcast incidents (3 units, 3 offers per unit), alternating servers."""
    rng = random.Random(seed)
    for i in range(count):
        v = rng.randrange(net.n_nodes)
        body = {
            "incident_id": f"fire-{i}",
            "lat": float(net.node_lat[v]),
            "lng": float(net.node_lng[v]),
            "kind": "fire",
            "dispatch": True,
        }
        r = httpx.post(f"{bases[i % 2]}/v1/incidents", json=body, headers=DISP)
        assert r.status_code == 201, r.text


def offers_of(base):
    incidents = httpx.get(f"{base}/v1/incidents", headers=DISP).json()["incidents"]
    return [(i["incident_id"], o["responder_id"]) for i in incidents for o in i["offers"]]


async def accept_all(attempts, concurrency=64, on_result=None):
    """Send every (server, incident, responder) accept at once; return each status code.

    ``on_result(code)`` sees each code as it arrives (``None``: no HTTP answer).
    """
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(headers=DISP, timeout=30, limits=limits) as client:

        async def one(base, iid, rid):
            async with sem:
                try:
                    r = await client.post(f"{base}/v1/incidents/{iid}/offers/{rid}/accept")
                except httpx.TransportError:
                    code = None
                else:
                    code = r.status_code
                if on_result is not None:
                    on_result(code)
                return code

        codes = await asyncio.gather(*(one(*a) for a in attempts))
    return list(zip(attempts, codes, strict=True))


def assignments(base):
    incidents = httpx.get(f"{base}/v1/incidents", headers=DISP).json()["incidents"]
    return {i["incident_id"]: sorted(i["assigned"]) for i in incidents}


def test_500_concurrent_accepts_on_two_servers_never_double_assign(cluster):
    redis, servers, args = cluster
    a, b = (s.base for s in servers)
    net = seed_fleet(a)
    report_fires((a, b), net, 30)
    offers = offers_of(b)
    assert offers == offers_of(a)
    assert len(offers) >= 200
    # The fleet was sent to A only; B's console lists it all, with the same statuses.
    fleets = [
        httpx.get(f"{base}/v1/responders", headers=DISP).json()["responders"] for base in (a, b)
    ]
    assert len(fleets[1]) == 300
    assert [(r["responder_id"], r["status"]) for r in fleets[0]] == [
        (r["responder_id"], r["status"]) for r in fleets[1]
    ]
    # Every offered responder accepts through both servers at once (the phone retried on
    # another connection), plus accepts for offers never made: 500+ racing requests.
    attempts = [(s, iid, rid) for iid, rid in offers for s in (a, b)]
    attempts += [(a, "fire-0", f"truck-{i}") for i in range(100)]
    random.Random(3).shuffle(attempts)
    assert len(attempts) >= 500
    results = asyncio.run(accept_all(attempts))
    codes = {code for _, code in results}
    assert codes <= {200, 409}, codes
    won = [(iid, rid) for (_, iid, rid), code in results if code == 200]
    state = assignments(a)
    assert state == assignments(b)
    assigned = [rid for rids in state.values() for rid in rids]
    assert len(assigned) == len(set(assigned))  # nobody assigned twice
    assert all(len(rids) <= 3 for rids in state.values())  # no incident over-filled
    assert sorted(won) == sorted((iid, rid) for iid, rids in state.items() for rid in rids)
    assert len(won) >= 30  # every incident got someone

    # Restart a server: it rebuilds the same state from Redis.
    servers[0].stop()
    servers[0] = ServeProcess(redis.dir, *args, name="server-0-again").start()
    assert assignments(servers[0].base) == state
    r = httpx.get(f"{servers[0].base}/v1/responders/{assigned[0]}", headers=DISP)
    assert r.json()["status"] == "assigned" and r.json()["incident_id"] is not None


def test_a_redis_crash_loses_no_acknowledged_assignment(cluster):
    redis, servers, args = cluster
    a, b = (s.base for s in servers)
    net = seed_fleet(a)
    report_fires((a, b), net, 30)
    attempts = [(s, iid, rid) for iid, rid in offers_of(a) for s in (a, b)]
    random.Random(4).shuffle(attempts)

    acked = 0

    def crash_after_20_acks(code):
        nonlocal acked
        acked += code == 200
        if acked == 20:
            redis.crash()  # SIGKILL: no shutdown save; only the append-only file survives

    results = asyncio.run(accept_all(attempts, concurrency=16, on_result=crash_after_20_acks))
    won = {(iid, rid) for (_, iid, rid), code in results if code == 200}
    failed = [code for _, code in results if code not in (200, 409)]
    assert len(won) >= 20
    assert len(failed) >= 100, "the crash came too late to interrupt anything"
    assert set(failed) <= {503, None}, sorted(set(failed), key=str)
    redis.start()  # same port and directory: replays the append-only file
    for base in (a, b):
        state = assignments(base)
        kept = {(iid, rid) for iid, rids in state.items() for rid in rids}
        assert won <= kept
        assigned = [rid for rids in state.values() for rid in rids]
        assert len(assigned) == len(set(assigned))
    fresh = ServeProcess(redis.dir, *args, name="server-after-crash").start()
    assert assignments(fresh.base) == assignments(a)
    fresh.stop()
