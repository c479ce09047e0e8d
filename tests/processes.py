"""Real server processes for tests: redis-server and `kayou-dispatch serve` on loopback ports."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    pytest.fail("no free port pair for a cluster node")


def need_binary(name: str) -> str:
    """Path of a system binary; skip without it, fail when CI says services are required."""
    path = shutil.which(name)
    if path is None:
        why = f"{name} is not installed (apt-get install {name}); .ci/run installs it"
        if os.environ.get("KAYOU_REQUIRE_SERVICES"):
            pytest.fail(why)
        pytest.skip(why)
    return path


def _stop(proc: subprocess.Popen, *, kill: bool = False) -> None:
    if proc.poll() is not None:
        return
    if kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """A real redis-server with an append-only file fsynced on every write.

    ``cluster_enabled``: a lone cluster node that joined no cluster (it serves no slot).
    """

    def __init__(self, workdir: Path, *, cluster_enabled: bool = False) -> None:
        self.binary = need_binary("redis-server")
        self.dir = workdir
        # A cluster node also listens on port + 10000 (its bus): redis-server refuses to start
        # on a port above 55535 then.
        self.port = cluster_port() if cluster_enabled else free_port()
        self.cluster_enabled = cluster_enabled
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always"]
        cmd += ["--save", "", "--logfile", str(self.dir / "redis.log")]
        if self.cluster_enabled:
            cmd += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            except redis.BusyLoadingError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.dir / "redis.log"
                pytest.fail(
                    f"redis-server did not start: {log.read_text() if log.exists() else ''}"
                )
            time.sleep(0.05)
        client.close()
        return self

    def crash(self) -> None:
        """SIGKILL: no shutdown, no final save (the append-only file is all there is)."""
        assert self.proc is not None
        _stop(self.proc, kill=True)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


class ServeProcess:
    """`python -m kayou_dispatch.cli serve ...` on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        *args: str,
        name: str = "server",
        any_port: bool = False,
        command: str = "serve",
        port: int | None = None,
    ) -> None:
        # any_port: `--port 0`, the port read back from the server's "listening on" line
        self.port = 0 if any_port else (port or free_port())
        self.command = command
        # The fixtures' fleets are in central Helsinki (the default network is regional).
        network = [] if "--network" in args or command != "serve" else ["--network", "helsinki"]
        self.args = ["--port", str(self.port), *network, *args]
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ServeProcess:
        import httpx

        cmd = [sys.executable, "-m", "kayou_dispatch.cli", self.command, *self.args]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.port == 0:
                found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log.read_text())
                if found:
                    self.port = int(found.group(1))
            try:
                if self.port and httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            _stop(self.proc, kill=kill)



class PostgresServer:
    """A real throwaway PostgreSQL cluster on a free loopback port (see
    :mod:`kayou_dispatch.shared._cluster`); skipped when PostgreSQL is not installed, failed
    under ``KAYOU_REQUIRE_SERVICES``."""

    def __init__(self) -> None:
        from kayou_dispatch.shared._cluster import ClusterError, ThrowawayCluster, postgres_binaries

        if postgres_binaries() is None:
            why = "PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it"
            if os.environ.get("KAYOU_REQUIRE_SERVICES"):
                pytest.fail(why)
            pytest.skip(why)
        self._error = ClusterError
        try:
            self.cluster = ThrowawayCluster()
        except ClusterError as exc:
            pytest.fail(str(exc))
        self.port = self.cluster.port
        self.url = self.cluster.url

    def start(self) -> PostgresServer:
        try:
            self.cluster.start()
        except self._error as exc:
            pytest.fail(str(exc))
        return self

    def crash(self) -> None:
        self.cluster.crash()

    def stop(self) -> None:
        self.cluster.stop()

    def remove(self) -> None:
        self.cluster.remove()


