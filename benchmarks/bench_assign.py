"""Benchmark batch assignment: optimal (linear_sum_assignment) vs greedy, on one burst.

Sizes (defaults): 500 incidents (mixed kinds, so about 900 unit slots) and 5,000 responders.
Two ETA models, side by side:

* ``great-circle``: responders spread uniformly over a 50 x 50 km city centred on Shenzhen,
  ETAs from great-circle distance x 1.3 (road detour) at 40 km/h through an injected
  ``eta_matrix``: the cost of the assignment itself.
* ``road``: the real engine on the synthetic two-city region (``--road-nodes``, default
  60,000 nodes, about 23 x 50 km), responders and incidents at random road nodes, ETAs from
  ``DispatchEngine.eta_matrix`` (one exact reverse road search per incident): what a
  dispatcher pays end to end.

Seeded; prints a table (total and worst ETA of the offers made, slots served, wall time of
the whole ``assign_batch`` and of one full ETA matrix alone) and optionally writes JSON. With
road ETAs, ``assign_batch`` searches only as far as the solution needs (bounded searches,
exact by lower bounds), so it can beat one full matrix. Run::

    python benchmarks/bench_assign.py [--incidents 500] [--responders 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np

from kayou_dispatch import DispatchEngine, ResponderIndex
from kayou_dispatch.datasets import synthetic_region
from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.lifecycle import DEFAULT_RUN_CARDS, Dispatcher

CENTER = (22.65, 114.10)
HALF_SIDE_M = 25_000.0
DETOUR = 1.3
SPEED_MPS = 40.0 / 3.6
CAPABILITY_SHARE = {
    "mechanic": 0.3,
    "tow": 0.2,
    "first_aid": 0.3,
    "tyre": 0.2,
    "fuel": 0.1,
    "extinguisher": 0.15,
    "crane": 0.03,
}
KIND_SHARE = {
    "breakdown": 0.3,
    "tyre": 0.15,
    "fuel": 0.05,
    "collision": 0.1,
    "rollover": 0.05,
    "medical": 0.05,
    "fire": 0.02,
    "stuck": 0.1,
    "directions": 0.1,
    "other": 0.08,
}


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float


def city(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTER[0] + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n) / 111_195.0
    lng = CENTER[1] + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n) / (
        111_195.0 * np.cos(np.radians(CENTER[0]))
    )
    return lat, lng


class GreatCircleEta:
    """Great-circle x detour / speed, from the index's positions (the ranker stand-in)."""

    def __init__(self, index: ResponderIndex) -> None:
        self.index = index

    def eta_matrix(self, points, responder_ids) -> np.ndarray:
        rs = [self.index.get(r) for r in responder_ids]
        lat = np.array([r.lat for r in rs])
        lng = np.array([r.lng for r in rs])
        out = np.empty((len(points), len(rs)))
        for i, (plat, plng) in enumerate(points):
            out[i] = haversine_m_array(lat, lng, plat, plng) * DETOUR / SPEED_MPS
        return out

    def rank(self, lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
        near = self.index.nearest(lat, lng, k=k + len(exclude), needs=needs)
        out = [
            Cand(n.responder_id, n.distance_m * DETOUR / SPEED_MPS)
            for n in near
            if n.responder_id not in exclude
        ]
        return out[:k]


def build(n_incidents: int, n_responders: int, seed: int) -> tuple[Dispatcher, GreatCircleEta]:
    rng = np.random.default_rng(seed)
    index = ResponderIndex(clock=lambda: 1_000.0)
    lat, lng = city(rng, n_responders)
    caps = [
        {c for c, share in CAPABILITY_SHARE.items() if rng.random() < share}
        for _ in range(n_responders)
    ]
    for i in range(n_responders):
        index.update_position(f"r{i:05d}", lat[i], lng[i], capabilities=caps[i])
    model = GreatCircleEta(index)
    d = Dispatcher(index, rank=model.rank, eta_matrix=model.eta_matrix)
    kinds = list(KIND_SHARE)
    p = np.array(list(KIND_SHARE.values()))
    ilat, ilng = city(rng, n_incidents)
    for i, kind in enumerate(rng.choice(kinds, size=n_incidents, p=p / p.sum())):
        d.report_incident(
            f"i{i:04d}", ilat[i], ilng[i], kind=str(kind), severity=int(rng.integers(1, 6))
        )
    return d, model


def build_road(
    n_incidents: int, n_responders: int, seed: int, nodes: int
) -> tuple[Dispatcher, DispatchEngine]:
    rng = np.random.default_rng(seed)
    net = synthetic_region(seed=1, size=nodes)
    engine = DispatchEngine(net, clock=lambda: 1_000.0)
    at = rng.integers(net.n_nodes, size=n_responders)
    for i, v in enumerate(at):
        caps = {c for c, share in CAPABILITY_SHARE.items() if rng.random() < share}
        engine.update_position(f"r{i:05d}", net.node_lat[v], net.node_lng[v], capabilities=caps)
    kinds = list(KIND_SHARE)
    p = np.array(list(KIND_SHARE.values()))
    where = rng.integers(net.n_nodes, size=n_incidents)
    for i, kind in enumerate(rng.choice(kinds, size=n_incidents, p=p / p.sum())):
        v = where[i]
        engine.report_incident(
            f"i{i:04d}",
            net.node_lat[v],
            net.node_lng[v],
            kind=str(kind),
            severity=int(rng.integers(1, 6)),
        )
    return engine.dispatcher, engine


def run(
    policy: str, n_incidents: int, n_responders: int, seed: int, road_nodes: int | None
) -> dict[str, float]:
    if road_nodes is None:
        d, model = build(n_incidents, n_responders, seed)
        matrix = model.eta_matrix
    else:
        d, engine = build_road(n_incidents, n_responders, seed, road_nodes)
        matrix = engine.eta_matrix
    slots = sum(inc.units for inc in d.open_incidents())
    points = [(inc.lat, inc.lng) for inc in d.open_incidents()]
    matrix(points[:1], list(d.index))  # warm: builds the network's search structures once
    import scipy.optimize  # noqa: F401  (warm: the solver's first call imports it, ~0.5 s)
    t0 = time.perf_counter()
    matrix(points, list(d.index))
    eta_matrix_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = d.assign_batch(policy=policy)
    wall_s = time.perf_counter() - t0
    etas = np.array([o.eta_s for offers in out.values() for o in offers])
    weighted = sum(
        o.eta_s * {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.5, 5: 2.0}[d.incident(iid).severity]
        for iid, offers in out.items()
        for o in offers
    )
    return {
        "slots": slots,
        "served": int(etas.size),
        "total_eta_s": float(etas.sum()),
        "weighted_eta_s": float(weighted),
        "mean_eta_s": float(etas.mean()),
        "worst_eta_s": float(etas.max()),
        "wall_s": wall_s,
        "eta_matrix_s": eta_matrix_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--responders", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--road-nodes", type=int, default=60_000, help="road model size")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    assert set(KIND_SHARE) <= set(DEFAULT_RUN_CARDS)
    results = {
        f"{model}/{p}": run(p, args.incidents, args.responders, args.seed, nodes)
        for model, nodes in (("great-circle", None), ("road", args.road_nodes))
        for p in ("optimal", "greedy")
    }
    print(
        f"{args.incidents} incidents x {args.responders} responders (seed {args.seed}); "
        f"great-circle: x 1.3 at 40 km/h; road: exact road ETAs, {args.road_nodes:,} nodes"
    )
    header = ("ETA/policy", "slots", "served", "total_eta_s", "weighted", "mean_s", "worst_s")
    header += ("wall_s", "matrix_s")
    print("  ".join(f"{h:>20}" if i == 0 else f"{h:>11}" for i, h in enumerate(header)))
    for policy, r in results.items():
        row = (
            f"{policy:>20}",
            r["slots"],
            r["served"],
            f"{r['total_eta_s']:.0f}",
            f"{r['weighted_eta_s']:.0f}",
            f"{r['mean_eta_s']:.1f}",
            f"{r['worst_eta_s']:.0f}",
            f"{r['wall_s']:.3f}",
            f"{r['eta_matrix_s']:.3f}",
        )
        print("  ".join(f"{c:>11}" for c in row))
    print(
        "(wall_s: the whole assign_batch, its ETA searches included -- bounded where the "
        "ETA model allows; matrix_s: one full, unbounded matrix alone, for comparison)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
