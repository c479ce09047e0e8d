"""Time DispatchEngine.rank beside full single-source searches, three scenarios in one run.

Sizes (all seeded):

* dense: 5,000 responders on a synthetic region of about 60,000 nodes
  (``synthetic_region(seed=20261125, size=60_000)``), placed on random edges a few metres to
  the side of the road (a tenth of them with a heading along their road); 200 incidents on
  random edges, ``rank(k=10)``.
* sparse: 100 responders on the same region, the same 200 incidents.
* real: Andorra (``../shared/data/andorra.osm.pbf`` next to the repository, read with
  ``RoadNetwork.from_osm``; skipped with a message when absent), 2,000 responders, 200
  incidents; median and p99 of rank beside a full networkx Dijkstra, a full scipy Dijkstra
  and, when ``import pandana`` works, pandana's contraction hierarchies (``set_pois`` once,
  then one ``nearest_pois`` per incident, which answers for every node at once).

Baselines are one full search from the incident on the reversed graph, the least any exact
ranking without a bound must do. Every rank is exact (equal to sorting every responder's
exact time); the benchmark checks the first incidents against that brute force and says so.
Run ``python benchmarks/bench_rank.py``; it prints a table and asserts nothing about time.
The machine's load moves the numbers: compare the columns of one run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch import DispatchEngine, RoadNetwork, synthetic_region

SEED = 20261125
N_INCIDENTS = 200
ANDORRA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "andorra.osm.pbf"


def place(net: RoadNetwork, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` points on random edges, scattered about 2 m to the side."""
    e = rng.integers(0, net.n_edges, n)
    f = rng.uniform(0.0, 1.0, n)
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u]) + rng.normal(0, 2e-5, n)
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u]) + rng.normal(0, 2e-5, n)
    return lat, lng


def headings_along(net: RoadNetwork, rng: np.random.Generator, n: int) -> np.ndarray:
    """NaN for most; for a tenth, the bearing of a random edge (so some snap with a heading)."""
    h = np.full(n, np.nan)
    some = rng.random(n) < 0.1
    e = rng.integers(0, net.n_edges, int(some.sum()))
    u, v = net.edge_u[e], net.edge_v[e]
    dy = net.node_lat[v] - net.node_lat[u]
    dx = (net.node_lng[v] - net.node_lng[u]) * np.cos(np.radians(net.node_lat[u]))
    h[some] = np.degrees(np.arctan2(dx, dy)) % 360.0
    return h


