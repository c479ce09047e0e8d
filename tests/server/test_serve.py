"""`kayou-dispatch serve` as a real process on a loopback port, spoken to over real HTTP."""

import asyncio
import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import SCENE, TOKENS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tokens = tmp_path_factory.mktemp("serve") / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    port = free_port()
    cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--port", str(port)]
    cmd += ["--tokens", str(tokens), "--tick-interval", "0.2"]
    log = tokens.with_name("server.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_health_and_authenticated_calls(server):
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    r = httpx.put(
        f"{server}/v1/responders/truck-17/position", json={"lat": 60.1699, "lng": 24.9384}
    )
    assert r.status_code == 401
    disp = {"Authorization": "Bearer disp"}
    r = httpx.put(
        f"{server}/v1/responders/truck-17/position",
        json={"lat": 60.1699, "lng": 24.9384},
        headers={"Authorization": "Bearer r17"},
    )
    assert r.status_code == 200 and r.json()["applied"] is True
    r = httpx.get(f"{server}/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]}, headers=disp)
    assert [c["responder_id"] for c in r.json()["candidates"]] == ["truck-17"]


def test_live_events_over_a_real_socket(server):
    websockets = pytest.importorskip("websockets")
    ws_url = server.replace("http", "ws") + "/v1/events?token=r17"
    disp = {"Authorization": "Bearer disp"}
    httpx.put(
        f"{server}/v1/responders/truck-17/position",
        json={"lat": 60.1699, "lng": 24.9384},
        headers=disp,
    )

    async def run():
        async with websockets.connect(ws_url) as ws:
            body = {"incident_id": "live-1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
            r = httpx.post(f"{server}/v1/incidents", json={**body, "dispatch": True}, headers=disp)
            assert r.status_code == 201
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert got["kind"] == "offer_made" and got["incident"]["kind"] == "fire"
            return got

    got = asyncio.run(run())
    assert got["responder_id"] == "truck-17"
