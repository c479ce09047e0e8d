"""Rank the helpers nearest a broken-down truck by road ETA, and explain one left out.

Needs: ``pip install .`` (no extra).

Loads the bundled Helsinki network, places 300 seeded responders on its roads (a few busy,
a few stale, some with a crane), ranks the five fastest cranes for a breakdown, and explains
why a nearby responder was not among them. Run ``python examples/rank_helpers.py``.
"""

import numpy as np

from kayou_dispatch import DispatchEngine, load_network

net = load_network("helsinki")
now = 1_000.0
engine = DispatchEngine(net, clock=lambda: now, capabilities={"tow", "crane", "tyre"})

# 300 responders on random roads, a few metres to the side, seeded.
rng = np.random.default_rng(7)
edges = rng.integers(0, net.n_edges, 300)
f = rng.uniform(0.0, 1.0, 300)
u, v = net.edge_u[edges], net.edge_v[edges]
lats = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u]) + rng.normal(0, 2e-5, 300)
lngs = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u]) + rng.normal(0, 2e-5, 300)
ids = [f"helper-{i:03d}" for i in range(300)]
engine.update_positions(ids, lats, lngs, ts=now)
for i, rid in enumerate(ids):
    engine.set_capabilities(rid, ["tow", "crane"] if i % 3 == 0 else ["tyre"])
for rid in ids[:300:25]:
    engine.index.set_status(rid, "en_route")  # busy elsewhere (a host's own lifecycle)

# A truck broke down in the middle of the network, driving north.
lat, lng = float(np.median(net.node_lat)), float(np.median(net.node_lng))
ranked = engine.rank(lat, lng, k=5, needs={"crane"}, heading=0.0)
print(f"Fastest cranes to the breakdown at ({lat:.5f}, {lng:.5f}):")
for c in ranked:
    print(
        f"  {c.responder_id}: {c.eta_s / 60:4.1f} min, {c.distance_m:6.0f} m by road "
        f"({c.straight_m:5.0f} m straight)"
    )

# The nearest helper as the crow flies: why is it not in the list?
nearest = engine.nearby(lat, lng, 5_000.0, statuses=None)[0].responder_id
why = engine.explain(lat, lng, nearest, k=5, needs={"crane"}, heading=0.0)
print(why.summary)
if why.route is not None:
    print(f"  its own route: {why.eta_s / 60:.1f} min over {len(why.route.coords)} points")
