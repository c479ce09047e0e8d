"""Size the Redis shared state: memory per million responders, write and pull rates, commands/s.

Starts its own ``redis-server`` on a free loopback port (append-only file fsynced on every
write, as production should run it) and measures, from this one Python process:

* ``positions``: 1,000,000 responders written in batches of 5,000 (one Lua script call per
  batch) spread over mainland China's truck corridors (seeded: 60 % within 2 km of 40 random
  "corridor" lines, the rest uniform) -- positions/s and Redis ``used_memory`` per million
  responders (hash + cell-set membership; the capped change stream apart), then a second
  pass moving everyone (updates/s, and the Redis server's own CPU per row: what bounds one
  Redis primary).
* ``mirror``: a second process loading every responder (hashes), then following a third
  pass of 200,000 moves through the change stream into its own index (positions/s applied).
* ``pull``: reading every responder within 8 km of 200 random incidents (cell sets, one
  round trip) -- ms per pull and responders per pull.
* ``commands``: lifecycle commands through :class:`~kayou_dispatch.shared.RedisLog` from two
  dispatchers in threads (report + dispatch + accept + resolve per incident) -- commands/s
  for the whole shared state (every command takes the one dispatch lock).

Run ``python benchmarks/bench_shared.py [--responders 1000000]``. Bounded by sizes, asserts
nothing; needs ``redis-server`` (Debian package) and the ``redis`` extra.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

BATCH = 5_000
LAT_RANGE = (22.0, 40.0)
LNG_RANGE = (102.0, 121.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    cmd += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)


def fleet(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Trucks bunched along 40 straight corridors (60 %), the rest spread uniformly."""
    a = np.column_stack([rng.uniform(*LAT_RANGE, 40), rng.uniform(*LNG_RANGE, 40)])
    b = np.column_stack([rng.uniform(*LAT_RANGE, 40), rng.uniform(*LNG_RANGE, 40)])
    on_road = rng.random(n) < 0.6
    line = rng.integers(40, size=n)
    t = rng.random(n)[:, None]
    pts = a[line] + t * (b[line] - a[line]) + rng.normal(0, 0.02, (n, 2))
    pts[~on_road] = np.column_stack(
        [rng.uniform(*LAT_RANGE, (~on_road).sum()), rng.uniform(*LNG_RANGE, (~on_road).sum())]
    )
    return pts[:, 0], pts[:, 1]


