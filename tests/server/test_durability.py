"""Durability harness: a storm of reports, accepts, cancels and resolves, `kill -9` at random.

What the audit did, bounded and repeatable. Real processes on loopback: a journaled
`kayou-dispatch serve`, and two servers sharing one redis-server (AOF, fsync always). A
storm of concurrent clients reports incidents (dispatching them), accepts the offers,
cancels or resolves; after a random number of acknowledged commands one process -- the
journaled server, or one of the two servers or Redis itself -- is killed with SIGKILL
while requests are in flight, then restarted. After every restart each acknowledged fact
is checked through the API (the incident exists, an acknowledged accept is an assignment,
an acknowledged cancel/resolve is that status) and in the store itself (no accept applied
twice, no responder on two live incidents, no incident over-filled).

``KAYOU_DURABILITY_KILLS`` sets the kills per harness (default 5, CI's floor); the counts
are printed (``kills``, ``acknowledged``, ``lost``, ``duplicated``) and quoted in the
README's reliability section.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.processes import RedisServer, ServeProcess

from .conftest import TOKENS

pytestmark = pytest.mark.slow
DISP = {"Authorization": "Bearer disp"}
KILLS = int(os.environ.get("KAYOU_DURABILITY_KILLS", "5"))
FLEET = 300
CLOSED = {"cancelled", "resolved"}
VICTIMS = ("redis", "server-0", "server-1")


@dataclass
class Facts:
    """What the clients were told (only 2xx answers count)."""

    reported: dict[str, str] = field(default_factory=dict)  # incident -> kind
    accepted: set[tuple[str, str]] = field(default_factory=set)
    closed: dict[str, str] = field(default_factory=dict)  # incident -> status
    acks: int = 0


@dataclass
class Tally:
    kills: int = 0
    lost: int = 0
    duplicated: int = 0
    victims: Counter = field(default_factory=Counter)


def fleet_rows(seed=1):
    from kayou_dispatch import load_network

    net = load_network("helsinki")  # the network ServeProcess serves by default
    rng = random.Random(seed)
    nodes = [rng.randrange(net.n_nodes) for _ in range(FLEET)]
    rows = [
        {"id": f"truck-{i}", "lat": float(net.node_lat[v]), "lng": float(net.node_lng[v])}
        for i, v in enumerate(nodes)
    ]
    return net, rows


def seed(base, rows):
    r = httpx.post(f"{base}/v1/positions", json={"positions": rows}, headers=DISP, timeout=30)
    assert r.status_code == 200, r.text


async def storm(bases, net, facts, round_no, kill_after, kill, *, workers=12):
    """Run clients until ``kill_after`` more acknowledgements, call ``kill``, run on briefly."""
    target = facts.acks + kill_after
    killed = asyncio.Event()
    stop = asyncio.Event()

    async def worker(w):
        rng = random.Random(round_no * 1000 + w)
        n = 0
        async with httpx.AsyncClient(headers=DISP, timeout=5) as client:
            while not stop.is_set():
                n += 1
                base = bases[(w + n) % len(bases)]
                try:
                    await one_incident(client, base, rng, f"k{round_no}-{w}-{n}")
                except httpx.TransportError:
                    await asyncio.sleep(0.05)  # the server is down: try again shortly
                if facts.acks >= target and not killed.is_set():
                    killed.set()

    async def one_incident(client, base, rng, iid):
        v = rng.randrange(net.n_nodes)
        kind = rng.choice(["directions", "directions", "fire"])
        body = {
            "incident_id": iid,
            "lat": float(net.node_lat[v]),
            "lng": float(net.node_lng[v]),
            "kind": kind,
            "dispatch": True,
        }
        r = await client.post(f"{base}/v1/incidents", json=body, headers={"Idempotency-Key": iid})
        if r.status_code != 201:
            return
        facts.reported[iid] = kind
        facts.acks += 1
        for offer in r.json()["offers"]:
            rid = offer["responder_id"]
            key = f"{iid}/{rid}"
            r = await client.post(
                f"{base}/v1/incidents/{iid}/offers/{rid}/accept", headers={"Idempotency-Key": key}
            )
            if r.status_code == 200:
                facts.accepted.add((iid, rid))
                facts.acks += 1
        fate = rng.random()  # most close (freeing their responders), some stay open
        if fate < 0.9:
            what = "resolve" if fate < 0.6 else "cancel"
            r = await client.post(
                f"{base}/v1/incidents/{iid}/{what}", headers={"Idempotency-Key": f"{iid}!"}
            )
            if r.status_code == 200:
                facts.closed[iid] = r.json()["status"]
                facts.acks += 1

    async def killer():
        await killed.wait()
        await asyncio.to_thread(kill)
        await asyncio.sleep(0.3)  # requests in flight meet the dead process
        stop.set()

    tasks = [asyncio.create_task(worker(w)) for w in range(workers)]
    await asyncio.wait_for(killer(), timeout=120)
    await asyncio.gather(*tasks)


def check_api(base, facts, tally):
    """Every acknowledged fact holds through the API; count what was lost."""
    lost = 0
    with httpx.Client(base_url=base, headers=DISP, timeout=30) as client:
        incidents = {}
        for iid in facts.reported:
            r = client.get(f"/v1/incidents/{iid}")
            if r.status_code != 200:
                lost += 1
                continue
            incidents[iid] = r.json()
        for iid, rid in facts.accepted:
            if iid in incidents and rid not in incidents[iid]["assigned"]:
                lost += 1
        for iid, status in facts.closed.items():
            if iid in incidents and incidents[iid]["status"] != status:
                lost += 1
    tally.lost += lost
    return incidents


def sweep(base, facts):
    """Resolve what the storm left open, so the next round starts with a free fleet."""
    with httpx.Client(base_url=base, headers=DISP, timeout=30) as client:
        for inc in client.get("/v1/incidents").json()["incidents"]:
            iid = inc["incident_id"]
            r = client.post(f"/v1/incidents/{iid}/resolve", headers={"Idempotency-Key": f"{iid}!"})
            if r.status_code == 200:
                facts.closed[iid] = "resolved"
                facts.acks += 1


def check_doubles(incidents, rows):
    """Applied twice or over-filled: in the API's view and in the store's records."""
    doubled = 0
    live = Counter()
    for inc in incidents.values():
        doubled += len(inc["assigned"]) - len(set(inc["assigned"]))
        doubled += max(0, len(inc["assigned"]) - inc["units"])
        if inc["status"] not in CLOSED:
            live.update(set(inc["assigned"]))
    doubled += sum(n - 1 for n in live.values() if n > 1)
    accepts = Counter(
        (rec["incident_id"], rec["responder_id"])
        for records in rows
        for rec in records
        if rec["op"] == "accept"
    )
    doubled += sum(n - 1 for n in accepts.values() if n > 1)
    return doubled


def journal_records(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [json.loads(r) for (r,) in db.execute("SELECT records FROM commands ORDER BY txn")]
    finally:
        db.close()


def redis_records(url):
    import redis

    client = redis.Redis.from_url(url)
    try:
        return [json.loads(f[b"row"])["records"] for _, f in client.xrange("kd:log")]
    finally:
        client.close()


def report(name, tally, facts, capsys):
    line = (
        f"durability[{name}]: kills={tally.kills} acknowledged={facts.acks} "
        f"(incidents={len(facts.reported)}, accepts={len(facts.accepted)}, "
        f"closes={len(facts.closed)}) lost={tally.lost} duplicated={tally.duplicated}"
    )
    if tally.victims:
        line += f" victims={dict(sorted(tally.victims.items()))}"
    with capsys.disabled():
        print(f"\n{line}")


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS))
    return path


def test_kill_9_of_a_journaled_server_loses_and_doubles_nothing(tmp_path, tokens, capsys):
    net, rows = fleet_rows()
    journal = tmp_path / "dispatch.db"
    args = ("--tokens", str(tokens), "--journal", str(journal), "--tick-interval", "0.5")
    facts, tally = Facts(), Tally()
    rng = random.Random(17)
    server = ServeProcess(tmp_path, *args, name="journaled-0").start()
    seed(server.base, rows)
    for k in range(KILLS):
        kill = lambda s=server: s.stop(kill=True)  # noqa: E731
        asyncio.run(storm([server.base], net, facts, k, rng.randint(5, 60), kill))
        tally.kills += 1
        server = ServeProcess(tmp_path, *args, name=f"journaled-{k + 1}").start()
        incidents = check_api(server.base, facts, tally)
        tally.duplicated += check_doubles(incidents, journal_records(journal))
        seed(server.base, rows)  # positions are not journaled: the phones report again
        sweep(server.base, facts)
    server.stop()
    report("journal", tally, facts, capsys)
    assert tally.kills == KILLS and facts.acks >= 10 * KILLS
    assert tally.lost == 0 and tally.duplicated == 0
    # The checks can fail: a server without that journal has lost every fact.
    blank = ServeProcess(tmp_path, "--tokens", str(tokens), name="blank").start()
    control = Tally()
    check_api(blank.base, facts, control)
    blank.stop()
    assert control.lost == len(facts.reported)


@pytest.mark.redis
def test_kill_9_of_either_server_or_redis_loses_and_doubles_nothing(tmp_path, tokens, capsys):
    pytest.importorskip("redis")
    net, rows = fleet_rows()
    redis_server = RedisServer(tmp_path).start()
    args = ("--tokens", str(tokens), "--redis", redis_server.url, "--tick-interval", "0.5")
    servers = [ServeProcess(tmp_path, *args, name=f"shared-{i}").start() for i in range(2)]
    seed(servers[0].base, rows)
    facts, tally = Facts(), Tally()
    rng = random.Random(23)
    try:
        for k in range(KILLS):
            # Each victim once first (so even N=3 covers all three), then at random.
            victim = VICTIMS[k] if k < len(VICTIMS) else rng.choice(VICTIMS)
            if victim == "redis":
                kill = redis_server.crash
            else:
                kill = lambda s=servers[int(victim[-1])]: s.stop(kill=True)  # noqa: E731
            bases = [s.base for s in servers]
            asyncio.run(storm(bases, net, facts, k, rng.randint(5, 60), kill))
            tally.kills += 1
            tally.victims[victim] += 1
            if victim == "redis":
                redis_server.start()  # same port and directory: replays the append-only file
            else:
                i = int(victim[-1])
                servers[i] = ServeProcess(tmp_path, *args, name=f"shared-{i}-{k}").start()
            records = redis_records(redis_server.url)
            for s in servers:
                incidents = check_api(s.base, facts, tally)
                tally.duplicated += check_doubles(incidents, records)
            sweep(servers[0].base, facts)
    finally:
        for s in servers:
            s.stop()
        redis_server.stop()
    report("redis", tally, facts, capsys)
    assert tally.kills == KILLS and facts.acks >= 10 * KILLS
    assert tally.lost == 0 and tally.duplicated == 0
