"""Benchmark RoadNetwork on a real extract and a large synthetic region, side by side.

Sizes (defaults):

- **Andorra**: ``../shared/data/andorra.osm.pbf`` (1.7 MB), truck profile, largest strongly
  connected component: 25,728 nodes, 47,357 directed edges. Skipped with a note when the
  shared data folder is absent.
- **synthetic**: ``kayou_dispatch.datasets.synthetic_region(seed=20261125, size=500_000)``:
  497,948 nodes, 1,154,286 directed edges (two cities and an expressway, 23 N 113.5 E).

On each: load (from OSM, or build), save and load the saved file (lazy: the first snap and
the first search after a load build their indexes, timed separately), snapping (one point per
call, and ``snap_many`` batches of 2,000 points; with and without headings), and ranking
2,000 origins with ``travel_times_to`` / ``travel_times_to_snapped``, next to the baseline of
one full ``scipy.sparse.csgraph.dijkstra`` from the destination on the same graph. Points
are seeded: GPS-like positions up to 50 m off random edges. Every figure is the median of
``--repeat`` runs (other work shares the machine); nothing asserts a time. Run::

    python benchmarks/bench_network.py [--size 500000] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch import RoadNetwork
from kayou_dispatch.datasets import synthetic_region_arrays

SEED = 20261125
ANDORRA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "andorra.osm.pbf"
N_ORIGINS = 2_000
N_SINGLE = 300
M_PER_DEG = 111_195.0


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def points_near_roads(
    net: RoadNetwork, rng: np.random.Generator, n: int, max_offset_m: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    """Random points up to ``max_offset_m`` off random edges (trucks on or beside roads)."""
    e = rng.integers(0, net.n_edges, n)
    f = rng.random(n)
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    lat = lat + rng.uniform(-max_offset_m, max_offset_m, n) / M_PER_DEG
    lng = lng + rng.uniform(-max_offset_m, max_offset_m, n) / (M_PER_DEG * np.cos(np.radians(lat)))
    return lat, lng


def bench_loaded(
    net: RoadNetwork, build: Callable[[], RoadNetwork], repeat: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Time everything after the network is built; ``build`` rebuilds it from its source."""
    res: dict[str, Any] = {"nodes": net.n_nodes, "edges": net.n_edges}
    res["load_source_s"] = median_s(build, repeat)

    lat, lng = points_near_roads(net, rng, N_ORIGINS)
    headings = rng.uniform(0.0, 360.0, N_ORIGINS)
    dest = (float(lat[0]), float(lng[0]))

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.npz"
        res["save_s"] = median_s(lambda: net.save(path), repeat)
        res["file_mb"] = path.stat().st_size / 1e6
        res["load_saved_s"] = median_s(lambda: RoadNetwork.load(path), repeat)
        first_snap, first_search, first_rank = [], [], []
        for _ in range(repeat):
            fresh = RoadNetwork.load(path)
            t0 = time.perf_counter()
            fresh.snap(*dest)  # builds the spatial index
            first_snap.append(time.perf_counter() - t0)
            fresh = RoadNetwork.load(path)
            t0 = time.perf_counter()
            fresh.shortest_times_to(0)  # builds the sparse graphs
            first_search.append(time.perf_counter() - t0)
            fresh = RoadNetwork.load(path)
            t0 = time.perf_counter()
            fresh.travel_times_to(*dest, lat, lng)  # both, then one ranking
            first_rank.append(time.perf_counter() - t0)
        res["first_snap_after_load_s"] = statistics.median(first_snap)
        res["snap_grid_mb"] = fresh._segments.grid.nbytes / 1e6
        res["first_search_after_load_s"] = statistics.median(first_search)
        res["first_travel_times_to_after_load_s"] = statistics.median(first_rank)

    net.snap(*dest)
    net.shortest_times_to(0)  # warm both lazy structures
    la, ln = lat[:N_SINGLE].tolist(), lng[:N_SINGLE].tolist()

    def singles() -> None:
        for a, b in zip(la, ln, strict=True):
            net.snap(a, b)

    res["snap_single_us"] = median_s(singles, repeat) / N_SINGLE * 1e6
    res["snap_many_us_per_point"] = (
        median_s(lambda: net.snap_many(lat, lng), repeat) / N_ORIGINS * 1e6
    )
    res["snap_many_headings_us_per_point"] = (
        median_s(lambda: net.snap_many(lat, lng, headings=headings), repeat) / N_ORIGINS * 1e6
    )

    incident = net.snap(*dest)
    trucks = net.snap_many(lat, lng)
    # The node a search for this destination starts from (the tail of its edge, or its node).
    start = incident.node if incident.node is not None else int(net.edge_u[incident.edge])
    reverse = net._graph.reverse  # the very matrix travel_times_to searches
    res["scipy_dijkstra_s"] = median_s(
        lambda: dijkstra(reverse, directed=True, indices=start), repeat
    )
    res["travel_times_to_s"] = median_s(lambda: net.travel_times_to(*dest, lat, lng), repeat)
    res["travel_times_to_snapped_s"] = median_s(
        lambda: net.travel_times_to_snapped(incident, trucks), repeat
    )
    res["travel_times_to_vs_dijkstra"] = res["travel_times_to_s"] / res["scipy_dijkstra_s"]
    res["snapped_vs_dijkstra"] = res["travel_times_to_snapped_s"] / res["scipy_dijkstra_s"]
    res["travel_time_point_to_point_s"] = median_s(
        lambda: net.travel_time(float(lat[1]), float(lng[1]), *dest), repeat
    )
    return res


