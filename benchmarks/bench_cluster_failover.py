"""Time a Redis Cluster failover under an engine: SIGKILL of its primary until writes succeed.

Each run starts, on loopback free ports, a real Redis Cluster of 3 primaries + 3 replicas
(``redis-server --cluster-enabled yes``, ``redis-cli --cluster create … --cluster-replicas
1``, append-only fsynced always, ``cluster-node-timeout`` from ``--node-timeout-ms``), an
engine on it (the 2,000-node synthetic region, 200 fixes, one incident offered and
accepted), waits until the replica has the primary's whole replication stream, then
SIGKILLs the primary serving the engine's slot (``{kd}``: positions and the command log).
From the kill, every 20 ms, it tries one position write and one lifecycle command (report
an incident, one request id) until both succeed, and reports per run:

* ``promoted_s``: until the replica says ``role:master``;
* ``position_s`` / ``command_s``: until the first position write / lifecycle command is
  acknowledged again;
* the failures meanwhile, by type (all :class:`SharedStateError` is the contract), and
  ``slowest_failure_s``: the longest a failing call took to fail.

Run ``python benchmarks/bench_cluster_failover.py [--runs 5] [--node-timeout-ms 1000]``
from a checkout (it uses ``tests/processes.py``). Seeded; asserts nothing; needs
``redis-server`` and ``redis-cli`` (Debian ``redis-server``) and the ``redis`` extra.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = 10_000.0
GIVE_UP_S = 60.0


def _offset(port: int, field: str) -> int:
    import redis

    with redis.Redis(port=port, socket_timeout=2) as client:
        return int(client.info("replication")[field])


def _role(port: int) -> str:
    import redis

    with redis.Redis(port=port, socket_timeout=1) as client:
        return str(client.info("replication")["role"])


def one_run(node_timeout_ms: int) -> dict[str, float | Counter[str]]:
    """One cluster, one kill; the times from the kill and the failures' types."""
    from tests.processes import RedisClusterServers

    from kayou_dispatch import DispatchEngine, KayouDispatchError
    from kayou_dispatch.datasets import synthetic_region

    region = synthetic_region(seed=7, size=2_000)
    with tempfile.TemporaryDirectory(prefix="kayou-failover-") as folder:
        cluster = RedisClusterServers(
            Path(folder), 6, replicas=1, node_timeout_ms=node_timeout_ms
        ).start()
        try:
            engine = DispatchEngine(region, redis=cluster.urls[0], clock=lambda: NOW)
            ids = [f"t{i}" for i in range(200)]
            engine.update_positions(ids, region.node_lat[:200], region.node_lng[:200])
            here = (float(region.node_lat[7]), float(region.node_lng[7]))
            inc = engine.report_incident("i1", *here, kind="directions", dispatch=True)
            engine.accept("i1", inc.offers[0].responder_id)
            primary = cluster.primary_for("{kd}")
            (replica,) = cluster.replicas_of(primary)
            want = _offset(primary, "master_repl_offset")
            while _offset(replica, "slave_repl_offset") < want:
                time.sleep(0.01)
            cluster.kill(primary)
            killed = time.monotonic()
            found: dict[str, float] = {}
            failures: Counter[str] = Counter()
            slowest = 0.0
            moved = (float(region.node_lat[900]), float(region.node_lng[900]))
            attempts = {
                "position_s": lambda: engine.update_position("t1", *moved, ts=NOW - 1),
                "command_s": lambda: engine.report_incident(
                    "i2", *here, kind="directions", request_id="r-i2"
                ),
            }
            while len(found) < 3 and time.monotonic() - killed < GIVE_UP_S:
                if "promoted_s" not in found and _role(replica) == "master":
                    found["promoted_s"] = time.monotonic() - killed
                for name, call in attempts.items():
                    if name in found:
                        continue
                    start = time.monotonic()
                    try:
                        call()
                        found[name] = time.monotonic() - killed
                    except KayouDispatchError as exc:
                        failures[type(exc).__name__] += 1
                        slowest = max(slowest, time.monotonic() - start)
                    except Exception as exc:  # reported: outside the contract
                        failures[f"untyped {type(exc).__name__}"] += 1
                time.sleep(0.02)
            engine.close()
        finally:
            cluster.stop()
    return {**found, "slowest_failure_s": slowest, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--node-timeout-ms", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for i in range(args.runs):
        row = one_run(args.node_timeout_ms)
        rows.append(row)
        times = "  ".join(
            f"{k} {row[k]:.2f}" if k in row else f"{k} never"
            for k in ("promoted_s", "position_s", "command_s", "slowest_failure_s")
        )
        print(f"run {i + 1}: {times}  failures {dict(row['failures'])}", flush=True)
    for key in ("promoted_s", "position_s", "command_s", "slowest_failure_s"):
        values = [float(r[key]) for r in rows if key in r]  # type: ignore[arg-type]
        if values:
            print(
                f"{key}: median {statistics.median(values):.2f} s, max {max(values):.2f} s "
                f"over {len(values)} of {len(rows)} runs (cluster-node-timeout "
                f"{args.node_timeout_ms} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
