"""The console page and the ``/v1`` endpoints it draws from: roles, errors, happy paths."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kayou_dispatch.server import create_app
from kayou_dispatch.web import network_geometry

from .conftest import DISP, R17, SCENE, TOKENS

FAR = (60.1780, 24.9520)  # the north-east corner of the bundled network


@pytest.mark.parametrize(
    "path",
    [
        "/v1/network/geometry",
        "/v1/responders",
        f"/v1/route?from_lat={SCENE[0]}&from_lng={SCENE[1]}&to_lat={FAR[0]}&to_lng={FAR[1]}",
    ],
)
def test_console_reads_need_a_dispatcher_token(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(path, headers=R17).status_code == 403
    assert client.get(path, headers=DISP).status_code == 200


def test_console_page_refuses_a_missing_or_responder_token(client):
    r = client.get("/console")
    assert r.status_code == 401 and "missing token" in r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/console?token=nope").status_code == 401
    r = client.get("/console?token=r17")
    assert r.status_code == 403 and "dispatcher" in r.text
    r = client.get("/console", headers=DISP)  # a bearer header works too (e.g. a proxy)
    assert r.status_code == 200


def test_console_page_is_served_to_a_dispatcher_without_leaking_its_address(client):
    r = client.get("/console?token=disp")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<canvas" in r.text and "console/static/map.js" in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert "token=disp" not in r.text  # the page reads the token; it is never written into it


def test_console_static_files(client):
    kinds = {"map.js": "javascript", "console.js": "javascript", "console.css": "css"}
    for name, kind in kinds.items():
        r = client.get(f"/console/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
    assert "KayouMap" in client.get("/console/static/map.js").text
    assert client.get("/console/static/nope.js").status_code == 404
    assert client.get("/console/static/console.html").status_code == 404  # only via /console
    assert client.get("/console/static/..%2F_assets.py").status_code == 404


def test_network_geometry_is_the_cached_drawing_of_the_engine_network(client, network):
    r = client.get("/v1/network/geometry", headers=DISP)
    assert r.json() == network_geometry(network)
    assert r.content == client.get("/v1/network/geometry", headers=DISP).content
    assert len(r.content) < 20_000  # the bundled network: small enough to load at once


def test_responders_lists_positions_statuses_and_engagements(fleet):
    r = fleet.get("/v1/responders", headers=DISP)
    body = r.json()
    assert body["now"] == 1_000.0
    rows = {row["responder_id"]: row for row in body["responders"]}
    assert sorted(rows) == ["truck-17", "truck-42"]
    assert rows["truck-17"]["status"] == "available" and rows["truck-17"]["fresh"]
    assert rows["truck-17"]["lat"] == pytest.approx(60.1699)
    assert rows["truck-17"]["incident_id"] is None
    body = {"incident_id": "i1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire", "dispatch": True}
    fleet.post("/v1/incidents", json=body, headers=DISP)
    listed = fleet.get("/v1/responders", headers=DISP).json()["responders"]
    rows = {row["responder_id"]: row for row in listed}
    offered = [rid for rid, row in rows.items() if row["status"] == "offered"]
    assert offered and all(rows[rid]["incident_id"] == "i1" for rid in offered)


def test_route_follows_the_roads(client, network):
    q = {"from_lat": SCENE[0], "from_lng": SCENE[1], "to_lat": FAR[0], "to_lng": FAR[1]}
    body = client.get("/v1/route", params=q, headers=DISP).json()
    want = network.route(SCENE[0], SCENE[1], *FAR)
    assert body["reachable"] is True
    assert body["eta_s"] == pytest.approx(want.eta_s)
    assert body["distance_m"] == pytest.approx(want.distance_m)
    assert [tuple(c) for c in body["coords"]] == [tuple(c) for c in want.coords]
    assert len(body["coords"]) >= 2


def test_route_errors(client):
    q = {"from_lat": SCENE[0], "from_lng": SCENE[1], "to_lat": 0.0, "to_lng": 0.0}
    r = client.get("/v1/route", params=q, headers=DISP)
    assert r.status_code == 422 and r.json()["error"] == "OffNetworkError"
    q["to_lat"] = 91.0
    assert client.get("/v1/route", params=q, headers=DISP).status_code == 422
    del q["to_lat"]
    assert client.get("/v1/route", params=q, headers=DISP).status_code == 422


def test_offer_to_a_chosen_responder(fleet):
    body = {"incident_id": "i1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
    assert fleet.post("/v1/incidents", json=body, headers=DISP).status_code == 201
    url = "/v1/incidents/i1/offers/truck-42"
    assert fleet.post(url).status_code == 401
    assert fleet.post(url, headers=R17).status_code == 403
    r = fleet.post(url, headers=DISP)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["offer"]["responder_id"] == "truck-42" and got["offer"]["eta_s"] > 0
    assert [o["responder_id"] for o in got["incident"]["offers"]] == ["truck-42"]
    r = fleet.post(url, headers=DISP)
    assert r.status_code == 409 and r.json()["error"] == "InvalidTransitionError"
    # The responder accepts it with its own token, as any offer.
    r = fleet.post(f"{url}/accept", headers={"Authorization": "Bearer r42"})
    assert r.status_code == 200 and r.json()["status"] == "assigned"


def test_offer_errors(fleet):
    assert fleet.post("/v1/incidents/nope/offers/truck-17", headers=DISP).status_code == 404
    body = {"incident_id": "i1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
    fleet.post("/v1/incidents", json=body, headers=DISP)
    r = fleet.post("/v1/incidents/i1/offers/ghost", headers=DISP)
    assert r.status_code == 404 and r.json()["error"] == "UnknownResponderError"
    fleet.post("/v1/incidents/i1/cancel", headers=DISP)
    assert fleet.post("/v1/incidents/i1/offers/truck-17", headers=DISP).status_code == 409


def test_offer_is_idempotent_with_a_key(fleet):
    body = {"incident_id": "i1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
    fleet.post("/v1/incidents", json=body, headers=DISP)
    headers = {**DISP, "Idempotency-Key": "k-1"}
    first = fleet.post("/v1/incidents/i1/offers/truck-17", headers=headers)
    again = fleet.post("/v1/incidents/i1/offers/truck-17", headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["offer"] == again.json()["offer"]
    bad = {**DISP, "Idempotency-Key": "x" * 129}
    assert fleet.post("/v1/incidents/i1/offers/truck-42", headers=bad).status_code == 422


def test_console_works_mounted_under_a_prefix(engine):
    host = FastAPI()
    host.mount("/dispatch", create_app(engine, auth=TOKENS, tick_interval_s=None))
    client = TestClient(host)
    page = client.get("/dispatch/console?token=disp")
    assert page.status_code == 200
    # The page's URLs are relative, so they resolve under the prefix.
    assert 'src="console/static/map.js"' in page.text
    assert client.get("/dispatch/console/static/map.js").status_code == 200
    assert client.get("/dispatch/v1/network/geometry").status_code == 401
    assert client.get("/dispatch/v1/network/geometry", headers=DISP).status_code == 200
    assert client.get("/dispatch/console?token=r17").status_code == 403
