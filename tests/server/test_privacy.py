"""Who sees whose position, over real HTTP to a `kayou-dispatch serve` process.

A requester (the driver that asked for help) sees no responder before one accepts, then
the accepted helper at H3 resolution 8 until it is on scene; a responder sees an
incident's place only once it was offered; every other view is refused with a code.
"""

import asyncio
import json

import h3
import httpx
import pytest

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m
from kayou_dispatch.server import load_tokens
from kayou_dispatch.server._privacy import REQUESTER_CELL_RES
from tests.processes import ServeProcess

from .conftest import SCENE, TOKENS

REQUESTERS = {
    "q1": {"role": "requester", "requester_id": "shipper-1"},
    "q2": {"role": "requester", "requester_id": "shipper-2"},
}
DISP = {"Authorization": "Bearer disp"}
R17 = {"Authorization": "Bearer r17"}
R42 = {"Authorization": "Bearer r42"}
Q1 = {"Authorization": "Bearer q1"}
Q2 = {"Authorization": "Bearer q2"}
FIX17 = (60.1699, 24.9384)
FIX42 = (60.1712, 24.9420)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("privacy")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({**TOKENS, **REQUESTERS}))
    proc = ServeProcess(folder, "--tokens", str(tokens), "--tick-interval", "0.2").start()
    yield proc.base
    proc.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server, timeout=10) as client:
        for rid, (lat, lng), who in (("truck-17", FIX17, R17), ("truck-42", FIX42, R42)):
            r = client.put(
                f"/v1/responders/{rid}/position", json={"lat": lat, "lng": lng}, headers=who
            )
            assert r.status_code == 200, r.text
        yield client


def _report(http, incident_id, who, *, kind="fire", dispatch=True, **extra):
    body = {"incident_id": incident_id, "lat": SCENE[0], "lng": SCENE[1], "kind": kind}
    return http.post("/v1/incidents", json={**body, "dispatch": dispatch}, headers=who, **extra)


def _release(http, incident_id):
    assert http.post(f"/v1/incidents/{incident_id}/cancel", headers=DISP).status_code == 200


def test_a_requester_sees_its_helper_coarse_until_arrival_and_nobody_else(http):
    r = _report(http, "priv-1", Q1)
    assert r.status_code == 201, r.text
    seen = r.json()
    # Both trucks were offered (a fire is a broadcast), yet the requester learns nothing.
    assert seen["helpers"] == [] and "offers" not in seen and "truck-" not in r.text
    assert (seen["lat"], seen["lng"]) == SCENE  # its own point, precisely
    full = http.get("/v1/incidents/priv-1", headers=DISP).json()
    assert full["requester_id"] == "shipper-1"
    assert {o["responder_id"] for o in full["offers"]} == {"truck-17", "truck-42"}
    assert http.get("/v1/incidents/priv-1", headers=Q1).json()["helpers"] == []

    assert http.post("/v1/incidents/priv-1/offers/truck-17/accept", headers=R17).status_code == 200
    cell = h3.latlng_to_cell(*FIX17, REQUESTER_CELL_RES)
    for step in (None, "depart"):
        if step:
            r = http.post(f"/v1/incidents/priv-1/offers/truck-17/{step}", headers=R17)
            assert r.status_code == 200, r.text
        r = http.get("/v1/incidents/priv-1", headers=Q1)
        assert r.status_code == 200 and "truck-" not in r.text  # no ids, truck-42 unseen
        (helper,) = r.json()["helpers"]
        assert helper["stage"] == ("assigned" if step is None else "en_route")
        assert helper["precise"] is False and helper["cell"] == cell
        point = (helper["lat"], helper["lng"])
        assert point == pytest.approx(h3.cell_to_latlng(cell), abs=1e-12)
        assert point != FIX17 and 10.0 < haversine_m(*point, *FIX17) < 1_000.0

    assert http.post("/v1/incidents/priv-1/offers/truck-17/arrive", headers=R17).status_code == 200
    (helper,) = http.get("/v1/incidents/priv-1", headers=Q1).json()["helpers"]
    assert helper == {
        "stage": "on_scene",
        "lat": FIX17[0],
        "lng": FIX17[1],
        "precise": True,
        "cell": None,
    }
    assert http.post("/v1/incidents/priv-1/resolve", headers=DISP).status_code == 200
    closed = http.get("/v1/incidents/priv-1", headers=Q1).json()
    assert closed["status"] == "resolved" and closed["helpers"] == []


def test_a_requester_cannot_read_another_requesters_incident(http):
    assert _report(http, "priv-2", Q1, dispatch=False).status_code == 201
    assert _report(http, "priv-3", DISP, dispatch=False).status_code == 201
    unknown = http.get("/v1/incidents/priv-none", headers=Q2)
    assert unknown.status_code == 404 and unknown.json()["error"] == "UnknownIncidentError"
    for iid, who in (("priv-2", Q2), ("priv-3", Q1)):
        r = http.get(f"/v1/incidents/{iid}", headers=who)
        # Answered exactly as an unknown id: nothing tells it exists.
        assert r.status_code == 404 and r.json() == {
            "detail": f"no incident with id {iid!r}",
            "error": "UnknownIncidentError",
        }
    assert http.get("/v1/incidents/priv-2", headers=Q1).status_code == 200
    for iid in ("priv-2", "priv-3"):
        _release(http, iid)


