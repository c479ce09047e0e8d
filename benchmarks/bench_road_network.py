"""Time RoadNetwork's hot paths on a seeded synthetic city of 25,600 nodes.

The city is a 160 x 160 grid of jittered junctions about 110 m apart (about 100,000 directed
edges, a tenth of the streets one-way, every fifth street an arterial), in the size range of
the Andorra extract (26k nodes). Run ``python benchmarks/bench_road_network.py``; it prints
median timings and asserts nothing about time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch import RoadNetwork, haversine_m_array
from kayou_dispatch.network import EdgeArrays

SIDE = 160
SEED = 20261125


def synthetic_city(side: int = SIDE, seed: int = SEED) -> EdgeArrays:
    """Return a jittered grid city as arrays."""
    rng = np.random.default_rng(seed)
    step = 0.001
    r, c = np.divmod(np.arange(side * side), side)
    lat = 22.60 + r * step + rng.normal(0.0, step / 10, r.size)
    lng = 114.10 + c * step + rng.normal(0.0, step / 10, r.size)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    one_way = rng.random(a.size) < 0.1
    u = np.concatenate([a, b[~one_way]])
    v = np.concatenate([b, a[~one_way]])
    length = haversine_m_array(lat[u], lng[u], lat[v], lng[v])
    arterial = (r[u] % 5 == 0) & (r[v] % 5 == 0) | (c[u] % 5 == 0) & (c[v] % 5 == 0)
    speed_mps = np.where(arterial, 50.0, 25.0) / 3.6
    return EdgeArrays.straight(
        node_id=np.arange(side * side) + 10**9,
        lat=lat,
        lng=lng,
        u=u,
        v=v,
        length_m=length,
        travel_time_s=length / speed_mps,
        meta={"source": "synthetic"},
    )


def bench(name: str, fn: Callable[[], object], repeat: int = 7) -> float:
    """Run ``fn`` ``repeat`` times and print the median, milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    print(f"{name:<48} {ms:9.2f} ms")
    return ms


def main() -> None:
    arrays = synthetic_city()
    print(f"synthetic city: {arrays.n_nodes} nodes, {arrays.n_edges} edges")
    bench("from_arrays", lambda: RoadNetwork.from_arrays(arrays), repeat=3)
    bench(
        "from_arrays(largest_component=True)",
        lambda: RoadNetwork.from_arrays(arrays, largest_component=True),
        repeat=3,
    )
    net = RoadNetwork.from_arrays(arrays, largest_component=True)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "city.npz"
        net.save(path)
        bench("load", lambda: RoadNetwork.load(path))
        bench(
            "load + first snap (builds the STRtree)",
            lambda: RoadNetwork.load(path).snap(22.68, 114.18),
            repeat=3,
        )
        bench(
            "load + first shortest_times_from (builds CSR)",
            lambda: RoadNetwork.load(path).shortest_times_from(0),
            repeat=3,
        )

    rng = np.random.default_rng(SEED)
    lo_lat, lo_lng, hi_lat, hi_lng = net.bounds
    lats = rng.uniform(lo_lat, hi_lat, 2000)
    lngs = rng.uniform(lo_lng, hi_lng, 2000)
    headings = rng.uniform(0.0, 360.0, 2000)
    dest = (float(lats[0]), float(lngs[0]))
    net.snap(*dest)
    net.shortest_times_from(0)  # warm both lazy structures

    bench("snap (one point)", lambda: net.snap(*dest))
    bench("snap_many (2,000 points)", lambda: net.snap_many(lats, lngs))
    bench(
        "snap_many (2,000 points, with headings)",
        lambda: net.snap_many(lats, lngs, headings=headings),
    )
    bench(
        "scipy dijkstra, one source (baseline)",
        lambda: dijkstra(net._graph.reverse, directed=True, indices=0),
    )
    bench("travel_times_to (2,000 origins)", lambda: net.travel_times_to(*dest, lats, lngs))
    trucks = net.snap_many(lats, lngs)
    incident = net.snap(*dest)
    bench(
        "travel_times_to_snapped (2,000 origins)",
        lambda: net.travel_times_to_snapped(incident, trucks),
    )
    bench(
        "travel_time (point to point)",
        lambda: net.travel_time(float(lats[1]), float(lngs[1]), *dest),
    )
    bench("route (point to point)", lambda: net.route(float(lats[1]), float(lngs[1]), *dest))


if __name__ == "__main__":
    main()
