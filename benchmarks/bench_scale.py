"""Rank at national scale: cost beside scipy's Dijkstra, as the fleet and the network grow.

Networks (all seeded):

* ``synthetic_region(seed=20261202, size=2_000_000)`` (``--size``): two 150 m-block city
  grids the size of a province joined by an expressway (about 2 million nodes);
* ``../shared/data/lower_saxony_main_roads.osm.pbf`` (94k nodes, 103 x 125 km, motorways),
  read with ``RoadNetwork.from_osm`` (skipped with a message when absent).

On each: 100, 10,000 and 1,000,000 online responders (``--responders``) on random edges a
few metres off the road, a tenth with a heading along their road. For each fleet size:

* ``rank(k=10)`` median / p99 over ``--incidents`` incidents on random edges;
* the next rank right after 20,000 single ``update_position`` calls, and right after the
  whole fleet moved once (one bulk ``update_positions``), median of 3 rounds; beside them
  what ingest costs per fix (the first bulk insert, and the whole fleet's move): fixes are
  snapped to the road there, in batches;
* a rural case: incidents with no responder within 40 km (a second fleet of the same size,
  placed outside 40 km discs around them; the first fleet covers the whole network);
* beside each, on the same incidents: one full ``scipy.sparse.csgraph.dijkstra`` from the
  incident's node on the reversed graph, and the same told the 10th ETA in advance
  (``limit=``): the baselines the issue names.

Also load-to-first-rank (``RoadNetwork.load`` of the saved ``.npz`` then one rank), and
resident memory per node (after every structure the queries use is built) and per
responder. Every ranking is exact; the first incidents of each case are checked against
the brute-force oracle (every responder's exact time, sorted) and the run says so.

``--extracts`` instead times every extract in ``../shared/data`` at 100, 2,000 and 20,000
responders: rank beside one full scipy Dijkstra and scipy told the 10th ETA.

Run ``python benchmarks/bench_scale.py`` (about 30 minutes at 2M nodes on 2 cores;
``--size 250000 --responders 100 10000 100000`` for a quick look). It prints a table and
asserts nothing about time: compare the columns of one run.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch import DispatchEngine, RoadNetwork, synthetic_region
from kayou_dispatch.matching import rank as rank_module

SEED = 20261202
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
LOWER_SAXONY = DATA / "lower_saxony_main_roads.osm.pbf"
RURAL_M = 40_000.0


def structure_bytes(net: RoadNetwork) -> int:
    """Bytes held by the network's arrays and every derived structure (as saved)."""
    return sum(a.nbytes for a in net._derived().values()) + sum(
        a.nbytes for a in net._graph_arrays().values()
    )


