"""The built-in policies' rankings against slow obvious versions of their rules."""

import numpy as np
import pytest
from h3.api import basic_int as h3i
from hypothesis import given
from hypothesis import strategies as st

from kayou_dispatch import DispatchEngine, RankQuery, load_network
from kayou_dispatch.geo import haversine_m
from kayou_dispatch.simulation import H3RingPolicy


@pytest.fixture(scope="module")
def net():
    return load_network()  # the region: rings run far between sparse responders


def ring_by_ring(policy, engine, lat, lng, query):
    """The H3-ring rule as stated: one radius query per ring, ring after ring."""
    index = engine.index
    origin = h3i.latlng_to_cell(lat, lng, index.resolution)
    edge_m = h3i.average_hexagon_edge_length(index.resolution, "m")
    out, seen = [], set()
    for ring in range(policy.max_rings + 1):
        radius = (1.5 * ring + 1.0) * edge_m * 1.2
        ring_ids = [
            nb.responder_id
            for nb in index.nearby(lat, lng, radius, needs=query.needs)
            if nb.responder_id not in seen
            and nb.responder_id not in query.exclude
            and h3i.grid_distance(origin, h3i.str_to_int(index.get(nb.responder_id).cell))
            <= ring
        ]
        for rid in sorted(ring_ids):
            seen.add(rid)
            r = index.get(rid)
            out.append((rid, haversine_m(lat, lng, r.lat, r.lng)))
        if len(out) >= query.k:
            break
    return out[: query.k]


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    k=st.integers(1, 40),
    max_rings=st.integers(0, 30),
    spread_km=st.sampled_from([0.5, 3.0, 20.0, 60.0]),
)
def test_h3_ring_equals_the_ring_by_ring_rule(net, seed, n, k, max_rings, spread_km):
    rng = np.random.default_rng(seed)
    engine = DispatchEngine(net, clock=lambda: 0.0)
    at = int(rng.integers(net.n_nodes))
    lat, lng = net.node_latlng(at)
    # Responders around the incident, some on its cell's boundary rings, some far.
    d = rng.uniform(0.0, spread_km * 1000.0, n) / 111_195.0
    b = rng.uniform(0.0, 2 * np.pi, n)
    lats = lat + d * np.cos(b)
    lngs = lng + d * np.sin(b) / np.cos(np.radians(lat))
    ids = [f"r{i:03d}" for i in range(n)]
    if n:
        engine.update_positions(ids, lats, lngs)
    for i in range(0, n, 7):
        engine.update_position(ids[i], float(lats[i]), float(lngs[i]), capabilities={"tow"})
    needs = {"tow"} if seed % 3 == 0 else set()
    exclude = {ids[i] for i in range(0, n, 5)}
    query = RankQuery(k=k, needs=needs, exclude=exclude)
    policy = H3RingPolicy(max_rings=max_rings)
    got = [(c.responder_id, c.distance_m) for c in policy.ranked(engine, lat, lng, query)]
    assert got == ring_by_ring(policy, engine, lat, lng, query)
