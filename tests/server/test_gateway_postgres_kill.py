"""`kill -9` of PostgreSQL mid-storm under the gateway: 503s, positions flow, no accept lost."""

import asyncio
import random
import time

import httpx
import numpy as np
import pytest

from .conftest import start_deployment
from .test_gateway import moves

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
#: Our own (starlette's TestClient.websocket_connect adds its headers to the conftest's).
DISP = {"Authorization": "Bearer disp"}
pytest.importorskip("psycopg")
OUTAGE_S = 3.0


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own (it is killed and restarted on its folder and port)."""
    from tests.processes import PostgresServer

    pg = PostgresServer().start()
    yield pg
    pg.remove()


@pytest.fixture
def pg_deployment(tmp_path, net, own_postgres):
    yield from start_deployment(tmp_path, net, own_postgres.url)


class Calls:
    """Every answer of the storm: (kind, sent at, answered at, status, error code)."""

    def __init__(self):
        self.rows = []

    def add(self, kind, t0, r):
        code = None
        if r.headers.get("content-type", "").startswith("application/json"):
            body = r.json()
            code = body.get("error") if isinstance(body, dict) else None
        self.rows.append((kind, t0, time.monotonic(), r.status_code, code))

    def within(self, kind, t1, t2):
        return [(s, c) for k, a, b, s, c in self.rows if k == kind and t1 <= a and b <= t2]


def test_postgres_killed_mid_storm_under_the_gateway(pg_deployment, net, own_postgres):
    _, shards, gw = pg_deployment
    pg = own_postgres
    rng = np.random.default_rng(23)
    n = 2000
    lat, lng = next(moves(net, n, rng, 1))
    ts = time.time() - 5
    rows = [
        {"id": f"r{i}", "lat": a, "lng": b, "ts": ts}
        for i, (a, b) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True))
    ]
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        assert client.post("/v1/positions", json={"positions": rows}).status_code == 200
        made = 0
        for k, q in enumerate(rng.integers(0, net.n_nodes, 40)):
            la, ln = float(net.node_lat[q]), float(net.node_lng[q])
            body = {"incident_id": f"f{k}", "lat": la, "lng": ln, "kind": "fire"}
            made += client.post("/v1/incidents", json={**body, "dispatch": True}).status_code == 201
        incidents = client.get("/v1/incidents").json()["incidents"]
    offers = [(i["incident_id"], o["responder_id"]) for i in incidents for o in i["offers"]]
    assert made >= 30 and len(offers) >= 150
    random.Random(3).shuffle(offers)
    calls = Calls()
    acked: list[tuple[str, str]] = []
    marks: dict[str, float] = {}

    async def storm():
        todo: asyncio.Queue = asyncio.Queue()
        for offer in offers:
            todo.put_nowait(offer)
        pending = [len(offers)]  # attempts without a final answer yet (503 is not final)
        done = asyncio.Event()
        deadline = time.monotonic() + 240
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(
            base_url=gw.base, headers=DISP, timeout=30, limits=limits
        ) as ac:

            async def accepts():
                while pending[0] and time.monotonic() < deadline:
                    try:
                        iid, rid = todo.get_nowait()
                    except asyncio.QueueEmpty:
                        await asyncio.sleep(0.05)
                        continue
                    t0 = time.monotonic()
                    r = await ac.post(f"/v1/incidents/{iid}/offers/{rid}/accept")
                    calls.add("accept", t0, r)
                    if r.status_code == 503:  # not acknowledged: a client retries later
                        await asyncio.sleep(0.3)
                        todo.put_nowait((iid, rid))
                        continue
                    pending[0] -= 1
                    if r.status_code == 200:
                        acked.append((iid, rid))
                    await asyncio.sleep(0.02)

            async def positions():
                prng = np.random.default_rng(5)
                while not done.is_set():
                    pick = prng.choice(n, 200, replace=False)
                    now = time.time()
                    part = [
                        {**rows[i], "lat": rows[i]["lat"] + 1e-4, "ts": now} for i in pick.tolist()
                    ]
                    t0 = time.monotonic()
                    calls.add("bulk", t0, await ac.post("/v1/positions", json={"positions": part}))
                    one = rows[int(pick[0])]
                    fix = {"lat": one["lat"], "lng": one["lng"], "ts": now}
                    t0 = time.monotonic()
                    r = await ac.put(f"/v1/responders/{one['id']}/position", json=fix)
                    calls.add("fix", t0, r)
                    await asyncio.sleep(0.05)

            async def chaos():
                while len(acked) < 30 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                await asyncio.to_thread(pg.crash)  # SIGKILL, mid-storm
                marks["down"] = time.monotonic()
                await asyncio.sleep(OUTAGE_S)
                marks["restart"] = time.monotonic()
                await asyncio.to_thread(pg.start)  # same folder, same port: WAL replay
                marks["up"] = time.monotonic()

            feeder = asyncio.create_task(positions())
            killer = asyncio.create_task(chaos())
            await asyncio.gather(*(accepts() for _ in range(6)))
            await killer
            done.set()
            await feeder
        assert pending[0] == 0, "accepts still refused long after PostgreSQL came back"

    asyncio.run(storm())
    assert set(marks) == {"down", "restart", "up"}
    # Never a 500, whatever the moment.
    assert not [r for r in calls.rows if r[3] >= 500 and r[3] != 503], calls.rows[:5]
    # While PostgreSQL is down: lifecycle commands get 503 with an error code...
    down = calls.within("accept", marks["down"] + 0.2, marks["restart"])
    assert len(down) >= 5, len(down)
    assert {s for s, _ in down} == {503}, set(down)
    assert all(c for _, c in down), down  # each names what failed ("SharedStateError")
    # ... and positions, which need no PostgreSQL, keep flowing.
    moving = calls.within("bulk", marks["down"], marks["restart"])
    moving += calls.within("fix", marks["down"], marks["restart"])
    assert len(moving) >= 4 and {s for s, _ in moving} == {200}, moving
    # After the restart: every acknowledged accept is there, on every shard, nobody twice.
    states = []
    for base in [gw.base, *(s.base for s in shards)]:
        listed = httpx.get(f"{base}/v1/incidents", headers=DISP, timeout=60).json()["incidents"]
        states.append({i["incident_id"]: sorted(i["assigned"]) for i in listed})
    assert all(s == states[0] for s in states)
    assigned = [rid for rids in states[0].values() for rid in rids]
    assert len(assigned) == len(set(assigned))  # no responder assigned twice
    assert all(len(rids) <= 3 for rids in states[0].values())  # no incident over-filled
    for iid, rid in acked:
        assert rid in states[0][iid], (iid, rid)
    assert len(acked) > 30  # some were acknowledged after the restart too