def place(
    net: RoadNetwork, rng: np.random.Generator, n: int, avoid: list[tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points on random edges ~2 m off the road, none within RURAL_M of ``avoid``."""
    from kayou_dispatch.geo import haversine_m_array

    lats, lngs = [], []
    got = 0
    while got < n:
        m = int((n - got) * 1.3) + 16
        e = rng.integers(0, net.n_edges, m)
        f = rng.uniform(0.0, 1.0, m)
        u, v = net.edge_u[e], net.edge_v[e]
        lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u]) + rng.normal(0, 2e-5, m)
        lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u]) + rng.normal(0, 2e-5, m)
        ok = np.ones(m, dtype=bool)
        for a, b in avoid:
            ok &= haversine_m_array(lat, lng, a, b) > RURAL_M + 1000.0
        lats.append(lat[ok])
        lngs.append(lng[ok])
        got += int(ok.sum())
    lat, lng = np.concatenate(lats)[:n], np.concatenate(lngs)[:n]
    heading = np.full(n, np.nan)
    some = np.flatnonzero(rng.random(n) < 0.1)
    heading[some] = rng.uniform(0.0, 360.0, some.size)
    return lat, lng, heading


def incidents(net: RoadNetwork, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    e = rng.integers(0, net.n_edges, n)
    f = rng.uniform(0.0, 1.0, n)
    u, v = net.edge_u[e], net.edge_v[e]
    lat = net.node_lat[u] + f * (net.node_lat[v] - net.node_lat[u])
    lng = net.node_lng[u] + f * (net.node_lng[v] - net.node_lng[u])
    return list(zip(lat.tolist(), lng.tolist(), strict=True))


def rural_points(net: RoadNetwork, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    """Incident points at least RURAL_M inside the network's extent (so a 40 km hole fits)."""
    south, west, north, east = net.bounds
    dlat = RURAL_M / 111_195.0
    dlng = dlat / math.cos(math.radians(0.5 * (south + north)))
    pts = incidents(net, rng, 20 * n)
    inner = [
        p for p in pts
        if south + dlat < p[0] < north - dlat and west + dlng < p[1] < east - dlng
    ]
    return inner[:n] if len(inner) >= n else pts[:n]


def ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def stats(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):8.2f} / {float(np.percentile(xs, 99)):8.2f}"


def baselines(
    net: RoadNetwork, pts: list[tuple[float, float]], kth: list[float]
) -> tuple[list[float], list[float]]:
    """Full scipy Dijkstra and scipy told the 10th ETA (limit=), from each incident's node."""
    graph = net._graph.reverse
    full, limited = [], []
    for (lat, lng), limit in zip(pts, kth, strict=True):
        s = net.snap(lat, lng)
        node = int(net.edge_u[s.edge])
        full.append(ms(lambda node=node: dijkstra(graph, indices=node)))
        if math.isfinite(limit):
            limited.append(
                ms(lambda node=node, limit=limit: dijkstra(graph, indices=node, limit=limit))
            )
    return full, limited


def timed_ranks(
    engine: DispatchEngine, pts: list[tuple[float, float]]
) -> tuple[list[float], list[float]]:
    """Milliseconds of ``rank(k=10)`` at each point, and each ranking's 10th ETA (inf: fewer)."""
    times, kth = [], []
    for lat, lng in pts:
        t0 = time.perf_counter()
        found = engine.rank(lat, lng, k=10)
        times.append((time.perf_counter() - t0) * 1e3)
        kth.append(found[-1].eta_s if len(found) == 10 else math.inf)
    return times, kth


def check_exact(engine: DispatchEngine, pts: list[tuple[float, float]], n: int) -> bool:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.matching.oracle import brute_force_rank

    # Through the cell overlay a time may differ from plain Dijkstra's in its last bits.
    for lat, lng in pts[:n]:
        got = engine.rank(lat, lng, k=10)
        want = brute_force_rank(engine, lat, lng, k=10)
        if [c.responder_id for c in got] != [r for _, r, _ in want]:
            return False
        pairs = zip(got, [t for t, _, _ in want], strict=True)
        if not all(math.isclose(c.eta_s, t, rel_tol=1e-12) for c, t in pairs):
            return False
    return True


def run_network(
    name: str,
    net: RoadNetwork,
    fleet_sizes: list[int],
    n_inc: int,
    *,
    overlay: bool = True,
    hierarchy: bool = True,
) -> None:
    rng = np.random.default_rng(SEED)
    print(f"\n== {name}: {net.n_nodes:,} nodes, {net.n_edges:,} edges")
    if hierarchy:
        t0 = time.perf_counter()
        ch = net.build_hierarchy()
        print(f"contraction hierarchy: built in {time.perf_counter() - t0:.1f} s (numba), "
              f"{ch.n_arcs:,} arcs ({ch.n_arcs / net.n_edges:.2f} per road edge), "
              f"{ch.nbytes / net.n_nodes:.0f} bytes per node")
    if overlay:
        t0 = time.perf_counter()
        ov = net.build_overlay(progress=True)
        print(f"cell overlay: built in {time.perf_counter() - t0:.1f} s; H3 resolution "
              f"{ov.resolution}, {ov.n_cells:,} cells, {ov.n_boundary:,} boundary nodes, "
              f"{ov.n_overlay_edges:,} overlay edges, {ov.nbytes() / net.n_nodes:.0f} bytes "
              "per node")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.npz"
        net.save(path)
        t0 = time.perf_counter()
        loaded = RoadNetwork.load(path)
        probe = DispatchEngine(loaded, clock=lambda: 0.0)
        lat, lng = incidents(loaded, rng, 1)[0]
        probe.update_position("probe", lat, lng)
        probe.rank(lat, lng, k=10)
        first = time.perf_counter() - t0
        print(f"load to first rank: {first:.2f} s; {structure_bytes(loaded) / net.n_nodes:.0f} "
              "bytes per node with every structure the queries use (graph arrays, twins, "
              "sparse graphs, snapping grid, node grid, overlay, hierarchy); "
              f"file {path.stat().st_size / 1e6:.0f} MB")
        del probe
    net = loaded
    pts = incidents(net, rng, n_inc)
    rural = rural_points(net, rng, max(n_inc // 10, 5))
    print(f"{'responders':>10} | {'rank p50 / p99 ms':>19} | {'full scipy ms':>13} | "
          f"{'scipy limit ms':>14} | {'after 20k single':>16} | {'after fleet moved':>17} | "
          f"{'rural p50 / p99':>19} | {'rural plain':>19} | {'rural scipy lim':>15} | "
          "B/responder | ingest / move us/fix | exact")
    for n in fleet_sizes:
        gc.collect()
        lat, lng, heading = place(net, rng, n, [])
        tracemalloc.start()
        engine = DispatchEngine(net, clock=lambda: 0.0)
        ids = [f"t{i}" for i in range(n)]
        t0 = time.perf_counter()
        engine.update_positions(ids, lat, lng, headings=heading)  # snapped at ingest
        ingest_us = (time.perf_counter() - t0) * 1e6 / n
        engine.rank(*pts[0], k=10)  # warm
        engine.network.snap(*pts[0])  # (structures are the network's, counted above)
        per_resp = tracemalloc.get_traced_memory()[0] / n  # ids included (Python strings)
        tracemalloc.stop()
        t_rank, kth = timed_ranks(engine, pts)
        full, limited = baselines(net, pts, kth)
        after_single, after_move, move_us = [], [], []
        for r in range(3):
            sel = rng.integers(0, n, min(20_000, n))
            jlat = lat[sel] + rng.normal(0, 1e-4, sel.size)
            jlng = lng[sel] + rng.normal(0, 1e-4, sel.size)
            for i, a, b in zip(sel.tolist(), jlat.tolist(), jlng.tolist(), strict=True):
                engine.update_position(ids[i], a, b, ts=float(r + 1))
            after_single.append(timed_ranks(engine, [pts[r]])[0][0])
            lat = lat + rng.normal(0, 1e-4, n)
            lng = lng + rng.normal(0, 1e-4, n)
            t0 = time.perf_counter()
            engine.update_positions(ids, lat, lng, headings=heading, ts=np.full(n, r + 1.5))
            move_us.append((time.perf_counter() - t0) * 1e6 / n)
            after_move.append(timed_ranks(engine, [pts[r + 3]])[0][0])
        exact = check_exact(engine, pts, 3) if n <= 20_000 else "(checked at <=20k)"
        del engine
        gc.collect()
        # The rural case: the same number of responders, none within RURAL_M of the points.
        far = DispatchEngine(net, clock=lambda: 0.0)
        flat, flng, fhead = place(net, rng, n, rural)
        far.update_positions(ids, flat, flng, headings=fhead)
        timed_ranks(far, rural[:1])  # warm: snaps the responders near one incident
        t_rural, kth_rural = timed_ranks(far, rural)
        _, rural_limited = baselines(net, rural, kth_rural)
        t_rural_plain: list[float] = []
        if net.overlay is not None or net.hierarchy is not None:
            # The same rankings by plain Dijkstra (no overlay, no hierarchy), side by side.
            far._ranker.overlay_min_nodes = far._ranker.hierarchy_min_nodes = net.n_nodes + 1
            t_rural_plain, _ = timed_ranks(far, rural)
            far._ranker.overlay_min_nodes = rank_module._OVERLAY_MIN_NODES
            far._ranker.hierarchy_min_nodes = rank_module._HIERARCHY_MIN_NODES
        if n <= 20_000 and exact is True:
            exact = check_exact(far, rural, 3)
        del far
        print(f"{n:>10,} | {stats(t_rank):>19} | {statistics.median(full):13.2f} | "
              f"{statistics.median(limited) if limited else math.nan:14.2f} | "
              f"{statistics.median(after_single):16.2f} | {statistics.median(after_move):17.2f} | "
              f"{stats(t_rural):>19} | {stats(t_rural_plain):>19} | "
              f"{statistics.median(rural_limited) if rural_limited else math.nan:15.2f} | "
              f"{per_resp:11.0f} | {ingest_us:7.1f} / {statistics.median(move_us):5.1f} | {exact}")
        gc.collect()


def run_extracts(fleet_sizes: list[int], n_inc: int) -> None:
    """Every extract in ../shared/data: rank beside full scipy and scipy told the 10th ETA."""
    print("\n== every shared extract: rank(k=10) ms beside scipy (same incidents; p50 / p99)")
    print(f"{'extract':>34} {'nodes':>7} {'responders':>10} | {'rank p50 / p99':>15} | "
          f"{'full':>7} | {'limit':>7} | {'rank/full':>9} | {'rank/limit':>10} | "
          f"{'searches':>8}")
    for path in sorted(DATA.glob("*.osm*")):
        net = RoadNetwork.from_osm(path)
        rng = np.random.default_rng(SEED)
        pts = incidents(net, rng, n_inc)
        for n in fleet_sizes:
            engine = DispatchEngine(net, clock=lambda: 0.0)
            lat, lng, heading = place(net, rng, n, [])
            engine.update_positions([f"t{i}" for i in range(n)], lat, lng, headings=heading)
            timed_ranks(engine, pts[:5])  # warm: snaps, learned limits
            before = engine._ranker.searches
            t_rank, kth = timed_ranks(engine, pts)
            searches = (engine._ranker.searches - before) / len(pts)
            full, limited = baselines(net, pts, kth)
            r, f = statistics.median(t_rank), statistics.median(full)
            r99 = float(np.percentile(t_rank, 99))
            lim = statistics.median(limited) if limited else math.nan
            print(f"{path.name:>34} {net.n_nodes:>7,} {n:>10,} | {r:6.2f} / {r99:6.2f} | "
                  f"{f:7.2f} | {lim:7.2f} | {r / f:9.2f} | {r / lim:10.2f} | {searches:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--responders", type=int, nargs="+", default=[100, 10_000, 1_000_000])
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-regional", action="store_true")
    parser.add_argument("--no-overlay", action="store_true", help="do not build the overlay")
    parser.add_argument(
        "--no-hierarchy", action="store_true", help="do not build the contraction hierarchy"
    )
    parser.add_argument(
        "--extracts", action="store_true",
        help="only: every shared extract at 100 / 2,000 / 20,000 responders",
    )
    args = parser.parse_args()
    if args.extracts:
        run_extracts([100, 2_000, 20_000], args.incidents)
        return
    if args.skip_regional:
        pass
    elif LOWER_SAXONY.is_file():
        run_network(
            "Lower Saxony main roads", RoadNetwork.from_osm(LOWER_SAXONY),
            args.responders, args.incidents, overlay=not args.no_overlay,
            hierarchy=not args.no_hierarchy,
        )
    else:
        print(f"{LOWER_SAXONY} not present: skipping the real regional network")
    if not args.skip_synthetic:
        t0 = time.perf_counter()
        net = synthetic_region(seed=SEED, size=args.size)
        print(f"\n(built synthetic_region size={args.size:,} in {time.perf_counter() - t0:.1f} s)")
        run_network(
            f"synthetic_region {args.size:,}", net, args.responders, args.incidents,
            overlay=not args.no_overlay, hierarchy=not args.no_hierarchy,
        )


if __name__ == "__main__":
    main()
