"""Load one ``kayou-dispatch serve`` process over loopback: positions, bulk, rank, incidents.

Sizes (seeded): a bundled network (``--network``: ``helsinki``, the city centre, or
``default``, the Lower Saxony region); 5,000 responders placed by a first bulk upload at
random road nodes (a few metres off), then jumping to other nodes per fix; ranks and
incidents at random nodes. Three phases of ``--seconds`` each (default 5):

* ``single``: 32 keep-alive connections sending ``PUT /v1/responders/{id}/position``.
* ``bulk``: 2 connections sending ``POST /v1/positions`` with 5,000 rows each.
* ``mixed``: 32 single-update connections (as fast as they can) plus 2 connections sending
  ``GET /v1/rank`` (k=10, random scene) and 1 reporting incidents (``POST /v1/incidents``
  with ``dispatch: true``, then cancelling them) at the same time: a saturated server.
* ``paced``: the same, the 32 connections paced to 3,000 updates/s in total (the target
  load, open loop): rank latency under that load rather than behind a saturated queue.

Each configuration runs side by side in one invocation: ``local`` (state in the process)
and ``redis`` (``--redis``: a real ``redis-server`` started here on a free port, append-only
file fsynced on every write -- the durable setting -- so every position and command pays
its Redis round trip).

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams in a separate
process (so httpx's own cost is not measured). The server binds 127.0.0.1 on a free port
and is stopped at the end; the run is bounded by time and asserts nothing. Prints
throughput and p50/p99 latency per phase, beside the targets (one worker process:
>= 3,000 updates/s, bulk >= 100,000 positions/s, rank p99 <= 20 ms under load).
Run ``python benchmarks/bench_server.py [--seconds 5] [--modes local,redis]
[--network helsinki|default]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

INCIDENT_IDS = itertools.count()
N_RESPONDERS = 5_000
BULK_ROWS = 5_000
#: Road-node positions (lat, lng) of the network served: set by main().
PLACES = np.zeros((1, 2))


def spot(rng: np.random.Generator, size: int | None = None) -> tuple:
    """Random road-node positions, about 10 m off the node."""
    k = rng.integers(len(PLACES), size=size)
    off = rng.normal(0, 1e-4, size=(2,) if size is None else (2, size))
    return PLACES[k, 0] + off[0], PLACES[k, 1] + off[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str):
        self.reader, self.writer, self.token = reader, writer, token

    @classmethod
    async def open(cls, port: int, token: str) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, token)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        self.writer.close()


async def single_worker(port, token, ids, until, lat_ms, rng, rate=None) -> int:
    conn = await Conn.open(port, token)
    n = 0
    next_t = time.perf_counter()
    while time.perf_counter() < until:
        if rate is not None:  # paced (open loop): one request every 1/rate s
            next_t += 1.0 / rate
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
        rid = ids[int(rng.integers(len(ids)))]
        lat, lng = spot(rng)
        body = json.dumps({"lat": float(lat), "lng": float(lng)}).encode()
        t0 = time.perf_counter()
        status, _ = await conn.request("PUT", f"/v1/responders/{rid}/position", body)
        lat_ms.append((time.perf_counter() - t0) * 1e3)
        assert status == 200, status
        n += 1
    conn.close()
    return n


def bulk_body(rng, ids) -> bytes:
    la, ln = spot(rng, len(ids))
    rows = [
        {"id": i, "lat": float(a), "lng": float(b)} for i, a, b in zip(ids, la, ln, strict=True)
    ]
    return json.dumps({"positions": rows}).encode()


async def bulk_worker(port, token, ids, until, lat_ms, rng) -> int:
    conn = await Conn.open(port, token)
    bodies = [bulk_body(rng, ids[:BULK_ROWS]) for _ in range(4)]
    n = 0
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        status, _ = await conn.request("POST", "/v1/positions", bodies[n % 4])
        lat_ms.append((time.perf_counter() - t0) * 1e3)
        assert status == 200, status
        n += BULK_ROWS
    conn.close()
    return n


async def rank_worker(port, token, until, lat_ms, rng) -> int:
    conn = await Conn.open(port, token)
    n = 0
    while time.perf_counter() < until:
        lat, lng = spot(rng)
        t0 = time.perf_counter()
        status, _ = await conn.request("GET", f"/v1/rank?lat={lat:.6f}&lng={lng:.6f}&k=10")
        lat_ms.append((time.perf_counter() - t0) * 1e3)
        assert status in (200, 422), status  # 422: a random scene off the network
        n += 1
    conn.close()
    return n


async def incident_worker(port, token, until, lat_ms, rng) -> int:
    conn = await Conn.open(port, token)
    n = 0
    while time.perf_counter() < until:
        lat, lng = (float(x) for x in spot(rng))
        iid = f"inc-{next(INCIDENT_IDS)}"
        body = {"incident_id": iid, "lat": lat, "lng": lng, "kind": "fire", "dispatch": True}
        t0 = time.perf_counter()
        status, _ = await conn.request("POST", "/v1/incidents", json.dumps(body).encode())
        lat_ms.append((time.perf_counter() - t0) * 1e3)
        assert status in (201, 422), status  # 422: a random scene off the network
        if status == 201:  # release its responders for the next one
            status, _ = await conn.request("POST", f"/v1/incidents/{iid}/cancel")
            assert status == 200, status
        n += 1
    conn.close()
    return n


def pct(xs, q) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


async def phase(
    port, ids, seconds, *, singles=0, bulks=0, ranks=0, incidents=0, paced=None
) -> dict:
    rng = np.random.default_rng(20261125)
    until = time.perf_counter() + seconds
    lat = {"single": [], "bulk": [], "rank": [], "report": []}
    tasks = [
        single_worker(
            port,
            f"t{i}",
            ids,
            until,
            lat["single"],
            np.random.default_rng(i),
            None if paced is None else paced / singles,
        )
        for i in range(singles)
    ]
    tasks += [bulk_worker(port, f"t{i}", ids, until, lat["bulk"], rng) for i in range(bulks)]
    tasks += [rank_worker(port, f"r{i}", until, lat["rank"], rng) for i in range(ranks)]
    tasks += [incident_worker(port, "r0", until, lat["report"], rng) for _ in range(incidents)]
    t0 = time.perf_counter()
    counts = await asyncio.gather(*tasks)
    dt = time.perf_counter() - t0
    out = {}
    if singles:
        out["single"] = (sum(counts[:singles]) / dt, lat["single"])
    if bulks:
        out["bulk"] = (sum(counts[singles : singles + bulks]) / dt, lat["bulk"])
    if ranks:
        out["rank"] = (sum(counts[singles + bulks : singles + bulks + ranks]) / dt, lat["rank"])
    if incidents:
        out["report"] = (sum(counts[singles + bulks + ranks :]) / dt, lat["report"])
    return out


async def run(port: int, seconds: float) -> list[tuple[str, str, dict]]:
    ids = [f"truck-{i}" for i in range(N_RESPONDERS)]
    conn = await Conn.open(port, "t0")
    status, _ = await conn.request(
        "POST", "/v1/positions", bulk_body(np.random.default_rng(1), ids)
    )
    assert status == 200
    conn.close()
    return [
        ("single", "32 connections", await phase(port, ids, seconds, singles=32)),
        ("bulk", "2 connections", await phase(port, ids, seconds, bulks=2)),
        (
            "mixed",
            "32 single+2 rank+1 inc",
            await phase(port, ids, seconds, singles=32, ranks=2, incidents=1),
        ),
        (
            "paced",
            "3,000 upd/s+2 rank+1 inc",
            await phase(port, ids, seconds, singles=32, ranks=2, incidents=1, paced=3_000.0),
        ),
    ]


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A real redis-server on a free port, AOF fsynced on every write; yields its URL."""
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    cmd += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{proc.args[0]} did not start") from None
            time.sleep(0.1)


