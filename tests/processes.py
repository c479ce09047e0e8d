"""Real server processes for tests: redis-server and `kayou-dispatch serve` on loopback ports."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
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


def postgres_binaries() -> Path:
    """The folder of ``initdb`` and ``postgres``: on PATH, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin`` (where apt puts them, off PATH); skip without
    them, fail when CI says services are required."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(versions):
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    why = "PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it"
    if os.environ.get("KAYOU_REQUIRE_SERVICES"):
        pytest.fail(why)
    pytest.skip(why)


class PostgresServer:
    """A real throwaway PostgreSQL cluster: ``initdb`` in a fresh folder, ``postgres`` on a
    free loopback port, trust authentication for its one user ``kayou``.

    PostgreSQL refuses to run as root; as root (CI) the cluster belongs to the ``postgres``
    user (Debian's package creates it), else ``nobody``, and its folder is theirs.
    """

    def __init__(self) -> None:
        import tempfile

        self.bin = postgres_binaries()
        # Not under pytest's tmp_path: that is root's, closed to the server's user.
        self.dir = Path(tempfile.mkdtemp(prefix="kayou-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                break
            shutil.chown(self.dir, self.user)
        self.proc: subprocess.Popen | None = None
        self._initdb()

    def _as_user(self) -> dict:
        if self.user is None:
            return {}
        import pwd

        entry = pwd.getpwnam(self.user)
        env = {**os.environ, "HOME": str(self.dir), "LOGNAME": self.user, "USER": self.user}
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "env": env}

    def _initdb(self) -> None:
        cmd = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "kayou"]
        cmd += ["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.dir, **self._as_user(), check=False
        )
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stdout}{done.stderr}")

    @property
    def url(self) -> str:
        return f"postgresql://kayou@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        cmd = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}"]
        cmd += ["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=200"]
        log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115 - the server's lifetime
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, **self._as_user()
        )
        log.close()
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.dir / "postgres.log").read_text(errors="replace")
                pytest.fail(f"postgres did not start: {text}")
            time.sleep(0.05)
        return self

    def crash(self) -> None:
        """SIGKILL the postmaster and its backends: no shutdown checkpoint, WAL is all there is."""
        assert self.proc is not None
        pid = self.proc.pid
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        _stop(self.proc, kill=True)
        for child in found.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                _stop(self.proc, kill=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
