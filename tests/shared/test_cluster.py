"""Positions and the lifecycle on a real 3-node Redis Cluster (any node's URL).

Every key of a dispatch state carries the prefix's hash tag, so a shard lives in one slot;
engines on different nodes' URLs share one state and rank as one local engine holding every fix.
"""

import pytest

pytest.importorskip("redis")

import redis
from redis.cluster import RedisCluster

from kayou_dispatch import DispatchEngine
from kayou_dispatch.datasets import synthetic_region
from kayou_dispatch.shared import RedisLog, RedisPositions
from kayou_dispatch.shared._client import is_cluster, open_client, prefix_for, where

pytestmark = pytest.mark.redis
NOW = 10_000.0


@pytest.fixture
def cluster(redis_cluster):
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture(scope="module")
def region():
    return synthetic_region(seed=7, size=2_000)


def test_any_node_url_opens_a_cluster_client_and_tags_the_prefix(cluster, redis_url):
    client = open_client(cluster.urls[2])
    assert is_cluster(client) and where(client).startswith("redis://127.0.0.1:")
    assert prefix_for(client, "kd") == "{kd}" and prefix_for(client, "a{b}") == "a{b}"
    assert RedisLog(client).prefix == "{kd}"
    plain = open_client(redis_url)  # a single server stays a plain client, prefix untouched
    assert not is_cluster(plain) and RedisLog(plain).prefix == "kd"
    client.close()
    plain.close()


def test_a_shards_keys_live_in_one_slot(cluster, region):
    engine = DispatchEngine(region, redis=cluster.urls[1], redis_prefix="north", clock=lambda: NOW)
    lat, lng = region.node_lat[:200], region.node_lng[:200]
    engine.update_positions([f"t{i}" for i in range(200)], lat, lng)
    engine.update_position("t0", region.node_lat[300], region.node_lng[300])
    engine.report_incident("i1", region.node_lat[5], region.node_lng[5], kind="directions")
    slots, keys = set(), 0
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            for key in node.scan_iter(match="*"):
                keys += 1
                slots.add(node.cluster("keyslot", key))
    assert keys > 200  # hashes, cell sets, the change stream, the log
    with RedisCluster.from_url(cluster.url) as client:
        assert slots == {client.keyslot("{north}")}
    engine.close()


def test_engines_on_different_nodes_share_positions_and_incidents(cluster, region):
    a = DispatchEngine(region, redis=cluster.urls[0], clock=lambda: NOW)
    b = DispatchEngine(region, redis=cluster.urls[2], clock=lambda: NOW)
    local = DispatchEngine(region, clock=lambda: NOW)
    ids = [f"t{i}" for i in range(300)]
    lat, lng = region.node_lat[10:310], region.node_lng[10:310]
    a.update_positions(ids[:150], lat[:150], lng[:150])
    b.update_positions(ids[150:], lat[150:], lng[150:])
    local.update_positions(ids, lat, lng)
    for v in (0, 77, 500):
        here = (region.node_lat[v], region.node_lng[v])
        want = [(c.responder_id, c.eta_s) for c in local.rank(*here, k=8)]
        for engine in (a, b):
            assert [(c.responder_id, c.eta_s) for c in engine.rank(*here, k=8)] == want
    inc = a.report_incident("i1", region.node_lat[5], region.node_lng[5], kind="directions",
                            dispatch=True)  # fmt: skip
    rid = inc.offers[0].responder_id
    assert b.accept("i1", rid).assigned == (rid,)
    assert a.responder(rid).status.value == "assigned"
    assert a.check_stores() == [where(a.shared_log._r)]
    for engine in (a, b):
        engine.close()


