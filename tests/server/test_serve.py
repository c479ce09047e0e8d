"""`kayou-dispatch serve` as a real process on a loopback port, spoken to over real HTTP."""

import asyncio
import json

import httpx
import pytest

from tests.processes import ServeProcess

from .conftest import SCENE, TOKENS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    proc = ServeProcess(folder, "--tokens", str(tokens), "--tick-interval", "0.2").start()
    yield proc.base
    proc.stop()


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redis", "redis://127.0.0.1:1/0", "--journal", "j.db"], "exclude each other"),
        (["--redis", "http://example.com"], "redis:// URL"),
    ],
)
def test_serve_refuses_bad_shared_state_options(args, message, capsys, tmp_path):
    from kayou_dispatch.cli import main

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--tokens", str(tokens), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_two_authorization_headers_over_a_real_socket_are_a_400(server):
    headers = [("Authorization", "Bearer r17"), ("Authorization", "Bearer disp")]
    r = httpx.get(f"{server}/v1/responders", headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "DuplicateAuthorizationHeader", r.text
    r = httpx.get(f"{server}/v1/responders", headers=headers[1:])
    assert r.status_code == 200


def test_two_authorization_headers_on_a_real_websocket_are_refused(server):
    websockets = pytest.importorskip("websockets")
    url = server.replace("http", "ws") + "/v1/events"
    one = [("Authorization", "Bearer disp")]

    async def connect(headers):
        async with websockets.connect(url, additional_headers=headers, open_timeout=5):
            return True

    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(connect([("Authorization", "Bearer r17"), *one]))
    assert asyncio.run(connect(one))


def test_serve_with_a_capability_registry(tmp_path):
    registry = tmp_path / "capabilities.json"
    registry.write_text(json.dumps(["tow", "crane"]))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    proc = ServeProcess(tmp_path, "--tokens", str(tokens), "--capabilities", str(registry))
    base = proc.start().base
    try:
        disp = {"Authorization": "Bearer disp"}
        fix = {"lat": 60.1699, "lng": 24.9384}
        httpx.put(f"{base}/v1/responders/truck-17/position", json=fix, headers=disp)
        url = f"{base}/v1/responders/truck-17/availability"
        r = httpx.put(url, json={"capabilities": ["heavy_tow"]}, headers=disp)
        assert r.status_code == 422 and "heavy_tow" in r.json()["detail"], r.text
        r = httpx.put(url, json={"capabilities": ["tow", "crane"]}, headers=disp)
        assert r.status_code == 200 and r.json()["capabilities"] == ["crane", "tow"]
        body = {"incident_id": "i", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
        r = httpx.post(f"{base}/v1/incidents", json={**body, "needs": ["rocket"]}, headers=disp)
        assert r.status_code == 422 and "rocket" in r.json()["detail"], r.text
        r = httpx.put(url, json={"capabilities": ["tow"]}, headers={"Authorization": "Bearer r17"})
        assert r.status_code == 200 and r.json()["capabilities"] == ["tow"]
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "cannot read"),
        ('{"tow": 1}', "JSON list"),
        ('["tow", 3]', "JSON list"),
        ('["tow", ""]', "JSON list"),
    ],
)
def test_serve_refuses_a_bad_capability_file(content, message, capsys, tmp_path):
    from kayou_dispatch.cli import main

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    registry = tmp_path / "caps.json"
    if content is not None:
        registry.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--tokens", str(tokens), "--capabilities", str(registry)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--capabilities" in err and message in err, err


@pytest.mark.parametrize(
    ("flag", "tokens"),
    [("--rate-limit", ("disp", "disp", "disp")), ("--ip-rate-limit", ("disp", "r17", "r42"))],
)
def test_serve_rate_limits_are_429_with_retry_after(flag, tokens, tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS))
    proc = ServeProcess(tmp_path, "--tokens", str(path), flag, "2").start()
    try:
        with httpx.Client(base_url=proc.base) as c:
            codes = [
                c.get("/v1/responders/truck-17", headers={"Authorization": f"Bearer {t}"})
                for t in tokens
            ]
        assert [r.status_code for r in codes[:2]] == [404, 404]
        assert codes[2].status_code == 429 and int(codes[2].headers["retry-after"]) >= 1
        assert codes[2].json()["error"] == "RateLimited"
    finally:
        proc.stop()


@pytest.mark.parametrize("value", ["0", "-1", "fast", "nan", "5,0", "5,x"])
@pytest.mark.parametrize("flag", ["--rate-limit", "--ip-rate-limit"])
def test_serve_refuses_bad_rate_limits(flag, value, capsys, tmp_path):
    from kayou_dispatch.cli import main

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--tokens", str(tokens), flag, value])
    assert exc.value.code == 2 and flag in capsys.readouterr().err
