"""Bytes per online responder, where they go, and what ranking and ingest cost meanwhile.

Run with ``PYTHONPATH=src python benchmarks/bench_memory.py --size 250000 --responders 1000000``.
Memory is what ``tracemalloc`` sees the engine hold once the caller has dropped its own id
list and arrays (the ids the engine keeps are counted: strings, dict, whatever holds them),
after the first bulk insert (snapped at ingest) and one ranking; ``--top`` lines show the
allocation sites. Timings: ``rank(k=10)`` p50 over ``--incidents`` incidents, the first
bulk insert and a whole-fleet move (µs per fix), and single ``update_position`` calls.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import SEED, incidents, place

from kayou_dispatch import DispatchEngine, synthetic_region


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=250_000)
    parser.add_argument("--responders", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-overlay", action="store_true")
    parser.add_argument(
        "--timings-only", action="store_true",
        help="no tracemalloc (it slows allocation, so ingest): timings alone",
    )
    args = parser.parse_args()
    net = synthetic_region(seed=SEED, size=args.size)
    if not args.no_overlay:
        net.build_overlay()
    rng = np.random.default_rng(SEED)
    n = args.responders
    pts = incidents(net, rng, args.incidents + 1)
    lat, lng, heading = place(net, rng, n, [])
    probe = DispatchEngine(net, clock=lambda: 0.0)  # the network's lazy structures, built
    probe.update_position("probe", *pts[0])
    probe.rank(*pts[0], k=10)
    del probe
    gc.collect()
    trace = not args.timings_only
    if trace:
        tracemalloc.start(8)
    base = tracemalloc.get_traced_memory()[0]
    engine = DispatchEngine(net, clock=lambda: 0.0)
    ids = [f"t{i}" for i in range(n)]
    t0 = time.perf_counter()
    engine.update_positions(ids, lat, lng, headings=heading)
    ingest_us = (time.perf_counter() - t0) * 1e6 / n
    engine.rank(*pts[0], k=10)
    print(f"{n:,} responders on {net.n_nodes:,} nodes")
    if trace:
        with_list = (tracemalloc.get_traced_memory()[0] - base) / n
        del ids
        gc.collect()
        held = (tracemalloc.get_traced_memory()[0] - base) / n
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        print(f"bytes per responder held by the engine: {held:.1f} "
              f"(with the caller's id list still alive: {with_list:.1f})")
        sites: dict[str, int] = {}
        for st in snap.statistics("traceback"):
            ours = [f for f in st.traceback if "kayou_dispatch" in f.filename or
                    f.filename.endswith("bench_memory.py")]
            frame = ours[-1] if ours else st.traceback[-1]
            name = frame.filename
            name = name[name.find("kayou_dispatch"):] if "kayou_dispatch" in name else name
            site = f"{name}:{frame.lineno}"
            sites[site] = sites.get(site, 0) + st.size
        for site, size in sorted(sites.items(), key=lambda kv: -kv[1])[: args.top]:
            if size / n < 0.5:
                break
            print(f"  {size / n:7.1f} B  {site}")
    ids = [f"t{i}" for i in range(n)]
    t_rank = []
    for p in pts[1:]:
        t0 = time.perf_counter()
        engine.rank(*p, k=10)
        t_rank.append((time.perf_counter() - t0) * 1e3)
    move = []
    for r in range(2):
        lat = lat + rng.normal(0, 1e-4, n)
        lng = lng + rng.normal(0, 1e-4, n)
        t0 = time.perf_counter()
        engine.update_positions(ids, lat, lng, headings=heading, ts=np.full(n, r + 1.0))
        move.append((time.perf_counter() - t0) * 1e6 / n)
    sel = rng.integers(0, n, 20_000).tolist()
    t0 = time.perf_counter()
    for i in sel:
        engine.update_position(ids[i], float(lat[i]) + 1e-5, float(lng[i]), ts=5.0)
    single_us = (time.perf_counter() - t0) * 1e6 / len(sel)
    t_after = []
    for p in pts[1:21]:
        t0 = time.perf_counter()
        engine.rank(*p, k=10)
        t_after.append((time.perf_counter() - t0) * 1e3)
    print(f"rank p50 {statistics.median(t_rank):.2f} ms (p90 {np.percentile(t_rank, 90):.2f}); "
          f"after 20k single fixes p50 {statistics.median(t_after):.2f} ms")
    print(f"ingest {ingest_us:.2f} us/fix; fleet move {statistics.median(move):.2f} us/fix; "
          f"single update_position {single_us:.2f} us")


if __name__ == "__main__":
    main()
