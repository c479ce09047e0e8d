"""The HTTP API: endpoints, status codes, auth and privacy, through TestClient."""

import json

import pytest

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.server import create_app, load_tokens

from .conftest import DISP, R17, R42, SCENE, TOKENS


def report(client, iid="inc-1", dispatch=True, **extra):
    body = {"incident_id": iid, "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    body.update(extra)
    if dispatch:
        body["dispatch"] = True
    return client.post("/v1/incidents", json=body, headers=DISP)


def offered_to(client, iid="inc-1"):
    inc = client.get(f"/v1/incidents/{iid}", headers=DISP).json()
    return [o["responder_id"] for o in inc["offers"]]


def test_healthz_and_docs_need_no_token(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/incidents/{incident_id}/offers/{responder_id}/accept" in paths


def test_full_lifecycle(fleet, engine):
    r = report(fleet)
    assert r.status_code == 201
    assert r.json()["status"] == "open"
    (rid,) = offered_to(fleet)
    tok = R17 if rid == "truck-17" else R42
    r = fleet.post(f"/v1/incidents/inc-1/offers/{rid}/accept", headers=tok)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned" and r.json()["stage"] == "assigned"
    r = fleet.post(f"/v1/incidents/inc-1/offers/{rid}/arrive", headers=tok)
    assert r.json()["status"] == "on_scene"
    r = fleet.post("/v1/incidents/inc-1/resolve", headers=DISP)
    assert r.json()["status"] == "resolved"
    assert engine.responder(rid).status.value == "available"


def test_decline_cascades_and_dispatch_endpoint(fleet):
    report(fleet, dispatch=False)
    r = fleet.post("/v1/incidents/inc-1/dispatch", headers=DISP)
    assert r.status_code == 200
    (first,) = [o["responder_id"] for o in r.json()["offers"]]
    tok = R17 if first == "truck-17" else R42
    assert fleet.post(f"/v1/incidents/inc-1/offers/{first}/decline", headers=tok).status_code == 200
    assert offered_to(fleet) == [{"truck-17": "truck-42", "truck-42": "truck-17"}[first]]


def test_bulk_positions_and_rank(client):
    rows = [{"id": f"r{i}", "lat": 60.17 + i * 1e-4, "lng": 24.94} for i in range(50)]
    r = client.post("/v1/positions", json={"positions": rows}, headers=DISP)
    assert r.json() == {"received": 50, "applied": 50}
    r = client.get("/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1], "k": 3}, headers=DISP)
    cands = r.json()["candidates"]
    assert len(cands) == 3
    assert [c["eta_s"] for c in cands] == sorted(c["eta_s"] for c in cands)


def test_availability(fleet, engine):
    # a dispatcher grants capabilities (#17: a responder may only keep or drop them)
    grant = {"capabilities": ["mechanic", "tow"]}
    assert fleet.put("/v1/responders/truck-17/availability", json=grant, headers=DISP).is_success
    r = fleet.put(
        "/v1/responders/truck-17/availability",
        json={"status": "offline", "capabilities": ["mechanic"]},
        headers=R17,
    )
    assert r.json() == {
        "responder_id": "truck-17",
        "status": "offline",
        "capabilities": ["mechanic"],
    }
    assert engine.get("truck-17").status.value == "offline"
    r = fleet.put("/v1/responders/truck-17/availability", json={"status": "assigned"}, headers=R17)
    assert r.status_code == 422
    r = fleet.put("/v1/responders/nobody/availability", json={"status": "offline"}, headers=DISP)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/v1/responders/truck-17/position", {"lat": 60.17, "lng": 24.94}),
        ("post", "/v1/positions", {"positions": []}),
        ("get", "/v1/rank?lat=60.17&lng=24.94", None),
        ("post", "/v1/incidents/inc-1/resolve", None),
    ],
)
def test_no_or_bad_token_is_401(client, method, path, body):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic disp"}):
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


def test_401_comes_before_parsing_the_body(client):
    r = client.post(
        "/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401


def test_responder_rules(fleet):
    # someone else's position, batch rows or availability: 403
    assert (
        fleet.put(
            "/v1/responders/truck-42/position", json={"lat": 60.17, "lng": 24.94}, headers=R17
        ).status_code
        == 403
    )
    rows = {"positions": [{"id": "truck-42", "lat": 60.17, "lng": 24.94}]}
    assert fleet.post("/v1/positions", json=rows, headers=R17).status_code == 403
    rows = {"positions": [{"id": "truck-17", "lat": 60.17, "lng": 24.94}]}
    assert fleet.post("/v1/positions", json=rows, headers=R17).status_code == 200
    assert fleet.get("/v1/responders/truck-42", headers=R17).status_code == 403
    assert fleet.get("/v1/responders/truck-17", headers=R17).status_code == 200
    # dispatcher-only endpoints
    assert (
        fleet.get("/v1/rank", params={"lat": 60.17, "lng": 24.94}, headers=R17).status_code == 403
    )
    body = {"incident_id": "x", "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    assert fleet.post("/v1/incidents", json=body, headers=R17).status_code == 403
    report(fleet)
    (rid,) = offered_to(fleet)
    other = "truck-42" if rid == "truck-17" else "truck-17"
    mine, theirs = (R17, R42) if rid == "truck-17" else (R42, R17)
    for path in ("resolve", "cancel", "dispatch"):
        assert fleet.post(f"/v1/incidents/inc-1/{path}", headers=mine).status_code == 403
    # answering someone else's offer: 403
    assert fleet.post(f"/v1/incidents/inc-1/offers/{rid}/accept", headers=theirs).status_code == 403
    # privacy: the one not offered cannot see the incident at all; the offered one can
    assert fleet.get("/v1/incidents/inc-1", headers=theirs).status_code == 404
    assert (
        fleet.post(f"/v1/incidents/inc-1/offers/{other}/accept", headers=theirs).status_code == 404
    )
    seen = fleet.get("/v1/incidents/inc-1", headers=mine).json()
    assert seen["lat"] == pytest.approx(SCENE[0])
    assert seen["offer"]["responder_id"] == rid
    assert "offers" not in seen and "assigned" not in seen  # nobody else's details


def test_status_codes(fleet):
    assert report(fleet).status_code == 201
    assert report(fleet).status_code == 409  # duplicate
    assert fleet.get("/v1/incidents/nope", headers=DISP).status_code == 404
    assert fleet.post("/v1/incidents/nope/cancel", headers=DISP).status_code == 404
    assert fleet.post("/v1/incidents/inc-1/offers/nobody/accept", headers=DISP).status_code == 404
    assert (
        fleet.post("/v1/incidents/inc-1/resolve", headers=DISP).status_code == 409
    )  # nobody assigned
    assert fleet.post("/v1/incidents/inc-1/cancel", headers=DISP).status_code == 200
    r = fleet.post("/v1/incidents/inc-1/cancel", headers=DISP)
    assert r.status_code == 409 and "cancel" in r.json()["detail"]
    # off the network (the Baltic sea)
    r = report(fleet, "sea", lat=59.9, lng=24.9)
    assert r.status_code == 422 and r.json()["error"] == "OffNetworkError"
    r = report(fleet, "odd", kind="no-such-kind")
    assert r.status_code == 422 and "kind" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"lat": 91, "lng": 24.9}).encode(),
        json.dumps({"lat": 60.1, "lng": -181}).encode(),
        json.dumps({"lat": 60.1, "lng": 24.9, "colour": "red"}).encode(),
        json.dumps({"lat": "60.1x", "lng": 24.9}).encode(),
        b'{"lat": NaN, "lng": 24.9}',
        b'{"lat": 60.1, "lng": 24.9, "speed_kph": -5}',
    ],
)
def test_bad_bodies_are_422_with_a_message(client, body):
    r = client.put(
        "/v1/responders/truck-17/position",
        content=body,
        headers={**DISP, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_out_of_range_rank_query_is_422(client):
    r = client.get("/v1/rank", params={"lat": 95, "lng": 24.9}, headers=DISP)
    assert r.status_code == 422 and "lat" in r.json()["detail"]


def test_bodies_over_1mb_are_413(client):
    big = b'{"positions": [' + b" " * 1_100_000 + b"]}"
    headers = {**DISP, "Content-Type": "application/json"}
    assert client.post("/v1/positions", content=big, headers=headers).status_code == 413

    def chunks():  # streamed, no Content-Length: counted as it arrives
        yield b'{"positions": ['
        for _ in range(20):
            yield b" " * 60_000
        yield b"]}"

    r = client.post("/v1/positions", content=chunks(), headers=headers)
    assert r.status_code == 413


def test_rate_limit_is_429_per_token(engine):
    from fastapi.testclient import TestClient

    app = create_app(engine, auth=TOKENS, rate_limit=(1.0, 3), tick_interval_s=None)
    c = TestClient(app)
    codes = [c.get("/v1/incidents", headers=DISP).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert int(c.get("/v1/incidents", headers=DISP).headers["retry-after"]) >= 1
    assert c.get("/v1/responders/truck-17", headers=R17).status_code == 404  # own bucket


def test_tokens_from_file_and_env(tmp_path, engine, monkeypatch):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS))
    assert load_tokens(path)["r17"].responder_id == "truck-17"
    monkeypatch.setenv("KAYOU_TOKENS_FILE", str(path))
    assert load_tokens()["disp"].is_dispatcher
    create_app(engine)
    for bad in ({"t": {"role": "admin"}}, {"t": {"role": "responder"}}, str(tmp_path / "none")):
        with pytest.raises(InvalidParameterError):
            load_tokens(bad)
    monkeypatch.delenv("KAYOU_TOKENS_FILE")
    with pytest.raises(InvalidParameterError):
        create_app(engine)


def test_idempotency_key(fleet):
    body = {"incident_id": "i", "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    h = {**DISP, "Idempotency-Key": "k1"}
    assert fleet.post("/v1/incidents", json=body, headers=h).status_code == 201
    assert fleet.post("/v1/incidents", json=body, headers=h).status_code == 201


@pytest.mark.parametrize(
    "option",
    [
        {"tick_interval_s": 0},
        {"tick_interval_s": "1"},
        {"positions_interval_s": -1.0},
        {"positions_interval_s": 7200},
        {"max_body_bytes": 0},
        {"engine": None},
    ],
)
def test_bad_app_options_are_typed_errors(engine, option):
    kw = {"auth": TOKENS, **option}
    with pytest.raises(InvalidParameterError):
        create_app(kw.pop("engine", engine), **kw)


def test_availability_of_an_engaged_responder_is_409_from_the_lifecycle_rule(fleet, engine):
    (rid,) = [o["responder_id"] for o in report(fleet).json()["offers"]]
    tok = R17 if rid == "truck-17" else R42
    for status in ("offline", "available"):
        r = fleet.put(f"/v1/responders/{rid}/availability", json={"status": status}, headers=tok)
        assert r.status_code == 409 and r.json()["error"] == "InvalidTransitionError"
        assert "engaged" in r.json()["detail"]
    assert engine.responder(rid).status.value == "offered"
    fleet.post(f"/v1/incidents/inc-1/offers/{rid}/decline", headers=tok)
    r = fleet.put(f"/v1/responders/{rid}/availability", json={"status": "offline"}, headers=tok)
    assert r.status_code == 200 and r.json()["status"] == "offline"