ROWS: list[tuple[str, str, str, str]] = [
    # key, label, unit, target (Andorra)
    ("load_source_s", "load from OSM (Andorra) / build (synthetic)", "s", "<= 10 s"),
    ("save_s", "save (.npz, uncompressed)", "s", ""),
    ("file_mb", "file size", "MB", ""),
    ("load_saved_s", "load saved file (lazy: arrays only)", "s", "<= 0.5 s"),
    ("first_snap_after_load_s", "  + first snap after load (builds spatial index)", "s", ""),
    ("snap_grid_mb", "  snapping grid (cell lists), memory", "MB", ""),
    ("first_search_after_load_s", "  + first search after load (builds CSR graphs)", "s", ""),
    ("first_travel_times_to_after_load_s", "  + first travel_times_to after load (both)", "s", ""),
    ("snap_single_us", "snap, one point per call", "us/pt", ""),
    ("snap_many_us_per_point", "snap_many, 2,000 points", "us/pt", ""),
    ("snap_many_headings_us_per_point", "snap_many with headings, 2,000 points", "us/pt", ""),
    ("scipy_dijkstra_s", "baseline: one full scipy dijkstra", "ms", ""),
    ("travel_times_to_s", "travel_times_to, 2,000 origins", "ms", "<= baseline"),
    ("travel_times_to_vs_dijkstra", "  ... / baseline", "x", "<= 1.0"),
    ("travel_times_to_snapped_s", "travel_times_to_snapped, 2,000 pre-snapped", "ms", ""),
    ("snapped_vs_dijkstra", "  ... / baseline", "x", ""),
    ("travel_time_point_to_point_s", "travel_time, point to point", "ms", ""),
]


def show(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1e3:,.1f} ms"
    if unit == "s":
        return f"{value:,.3f} s"
    if unit == "us/pt":
        return f"{value:,.1f} us"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500_000, help="synthetic region nodes")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    if ANDORRA.is_file():
        andorra = RoadNetwork.from_osm(ANDORRA)
        results["andorra"] = bench_loaded(
            andorra,
            lambda: RoadNetwork.from_osm(ANDORRA),
            args.repeat,
            np.random.default_rng(args.seed),
        )
    else:
        print(f"note: {ANDORRA} is absent; only the synthetic region is measured")

    def build() -> RoadNetwork:
        return RoadNetwork.from_arrays(synthetic_region_arrays(seed=args.seed, size=args.size))

    synthetic = build()
    results["synthetic"] = bench_loaded(
        synthetic, build, max(3, args.repeat // 2), np.random.default_rng(args.seed)
    )

    names = list(results)
    heads = [f"{n} ({results[n]['nodes']:,} nodes, {results[n]['edges']:,} edges)" for n in names]
    width = max(len(r[1]) for r in ROWS)
    print(f"{'measure':<{width}} | " + " | ".join(f"{h:>40}" for h in heads) + " | target")
    for key, label, unit, target in ROWS:
        cells = [show(results[n].get(key), unit) for n in names]
        print(f"{label:<{width}} | " + " | ".join(f"{c:>40}" for c in cells) + f" | {target}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
