"""`GET /metrics`: each metric moves as the API is driven (read back with Prometheus's parser)."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kayou_dispatch import DispatchEngine
from kayou_dispatch.server import create_app

from .conftest import DISP, R17, R42, SCENE, TOKENS


def scrape(client):
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def requests(samples, method, route, status):
    key = ("kayou_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


POSITION = "/v1/responders/{responder_id}/position"


def test_requests_by_route_and_status(client):
    body = {"lat": 60.1699, "lng": 24.9384}
    for _ in range(3):
        assert (
            client.put("/v1/responders/truck-17/position", json=body, headers=R17).status_code
            == 200
        )
    assert client.put("/v1/responders/truck-17/position", json=body, headers=R42).status_code == 403
    assert client.get("/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]}).status_code == 401
    assert client.get("/v1/incidents/nope", headers=DISP).status_code == 404
    got = scrape(client)
    assert requests(got, "PUT", POSITION, "200") == 3  # the fast path counted under its route
    assert requests(got, "PUT", POSITION, "403") == 1
    assert requests(got, "GET", "other", "401") == 1  # refused before routing
    assert requests(got, "GET", "/v1/incidents/{incident_id}", "404") == 1
    assert requests(got, "GET", "/metrics", "200") == 0  # counted once it has answered
    assert requests(scrape(client), "GET", "/metrics", "200") == 1


def test_latency_histograms_for_rank_and_position_updates(client):
    rows = [{"id": f"r{i}", "lat": 60.17 + i * 1e-4, "lng": 24.94} for i in range(5)]
    assert client.post("/v1/positions", json={"positions": rows}, headers=DISP).status_code == 200
    body = {"lat": 60.1699, "lng": 24.9384}
    client.put("/v1/responders/truck-17/position", json=body, headers=DISP)
    for _ in range(4):
        r = client.get("/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]}, headers=DISP)
        assert r.status_code == 200
    got = scrape(client)
    assert got[("kayou_rank_duration_seconds_count", ())] == 4
    assert got[("kayou_rank_duration_seconds_bucket", (("le", "+Inf"),))] == 4
    assert 0 < got[("kayou_rank_duration_seconds_sum", ())] < 60
    for route in (POSITION, "/v1/positions"):
        labels = (("route", route),)
        assert got[("kayou_position_update_duration_seconds_count", labels)] == 1
    # buckets are cumulative
    buckets = sorted(
        (float(dict(k[1])["le"]), v)
        for k, v in got.items()
        if k[0] == "kayou_rank_duration_seconds_bucket"
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)


def test_responders_online_incidents_open_offers_pending(fleet):
    got = scrape(fleet)
    assert got[("kayou_responders_online", ())] == 2 and got[("kayou_responders", ())] == 2
    assert got[("kayou_incidents_open", ())] == 0 and got[("kayou_offers_pending", ())] == 0
    r = fleet.put("/v1/responders/truck-42/availability", json={"status": "offline"}, headers=R42)
    assert r.status_code == 200
    got = scrape(fleet)
    assert got[("kayou_responders_online", ())] == 1 and got[("kayou_responders", ())] == 2
    body = {"incident_id": "inc-1", "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    assert (
        fleet.post("/v1/incidents", json={**body, "dispatch": True}, headers=DISP).status_code
        == 201
    )
    got = scrape(fleet)
    assert got[("kayou_incidents_open", ())] == 1 and got[("kayou_offers_pending", ())] == 1
    r = fleet.post("/v1/incidents/inc-1/offers/truck-17/accept", headers=R17)
    assert r.status_code == 200
    got = scrape(fleet)
    assert got[("kayou_incidents_open", ())] == 1 and got[("kayou_offers_pending", ())] == 0
    assert fleet.post("/v1/incidents/inc-1/resolve", headers=DISP).status_code == 200
    assert scrape(fleet)[("kayou_incidents_open", ())] == 0


def test_store_errors_counted_by_store(network, tmp_path):
    path = tmp_path / "journal.db"
    with DispatchEngine(network, journal=path) as engine:
        client = TestClient(create_app(engine, auth=TOKENS, tick_interval_s=None))
        errors = ("kayou_store_errors_total", (("store", "journal"),))
        assert scrape(client)[errors] == 0
        assert scrape(client)[("kayou_store_errors_total", (("store", "redis"),))] == 0
        path.rename(tmp_path / "moved.db")
        assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").status_code == 503
        assert scrape(client)[errors] == 2


def test_two_apps_keep_their_own_numbers(network):
    a = TestClient(create_app(DispatchEngine(network), auth=TOKENS, tick_interval_s=None))
    b = TestClient(create_app(DispatchEngine(network), auth=TOKENS, tick_interval_s=None))
    a.get("/healthz")
    assert requests(scrape(a), "GET", "/healthz", "200") == 1
    assert requests(scrape(b), "GET", "/healthz", "200") == 0


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/healthz"])
def test_probes_need_no_token(client, path):
    assert client.get(path).status_code == 200