def test_an_older_fix_through_another_node_never_wins(cluster, region):
    a = DispatchEngine(region, redis=cluster.urls[0], clock=lambda: NOW)
    b = DispatchEngine(region, redis=cluster.urls[1], clock=lambda: NOW)
    new, old = (region.node_lat[1], region.node_lng[1]), (region.node_lat[2], region.node_lng[2])
    assert a.update_position("t1", *new, ts=NOW - 1)
    assert not b.update_position("t1", *old, ts=NOW - 5)
    for engine in (a, b):
        assert (engine.get("t1").lat, engine.get("t1").lng) == new
    positions = RedisPositions(cluster.urls[2])
    assert positions.count() == 1
    positions.close()
    for engine in (a, b):
        engine.close()


@pytest.mark.slow
def test_serve_on_a_cluster_url(cluster, tmp_path):
    import json

    import httpx

    from tests.processes import ServeProcess
    from tests.server.conftest import DISP, TOKENS

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    procs = [
        ServeProcess(tmp_path, "--tokens", str(tokens), "--redis", url, name=f"s{i}").start()
        for i, url in enumerate(cluster.urls[:2])
    ]
    try:
        fix = {"lat": 60.17, "lng": 24.94}
        r = httpx.put(f"{procs[0].base}/v1/responders/t1/position", json=fix, headers=DISP)
        assert r.status_code == 200, r.text
        r = httpx.get(f"{procs[1].base}/v1/responders/t1", headers=DISP)
        assert r.status_code == 200 and r.json()["lat"] == 60.17
        assert httpx.get(f"{procs[1].base}/readyz").status_code == 200
    finally:
        for proc in procs:
            proc.stop()


def test_a_cluster_url_must_name_a_working_cluster(cluster, redis_server, region, tmp_path):
    from kayou_dispatch import InvalidParameterError, SharedStateError
    from tests.processes import RedisServer, free_port

    on = cluster.urls[1].replace("redis://", "redis-cluster://")
    engine = DispatchEngine(region, redis=on, clock=lambda: NOW)
    assert is_cluster(engine.shared_log._r) and engine.shared_log.prefix == "{kd}"
    engine.close()
    with pytest.raises(SharedStateError, match="can only be 0 in cluster mode"):
        DispatchEngine(region, redis=on.replace("/0", "/3"))  # a cluster has one database
    single = redis_server.url.replace("redis://", "redis-cluster://kayou:pw@")
    for make in (
        lambda url: DispatchEngine(region, redis=url),
        RedisLog,
        RedisPositions,
    ):
        with pytest.raises(InvalidParameterError, match="single Redis server, not a Redis Cluster"):
            make(redis_server.url.replace("redis://", "redis-cluster://"))
        with pytest.raises(SharedStateError, match="cannot be reached") as down:
            make(f"redis-cluster://kayou:pw@127.0.0.1:{free_port()}/0")
        assert "pw" not in str(down.value) and "\n" not in str(down.value)
    with pytest.raises(SharedStateError, match=r"refused us: .*password") as refused:
        DispatchEngine(region, redis=single)  # the password is refused: not shown either
    assert "pw" not in str(refused.value)
    lone = RedisServer(tmp_path, cluster_enabled=True).start()  # a node of no cluster
    try:
        for url in (lone.url, lone.url.replace("redis://", "redis-cluster://")):
            with pytest.raises(SharedStateError, match=r"cannot be used: .*slots"):
                DispatchEngine(region, redis=url)
    finally:
        lone.stop()


def test_serve_refuses_a_cluster_url_that_is_not_a_cluster_in_one_line(redis_server, tmp_path):
    import json
    import subprocess
    import sys

    from tests.processes import free_port
    from tests.server.conftest import TOKENS

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    single = redis_server.url.replace("redis://", "redis-cluster://")
    nothing = f"redis-cluster://127.0.0.1:{free_port()}/0"
    for url, why in ((single, "is a single Redis server"), (nothing, "cannot be reached")):
        cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--network", "helsinki"]
        cmd += ["--tokens", str(tokens), "--port", str(free_port()), "--redis", url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        (line,) = [x for x in done.stderr.splitlines() if "error:" in x]
        assert line.startswith("kayou-dispatch: error: --redis: ") and why in line, line
        assert "listening" not in done.stderr
