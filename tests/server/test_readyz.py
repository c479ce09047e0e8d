"""`/readyz` knows the engine's stores: 503 while the journal or Redis does not answer."""

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from kayou_dispatch import DispatchEngine
from kayou_dispatch.server import create_app
from tests.processes import RedisServer, ServeProcess

from .conftest import TOKENS


def test_ready_without_stores(client):
    r = client.get("/readyz")  # no token needed
    assert r.status_code == 200 and r.json() == {"status": "ready", "stores": []}


def test_not_ready_while_the_journal_file_is_gone(network, tmp_path):
    path = tmp_path / "journal.db"
    with DispatchEngine(network, journal=path) as engine:
        client = TestClient(create_app(engine, auth=TOKENS, tick_interval_s=None))
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["stores"] == [str(path)]
        path.rename(tmp_path / "moved.db")
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["error"] == "SharedStateError" and "journal" in r.json()["detail"]
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        (tmp_path / "moved.db").rename(path)
        assert client.get("/readyz").status_code == 200


def _wait_for(url, status, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        r = httpx.get(url, timeout=12)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@pytest.mark.redis
@pytest.mark.slow
def test_not_ready_while_redis_is_down_and_ready_again_after(tmp_path):
    pytest.importorskip("redis")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    redis = RedisServer(tmp_path).start()
    proc = ServeProcess(tmp_path, "--tokens", str(tokens), "--redis", redis.url).start()
    try:
        r = httpx.get(f"{proc.base}/readyz")
        assert r.status_code == 200 and r.json()["stores"] == [redis.url]
        redis.stop()
        r = _wait_for(f"{proc.base}/readyz", 503)
        assert r.status_code == 503 and r.json()["error"] == "SharedStateError"
        assert f"127.0.0.1:{redis.port}" in r.json()["detail"]
        assert httpx.get(f"{proc.base}/healthz").status_code == 200
        text = httpx.get(f"{proc.base}/metrics").text
        (line,) = [
            x for x in text.splitlines() if x.startswith('kayou_store_errors_total{store="redis"}')
        ]
        assert float(line.split()[-1]) >= 1
        redis.start()  # same port, same append-only file
        r = _wait_for(f"{proc.base}/readyz", 200)
        assert r.status_code == 200 and r.json()["status"] == "ready"
    finally:
        proc.stop()
        redis.stop()