def times_ms(fn: Callable[[int], object], n: int) -> list[float]:
    """Call ``fn(i)`` for i in range(n), returning each call's milliseconds."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def p99(xs: list[float]) -> float:
    return float(np.percentile(xs, 99))


def engine_with(net: RoadNetwork, n: int, seed: int) -> DispatchEngine:
    rng = np.random.default_rng(seed)
    engine = DispatchEngine(net, clock=lambda: 0.0)
    lat, lng = place(net, rng, n)
    heads = headings_along(net, rng, n)
    engine.update_positions([f"r{i:05d}" for i in range(n)], lat, lng, headings=heads)
    return engine


def check_exact(engine: DispatchEngine, lat: np.ndarray, lng: np.ndarray, n: int = 5) -> str:
    """Compare the first ``n`` ranks with the brute force; return 'exact' or a complaint."""
    ids = sorted(engine.index)
    for i in range(n):
        got = engine.rank(lat[i], lng[i], k=10)
        m = engine.eta_matrix([(lat[i], lng[i])], ids)[0]
        order = sorted((t, rid) for t, rid in zip(m.tolist(), ids, strict=True) if t < np.inf)
        if [(c.eta_s, c.responder_id) for c in got] != order[:10]:
            return "MISMATCH"
    return "exact"


def scenario(
    name: str, net: RoadNetwork, n_resp: int, *, seed: int, extra: bool = False
) -> list[tuple[str, str, str, str]]:
    rng = np.random.default_rng(seed + 1)
    ilat, ilng = place(net, rng, N_INCIDENTS)
    engine = engine_with(net, n_resp, seed)
    engine.rank(ilat[0], ilng[0])  # snap every responder once (cached afterwards)
    status = check_exact(engine, ilat, ilng)
    rank = times_ms(lambda i: engine.rank(ilat[i], ilng[i], k=10), N_INCIDENTS)
    reverse = net._graph.reverse
    nodes = [int(net.edge_u[net.snap(ilat[i], ilng[i]).edge]) for i in range(20)]
    full = times_ms(lambda i: dijkstra(reverse, directed=True, indices=nodes[i]), 20)
    rank_med, full_med = statistics.median(rank), statistics.median(full)
    rows = [
        (name, f"rank k=10 ({n_resp} responders)", f"{rank_med:.3f}", f"{p99(rank):.3f}"),
        (name, "scipy full Dijkstra", f"{full_med:.3f}", f"{p99(full):.3f}"),
        (name, "speed-up of rank over scipy", f"{full_med / rank_med:.1f}x", status),
    ]
    if extra:
        rows += baselines(name, net, engine, ilat, ilng, nodes)
    return rows


def baselines(
    name: str,
    net: RoadNetwork,
    engine: DispatchEngine,
    ilat: np.ndarray,
    ilng: np.ndarray,
    nodes: list[int],
) -> list[tuple[str, str, str, str]]:
    import networkx as nx

    rows = []
    g = nx.DiGraph()
    tt = net.edge_travel_time_s
    for a, b, w in zip(net.edge_v.tolist(), net.edge_u.tolist(), tt.tolist(), strict=True):
        if a != b and (not g.has_edge(a, b) or g[a][b]["w"] > w):
            g.add_edge(a, b, w=w)
    nxt = times_ms(lambda i: nx.single_source_dijkstra_path_length(g, nodes[i], weight="w"), 5)
    rows.append(
        (name, "networkx full Dijkstra", f"{statistics.median(nxt):.3f}", f"{p99(nxt):.3f}")
    )
    try:
        import pandana  # type: ignore[import-not-found]
    except ImportError:
        rows.append((name, "pandana", "skipped", "not installed"))
        return rows
    import pandas as pd

    t0 = time.perf_counter()
    # Reversed edges: pandana's nearest_pois measures from each node to the POIs.
    pnet = pandana.Network(
        pd.Series(net.node_lng),
        pd.Series(net.node_lat),
        pd.Series(net.edge_v),
        pd.Series(net.edge_u),
        pd.DataFrame({"tt": tt}),
        twoway=False,
    )
    build_ms = (time.perf_counter() - t0) * 1e3
    r = [engine.get(rid) for rid in sorted(engine.index)]
    pnet.set_pois(
        "responders",
        3600.0,
        10,
        pd.Series([x.lng for x in r]),
        pd.Series([x.lat for x in r]),
    )
    pan = times_ms(
        lambda i: pnet.nearest_pois(3600.0, "responders", num_pois=10, include_poi_ids=True), 20
    )
    # Point-to-point CH queries on the reversed graph: incident node to every responder node
    # (pandana node ids are our dense indices).
    rnodes = pnet.get_node_ids(pd.Series([x.lng for x in r]), pd.Series([x.lat for x in r]))
    src = rnodes.to_numpy()
    od = times_ms(
        lambda i: pnet.shortest_path_lengths([nodes[i]] * src.size, src.tolist(), imp_name="tt"),
        20,
    )
    rows.append(
        (
            name,
            f"pandana shortest_path_lengths ({src.size} OD)",
            f"{statistics.median(od):.3f}",
            f"{p99(od):.3f}",
        )
    )
    rows.append(
        (
            name,
            "pandana nearest_pois (all nodes, CH)",
            f"{statistics.median(pan):.3f}",
            f"{p99(pan):.3f}",
        )
    )
    rows.append((name, "pandana CH build (once)", f"{build_ms:.0f}", ""))
    return rows


def main() -> None:
    t0 = time.perf_counter()
    city = synthetic_region(seed=SEED, size=60_000)
    print(
        f"synthetic region: {city.n_nodes} nodes, {city.n_edges} edges "
        f"(built in {time.perf_counter() - t0:.1f} s)"
    )
    rows = scenario("dense", city, 5000, seed=SEED)
    rows += scenario("sparse", city, 100, seed=SEED + 7)
    if ANDORRA.exists():
        t0 = time.perf_counter()
        andorra = RoadNetwork.from_osm(ANDORRA)
        print(
            f"andorra: {andorra.n_nodes} nodes, {andorra.n_edges} edges "
            f"(read in {time.perf_counter() - t0:.1f} s)"
        )
        rows += scenario("real", andorra, 2000, seed=SEED + 13, extra=True)
    else:
        print(f"real: skipped, {ANDORRA} is absent")
    print()
    print(f"{'scenario':<8} {'what':<40} {'median ms':>10} {'p99 ms':>10}")
    for r in rows:
        print(f"{r[0]:<8} {r[1]:<40} {r[2]:>10} {r[3]:>10}")


if __name__ == "__main__":
    main()
