"""What a cell overlay (CRP-style) would cost on the benchmark networks: the hierarchy's plan.

For "Rank at national scale": before building a hierarchy, measure its size and build time.
Each network is cut into square cells of about ``--cell`` nodes (a geometric partition, the
simplest there is); per cell it counts the boundary nodes (heads of edges entering, tails of
edges leaving) and the edges of a one-level overlay (every entry to every exit), and times
the in-cell multi-source Dijkstra that would compute those cliques on a sample of cells.

Run ``python benchmarks/bench_overlay_plan.py`` (a minute or two; ``--size`` for the
synthetic region). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from kayou_dispatch import RoadNetwork, load_network, synthetic_region


def cells_of(net: RoadNetwork, target: int) -> np.ndarray:
    """A square-cell label per node, cells of about ``target`` nodes over the extent."""
    x = net.node_lng * 111_195.0 * np.cos(np.radians(float(net.node_lat.mean())))
    y = net.node_lat * 111_195.0
    side = float(np.sqrt(np.ptp(x) * np.ptp(y) / (net.n_nodes / target)))
    cx = ((x - x.min()) // side).astype(np.int64)
    cy = ((y - y.min()) // side).astype(np.int64)
    return cx * (int(cy.max()) + 1) + cy


def plan(name: str, net: RoadNetwork, target: int, sample: int, rng: np.random.Generator) -> None:
    a = net.arrays
    cell = cells_of(net, target)
    cu, cv = cell[a.u], cell[a.v]
    cut = cu != cv
    n_cells = int(cell.max()) + 1
    entries = np.unique(np.c_[cv[cut], a.v[cut]], axis=0)
    exits = np.unique(np.c_[cu[cut], a.u[cut]], axis=0)
    ne = np.bincount(entries[:, 0], minlength=n_cells)
    nx = np.bincount(exits[:, 0], minlength=n_cells)
    used = np.unique(cell)
    cliques = int((ne * nx).sum())
    spent, picked = 0.0, rng.choice(used, min(sample, used.size), replace=False)
    for c in picked.tolist():
        nodes = np.flatnonzero(cell == c)
        local = np.full(net.n_nodes, -1)
        local[nodes] = np.arange(nodes.size)
        inside = (cu == c) & (cv == c)
        g = csr_matrix(
            (a.travel_time_s[inside], (local[a.u[inside]], local[a.v[inside]])),
            shape=(nodes.size, nodes.size),
        )
        src = local[entries[entries[:, 0] == c, 1]]
        t0 = time.perf_counter()
        if src.size:
            dijkstra(g, indices=src)
        spent += time.perf_counter() - t0
    per_cell = spent / max(picked.size, 1)
    print(f"{name:>28} | {used.size:>6,} | {np.mean((ne + nx)[used]):>8.0f} | {cliques:>12,} | "
          f"{cliques / net.n_nodes:>8.1f} | {per_cell * 1e3:>9.1f} | {per_cell * used.size:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--cell", type=int, default=4_000)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(20261202)
    print(f"cells of about {args.cell:,} nodes")
    print(f"{'network':>28} | {'cells':>6} | boundary | clique edges | per node | "
          "ms a cell | build s")
    plan("Lower Saxony main roads", load_network(), args.cell, args.sample, rng)
    net = synthetic_region(seed=20261202, size=args.size)
    plan(f"synthetic_region {args.size:,}", net, args.cell, args.sample, rng)


if __name__ == "__main__":
    main()
