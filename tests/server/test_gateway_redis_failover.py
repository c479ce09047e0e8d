"""``kill -9`` of a Redis Cluster primary under three shard processes and a gateway, mid-storm.

Three ``serve --shard`` processes keep positions in a real Redis Cluster of 3 primaries + 3
replicas (``cluster-node-timeout`` 1000 ms; each shard's keys carry its own hash tag, so
they live on one primary) and the lifecycle in one national PostgreSQL log; a gateway is in
front. A storm of bulk ``POST /v1/positions`` moves a few thousand responders through the
gateway while the primary holding one shard's keys is SIGKILLed. Meanwhile every answer is a
success or a clear 503 (an ``error`` code and ``Retry-After``), never a 500 and never a hang
(redis-py 8 waits a failover out inside the request: late successes, no refusals);
the other shards rank and take fixes throughout; within a bounded time the killed primary's
replica is promoted, writes to its shard succeed again, and rankings in its cells through the
gateway equal one local engine fed the last acknowledged fixes. A lost last second is
allowed (replication is asynchronous), a stuck shard is not.
"""

import json
import threading
import time

import httpx
import numpy as np
import pytest

pytest.importorskip("redis")

from kayou_dispatch import DispatchEngine, RoadNetwork
from kayou_dispatch.shared.shards import ShardMap
from tests.processes import RedisClusterServers, ServeProcess, free_port
from tests.shared.test_shards import EXTRACT, three_shards

from .conftest import TOKENS

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.redis]
DISP = {"Authorization": "Bearer disp"}
N = 3000  # responders in the storm
CHUNK = 500  # fixes per bulk request
RECOVERY_S = 20.0  # writes to the killed primary's shard succeed again within this
CLIENT_TIMEOUT_S = 15.0  # an answer slower than this is a hang
NODE_TIMEOUT_S = 1.0  # cluster-node-timeout: a primary is failed over no sooner


@pytest.fixture(scope="module")
def net():
    if not EXTRACT.exists():
        pytest.skip(f"no {EXTRACT} (the shared real-data folder)")
    return RoadNetwork.from_osm(EXTRACT)


@pytest.fixture
def cluster(tmp_path):
    timeout_ms = int(NODE_TIMEOUT_S * 1000)
    servers = RedisClusterServers(tmp_path, 6, replicas=1, node_timeout_ms=timeout_ms).start()
    yield servers
    servers.stop()


@pytest.fixture
def deployment(tmp_path, net, postgres_url, cluster):
    """Three shards with positions in the cluster, one national PostgreSQL log, a gateway."""
    saved = tmp_path / "net.npz"
    net.save(saved)
    ports = [free_port() for _ in range(3)]
    data = three_shards(net, urls=[f"http://127.0.0.1:{p}" for p in ports])
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps(data))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    redis_url = "redis-cluster://" + cluster.url.removeprefix("redis://")
    common = ("--network", str(saved), "--tokens", str(tokens), "--lifecycle", postgres_url)
    shards = [
        ServeProcess(
            tmp_path,
            *common,
            "--redis",
            redis_url,
            "--shards",
            str(shards_file),
            "--shard",
            f"s{i}",
            name=f"s{i}",
            port=ports[i],
        )
        for i in range(3)
    ]
    try:
        for s in shards:
            s.start()
        gateway = ServeProcess(
            tmp_path,
            "--shards",
            str(shards_file),
            "--tokens",
            str(tokens),
            "--shard-timeout",
            "10",
            name="gateway",
            command="gateway",
        ).start()
    except BaseException:
        for s in shards:
            s.stop()
        raise
    yield ShardMap.from_json(data), shards, gateway
    gateway.stop()
    for s in shards:
        s.stop()


def _victim(shard_map, cluster):
    """A shard whose keys' primary holds no other shard's keys, and that primary."""
    primary = {s.name: cluster.primary_for(s.redis_prefix) for s in shard_map.shards}
    for name, port in primary.items():
        if list(primary.values()).count(port) == 1:
            return name, port
    pytest.fail(f"every shard shares its primary with another: {primary}")


