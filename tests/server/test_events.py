"""Live events over the WebSocket: everything for dispatchers, own offers for responders."""

import threading

import pytest
from starlette.websockets import WebSocketDisconnect

from .conftest import DISP, R17, R42, SCENE


def report(client, iid):
    body = {"incident_id": iid, "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    return client.post("/v1/incidents", json={**body, "dispatch": True}, headers=DISP).json()


def test_dispatcher_sees_everything_responder_only_its_offers(fleet):
    with (
        fleet.websocket_connect("/v1/events", headers=DISP) as disp,
        fleet.websocket_connect("/v1/events?token=r17") as r17,
        fleet.websocket_connect("/v1/events", headers=R42) as r42,
    ):
        inc = report(fleet, "inc-1")
        (offer,) = inc["offers"]
        assert [disp.receive_json()["kind"] for _ in range(2)] == ["reported", "offer_made"]
        mine, other = (r17, r42) if offer["responder_id"] == "truck-17" else (r42, r17)
        got = mine.receive_json()
        assert got["kind"] == "offer_made" and got["incident"]["lat"] == pytest.approx(SCENE[0])
        fleet.post("/v1/incidents/inc-1/cancel", headers=DISP)
        assert mine.receive_json()["kind"] == "offer_withdrawn"
        assert mine.receive_json()["kind"] == "cancelled"
        # the other responder got nothing about inc-1: the next thing it sees is its own offer
        busy = offer["responder_id"]
        off = {"status": "offline"}
        fleet.put(f"/v1/responders/{busy}/availability", json=off, headers=DISP)
        report(fleet, "inc-2")
        nxt = other.receive_json()
        assert nxt["incident_id"] == "inc-2" and nxt["responder_id"] != offer["responder_id"]


def test_events_from_another_thread_reach_the_client(fleet, engine):
    with fleet.websocket_connect("/v1/events", headers=DISP) as ws:
        t = threading.Thread(
            target=engine.report_incident, args=("inc-t", *SCENE), kwargs={"kind": "directions"}
        )
        t.start()
        t.join()
        assert ws.receive_json()["incident_id"] == "inc-t"


def test_events_need_a_token(fleet):
    for kw in ({}, {"headers": {"Authorization": "Bearer nope"}}):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            fleet.websocket_connect("/v1/events", **kw),
        ):
            pass
        assert info.value.code == 4401


def test_the_running_app_ticks_offer_expiries(engine, clock):
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    from .conftest import TOKENS

    engine.update_position("truck-17", 60.1699, 24.9384)
    app = create_app(engine, auth=TOKENS, tick_interval_s=0.05)
    with TestClient(app) as c, c.websocket_connect("/v1/events", headers=R17) as ws:
        report(c, "inc-x")
        assert ws.receive_json()["kind"] == "offer_made"
        clock[0] += 3600  # past the offer's time-out: the background tick expires it
        assert ws.receive_json()["kind"] == "offer_expired"
