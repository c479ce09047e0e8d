import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from kayou_dispatch import DispatchEngine, load_network
from kayou_dispatch.server import create_app

TOKENS = {
    "disp": {"role": "dispatcher"},
    "r17": {"role": "responder", "responder_id": "truck-17"},
    "r42": {"role": "responder", "responder_id": "truck-42"},
}
DISP = {"Authorization": "Bearer disp"}
R17 = {"Authorization": "Bearer r17"}
R42 = {"Authorization": "Bearer r42"}
SCENE = (60.1705, 24.9410)


@pytest.fixture(scope="session")
def network():
    return load_network("helsinki")


@pytest.fixture
def clock():
    return [1_000.0]


@pytest.fixture
def engine(network, clock):
    return DispatchEngine(network, clock=lambda: clock[0])


@pytest.fixture
def client(engine):
    app = create_app(engine, auth=TOKENS, tick_interval_s=None)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def fleet(client):
    for rid, lat, lng in (("truck-17", 60.1699, 24.9384), ("truck-42", 60.1712, 24.9420)):
        r = client.put(
            f"/v1/responders/{rid}/position", json={"lat": lat, "lng": lng}, headers=DISP
        )
        assert r.status_code == 200, r.text
    return client
