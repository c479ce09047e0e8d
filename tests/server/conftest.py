import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import json

from fastapi.testclient import TestClient

from kayou_dispatch import DispatchEngine, RoadNetwork, load_network
from kayou_dispatch.server import create_app
from kayou_dispatch.shared.shards import ShardMap
from tests.processes import ServeProcess, free_port
from tests.shared.test_shards import EXTRACT, three_shards

TOKENS = {
    "disp": {"role": "dispatcher"},
    "r17": {"role": "responder", "responder_id": "truck-17"},
    "r42": {"role": "responder", "responder_id": "truck-42"},
}
DISP = {"Authorization": "Bearer disp"}
R17 = {"Authorization": "Bearer r17"}
R42 = {"Authorization": "Bearer r42"}
SCENE = (60.1705, 24.9410)


@pytest.fixture(scope="session")
def network():
    return load_network("helsinki")


@pytest.fixture
def clock():
    return [1_000.0]


@pytest.fixture
def engine(network, clock):
    return DispatchEngine(network, clock=lambda: clock[0])


@pytest.fixture
def client(engine):
    app = create_app(engine, auth=TOKENS, tick_interval_s=None)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def fleet(client):
    for rid, lat, lng in (("truck-17", 60.1699, 24.9384), ("truck-42", 60.1712, 24.9420)):
        r = client.put(
            f"/v1/responders/{rid}/position", json={"lat": lat, "lng": lng}, headers=DISP
        )
        assert r.status_code == 200, r.text
    return client


@pytest.fixture(scope="session")
def net():
    """The real extract the shard tests cut into three shards."""
    if not EXTRACT.exists():
        pytest.skip(f"no {EXTRACT} (the shared real-data folder)")
    return RoadNetwork.from_osm(EXTRACT)


@pytest.fixture
def deployment(tmp_path, net, postgres_url):
    """Three shards on one national PostgreSQL log, a gateway in front."""
    yield from start_deployment(tmp_path, net, postgres_url)


def start_deployment(tmp_path, net, postgres_url, *serve_args, shard_args=None):
    """Start three shards (with ``serve_args``) and a gateway; yield, then stop them.

    ``shard_args`` maps a shard's name to more arguments for it alone.
    """
    shard_args = shard_args or {}
    saved = tmp_path / "net.npz"
    net.save(saved)
    ports = [free_port() for _ in range(3)]
    data = three_shards(net, urls=[f"http://127.0.0.1:{p}" for p in ports])
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps(data))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    common = ("--network", str(saved), "--tokens", str(tokens), "--lifecycle", postgres_url)
    common += serve_args
    shards = [
        ServeProcess(
            tmp_path,
            *common,
            "--shards",
            str(shards_file),
            "--shard",
            f"s{i}",
            *shard_args.get(f"s{i}", ()),
            name=f"s{i}",
            port=ports[i],
        )
        for i in range(3)
    ]
    for s in shards:
        s.start()
    gateway = ServeProcess(
        tmp_path,
        "--shards",
        str(shards_file),
        "--tokens",
        str(tokens),
        "--shard-timeout",
        "20",  # a killed shard refuses at once; a busy CI machine can be slow
        name="gateway",
        command="gateway",
    ).start()
    yield ShardMap.from_json(data), shards, gateway
    gateway.stop()
    for s in shards:
        s.stop()
