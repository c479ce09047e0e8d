"""The server's boundary: one token per request, keys per principal, one answer for hidden."""

import pytest

from .conftest import DISP, R17, R42, SCENE, TOKENS

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


def _app(engine, tokens=None):
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    app = create_app(engine, auth=tokens or TWO_DISPATCHERS, tick_interval_s=None)
    return TestClient(app, raise_server_exceptions=False)


TWO_DISPATCHERS = {**TOKENS, "disp2": {"role": "dispatcher"}}
DISP2 = {"Authorization": "Bearer disp2"}


def _incident(iid):
    return {"incident_id": iid, "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}


def test_idempotency_keys_are_per_principal(engine):
    c = _app(engine)
    for rid, lat, lng in (("truck-17", 60.1699, 24.9384), ("truck-42", 60.1712, 24.9420)):
        c.put(f"/v1/responders/{rid}/position", json={"lat": lat, "lng": lng}, headers=DISP)
    key = {"Idempotency-Key": "K"}
    r = c.post("/v1/incidents", json=_incident("inc-a"), headers={**DISP, **key})
    assert r.status_code == 201
    # another dispatcher's K is its own: a new incident, not a 422 naming inc-a
    r = c.post("/v1/incidents", json=_incident("inc-b"), headers={**DISP2, **key})
    assert r.status_code == 201 and r.json()["incident_id"] == "inc-b", r.text
    # each one's retry answers its own command
    r = c.post("/v1/incidents", json=_incident("inc-a"), headers={**DISP, **key})
    assert r.status_code == 201 and r.json()["incident_id"] == "inc-a"
    r = c.post("/v1/incidents", json=_incident("inc-b"), headers={**DISP2, **key})
    assert r.status_code == 201 and r.json()["incident_id"] == "inc-b"
    # a different command under one's own key is still refused (naming one's own incident)
    r = c.post("/v1/incidents", json=_incident("inc-z"), headers={**DISP, **key})
    assert r.status_code == 422 and "inc-a" in r.text and "inc-b" not in r.text
    for iid, rid in (("inc-a", "truck-17"), ("inc-b", "truck-42")):
        r = c.post(f"/v1/incidents/{iid}/offers/{rid}", headers=DISP)
        assert r.status_code == 201, r.text
    r = c.post("/v1/incidents/inc-a/offers/truck-17/accept", headers={**R17, **key})
    assert r.status_code == 200
    # truck-42 reusing truck-17's key: its own accept, nothing of truck-17's
    r = c.post("/v1/incidents/inc-b/offers/truck-42/accept", headers={**R42, **key})
    assert r.status_code == 200, r.text
    assert "truck-17" not in r.text and "inc-a" not in r.text
    assert r.json()["incident_id"] == "inc-b" and r.json()["stage"] == "assigned"
    assert c.get("/v1/incidents/inc-b", headers=DISP).json()["assigned"] == ["truck-42"]


def test_a_client_cannot_squat_another_clients_key(engine):
    c = _app(engine)
    c.put("/v1/responders/truck-17/position", json=FIX, headers=DISP)
    r = c.post("/v1/incidents", json=_incident("inc-a"), headers=DISP)
    c.post("/v1/incidents/inc-a/offers/truck-17", headers=DISP)
    # a responder takes the key a dispatcher will use next
    squat = {"Idempotency-Key": "report-inc-b"}
    r = c.post("/v1/incidents/inc-a/offers/truck-17/decline", headers={**R17, **squat})
    assert r.status_code == 200
    r = c.post("/v1/incidents", json=_incident("inc-b"), headers={**DISP, **squat})
    assert r.status_code == 201 and r.json()["incident_id"] == "inc-b", r.text


def test_scoped_keys_survive_a_restart_on_the_journal(network, clock, tmp_path):
    from kayou_dispatch import DispatchEngine

    journal = tmp_path / "j.db"
    key = {"Idempotency-Key": "K"}
    engine = DispatchEngine(network, clock=lambda: clock[0], journal=journal)
    first = _app(engine).post("/v1/incidents", json=_incident("inc-a"), headers={**DISP, **key})
    assert first.status_code == 201
    engine.close()
    clock[0] += 60.0
    engine = DispatchEngine(network, clock=lambda: clock[0], journal=journal)
    c = _app(engine)
    again = c.post("/v1/incidents", json=_incident("inc-a"), headers={**DISP, **key})
    assert again.status_code == 201 and again.json() == first.json()
    other = c.post("/v1/incidents", json=_incident("inc-b"), headers={**DISP2, **key})
    assert other.status_code == 201 and other.json()["incident_id"] == "inc-b"
    engine.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/incidents/{iid}"),
        *(
            ("POST", f"/v1/incidents/{{iid}}/offers/{{rid}}/{a}")
            for a in ("accept", "decline", "depart", "arrive")
        ),
    ],
)
def test_a_hidden_incident_answers_as_an_unknown_one(fleet, method, path):
    r = fleet.post("/v1/incidents", json={**_incident("inc-1"), "dispatch": True}, headers=DISP)
    assert r.status_code == 201
    (offered,) = [o["responder_id"] for o in r.json()["offers"]]
    other = "truck-42" if offered == "truck-17" else "truck-17"
    headers = R42 if other == "truck-42" else R17
    hidden = fleet.request(method, path.format(iid="inc-1", rid=other), headers=headers)
    unknown = fleet.request(method, path.format(iid="inc-9", rid=other), headers=headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == {
        **unknown.json(),
        "detail": unknown.json()["detail"].replace("inc-9", "inc-1"),
    }
    assert hidden.json()["error"] == "UnknownIncidentError"
    assert sorted(hidden.headers) == sorted(unknown.headers)


def _caps(client, rid="truck-17"):
    return client.get(f"/v1/responders/{rid}", headers=DISP).json()["capabilities"]


def test_a_responder_may_drop_capabilities_but_not_grant_itself_one(fleet):
    url = "/v1/responders/truck-17/availability"
    r = fleet.put(url, json={"capabilities": ["tow", "winch"]}, headers=DISP)
    assert r.status_code == 200 and r.json()["capabilities"] == ["tow", "winch"]
    for claim in (["tow", "winch", "crane"], ["crane"], ["heavy_tow"]):
        r = fleet.put(url, json={"capabilities": claim, "status": "offline"}, headers=R17)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "CapabilityGrantRefused"
        assert sorted(set(claim) - {"tow", "winch"})[0] in r.json()["detail"]
        assert _caps(fleet) == ["tow", "winch"]  # nothing changed, the status neither
        assert fleet.get("/v1/responders/truck-17", headers=DISP).json()["status"] == "available"
    # keeping or dropping is the responder's own call
    assert fleet.put(url, json={"capabilities": ["winch", "tow"]}, headers=R17).status_code == 200
    assert fleet.put(url, json={"capabilities": ["tow"]}, headers=R17).status_code == 200
    assert _caps(fleet) == ["tow"]
    r = fleet.put(url, json={"capabilities": ["tow", "winch"]}, headers=R17)
    assert r.status_code == 403  # dropped is gone: only a dispatcher grants it back
    assert fleet.put(url, json={"capabilities": []}, headers=R17).status_code == 200
    assert _caps(fleet) == []
    # a position carries no capabilities
    r = fleet.put(
        "/v1/responders/truck-17/position", json={**FIX, "capabilities": ["crane"]}, headers=R17
    )
    assert r.status_code == 422 and _caps(fleet) == []
    assert fleet.put(url, json={"capabilities": ["crane"]}, headers=DISP).status_code == 200
    assert _caps(fleet) == ["crane"]


def test_the_per_ip_rate_limit_counts_every_token_and_none(engine):
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    app = create_app(
        engine, auth=TOKENS, rate_limit=None, ip_rate_limit=(1.0, 3), tick_interval_s=None
    )
    here = TestClient(app, client=("10.0.0.1", 5000), raise_server_exceptions=False)
    codes = [here.get("/v1/responders/truck-17", headers=h).status_code for h in (DISP, R17, {})]
    assert codes == [404, 404, 401]
    for headers in (DISP, R42, {}):  # the address is out of requests, whoever asks
        r = here.get("/v1/responders/truck-17", headers=headers)
        assert r.status_code == 429 and r.json()["error"] == "RateLimited", r.text
        assert int(r.headers["retry-after"]) >= 1
    there = TestClient(app, client=("10.0.0.2", 5000))
    assert there.get("/v1/responders/truck-17", headers=DISP).status_code == 404
    assert here.get("/healthz").status_code == 200  # outside /v1: not limited


def test_bad_ip_rate_limits_are_typed_errors(engine):
    from kayou_dispatch.errors import InvalidParameterError
    from kayou_dispatch.server import create_app

    for bad in ((0.0, 1), (1.0, -1), (float("nan"), 1), "fast"):
        with pytest.raises(InvalidParameterError):
            create_app(engine, auth=TOKENS, ip_rate_limit=bad)


def test_a_responders_bulk_is_its_own_id_and_bounded(fleet):
    from kayou_dispatch.server.routers.responders import RESPONDER_BULK_ROWS

    row = {"id": "truck-17", "lat": 60.1699, "lng": 24.9384}
    ok = {"positions": [row] * RESPONDER_BULK_ROWS}
    assert fleet.post("/v1/positions", json=ok, headers=R17).status_code == 200
    big = {"positions": [row] * (RESPONDER_BULK_ROWS + 1)}
    r = fleet.post("/v1/positions", json=big, headers=R17)
    assert r.status_code == 413 and r.json()["error"] == "BulkTooLarge", r.text
    assert fleet.post("/v1/positions", json=big, headers=DISP).status_code == 200
    other = {"positions": [row, {**row, "id": "truck-42"}]}
    assert fleet.post("/v1/positions", json=other, headers=R17).status_code == 403


def test_a_token_bucket_forgets_full_buckets_beyond_its_key_cap():
    from kayou_dispatch.server._auth import TokenBucket

    now = [0.0]
    bucket = TokenBucket(1.0, 2, clock=lambda: now[0])
    bucket.max_keys = 3
    assert all(bucket.allow(k) for k in "abc")
    assert bucket.allow("a") and not bucket.allow("a")  # a is empty
    assert bucket.allow("d") and len(bucket._state) == 4  # nothing had refilled yet
    now[0] = 1.5  # b, c and d are full again; a is not
    assert bucket.allow("e")
    assert sorted(bucket._state) == ["a", "e"]
    assert bucket.allow("a") and not bucket.allow("a")  # a kept its level (1.5)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (POSITION, {**FIX, "ts": False}),
        (POSITION, {**FIX, "ts": True}),
        (POSITION, {"lat": "60.1699", "lng": 24.9384}),
        (POSITION, {"lat": True, "lng": 24.9384}),
        (POSITION, {**FIX, "heading": False}),
        (POSITION, {**FIX, "speed_kph": "12"}),
        ("/v1/positions", {"positions": [{"id": "truck-17", **FIX, "ts": False}]}),
        ("/v1/positions", {"positions": [{"id": "truck-17", "lat": "60.1699", "lng": 24.9}]}),
        ("/v1/incidents", {**_incident("i"), "severity": True}),
        ("/v1/incidents", {**_incident("i"), "severity": "3"}),
        ("/v1/incidents", {**_incident("i"), "units": True}),
        ("/v1/incidents", {**_incident("i"), "dispatch": 1}),
        ("/v1/incidents", {**_incident("i"), "dispatch": "true"}),
        ("/v1/incidents", {**_incident("i"), "lat": "60.1705"}),
    ],
)
def test_booleans_are_not_numbers_and_strings_not_coordinates(fleet, url, body):
    method = "PUT" if url == POSITION else "POST"
    before = fleet.get("/v1/responders/truck-17", headers=DISP).json()
    r = fleet.request(method, url, json=body, headers=DISP)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["errors"]
    assert fleet.get("/v1/responders/truck-17", headers=DISP).json() == before
    assert fleet.get("/v1/incidents", headers=DISP).json()["incidents"] == []


