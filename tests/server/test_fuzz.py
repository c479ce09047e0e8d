"""No input yields a 500: hypothesis throws random bodies, ids and queries at every route."""

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import DISP, R17, SCENE

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    [
        "lat",
        "lng",
        "ts",
        "heading",
        "speed_kph",
        "id",
        "positions",
        "status",
        "capabilities",
        "incident_id",
        "kind",
        "severity",
        "needs",
        "units",
        "dispatch",
    ]
)
plausible = st.dictionaries(fields, json_values, max_size=8)
near = st.fixed_dictionaries(
    {
        "incident_id": st.text(min_size=1, max_size=8),
        "lat": st.floats(59.9, 60.4),
        "lng": st.floats(24.5, 25.3),
        "kind": st.sampled_from(["directions", "fire", "breakdown", "nope"]),
    },
    optional={
        "severity": json_values,
        "needs": json_values,
        "units": json_values,
        "dispatch": st.booleans(),
    },
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()),
    near.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
ids = st.sampled_from(["truck-17", "truck-42", "inc-1"]) | st.text(min_size=1, max_size=12)
ROUTES = [
    ("PUT", "/v1/responders/{a}/position"),
    ("POST", "/v1/positions"),
    ("PUT", "/v1/responders/{a}/availability"),
    ("GET", "/v1/responders/{a}"),
    ("POST", "/v1/incidents"),
    ("GET", "/v1/incidents/{b}"),
    ("POST", "/v1/incidents/{b}/dispatch"),
    ("POST", "/v1/incidents/{b}/cancel"),
    ("POST", "/v1/incidents/{b}/resolve"),
    ("POST", "/v1/incidents/{b}/offers/{a}/accept"),
    ("POST", "/v1/incidents/{b}/offers/{a}/decline"),
    ("POST", "/v1/incidents/{b}/offers/{a}/arrive"),
    ("GET", "/v1/rank"),
]
queries = st.dictionaries(
    st.sampled_from(["lat", "lng", "k", "needs"]),
    st.one_of(st.floats().map(str), st.integers().map(str), st.text(max_size=10)),
    max_size=4,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ROUTES),
    a=ids,
    b=ids,
    body=bodies,
    query=queries,
    token=st.sampled_from([DISP, R17]),
)
def test_no_input_yields_a_500(fleet, route, a, b, body, query, token):
    if fleet.get("/v1/incidents/inc-1", headers=DISP).status_code == 404:
        req = {"incident_id": "inc-1", "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
        fleet.post("/v1/incidents", json={**req, "dispatch": True}, headers=DISP)
    method, template = route
    path = template.format(a=quote(a, safe=""), b=quote(b, safe=""))
    r = fleet.request(
        method,
        path,
        content=body if method != "GET" else None,
        params=query,
        headers={**token, "Content-Type": "application/json"},
    )
    assert r.status_code < 500, (method, path, body, r.text)
    r.json()  # always a JSON answer
