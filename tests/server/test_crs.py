"""`?crs=gcj02|bd09`: Chinese apps send and receive their own coordinates; WGS-84 is stored.

On a real Shanghai extract (where the shifts apply: hundreds of metres), a phone sends its
fix in GCJ-02 or BD-09, the engine holds the WGS-84 point, and each caller reads points
back in the crs it asks for.
"""

import pytest
from fastapi.testclient import TestClient

from kayou_dispatch import (
    DispatchEngine,
    RoadNetwork,
    bd09_to_wgs84,
    haversine_m,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from kayou_dispatch.server import create_app
from tests.network.shared_data import need_data

from .conftest import DISP, TOKENS

pytest.importorskip("osmium")

TO = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


@pytest.fixture(scope="module")
def shanghai():
    return RoadNetwork.from_osm(need_data("shanghai_central.osm"))


@pytest.fixture
def sh(shanghai):
    clock = [1_000.0]
    engine = DispatchEngine(shanghai, clock=lambda: clock[0])
    client = TestClient(create_app(engine, auth=TOKENS, tick_interval_s=None))
    return engine, client


def node(net, i):
    return float(net.node_lat[i]), float(net.node_lng[i])


def close(a, b, m=0.01):
    return haversine_m(*a, *b) < m


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_fix_sent_in_a_chinese_crs_is_stored_as_wgs84_and_read_back_in_either(sh, crs):
    engine, client = sh
    wgs = node(engine.network, 10)
    sent = TO[crs](*wgs)
    assert haversine_m(*wgs, *sent) > 100  # the shift is real here
    body = {"lat": sent[0], "lng": sent[1]}
    r = client.put(f"/v1/responders/truck-17/position?crs={crs}", json=body, headers=DISP)
    assert r.status_code == 200 and r.json()["applied"] is True
    stored = engine.get("truck-17")
    assert close((stored.lat, stored.lng), wgs)
    got = client.get("/v1/responders/truck-17", headers=DISP).json()
    assert close((got["lat"], got["lng"]), wgs)  # no crs: WGS-84
    got = client.get("/v1/responders/truck-17", params={"crs": crs}, headers=DISP).json()
    assert close((got["lat"], got["lng"]), sent)
    rows = client.get("/v1/responders", params={"crs": crs}, headers=DISP).json()["responders"]
    assert close((rows[0]["lat"], rows[0]["lng"]), sent)


def test_bulk_rank_incident_and_route_in_bd09(sh):
    engine, client = sh
    net = engine.network
    fleet = {f"t{i}": node(net, i * 37) for i in range(1, 8)}
    rows = [
        {"id": rid, "lat": wgs84_to_bd09(*p)[0], "lng": wgs84_to_bd09(*p)[1]}
        for rid, p in fleet.items()
    ]
    r = client.post("/v1/positions?crs=bd09", json={"positions": rows}, headers=DISP)
    assert r.json() == {"received": 7, "applied": 7}
    for rid, p in fleet.items():
        got = engine.get(rid)
        assert close((got.lat, got.lng), p)

    scene = node(net, 500)
    bd = wgs84_to_bd09(*scene)
    plain = client.get("/v1/rank", params={"lat": scene[0], "lng": scene[1]}, headers=DISP)
    baidu = client.get("/v1/rank", params={"lat": bd[0], "lng": bd[1], "crs": "bd09"}, headers=DISP)
    assert plain.status_code == baidu.status_code == 200
    ids = [c["responder_id"] for c in plain.json()["candidates"]]
    assert ids and ids == [c["responder_id"] for c in baidu.json()["candidates"]]
    etas = [c["eta_s"] for c in plain.json()["candidates"]]
    assert [c["eta_s"] for c in baidu.json()["candidates"]] == pytest.approx(etas, abs=0.01)

    body = {"incident_id": "inc-1", "lat": bd[0], "lng": bd[1], "kind": "fire", "dispatch": True}
    r = client.post("/v1/incidents?crs=bd09", json=body, headers=DISP)
    assert r.status_code == 201 and close((r.json()["lat"], r.json()["lng"]), bd)
    inc = engine.incident("inc-1")
    assert close((inc.lat, inc.lng), scene)
    got = client.get("/v1/incidents/inc-1", headers=DISP).json()
    assert close((got["lat"], got["lng"]), scene)
    listed = client.get("/v1/incidents?crs=gcj02", headers=DISP).json()["incidents"]
    assert close((listed[0]["lat"], listed[0]["lng"]), wgs84_to_gcj02(*scene))

    start = fleet["t1"]
    q = {"from_lat": wgs84_to_bd09(*start)[0], "from_lng": wgs84_to_bd09(*start)[1]}
    q |= {"to_lat": bd[0], "to_lng": bd[1]}
    shape_bd = client.get("/v1/route", params={**q, "crs": "bd09"}, headers=DISP).json()
    q = {"from_lat": start[0], "from_lng": start[1], "to_lat": scene[0], "to_lng": scene[1]}
    shape = client.get("/v1/route", params=q, headers=DISP).json()
    assert shape_bd["eta_s"] == pytest.approx(shape["eta_s"], abs=0.01)
    assert len(shape_bd["coords"]) == len(shape["coords"]) > 1
    for (la, ln), (wla, wln) in zip(shape_bd["coords"], shape["coords"], strict=True):
        assert close(bd09_to_wgs84(la, ln), (wla, wln), m=0.05)


def test_outside_china_every_crs_is_the_same(client):
    body = {"lat": 60.1699, "lng": 24.9384}  # Helsinki: no shift anywhere
    for crs in ("wgs84", "gcj02", "bd09"):
        r = client.put(f"/v1/responders/truck-17/position?crs={crs}", json=body, headers=DISP)
        assert r.status_code == 200
        got = client.get(f"/v1/responders/truck-17?crs={crs}", headers=DISP).json()
        assert (got["lat"], got["lng"]) == (60.1699, 24.9384)


def test_an_unknown_crs_is_a_422(client):
    body = {"lat": 60.1699, "lng": 24.9384}
    r = client.put("/v1/responders/truck-17/position?crs=epsg3857", json=body, headers=DISP)
    assert r.status_code == 422 and "crs" in r.text
    r = client.get("/v1/rank", params={"lat": 60.17, "lng": 24.94, "crs": "GCJ"}, headers=DISP)
    assert r.status_code == 422


def test_openapi_documents_crs_on_the_point_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/v1/responders/{responder_id}/position", "put"),
        ("/v1/positions", "post"),
        ("/v1/rank", "get"),
        ("/v1/route", "get"),
        ("/v1/incidents", "post"),
        ("/v1/incidents/{incident_id}", "get"),
    ]:
        names = [p["name"] for p in paths[path][method].get("parameters", [])]
        assert "crs" in names, (path, method)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_the_event_stream_speaks_the_crs_asked_for(sh, crs):
    engine, client = sh
    net = engine.network
    engine.update_position("truck-17", *node(net, 10))
    scene = node(net, 12)
    with (
        client.websocket_connect(f"/v1/events?token=r17&crs={crs}") as mine,
        client.websocket_connect("/v1/events?token=r17") as plain,
        client.websocket_connect(f"/v1/events?crs={crs}", headers=DISP) as disp,
    ):
        body = {"incident_id": "i", "lat": scene[0], "lng": scene[1], "kind": "directions"}
        assert client.post(
            "/v1/incidents", json={**body, "dispatch": True}, headers=DISP
        ).is_success
        got = mine.receive_json()
        assert got["kind"] == "offer_made"
        at = (got["incident"]["lat"], got["incident"]["lng"])
        assert close(at, TO[crs](*scene)) and not close(at, scene, m=100)
        wgs = plain.receive_json()["incident"]
        assert close((wgs["lat"], wgs["lng"]), scene)
        assert disp.receive_json()["kind"] == "reported"


def test_the_fleet_feed_is_converted_per_listener(shanghai):
    # The hub publishes one dict to every dispatcher: each listener's crs applies to a copy.
    engine = DispatchEngine(shanghai, clock=lambda: 1_000.0)
    app = create_app(engine, auth=TOKENS, tick_interval_s=None, positions_interval_s=0.05)
    here = node(shanghai, 10)
    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/events?crs=bd09", headers=DISP) as bd,
        client.websocket_connect("/v1/events", headers=DISP) as wgs,
    ):
        engine.update_position("truck-17", *here)
        a, b = bd.receive_json(), wgs.receive_json()
    assert a["kind"] == b["kind"] == "positions"
    (ra,), (rb,) = a["responders"], b["responders"]
    assert close((rb["lat"], rb["lng"]), here)
    assert close((ra["lat"], ra["lng"]), TO["bd09"](*here))


def test_an_unknown_crs_on_the_event_stream_closes_it(client):
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/v1/events?token=r17&crs=utm") as ws,
    ):
        ws.receive_json()
    assert info.value.code == 4422 and "utm" in info.value.reason
