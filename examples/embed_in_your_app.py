"""Mount the dispatch API inside your own FastAPI app (the platform's existing service).

The host keeps its routes and auth; kayou_dispatch's app is mounted under ``/dispatch``
with its own tokens. Requests run through TestClient here, so nothing listens on a port.
"""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kayou_dispatch import DispatchEngine, load_network
from kayou_dispatch.server import create_app

engine = DispatchEngine(load_network("helsinki"))
tokens = {
    "ops-console": {"role": "dispatcher"},
    "phone-17": {"role": "responder", "responder_id": "truck-17"},
}

host = FastAPI(title="platform dispatch service")


@host.get("/status")
def status() -> dict[str, object]:
    """One of the host's own routes, untouched."""
    return {"service": "platform", "responders": len(engine)}


host.mount("/dispatch", create_app(engine, auth=tokens, tick_interval_s=None))

if __name__ == "__main__":
    ops = {"Authorization": "Bearer ops-console"}
    phone = {"Authorization": "Bearer phone-17"}
    with TestClient(host) as client:
        r = client.put(
            "/dispatch/v1/responders/truck-17/position",
            json={"lat": 60.1699, "lng": 24.9384, "heading": 90.0},
            headers=phone,
        )
        print("phone sends its fix:", r.status_code, r.json())
        body = {"incident_id": "inc-1", "lat": 60.1705, "lng": 24.9410, "kind": "directions"}
        r = client.post("/dispatch/v1/incidents", json={**body, "dispatch": True}, headers=ops)
        offer = r.json()["offers"][0]
        print(
            "incident reported:",
            r.status_code,
            "offered to",
            offer["responder_id"],
            f"eta {offer['eta_s']:.0f} s",
        )
        r = client.post("/dispatch/v1/incidents/inc-1/offers/truck-17/accept", headers=phone)
        print("driver accepts:", r.status_code, r.json()["status"])
        r = client.get("/dispatch/v1/rank", params={"lat": 60.17, "lng": 24.94}, headers=phone)
        print("a phone may not rank others:", r.status_code, r.json()["detail"])
        print("host route still works:", client.get("/status").json())
