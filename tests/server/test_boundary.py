"""The server's boundary: one token per request, keys per principal, one answer for hidden."""

import pytest

from .conftest import DISP

POSITION = "/v1/responders/truck-17/position"
FIX = {"lat": 60.1699, "lng": 24.9384}


@pytest.mark.parametrize(
    "values",
    [
        ("Bearer r17", "Bearer disp"),  # a proxy checking the first saw a responder
        ("Bearer disp", "Bearer r17"),
        ("Bearer disp", "Bearer disp"),
        ("Bearer nope", "Bearer disp"),
    ],
)
def test_two_authorization_headers_are_a_400(fleet, values):
    headers = [("Authorization", v) for v in values]
    for method, url, kw in (
        ("PUT", POSITION, {"json": FIX}),
        ("GET", "/v1/responders", {}),
        ("GET", "/v1/responders/truck-17", {}),
        ("POST", "/v1/incidents", {"json": {"incident_id": "x", "lat": 0, "lng": 0, "kind": "k"}}),
    ):
        r = fleet.request(method, url, headers=headers, **kw)
        assert r.status_code == 400, (method, url, r.text)
        assert r.json()["error"] == "DuplicateAuthorizationHeader", r.text
    # nothing was written through them
    listed = fleet.get("/v1/incidents", headers=DISP).json()["incidents"]
    assert "x" not in {i["incident_id"] for i in listed}


def test_one_authorization_header_still_works(fleet):
    r = fleet.put(POSITION, json=FIX, headers=[("Authorization", "Bearer r17")])
    assert r.status_code == 200, r.text
    r = fleet.get("/v1/responders", headers=[("Authorization", "Bearer r17")])
    assert r.status_code == 403


def test_two_authorization_headers_on_the_console(fleet):
    headers = [("Authorization", "Bearer r17"), ("Authorization", "Bearer disp")]
    r = fleet.get("/console", headers=headers)
    assert r.status_code == 400, r.text
    assert fleet.get("/console", headers=headers[1:]).status_code == 200