def redis_cpu_s(client) -> float:
    """CPU seconds the Redis server has used (user + system)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def write_all(store, ids, lat, lng, ts, label) -> float:
    t0 = time.perf_counter()
    for i in tqdm(range(0, len(ids), BATCH), desc=label, unit="batch", leave=False):
        s = slice(i, i + BATCH)
        store.write(ids[s], lat[s], lng[s], ts[s])
    return len(ids) / (time.perf_counter() - t0)


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float


def commands_per_s(url: str, incidents: int) -> float:
    from kayou_dispatch import ResponderIndex
    from kayou_dispatch.lifecycle import Dispatcher
    from kayou_dispatch.shared import RedisLog

    def make(prefix_ids: list[str]) -> Dispatcher:
        index = ResponderIndex()
        for j, rid in enumerate(prefix_ids):
            index.update_position(rid, 30.0 + 0.001 * j, 110.0)

        def rank(lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
            near = index.nearest(lat, lng, k=k + len(exclude))
            out = [Cand(n.responder_id, n.distance_m / 20.0) for n in near]
            return [c for c in out if c.responder_id not in exclude][:k]

        return Dispatcher(index, rank=rank, journal=RedisLog(url, prefix="bench"))

    ids = [f"d{j}" for j in range(200)]
    dispatchers = [make(ids), make(ids)]
    done = [0, 0]

    def work(w: int) -> None:
        d = dispatchers[w]
        for i in range(w, incidents, 2):
            iid = f"inc-{i}"
            inc = d.report_incident(iid, 30.0 + 0.001 * (i % 200), 110.0, kind="directions")
            offers = d.dispatch(inc.incident_id)
            if offers:
                d.accept(iid, offers[0].responder_id)
            d.resolve(iid)
            done[w] += 4

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responders", type=int, default=1_000_000, help="(1,000,000)")
    parser.add_argument("--incidents", type=int, default=1_000, help="for commands/s (1,000)")
    args = parser.parse_args()
    n = min(max(args.responders, 10_000), 5_000_000)
    if shutil.which("redis-server") is None:
        print("needs redis-server (apt-get install redis-server)", file=sys.stderr)
        return 1
    import redis

    from kayou_dispatch import ResponderIndex
    from kayou_dispatch.shared import PositionMirror, RedisPositions

    rng = np.random.default_rng(20261125)
    lat, lng = fleet(rng, n)
    ids = [f"truck-{i:07d}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp))
        try:
            client = redis.Redis.from_url(url)
            store = RedisPositions(url)
            base = client.info("memory")["used_memory"]
            first = write_all(store, ids, lat, lng, np.full(n, 1.0), "insert")
            used = client.info("memory")["used_memory"] - base
            stream = client.memory_usage("kd:pos", samples=0) or 0
            cells = sum(1 for _ in client.scan_iter(match="kd:c:*", count=10_000))
            lat2 = lat + rng.normal(0, 0.005, n)  # ~500 m moves: most stay in their cell
            lng2 = lng + rng.normal(0, 0.005, n)
            cpu0 = redis_cpu_s(client)
            moved = write_all(store, ids, lat2, lng2, np.full(n, 2.0), "move")
            redis_us = (redis_cpu_s(client) - cpu0) / n * 1e6
            # Another process: load everything, then follow a third pass through the stream.
            t0 = time.perf_counter()
            mirror = PositionMirror(RedisPositions(url), ResponderIndex(clock=lambda: 3.0))
            load_s = time.perf_counter() - t0
            follow_n = min(n, 200_000)  # the stream keeps ~10,000 entries: 200 batches fit
            lat3 = lat2[:follow_n] + rng.normal(0, 0.005, follow_n)
            write_all(
                store, ids[:follow_n], lat3, lng2[:follow_n], np.full(follow_n, 3.0), "pass 3"
            )
            t0 = time.perf_counter()
            mirror.catch_up()
            follow = follow_n / (time.perf_counter() - t0)
            assert mirror.index.get(ids[0]).lat == lat3[0] and mirror.reloads == 1
            pulls, sizes = [], []
            for j in rng.choice(n, 200, replace=False):
                t0 = time.perf_counter()
                rows = store.pull(near=(float(lat2[j]), float(lng2[j]), 8_000.0))
                pulls.append((time.perf_counter() - t0) * 1e3)
                sizes.append(len(rows))
            cps = commands_per_s(url, args.incidents)
            aof = sum(p.stat().st_size for p in Path(tmp).rglob("*.aof"))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"Redis shared state, {n:,} responders, one client process, loopback, AOF fsync always")
    print(f"  insert           {first:>10,.0f} positions/s (batches of {BATCH:,}, one script each)")
    print(
        f"  move             {moved:>10,.0f} positions/s; Redis CPU {redis_us:.1f} µs per row "
        f"(one core: ~{1e6 / redis_us:,.0f} rows/s)"
    )
    print(
        f"  memory           {(used - stream) / n * 1e6 / 2**20:>10,.0f} MiB per million "
        f"responders (hashes + cell sets) + {stream / 2**20:,.0f} MiB change stream"
    )
    print(f"  load (mirror)    {n / load_s:>10,.0f} responders/s: a new process reads everyone")
    print(f"  follow (mirror)  {follow:>10,.0f} positions/s applied from the change stream")
    print(f"  cell sets        {cells:>10,} (H3 res 7)   append-only file {aof / 2**20:,.0f} MiB")
    print(
        f"  pull 8 km        {np.median(pulls):>10.2f} ms median, {np.percentile(pulls, 99):.2f} "
        f"ms p99, {np.median(sizes):.0f} responders median"
    )
    print(f"  lifecycle        {cps:>10,.0f} commands/s (2 dispatchers, one lock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
