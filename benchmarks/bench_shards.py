"""Through the gateway with 1, 2 and 3 shards: positions/s, rank latency, lifecycle commands/s.

Starts, on this machine and loopback, a throwaway PostgreSQL (the one national lifecycle
log), ``kayou-dispatch serve --shard sN --shards shards.json`` processes and one
``kayou-dispatch gateway`` in front, on the Lower Saxony extract (``../shared/data``,
94,288 nodes; cut into 1, 2 or 3 bands of H3 res-4 cells, ``max_eta_s`` 300 s). Then, from
this process, through the gateway:

* ``bulk``: 20,000 responders sent as ``POST /v1/positions`` batches of 2,500 (positions/s);
* ``single``: 4,000 ``PUT /v1/responders/{id}/position`` over 32 connections;
* ``rank``: 300 ``GET /v1/rank`` (k=10) one after another at road nodes, split by whether
  the place's cell lies within reach of another shard (``border``) or not (``interior``);
* ``lifecycle``: 300 ``POST /v1/incidents`` (kind ``directions``, dispatched: one command
  each, appended to PostgreSQL with ``synchronous_commit``) over 8 connections.

CPU per operation is read from ``/proc`` (user + system time of the shard processes, the
gateway and every PostgreSQL process) over each phase. The load generator shares the 2
cores, so rates are lower bounds; the cost per operation is the figure to scale from.

Run ``python benchmarks/bench_shards.py [--shards 1 2 3]``. Seeded; asserts nothing; needs
PostgreSQL (Debian ``postgresql``) and the ``server`` and ``postgresql`` extras.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h3
import httpx
import numpy as np

EXTRACT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
EXTRACT = EXTRACT / "lower_saxony_main_roads.osm.pbf"
N = 20_000
TOKENS = {"disp": {"role": "dispatcher"}}
DISP = {"Authorization": "Bearer disp"}
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, ValueError):
                pass
    return out


def shard_map(net: Any, n: int, ports: list[int]) -> dict[str, Any]:
    pairs = zip(net.node_lat, net.node_lng, strict=True)
    cells = sorted({h3.latlng_to_cell(a, b, 4) for a, b in pairs})
    order = sorted(cells, key=lambda c: (h3.cell_to_latlng(c)[1], c))
    parts = np.array_split(np.array(order), n)
    return {
        "format": "kayou-shards/1",
        "resolution": 4,
        "max_eta_s": 300,
        "max_speed_kph": 100,
        "shards": [
            {"name": f"s{i}", "url": f"http://127.0.0.1:{ports[i]}", "cells": [str(c) for c in p]}
            for i, p in enumerate(parts)
        ],
    }


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"process failed: {log.read_text()}")
        time.sleep(0.2)
    raise SystemExit(f"process did not start: {log.read_text()}")


def run(n_shards: int, net: Any, npz: Path, pg_url: str, pg_pid: int, work: Path) -> dict[str, Any]:
    from kayou_dispatch.shared.shards import ShardMap

    ports = [free_port() for _ in range(n_shards)]
    data = shard_map(net, n_shards, ports)
    (work / "shards.json").write_text(json.dumps(data))
    smap = ShardMap.from_json(data)
    procs: list[subprocess.Popen[bytes]] = []
    cli = [sys.executable, "-m", "kayou_dispatch.cli"]
    for i in range(n_shards):
        log = work / f"s{i}.log"
        cmd = [*cli, "serve", "--network", str(npz), "--tokens", str(work / "tokens.json"),
               "--lifecycle", pg_url, "--shards", str(work / "shards.json"), "--shard", f"s{i}",
               "--port", str(ports[i]), "--rate-limit", "off"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT))
        wait_up(f"http://127.0.0.1:{ports[i]}", procs[-1], log)
    gport = free_port()
    glog = work / "gateway.log"
    gcmd = [*cli, "gateway", "--shards", str(work / "shards.json"), "--tokens",
            str(work / "tokens.json"), "--port", str(gport)]  # fmt: skip
    gw = subprocess.Popen(gcmd, stdout=glog.open("wb"), stderr=subprocess.STDOUT)
    wait_up(f"http://127.0.0.1:{gport}", gw, glog)
    base = f"http://127.0.0.1:{gport}"
    pids = {"shards": [p.pid for p in procs], "gateway": [gw.pid]}

    def cpu() -> dict[str, float]:
        out = {k: cpu_s(v) for k, v in pids.items()}
        out["postgres"] = cpu_s([pg_pid, *children(pg_pid)])
        return out

    def per_op(before: dict[str, float], ops: int) -> dict[str, float]:
        after = cpu()
        return {k: round((after[k] - before[k]) / ops * 1e6, 1) for k in after}

    rng = np.random.default_rng(0)
    nodes = rng.integers(0, net.n_nodes, N)
    lat = net.node_lat[nodes] + rng.normal(0, 0.001, N)
    lng = net.node_lng[nodes] + rng.normal(0, 0.001, N)
    ids = [f"r{i}" for i in range(N)]
    result: dict[str, Any] = {"shards": n_shards}
    try:
        with httpx.Client(base_url=base, headers=DISP, timeout=120) as client:
            now = time.time()
            rows = [{"id": i, "lat": a, "lng": b, "ts": now} for i, a, b in
                    zip(ids, lat.tolist(), lng.tolist(), strict=True)]  # fmt: skip
            c0, t0 = cpu(), time.perf_counter()
            for k in range(0, N, 2500):
                part = {"positions": rows[k : k + 2500]}
                client.post("/v1/positions", json=part).raise_for_status()
            dt = time.perf_counter() - t0
            result["bulk_positions_per_s"] = round(N / dt)
            result["bulk_cpu_us_per_row"] = per_op(c0, N)

        async def singles(count: int) -> float:
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(base_url=base, headers=DISP, limits=limits) as ac:
                sem = asyncio.Semaphore(32)

                async def one(i: int) -> None:
                    async with sem:
                        fix = {"lat": float(lat[i]), "lng": float(lng[i])}
                        r = await ac.put(f"/v1/responders/{ids[i]}/position", json=fix)
                        r.raise_for_status()

                t = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(count)))
                return time.perf_counter() - t

        c0 = cpu()
        dt = asyncio.run(singles(4000))
        result["single_positions_per_s"] = round(4000 / dt)
        result["single_cpu_us_per_fix"] = per_op(c0, 4000)

        lat_ms: dict[str, list[float]] = {"border": [], "interior": []}
        with httpx.Client(base_url=base, headers=DISP, timeout=60) as client:
            for q in rng.integers(0, net.n_nodes, 300):
                la, ln = float(net.node_lat[q]), float(net.node_lng[q])
                if smap.owner(la, ln) is None:
                    continue
                kind = "border" if len(smap.notified(la, ln)) > 1 else "interior"
                t = time.perf_counter()
                client.get("/v1/rank", params={"lat": la, "lng": ln, "k": 10}).raise_for_status()
                lat_ms[kind].append((time.perf_counter() - t) * 1e3)
        for kind, xs in lat_ms.items():
            if xs:
                result[f"rank_{kind}_ms"] = {
                    "n": len(xs),
                    "p50": round(float(np.percentile(xs, 50)), 2),
                    "p99": round(float(np.percentile(xs, 99)), 2),
                }

        async def incidents(count: int) -> float:
            async with httpx.AsyncClient(base_url=base, headers=DISP, timeout=60) as ac:
                sem = asyncio.Semaphore(8)
                spots = rng.integers(0, net.n_nodes, count)

                async def one(i: int) -> None:
                    v = int(spots[i])
                    body = {
                        "incident_id": f"i{n_shards}-{i}",
                        "lat": float(net.node_lat[v]),
                        "lng": float(net.node_lng[v]),
                        "kind": "directions",
                        "dispatch": True,
                    }
                    async with sem:
                        r = await ac.post("/v1/incidents", json=body)
                        if r.status_code not in (201, 422):  # 422: a spot outside the map
                            r.raise_for_status()

                t = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(count)))
                return time.perf_counter() - t

        c0 = cpu()
        dt = asyncio.run(incidents(300))
        result["lifecycle_commands_per_s"] = round(300 / dt, 1)
        result["lifecycle_cpu_us_per_command"] = per_op(c0, 300)
    finally:
        for p in [gw, *procs]:
            p.terminate()
        for p in [gw, *procs]:
            p.wait(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    from kayou_dispatch import RoadNetwork
    from kayou_dispatch.shared._cluster import ThrowawayCluster

    net = RoadNetwork.from_osm(EXTRACT)
    cluster = ThrowawayCluster().start()
    try:
        pg_pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            npz = work / "net.npz"
            net.save(npz)
            (work / "tokens.json").write_text(json.dumps(TOKENS))
            for n in args.shards:
                print(json.dumps(run(n, net, npz, cluster.url, pg_pid, work)), flush=True)
    finally:
        cluster.remove()


if __name__ == "__main__":
    main()
