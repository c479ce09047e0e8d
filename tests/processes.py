"""Real server processes for tests: redis-server and `kayou-dispatch serve` on loopback ports."""

from __future__ import annotations

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
    """A real redis-server with an append-only file fsynced on every write."""

    def __init__(self, workdir: Path) -> None:
        self.binary = need_binary("redis-server")
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always"]
        cmd += ["--save", "", "--logfile", str(self.dir / "redis.log")]
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
        self, workdir: Path, *args: str, name: str = "server", any_port: bool = False
    ) -> None:
        # any_port: `--port 0`, the port read back from the server's "listening on" line
        self.port = 0 if any_port else free_port()
        # The fixtures' fleets are in central Helsinki (the default network is regional).
        network = [] if "--network" in args else ["--network", "helsinki"]
        self.args = ["--port", str(self.port), *network, *args]
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ServeProcess:
        import httpx

        cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", *self.args]
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
