"""Registration before the first fix, and fixes far off the network (issue 18).

The order a phone follows: ``PUT /v1/responders/{id}`` with what it carries (or
``capabilities`` in its first position), then its positions. A fix more than 1 km
outside the road network's area is stored and flagged ``on_network: false``, never ranked.
"""

import pytest

from .conftest import DISP, R17, R42

NEAR = {"lat": 60.1699, "lng": 24.9384}


def test_a_phone_registers_its_capabilities_before_its_first_fix(client):
    r = client.get("/v1/responders/truck-17", headers=R17)
    assert r.status_code == 404  # no position yet
    r = client.put("/v1/responders/truck-17", json={"capabilities": ["tow", "winch"]}, headers=R17)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "responder_id": "truck-17",
        "capabilities": ["tow", "winch"],
        "positioned": False,
    }
    assert client.put("/v1/responders/truck-17/position", json=NEAR, headers=R17).is_success
    got = client.get("/v1/responders/truck-17", headers=R17).json()
    assert got["capabilities"] == ["tow", "winch"]
    ranked = client.get("/v1/rank", params={**NEAR, "needs": "winch"}, headers=DISP).json()[
        "candidates"
    ]
    assert [c["responder_id"] for c in ranked] == ["truck-17"]
    # Positioned now: a responder token may drop, not grant.
    r = client.put("/v1/responders/truck-17", json={"capabilities": ["crane"]}, headers=R17)
    assert r.status_code == 403 and r.json()["error"] == "CapabilityGrantRefused"
    r = client.put("/v1/responders/truck-17", json={"capabilities": ["tow"]}, headers=R17)
    assert r.json() == {"responder_id": "truck-17", "capabilities": ["tow"], "positioned": True}
    r = client.put("/v1/responders/truck-17", json={"capabilities": ["crane"]}, headers=DISP)
    assert r.status_code == 200 and r.json()["capabilities"] == ["crane"]


def test_registration_refusals(client):
    assert (
        client.put("/v1/responders/truck-42", json={"capabilities": []}, headers=R17).status_code
        == 403
    )
    assert client.put("/v1/responders/truck-42", json={}, headers=R42).status_code == 422
    r = client.put("/v1/responders/truck-42", json={"capabilities": [""]}, headers=R42)
    assert r.status_code == 422
    r = client.put("/v1/responders/truck-42", json={"capabilities": "tow"}, headers=R42)
    assert r.status_code == 422


def test_registration_checks_the_capability_registry(network):
    from fastapi.testclient import TestClient

    from kayou_dispatch import DispatchEngine
    from kayou_dispatch.server import create_app

    from .conftest import TOKENS

    engine = DispatchEngine(network, clock=lambda: 1_000.0, capabilities={"tow"})
    client = TestClient(create_app(engine, auth=TOKENS, tick_interval_s=None))
    r = client.put("/v1/responders/truck-17", json={"capabilities": ["jetpack"]}, headers=R17)
    assert r.status_code == 422 and r.json()["error"] == "InvalidParameterError"
    assert engine.registration("truck-17") is None


def test_the_first_position_may_carry_capabilities_a_later_one_not(client):
    body = {**NEAR, "capabilities": ["tow"]}
    r = client.put("/v1/responders/truck-17/position", json=body, headers=R17)
    assert r.status_code == 200 and r.json() == {"responder_id": "truck-17", "applied": True}
    assert client.get("/v1/responders/truck-17", headers=R17).json()["capabilities"] == ["tow"]
    r = client.put("/v1/responders/truck-17/position", json=body, headers=R17)
    assert r.status_code == 422 and r.json()["error"] == "CapabilitiesOnFirstFixOnly"
    body = {**NEAR, "capabilities": ["crane"]}
    assert client.put("/v1/responders/truck-17/position", json=body, headers=DISP).is_success
    assert client.get("/v1/responders/truck-17", headers=R17).json()["capabilities"] == ["crane"]


@pytest.mark.parametrize("crs", [None, "gcj02"])
def test_a_fix_6000_km_away_is_stored_flagged_and_never_ranked(client, crs):
    params = {} if crs is None else {"crs": crs}
    assert client.put("/v1/responders/truck-42/position", json=NEAR, headers=R42).is_success
    far = {"lat": 24.9384, "lng": 60.1699}  # latitude and longitude swapped: ~6,000 km away
    r = client.put("/v1/responders/truck-17/position", json=far, headers=R17, params=params)
    assert r.status_code == 200
    assert r.json() == {"responder_id": "truck-17", "applied": True, "on_network": False}
    got = client.get("/v1/responders/truck-17", headers=R17).json()
    assert (got["lat"], got["lng"]) == pytest.approx((far["lat"], far["lng"]), abs=1e-9)
    ranked = client.get("/v1/rank", params={**NEAR, "k": 5}, headers=DISP).json()["candidates"]
    assert [c["responder_id"] for c in ranked] == ["truck-42"]
    # Back on the network: no flag, ranked again.
    r = client.put("/v1/responders/truck-17/position", json=NEAR, headers=R17)
    assert r.json() == {"responder_id": "truck-17", "applied": True}
    ranked = client.get("/v1/rank", params={**NEAR, "k": 5}, headers=DISP).json()["candidates"]
    assert sorted(c["responder_id"] for c in ranked) == ["truck-17", "truck-42"]


def test_a_batch_names_its_far_rows(client):
    rows = [
        {"id": "a", **NEAR},
        {"id": "b", "lat": 0.0, "lng": 0.0},
        {"id": "c", "lat": -60.17, "lng": -155.06},
    ]
    r = client.post("/v1/positions", json={"positions": rows}, headers=DISP)
    assert r.json() == {"received": 3, "applied": 3, "off_network": ["b", "c"]}
    r = client.post("/v1/positions", json={"positions": rows[:1]}, headers=DISP)
    assert r.json() == {"received": 1, "applied": 1}
