"""The slow, obvious ranking: every candidate's exact road time, sorted (the oracle)."""

import math

import numpy as np

from kayou_dispatch import Status


def brute_force_rank(engine, lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
    """Rank by computing every qualifying responder's exact time with one unbounded search."""
    net = engine.network
    index = engine.index
    now = index.clock()
    dest = net.snap(lat, lng, heading=heading)
    tree = net.tree_to_snapped(dest)  # unbounded: the whole graph, every node's time
    keep = []
    for rid in sorted(index):
        r = index.get(rid)
        if r.ts < now - index.position_ttl_s or r.status is not Status.AVAILABLE:
            continue
        if not set(needs) <= r.capabilities or rid in set(exclude):
            continue
        keep.append((rid, r))
    rows = []
    for headed in (False, True):  # each responder snapped on its own terms, in two batches
        group = [(rid, r) for rid, r in keep if (r.heading is not None) == headed]
        if not group:
            continue
        s = net.snap_many(
            [r.lat for _, r in group],
            [r.lng for _, r in group],
            headings=[r.heading for _, r in group] if headed else None,
            max_distance_m=1000.0,
        )
        on = s.edge >= 0
        times = np.full(len(group), math.inf)
        times[on] = tree.times(s._make(c[on] for c in s))
        for (rid, r), t in zip(group, times.tolist(), strict=True):
            if math.isinf(t) or (max_eta_s is not None and t > max_eta_s):
                continue
            rows.append((t, rid, r))
    rows.sort(key=lambda x: (x[0], x[1]))
    return rows[:k]


def place_near_edges(net, rng, n, *, jitter_deg=2e-5):
    """``n`` seeded points on random edges, scattered a few metres to the side."""
    e = rng.integers(0, net.n_edges, n)
    f = rng.uniform(0.0, 1.0, n)
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    return lat + rng.normal(0, jitter_deg, n), lng + rng.normal(0, jitter_deg, n)


def edge_point(net, e, f):
    u, v = int(net.edge_u[e]), int(net.edge_v[e])
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    return float(lat), float(lng)


__all__ = ["brute_force_rank", "edge_point", "place_near_edges"]