def test_numbers_still_go_as_ints_and_floats(fleet):
    r = fleet.put(
        POSITION, json={"lat": 60, "lng": 24.9384, "ts": 1000, "heading": 90}, headers=R17
    )
    assert r.status_code == 200 and r.json()["applied"] is True
    r = fleet.post(
        "/v1/incidents", json={**_incident("i"), "severity": 2, "units": 1}, headers=DISP
    )
    assert r.status_code == 201, r.text


def _schema(doc, ref_or_schema):
    ref = ref_or_schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def test_the_openapi_document_says_what_is_sent(fleet):
    doc = fleet.get("/openapi.json").json()
    ops = {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
    }
    assert ops
    for (method, path), op in ops.items():
        codes = set(op["responses"])
        assert {"400", "401", "429"} <= codes, (method, path, codes)
        if "requestBody" in op:
            assert {"413", "422"} <= codes, (method, path, codes)
        if "{" in path:
            assert "404" in codes, (method, path, codes)
        for code, resp in op["responses"].items():
            if code.startswith(("4", "5")):
                body = _schema(doc, resp["content"]["application/json"]["schema"])
                assert body["properties"]["detail"]["type"] == "string", (method, path, code)
    for key, code in (
        (("POST", "/v1/incidents"), "403"),
        (("POST", "/v1/incidents"), "409"),
        (("POST", "/v1/incidents/{incident_id}/offers/{responder_id}/accept"), "403"),
        (("POST", "/v1/incidents/{incident_id}/offers/{responder_id}/accept"), "409"),
        (("PUT", "/v1/responders/{responder_id}/availability"), "403"),
        (("PUT", "/v1/responders/{responder_id}/availability"), "409"),
        (("GET", "/v1/responders"), "403"),
    ):
        assert code in ops[key]["responses"], (key, code)
    # a 422 as sent matches its documented shape
    r = fleet.put(POSITION, json={**FIX, "ts": False}, headers=DISP)
    schema = _schema(
        doc,
        ops["PUT", "/v1/responders/{responder_id}/position"]["responses"]["422"]["content"][
            "application/json"
        ]["schema"],
    )
    assert set(r.json()) <= set(schema["properties"])
    assert set(schema.get("required", [])) <= set(r.json())
    row = _schema(doc, schema["properties"]["errors"]["items"])
    assert set(r.json()["errors"][0]) == set(row["properties"])
