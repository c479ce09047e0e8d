"""Benchmark the H3 responder index, side by side with the bare costs it builds on.

Sizes (defaults): 1,000,000 responders spread uniformly over a 50 x 50 km city centred
on Shenzhen for updates; 100,000 of them for queries (radius 2 km: about 500 answers).
Seeded; prints a table and optionally writes JSON. Run::

    python benchmarks/bench_index.py [--responders 1000000] [--query-responders 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from itertools import repeat

import numpy as np
from h3.api import basic_int as h3i

from kayou_dispatch import ResponderIndex
from kayou_dispatch.geo import haversine_m_array

CENTER = (22.65, 114.10)
HALF_SIDE_M = 25_000.0


def city(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTER[0] + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n) / 111_195.0
    lng = CENTER[1] + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n) / (
        111_195.0 * np.cos(np.radians(CENTER[0]))
    )
    return lat, lng


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bare_h3_rate(lat: np.ndarray, lng: np.ndarray, res: int) -> tuple[str, float]:
    """Fastest available way to compute H3 cells for these points (cells/s)."""
    candidates = {"h3.api.basic_int": h3i.latlng_to_cell}
    try:  # h3's compiled core, one call layer less than the public API
        from h3._cy import latlng_to_cell as cy_latlng_to_cell

        candidates["h3._cy"] = cy_latlng_to_cell
    except ImportError:  # pragma: no cover
        pass
    la, ln = lat.tolist(), lng.tolist()
    n = lat.size
    rates = {}
    for name, f in candidates.items():
        t = best_of(lambda f=f: np.fromiter(map(f, la, ln, repeat(res)), dtype=np.int64, count=n))
        rates[f"{name} (map + fromiter)"] = n / t
    name = max(rates, key=rates.get)
    return name, rates[name]


def bench_updates(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ids = np.array([f"driver-{i:07d}" for i in range(n)])
    lat, lng = city(rng, n)
    bare_name, bare_rate = bare_h3_rate(lat, lng, 8)
    clock = [0.0]
    index = ResponderIndex(clock=lambda: clock[0])
    t0 = time.perf_counter()
    index.update_positions(ids, lat, lng)
    insert_rate = n / (time.perf_counter() - t0)

    # A 5-second GPS cadence: every truck moved up to ~150 m (many stay in their cell).
    def move_all(scale_m: float) -> float:
        clock[0] += 5.0
        dlat = rng.normal(0, scale_m, n) / 111_195.0
        dlng = rng.normal(0, scale_m, n) / 111_195.0
        t = time.perf_counter()
        index.update_positions(ids, lat + dlat, lng + dlng)
        return n / (time.perf_counter() - t)

    move_rate = max(move_all(100.0) for _ in range(3))

    # Worst case: every responder jumps to a random new place (every cell changes).
    def shuffle() -> float:
        clock[0] += 5.0
        la, ln = city(rng, n)
        t = time.perf_counter()
        index.update_positions(ids, la, ln)
        return n / (time.perf_counter() - t)

    shuffle_rate = max(shuffle() for _ in range(3))

    # Single updates: existing responders moving a little.
    m = 100_000
    pick = rng.integers(0, n, m)
    sid = ids[pick].tolist()
    sla = (lat[pick] + rng.normal(0, 50.0, m) / 111_195.0).tolist()
    sln = (lng[pick] + rng.normal(0, 50.0, m) / 111_195.0).tolist()
    clock[0] += 5.0
    up = index.update_position
    t = time.perf_counter()
    for i in range(m):
        up(sid[i], sla[i], sln[i])
    single_us = (time.perf_counter() - t) / m * 1e6
    return {
        "responders": n,
        "bare_h3_method": bare_name,
        "bare_h3_cells_per_s": bare_rate,
        "bulk_insert_per_s": insert_rate,
        "bulk_move_per_s": move_rate,
        "bulk_shuffle_per_s": shuffle_rate,
        "bulk_move_vs_bare": bare_rate / move_rate,
        "bulk_shuffle_vs_bare": bare_rate / shuffle_rate,
        "single_update_us": single_us,
    }


def bench_queries(n: int, seed: int, n_queries: int = 2_000) -> dict:
    rng = np.random.default_rng(seed + 1)
    lat, lng = city(rng, n)
    index = ResponderIndex(clock=lambda: 0.0)
    index.update_positions([f"d{i}" for i in range(n)], lat, lng)
    qlat, qlng = city(rng, n_queries)
    # Keep queries 2 km inside the city so every answer set is a full disk.
    qlat = CENTER[0] + (qlat - CENTER[0]) * 0.9
    qlng = CENTER[1] + (qlng - CENTER[1]) * 0.9

    def timed(fn, count: int = n_queries) -> list[float]:
        out = []
        for a, b in zip(qlat[:count].tolist(), qlng[:count].tolist(), strict=True):
            t = time.perf_counter()
            fn(a, b)
            out.append(time.perf_counter() - t)
        return out

    answers = [len(index.nearby(a, b, 2_000.0)) for a, b in zip(qlat, qlng, strict=True)]
    nearby_t = timed(lambda a, b: index.nearby(a, b, 2_000.0))
    nearest_t = timed(lambda a, b: index.nearest(a, b, k=10))

    def brute(a: float, b: float) -> np.ndarray:
        d = haversine_m_array(lat, lng, a, b)
        hits = np.flatnonzero(d <= 2_000.0)
        return hits[np.argsort(d[hits], kind="stable")]

    brute_t = timed(brute, 200)  # slow: a sample is plenty

    def p(ts: list[float], q: float) -> float:
        return float(np.percentile(ts, q) * 1e6)

    return {
        "responders": n,
        "mean_answers_2km": statistics.fmean(answers),
        "nearby_median_us": p(nearby_t, 50),
        "nearby_p99_us": p(nearby_t, 99),
        "brute_scan_median_us": p(brute_t, 50),
        "nearby_speedup_vs_brute": p(brute_t, 50) / p(nearby_t, 50),
        "nearest10_median_us": p(nearest_t, 50),
        "nearest10_p99_us": p(nearest_t, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responders", type=int, default=1_000_000)
    parser.add_argument("--query-responders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    updates = bench_updates(args.responders, args.seed)
    queries = bench_queries(args.query_responders, args.seed)
    width = max(map(len, list(updates) + list(queries)))
    for title, res in (("updates", updates), ("queries", queries)):
        print(f"-- {title}")
        for key, value in res.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {shown}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"updates": updates, "queries": queries}, fh, indent=2)


if __name__ == "__main__":
    main()