class Answers:
    """Every answer the storm and the probes got: (monotonic time, what, status, body, header)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, int | None, dict, str | None]] = []
        self.lock = threading.Lock()

    def add(self, what: str, resp: httpx.Response | None) -> None:
        if resp is None:  # no answer within the client's time-out: a hang
            row = (time.monotonic(), what, None, {}, None)
        else:
            try:
                body = resp.json()
            except ValueError:
                body = {"raw": resp.text[:200]}
            row = (time.monotonic(), what, resp.status_code, body, resp.headers.get("Retry-After"))
        with self.lock:
            self.rows.append(row)


def _send(client, answers, what, method, url, **kw):
    try:
        resp = client.request(method, url, **kw)
    except httpx.TimeoutException:
        resp = None
    answers.add(what, resp)
    return resp


def _acknowledged_again(rows, killed):
    """When bulk writes were acknowledged again after the kill (``None``: not yet).

    Either some were refused (a clear 503) and one succeeded after the last refusal, or
    none was refused and the client waited the failover out inside its requests: then the
    success that ended a pause of at least the cluster's node time-out (a failover cannot be
    quicker), measured from the kill. With neither, the kill went unnoticed so far.
    """
    bulk = [(t, code) for t, what, code, _, _ in rows if what == "bulk" and t > killed]
    failed = [t for t, code in bulk if code != 200]
    if failed:
        return next((t for t, code in bulk if code == 200 and t > failed[-1]), None)
    last = killed
    for t, _ in bulk:
        if t - last >= NODE_TIMEOUT_S:
            return t
        last = t
    return None


def test_a_killed_redis_primary_mid_storm_fails_over_and_positions_keep_flowing(
    deployment, net, cluster
):
    shard_map, _, gw = deployment
    victim, primary = _victim(shard_map, cluster)
    (replica,) = cluster.replicas_of(primary)
    rng = np.random.default_rng(13)
    ids = [f"r{i}" for i in range(N)]
    nodes = rng.integers(0, net.n_nodes, N)
    home_lat, home_lng = net.node_lat[nodes], net.node_lng[nodes]
    acked: dict[str, tuple[float, float, float]] = {}  # the last acknowledged fix of each
    answers = Answers()
    stop = threading.Event()
    rounds = [0]

    def one_round(client):
        """Every responder moved near its home (a few km), in CHUNK-sized bulk requests."""
        lat = home_lat + rng.normal(0, 0.01, N)
        lng = home_lng + rng.normal(0, 0.015, N)
        ts = time.time()
        ok = True
        for lo in range(0, N, CHUNK):
            part = [
                {"id": ids[j], "lat": float(lat[j]), "lng": float(lng[j]), "ts": ts}
                for j in range(lo, min(lo + CHUNK, N))
            ]
            r = _send(client, answers, "bulk", "POST", "/v1/positions", json={"positions": part})
            if r is not None and r.status_code == 200:
                for row in part:
                    acked[row["id"]] = (row["lat"], row["lng"], ts)
            else:
                ok = False
        return ok

    def storm():
        with httpx.Client(base_url=gw.base, headers=DISP, timeout=CLIENT_TIMEOUT_S) as client:
            while not stop.is_set():
                one_round(client)
                rounds[0] += 1

    # The other shards: a ranking and a single fix in one of their cells, over and over.
    others = {}
    for s in shard_map.shards:
        if s.name == victim:
            continue
        v = next(
            v
            for v in rng.integers(0, net.n_nodes, 5000).tolist()
            if (o := shard_map.owner(float(net.node_lat[v]), float(net.node_lng[v]))) is not None
            and o.name == s.name
        )
        others[s.name] = (float(net.node_lat[v]), float(net.node_lng[v]))
    probe_fix: dict[str, tuple[float, float, float]] = {}

    def probe():
        with httpx.Client(base_url=gw.base, headers=DISP, timeout=CLIENT_TIMEOUT_S) as client:
            while not stop.is_set():
                for name, (la, ln) in others.items():
                    at = {"lat": la, "lng": ln, "k": 8}
                    _send(client, answers, f"rank-{name}", "GET", "/v1/rank", params=at)
                    ts = time.time()
                    fix = {"lat": la, "lng": ln, "ts": ts}
                    r = _send(
                        client, answers, f"fix-{name}", "PUT",
                        f"/v1/responders/probe-{name}/position", json=fix,
                    )  # fmt: skip
                    if r is not None and r.status_code == 200:
                        probe_fix[f"probe-{name}"] = (la, ln, ts)
                stop.wait(0.2)

    workers = [threading.Thread(target=storm), threading.Thread(target=probe)]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 60
        while rounds[0] < 2:  # the storm is flowing before the kill
            assert time.monotonic() < deadline and all(w.is_alive() for w in workers)
            time.sleep(0.05)
        cluster.kill(primary)
        killed = time.monotonic()
        # Keep storming until the victim's writes are acknowledged again, then 2 rounds more.
        back, back_round = None, 0
        while back is None or rounds[0] < back_round + 2:
            if back is None:
                with answers.lock:
                    back = _acknowledged_again(answers.rows, killed)
                back_round = rounds[0]
            assert time.monotonic() - killed < RECOVERY_S + 2 * CLIENT_TIMEOUT_S, "stuck"
            assert all(w.is_alive() for w in workers)
            time.sleep(0.05)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=4 * CLIENT_TIMEOUT_S)

    window = [r for r in answers.rows if r[0] > killed]
    bulk_failed = [r for r in window if r[1] == "bulk" and r[2] != 200]
    print(
        f"victim {victim} (primary {primary} -> replica {replica}); {rounds[0]} rounds; "
        f"bulk writes acknowledged again {back - killed:.2f} s after SIGKILL; "
        f"{len(bulk_failed)} bulk requests refused meanwhile"
    )
    # Every answer: a success or a clear 503 (error code and Retry-After); no 500, no hang.
    for t, what, code, body, retry in answers.rows:
        assert code is not None, f"{what} hung (> {CLIENT_TIMEOUT_S} s) {t - killed:.1f} s in"
        if code != 200:
            assert code == 503 and body.get("error") and retry and int(retry) > 0, (
                what, code, body, retry,
            )  # fmt: skip
    # The other shards served throughout: their rankings and fixes never failed.
    assert all(code == 200 for _, w, code, _, _ in answers.rows if w != "bulk"), [
        r for r in answers.rows if r[1] != "bulk" and r[2] != 200
    ]
    assert sum(1 for r in window if r[1].startswith("rank-")) >= 2 * len(others)
    # Bounded: writes to the victim's cells were acknowledged again soon after the kill.
    assert back - killed < RECOVERY_S
    assert replica in cluster.primaries(seen_from=replica)  # the replica took over

    # A last acknowledged round, then rankings in the victim's cells are the newest positions.
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=CLIENT_TIMEOUT_S) as client:
        assert one_round(client), answers.rows[-1]
        whole = DispatchEngine(net)
        for rid, (la, ln, ts) in {**acked, **probe_fix}.items():
            whole.update_position(rid, la, ln, ts=ts)
        checked = 0
        for j in range(N):
            la, ln = float(home_lat[j]), float(home_lng[j])
            owner = shard_map.owner(la, ln)
            if owner is None or owner.name != victim:
                continue
            got = client.get("/v1/rank", params={"lat": la, "lng": ln, "k": 8})
            assert got.status_code == 200, got.text
            want = whole.rank(la, ln, k=8, max_eta_s=shard_map.max_eta_s)
            assert [(c["responder_id"], c["eta_s"]) for c in got.json()["candidates"]] == [
                (c.responder_id, c.eta_s) for c in want
            ]
            checked += bool(want)
            if checked >= 40:
                break
        assert checked >= 40