def load_server(tmp: Path, seconds: float, redis_url: str | None, network: str) -> list:
    tokens = {f"t{i}": {"role": "dispatcher"} for i in range(32)}
    tokens |= {f"r{i}": {"role": "dispatcher"} for i in range(2)}
    path = tmp / "tokens.json"
    path.write_text(json.dumps(tokens))
    port = free_port()
    cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--port", str(port)]
    cmd += ["--tokens", str(path), "--network", network]
    if redis_url is not None:
        cmd += ["--redis", redis_url]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        return asyncio.run(run(port, seconds))
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (5)")
    parser.add_argument(
        "--modes", default="local,redis", help="comma-separated: local, redis (both)"
    )
    parser.add_argument(
        "--network",
        choices=["helsinki", "default"],
        default="helsinki",
        help="bundled network served (helsinki)",
    )
    args = parser.parse_args()
    from kayou_dispatch import load_network

    global PLACES
    net = load_network(args.network)
    PLACES = np.column_stack([net.node_lat, net.node_lng])
    seconds = min(max(args.seconds, 1.0), 60.0)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "redis" in modes and shutil.which("redis-server") is None:
        print("redis-server not installed: skipping the redis mode", file=sys.stderr)
        modes.remove("redis")
    results = []
    for mode in modes:
        with tempfile.TemporaryDirectory() as tmp:
            if mode == "redis":
                with redis_server(Path(tmp)) as url:
                    results.append((mode, load_server(Path(tmp), seconds, url, args.network)))
            else:
                results.append((mode, load_server(Path(tmp), seconds, None, args.network)))
    print(f"one server process (uvicorn), {net}, loopback, {seconds:g} s per phase")
    head = f"{'state':<6} {'phase':<7} {'load':<25} {'stream':<7} {'throughput':>20}"
    print(f"{head} {'p50 ms':>8} {'p99 ms':>8}")
    units = {"single": "updates/s", "bulk": "positions/s", "rank": "ranks/s", "report": "inc/s"}
    for mode, phases in results:
        for name, load, res in phases:
            for stream, (rate, lat) in res.items():
                print(
                    f"{mode:<6} {name:<7} {load:<25} {stream:<7} {rate:>8,.0f} "
                    f"{units[stream]:<11} {pct(lat, 50):>8.2f} {pct(lat, 99):>8.2f}"
                )
    print(
        "targets per process: single >= 3,000 updates/s; bulk >= 100,000 positions/s; "
        "rank p99 <= 20 ms under that load, with and without Redis"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