def test_a_requesters_idempotency_key_is_its_own(http):
    key = {"Idempotency-Key": "report-1"}
    first = _report(http, "priv-4", {**Q1, **key}, dispatch=False)
    again = _report(http, "priv-4", {**Q1, **key}, dispatch=False)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = _report(http, "priv-4", {**Q2, **key}, dispatch=False)
    assert other.status_code == 409 and other.json()["error"] == "DuplicateIncidentError"
    _release(http, "priv-4")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/responders/truck-17", None),
        ("PUT", "/v1/responders/truck-17/position", {"lat": FIX17[0], "lng": FIX17[1]}),
        ("PUT", "/v1/responders/truck-17", {"capabilities": []}),
        ("PUT", "/v1/responders/truck-17/availability", {"status": "offline"}),
        ("POST", "/v1/positions", {"positions": []}),
        ("POST", "/v1/incidents/priv-x/offers/truck-17/accept", None),
    ],
)
def test_a_requester_is_refused_the_fleet_with_a_code(http, method, path, body):
    r = http.request(method, path, json=body, headers=Q1)
    assert r.status_code == 403 and r.json()["error"] == "RoleNotAllowed", r.text


def test_a_requester_is_refused_dispatcher_views_and_the_event_stream(http, server):
    for path in ("/v1/incidents", "/v1/responders", "/v1/teams"):
        assert http.get(path, headers=Q1).status_code == 403
    r = http.get("/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]}, headers=Q1)
    assert r.status_code == 403
    # A responder may not report (a requester or a dispatcher does).
    r = _report(http, "priv-5", R17)
    assert r.status_code == 403 and r.json()["error"] == "RoleNotAllowed"
    websockets = pytest.importorskip("websockets")

    async def handshake(token: str) -> int:
        url = server.replace("http", "ws") + f"/v1/events?token={token}"
        try:
            async with websockets.connect(url):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    # Closed before the handshake completes: the server answers it with HTTP 403.
    assert asyncio.run(handshake("q1")) == 403
    assert asyncio.run(handshake("r17")) == 101


def test_the_event_stream_closes_a_requester_with_4403(engine):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from kayou_dispatch.server import create_app

    app = create_app(engine, auth={**TOKENS, **REQUESTERS}, tick_interval_s=None)
    with (
        pytest.raises(WebSocketDisconnect) as info,
        TestClient(app).websocket_connect("/v1/events?token=q1") as ws,
    ):
        ws.receive_json()
    assert info.value.code == 4403 and "GET /v1/incidents/" in info.value.reason


def test_a_responder_sees_an_incidents_point_only_once_offered(http):
    assert _report(http, "priv-6", Q1, kind="other", dispatch=False).status_code == 201
    hidden = http.get("/v1/incidents/priv-6", headers=R42)
    assert hidden.status_code == 404 and hidden.json()["error"] == "UnknownIncidentError"
    assert "lat" not in hidden.text
    r = http.post("/v1/incidents/priv-6/offers/truck-42", headers=DISP)
    assert r.status_code == 201, r.text
    seen = http.get("/v1/incidents/priv-6", headers=R42).json()
    assert (seen["lat"], seen["lng"]) == SCENE and seen["offer"]["responder_id"] == "truck-42"
    assert "requester_id" not in seen and "shipper" not in json.dumps(seen)
    assert http.get("/v1/incidents/priv-6", headers=R17).status_code == 404  # not offered
    _release(http, "priv-6")


def test_the_openapi_document_states_the_views(http):
    doc = http.get("/openapi.json").json()
    text = {
        name: " ".join(s.get("description", "").split())
        for name, s in doc["components"]["schemas"].items()
    }
    assert "never before it accepts" in text["HelperOut"] and "resolution-8" in text["HelperOut"]
    assert "only once the incident was offered to it" in text["IncidentSeenOut"]
    assert "Another requester's incident answers as an unknown one" in text["IncidentRequestedOut"]
    get_one = doc["paths"]["/v1/incidents/{incident_id}"]["get"]
    ok = json.dumps(get_one["responses"]["200"])
    assert all(name in ok for name in ("IncidentOut", "IncidentSeenOut", "IncidentRequestedOut"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "requester"}, "a requester token needs a non-empty 'requester_id'"),
        ({"role": "requester", "requester_id": ""}, "needs a non-empty 'requester_id'"),
        ({"role": "requester", "requester_id": 4}, "needs a non-empty 'requester_id'"),
        (
            {"role": "requester", "requester_id": "s1", "responder_id": "truck-17"},
            "a requester token takes no 'responder_id'",
        ),
        ({"role": "responder", "responder_id": "r", "requester_id": "s"}, "takes no"),
        ({"role": "dispatcher", "requester_id": "s"}, "a dispatcher token takes no"),
    ],
)
def test_a_requester_token_without_its_id_stops_serve_at_start(entry, message, tmp_path, capsys):
    from kayou_dispatch.cli import main

    with pytest.raises(InvalidParameterError, match=message):
        load_tokens({"t": entry})
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({**TOKENS, "t": entry}))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--tokens", str(tokens), "--network", "helsinki"])
    assert exc.value.code == 2 and message in capsys.readouterr().err
