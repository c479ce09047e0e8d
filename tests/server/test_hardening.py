"""HTTP answers for the audit's inputs: typed 422s, never a 500 or a pinned responder."""

import json

import pytest

from .conftest import DISP, R17


def test_a_future_timestamp_is_a_422_and_pins_nobody(fleet, clock):
    url = "/v1/responders/truck-17/position"
    r = fleet.put(url, json={"lat": 60.1699, "lng": 24.9384, "ts": 9.9e10}, headers=R17)
    assert r.status_code == 422 and "ahead of the clock" in r.json()["detail"], r.text
    r = fleet.put(url, json={"lat": 60.1700, "lng": 24.9385, "ts": clock[0]}, headers=R17)
    assert r.status_code == 200 and r.json()["applied"] is True
    bulk = {"positions": [{"id": "truck-17", "lat": 60.17, "lng": 24.94, "ts": 9.9e10}]}
    r = fleet.post("/v1/positions", json=bulk, headers=DISP)
    assert r.status_code == 422 and "ahead of the clock" in r.json()["detail"]
    got = fleet.get("/v1/responders/truck-17", headers=DISP).json()
    assert got["ts"] == clock[0] and got["fresh"]


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_on_the_fast_path_is_a_422(fleet, depth):
    body = "[" * depth + "]" * depth
    r = fleet.put(
        "/v1/responders/truck-17/position",
        content=body,
        headers={**R17, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    nested = '{"lat": ' + "[" * depth + "]" * depth + ', "lng": 1}'
    r = fleet.put(
        "/v1/responders/truck-17/position",
        content=nested,
        headers={**R17, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert json.loads(r.text)["detail"]
