"""Mount the dispatch API inside your own FastAPI app (the platform's existing service).

Needs: ``pip install ".[server]"``.

The host keeps its routes and auth; kayou_dispatch's app is mounted under ``/dispatch``
with its own tokens. The host is served for real by uvicorn on a free loopback port, and
a phone and the operations console talk to it over HTTP (the standard library's urllib).

Run: python examples/embed_in_your_app.py
"""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import uvicorn
from fastapi import FastAPI

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


def call(base, method, path, token=None, body=None):
    """One HTTP request; the status and the JSON answer (errors included)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a free port, chosen by the system
    server = uvicorn.Server(uvicorn.Config(host, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        fix = {"lat": 60.1699, "lng": 24.9384, "heading": 90.0}
        code, got = call(base, "PUT", "/dispatch/v1/responders/truck-17/position", "phone-17", fix)
        print("phone sends its fix:", code, got)
        body = {"incident_id": "inc-1", "lat": 60.1705, "lng": 24.9410, "kind": "directions"}
        code, got = call(
            base, "POST", "/dispatch/v1/incidents", "ops-console", {**body, "dispatch": True}
        )
        offer = got["offers"][0]
        print(
            "incident reported:",
            code,
            "offered to",
            offer["responder_id"],
            f"eta {offer['eta_s']:.0f} s",
        )
        path = "/dispatch/v1/incidents/inc-1/offers/truck-17/accept"
        code, got = call(base, "POST", path, "phone-17")
        print("driver accepts:", code, got["status"])
        code, got = call(base, "GET", "/dispatch/v1/rank?lat=60.17&lng=24.94", "phone-17")
        print("a phone may not rank others:", code, got["detail"])
        print("host route still works:", call(base, "GET", "/status")[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
