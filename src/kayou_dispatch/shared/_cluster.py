"""Start a throwaway PostgreSQL cluster on a loopback port (tests, benchmarks, demos).

``initdb`` in a fresh temporary folder, ``postgres`` on a free port of 127.0.0.1 with
``fsync`` and ``synchronous_commit`` on, trust authentication for one user ``kayou``. The
binaries come from ``PATH``, else Debian's newest ``/usr/lib/postgresql/<version>/bin``
(where apt puts them, off ``PATH``). PostgreSQL refuses to run as root: as root the
cluster belongs to the ``postgres`` user (Debian's package creates it), else ``nobody``.
Not for production: no password, no TLS, deleted by :meth:`ThrowawayCluster.remove`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["ClusterError", "postgres_binaries", "ThrowawayCluster"]


class ClusterError(RuntimeError):
    """The binaries are missing, or ``initdb``/``postgres`` failed (the log is in the message)."""


def postgres_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or ``None`` when not installed."""
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
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder (``initdb`` runs at construction).

    Raises
    ------
    ClusterError
        When PostgreSQL is not installed or ``initdb`` fails.
    """

    def __init__(self) -> None:
        folder = postgres_binaries()
        if folder is None:
            msg = "PostgreSQL is not installed (apt-get install postgresql)"
            raise ClusterError(msg)
        self.bin = folder
        # Not under a root-only folder (pytest's tmp_path): the server's user must enter it.
        self.dir = Path(tempfile.mkdtemp(prefix="kayou-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    pwd.getpwnam(name)
                    self.user = name
                    break
            if self.user is not None:
                shutil.chown(self.dir, self.user)
        self.proc: subprocess.Popen[bytes] | None = None
        cmd = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "kayou"]
        cmd += ["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.dir, check=False, **self._as_user()
        )
        if done.returncode != 0:
            raise ClusterError(f"initdb failed: {done.stdout}{done.stderr}")

    def _as_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        import pwd

        entry = pwd.getpwnam(self.user)
        env = {**os.environ, "HOME": str(self.dir), "LOGNAME": self.user, "USER": self.user}
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "env": env}

    @property
    def url(self) -> str:
        """``postgresql://kayou@127.0.0.1:<port>/postgres``."""
        return f"postgresql://kayou@127.0.0.1:{self.port}/postgres"

    def start(self, *, timeout_s: float = 30.0) -> ThrowawayCluster:
        """Start ``postgres`` (again, after a crash: WAL replay) and wait until it answers."""
        import psycopg

        cmd = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}"]
        cmd += ["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=200"]
        log_path = self.dir / "postgres.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, **self._as_user()
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = log_path.read_text(errors="replace")
                raise ClusterError(f"postgres did not start: {text}")
            time.sleep(0.05)

    def crash(self) -> None:
        """SIGKILL the postmaster and its backends: no shutdown checkpoint, WAL is all."""
        if self.proc is None or self.proc.poll() is not None:
            return
        found = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        self.proc.kill()
        self.proc.wait()
        for child in found.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), SIGKILL after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.crash()

    def remove(self) -> None:
        """Stop and delete the cluster's folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