class RedisClusterServers:
    """A real Redis Cluster: ``nodes`` redis-servers (``cluster-enabled yes``, AOF fsynced
    always) on free loopback ports, joined by ``redis-cli --cluster create``.

    With ``replicas=1`` and 6 nodes, ``--cluster-replicas 1`` makes 3 primaries each with
    one replica; ``node_timeout_ms`` is how long a silent primary takes to be failed over.
    """

    def __init__(
        self, workdir: Path, nodes: int = 3, *, replicas: int = 0, node_timeout_ms: int = 2000
    ) -> None:
        self.binary = need_binary("redis-server")
        self.cli = need_binary("redis-cli")
        self.dir = workdir
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [cluster_port() for _ in range(nodes)]
        self.procs: list[subprocess.Popen] = []


    @property
    def urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{p}/0" for p in self.ports]

    @property
    def url(self) -> str:
        return self.urls[0]

    def start(self) -> RedisClusterServers:
        try:
            return self._start()
        except BaseException:
            self.stop()  # a failed start leaves no server behind
            raise

    def _start(self) -> RedisClusterServers:
        import redis

        for port in self.ports:
            folder = self.dir / str(port)
            folder.mkdir(exist_ok=True)
            cmd = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
            cmd += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            cmd += ["--cluster-node-timeout", str(self.node_timeout_ms), "--appendonly", "yes"]
            cmd += ["--appendfsync", "always", "--save", "", "--logfile", str(folder / "log")]
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
        for port in self.ports:
            self._wait(lambda port=port: redis.Redis(port=port).ping(), f"node {port}")
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        replicas = ["--cluster-replicas", str(self.replicas)]
        done = subprocess.run(
            [self.cli, "--cluster", "create", *nodes, *replicas, "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")

        def ok() -> bool:
            states = [redis.Redis(port=p).cluster("info").get("cluster_state") for p in self.ports]
            paired = [len(self.replicas_of(p)) == self.replicas for p in self.primaries()]
            return states == ["ok"] * len(self.ports) and all(paired)

        self._wait(ok, "cluster_state:ok")
        return self

    def _nodes(self, port: int | None = None) -> list[dict]:
        """``CLUSTER NODES`` as a live node sees it: id, port, primary?, its primary's id, slots."""
        import redis

        asked = [port] if port is not None else self.live_ports()
        for each in asked:
            try:
                with redis.Redis(port=each, decode_responses=True) as client:
                    text = client.execute_command("CLUSTER", "NODES")  # unparsed: one line a node
            except redis.RedisError:
                continue
            rows = []
            for line in str(text).splitlines():
                parts = line.split()
                if len(parts) < 8:
                    continue
                flags = parts[2].split(",")
                rows.append(
                    {
                        "id": parts[0],
                        "port": int(parts[1].split("@")[0].rsplit(":", 1)[1]),
                        "primary": "master" in flags,
                        "of": None if parts[3] == "-" else parts[3],
                        "slots": parts[8:],
                    }
                )
            return rows
        return []

    def live_ports(self) -> list[int]:
        return [p for p, proc in zip(self.ports, self.procs, strict=True) if proc.poll() is None]

    def primaries(self, *, seen_from: int | None = None) -> list[int]:
        """Ports of the primaries serving slots (as a live node sees them)."""
        return [n["port"] for n in self._nodes(seen_from) if n["primary"] and n["slots"]]

    def replicas_of(self, port: int) -> list[int]:
        nodes = self._nodes()
        ids = {n["id"] for n in nodes if n["port"] == port}
        return [n["port"] for n in nodes if n["of"] in ids]

    def primary_for(self, key: str) -> int:
        """Port of the primary serving ``key``'s slot."""
        import redis

        with redis.Redis(port=self.live_ports()[0]) as client:
            slot = int(client.cluster("keyslot", key))
        for node in self._nodes():
            if not node["primary"]:
                continue
            for span in node["slots"]:
                if span.startswith("["):
                    continue  # a slot being migrated
                lo, _, hi = span.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return node["port"]
        pytest.fail(f"no primary serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node: no shutdown, its replica must take over."""
        _stop(self.procs[self.ports.index(port)], kill=True)

    def _wait(self, probe, what: str) -> None:
        import redis

        deadline = time.monotonic() + 30
        while True:
            try:
                if probe():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                pytest.fail(f"redis cluster: {what} not reached")
            time.sleep(0.05)

    def flush(self) -> None:
        import redis

        for port in self.ports:
            # A replica refuses writes: its primary's flush reaches it.
            with redis.Redis(port=port) as client, contextlib.suppress(redis.ResponseError):
                client.flushall()

    def stop(self) -> None:
        for proc in self.procs:
            _stop(proc)
