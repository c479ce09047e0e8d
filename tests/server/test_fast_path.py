"""The gate's fast path for plain position updates agrees with the full route's model."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kayou_dispatch.server._models import PositionIn, plain_position

from .conftest import DISP, R17

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, 90, -90, 180, 360, 1e11, 1000.0, 1000.0001, -0.0]),
)
values = st.one_of(numbers, st.none(), st.booleans(), st.text(max_size=5), st.just([1.0]))
keys = st.sampled_from(["lat", "lng", "ts", "heading", "speed_kph", "extra"])
bodies = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=500, deadline=None)
@given(body=bodies)
def test_fast_reader_accepts_only_what_the_model_accepts_with_equal_values(body):
    raw = json.dumps(body).encode()
    fast = plain_position(raw)
    try:
        model = PositionIn.model_validate_json(raw).model_dump()
    except ValidationError:
        model = None
    if fast is not None:
        assert model == fast


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"lat": 1}', b'{"lat": NaN, "lng": 0}'])
def test_fast_reader_declines_non_plain_bodies(raw):
    assert plain_position(raw) is None


def test_fast_and_full_paths_answer_alike(client):
    url = "/v1/responders/truck-17/position"
    fast = client.put(url, json={"lat": 60.17, "lng": 24.94, "ts": 1000.0}, headers=R17)
    older = client.put(url, json={"lat": 60.17, "lng": 24.94, "ts": 999.0}, headers=R17)
    assert fast.status_code == older.status_code == 200
    assert fast.json() == {"responder_id": "truck-17", "applied": True}
    assert older.json() == {"responder_id": "truck-17", "applied": False}  # older
    # What the fast reader declines, the full route's model refuses too (#17: strict types;
    # before, a string latitude went through the route and was applied).
    full = client.put(url, json={"lat": "60.17", "lng": 24.94, "ts": 999.0}, headers=R17)
    assert full.status_code == 422 and "lat" in full.json()["detail"]
    other = client.put(
        "/v1/responders/truck-42/position", json={"lat": 60.17, "lng": 24.94}, headers=R17
    )
    assert other.status_code == 403
    bad = client.put(url, json={"lat": 95.0, "lng": 24.94}, headers=DISP)
    assert bad.status_code == 422 and "lat" in bad.json()["detail"]


def test_a_plain_fix_takes_the_fast_path_and_anything_else_the_route(engine):
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    from .conftest import TOKENS

    app = create_app(engine, auth=TOKENS, tick_interval_s=None)
    fast_writer = app.state.write_fix  # the gate holds this one; the route reads app.state
    by_route = []

    async def route_writer(rid, fix):
        by_route.append((rid, fix))
        return await fast_writer(rid, fix)

    app.state.write_fix = route_writer
    client = TestClient(app)
    url = "/v1/responders/truck-17/position"
    assert client.put(url, json={"lat": 60.17, "lng": 24.94, "ts": 10.0}, headers=R17).json()[
        "applied"
    ]
    assert by_route == []  # answered by the gate, never routed
    assert engine.get("truck-17").ts == 10.0
    r = client.put(url, json={"lat": "60.17", "lng": 24.94, "ts": 11.0}, headers=R17)
    assert r.status_code == 422  # a string: the full route's model, which refuses it
    assert by_route == [] and engine.get("truck-17").ts == 10.0
    # An engine error on the fast path goes on to the route, which answers it.
    r = client.put(url, json={"lat": 60.17, "lng": 24.94, "ts": 1e10}, headers=R17)
    assert r.status_code == 422 and "ahead of the clock" in r.json()["detail"]
    assert [rid for rid, _ in by_route] == ["truck-17"]
    assert client.put(url, json={"lat": 60.17, "lng": 24.94, "ts": 12.0}, headers=DISP).json()[
        "applied"
    ]
    assert len(by_route) == 1 and engine.get("truck-17").ts == 12.0


@settings(max_examples=500, deadline=None)
@given(body=bodies)
def test_the_model_accepts_nothing_the_fast_reader_declines(body):
    # Strict types (#17): a boolean or a string is no number on either path.
    raw = json.dumps(body).encode()
    try:
        PositionIn.model_validate_json(raw)
    except ValidationError:
        return
    assert plain_position(raw) is not None, body
