"""Benchmark the simulator on the bundled regional network: a simulated day, and ten times it.

Sizes: the bundled Lower Saxony network (94,288 nodes, 153,204 edges, 103 x 125 km). The
``region`` row is the main job's day: the region's share of national demand (3 %, so about
90 serious + 900 ordinary requests in 24 h; the share is the region's part of Germany's
motorways, area and people, see ``Scenario``) with 300 volunteers and 12 service vehicles
(the platform's ~30 million drivers are national; 300 online volunteers are ~1 in 10 of the
trucks on the region's main roads at a time). ``stress`` is ten times both: 30 % of national
demand (~9,900 requests) and 3,000 + 120 vehicles. Every row simulates 24 hours (plus the
drain of requests still open at the end) with the coverage probe every 15 minutes.

``one policy`` is ``road-eta/sequential`` in this process; ``all policies`` runs the ten
built-in policies on the same day with :func:`~kayou_dispatch.simulation.replicate`
(``--jobs`` worker processes, default 2: this machine's cores). Reported: wall time, CPU
time of the simulation loop, events processed and events per wall second. Seeded; run::

    python benchmarks/bench_simulate.py [--cases region stress] [--all-policies] [--json F]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from kayou_dispatch import load_network
from kayou_dispatch.simulation import BUILTIN_POLICIES, Scenario, replicate, simulate

CASES = {
    "region": Scenario(seed=0),
    "stress": Scenario(seed=0, share=0.3, responders=3_000, service_vehicles=120),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--all-policies", action="store_true", help="also run all ten policies")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    net = load_network()
    simulate(net, Scenario(hours=0.05, responders=5), BUILTIN_POLICIES["road-eta/sequential"])
    rows = []
    print(f"network: {net}")
    cols = ("requests", "wall", "cpu", "events")
    print(f"{'case':8} {'policies':>14} " + " ".join(f"{c:>9}" for c in cols) + f" {'ev/s':>7}")
    for case in args.cases:
        sc = replace(CASES[case], hours=args.hours)
        t0 = time.perf_counter()
        res = simulate(net, sc, BUILTIN_POLICIES["road-eta/sequential"])
        wall = time.perf_counter() - t0
        sim = res.metrics["simulator"]
        row = {
            "case": case,
            "policies": "road-eta/sequential",
            "requests": res.metrics["incidents"],
            "responders": sc.responders + sc.service_vehicles,
            "wall_s": round(wall, 1),
            "cpu_s": round(sim["cpu_s"], 1),
            "events": sim["events"],
            "events_per_s": round(sim["events"] / wall),
        }
        rows.append(row)
        print(
            f"{case:8} {'one':>14} {row['requests']:>9} {wall:>8.1f}s {sim['cpu_s']:>8.1f}s "
            f"{sim['events']:>9} {row['events_per_s']:>7}",
            flush=True,
        )
        if args.all_policies:
            pols = list(BUILTIN_POLICIES.values())
            reps = replicate(net, sc, pols, replications=1, jobs=args.jobs)
            runs = reps.results[0]
            events = sum(r.metrics["simulator"]["events"] for r in runs)
            cpu = sum(r.metrics["simulator"]["cpu_s"] for r in runs)
            row = {
                "case": case,
                "policies": f"all {len(pols)}",
                "requests": runs[0].metrics["incidents"],
                "responders": sc.responders + sc.service_vehicles,
                "wall_s": round(reps.wall_s, 1),
                "cpu_s": round(cpu, 1),
                "events": events,
                "events_per_s": round(events / reps.wall_s),
                "jobs": args.jobs,
            }
            rows.append(row)
            print(
                f"{case:8} {f'all {len(pols)} ({args.jobs} jobs)':>14} {row['requests']:>9} "
                f"{reps.wall_s:>8.1f}s {cpu:>8.1f}s {events:>9} {row['events_per_s']:>7}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
