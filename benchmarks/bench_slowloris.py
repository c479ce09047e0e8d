"""Slowloris against one ``kayou-dispatch serve`` process on loopback, with and without limits.

Sizes: the audit's attack -- 1,100 connections that send half a request head and then
nothing, against a server whose process may hold 1,024 file descriptors. Two runs:

* ``guarded``: ``serve``'s defaults (``--header-timeout 10``, ``--max-connections 900``);
* ``unlimited``: the limits set out of reach (``--header-timeout 1e6 --max-connections
  1000000``): the behaviour before the limits existed.

While the attack holds, a client sends 20 ``GET /healthz`` one after another (2 s
timeout each); printed: how many got an answer and their p50 latency, then how long until
the server had closed every attack connection (``never`` within ``--hold`` seconds).
Run ``python benchmarks/bench_slowloris.py [--hold 15]``; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ATTACKERS = 1_100
FD_LIMIT = 1_024
PROBES = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    tokens = tmp / "tokens.json"
    tokens.write_text(json.dumps({"disp": {"role": "dispatcher"}}))
    port = free_port()
    cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--port", str(port)]
    cmd += ["--tokens", str(tokens), *extra]

    def limit_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=quiet, stderr=quiet, preexec_fn=limit_fds)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def attack(port: int) -> list[socket.socket]:
    socks = []
    for _ in range(ATTACKERS):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.5)
    for s in socks:
        with contextlib.suppress(OSError):
            s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return socks


def probe(port: int) -> tuple[int, float]:
    ok, times = 0, []
    for _ in range(PROBES):
        t = time.perf_counter()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                ok += 1
                times.append((time.perf_counter() - t) * 1000)
        except httpx.TransportError:
            pass
    times.sort()
    return ok, times[len(times) // 2] if times else float("nan")


def all_closed_after(socks: list[socket.socket], start: float, hold_s: float) -> float | None:
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    open_ = len(socks)
    while open_ and time.monotonic() - start < hold_s:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(1024)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                sel.unregister(s)
                open_ -= 1
    sel.close()
    for s in socks:
        s.close()
    return None if open_ else time.monotonic() - start


def run(name: str, extra: list[str], hold_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start(Path(tmp), extra)
        try:
            t0 = time.monotonic()
            socks = attack(port)
            ok, p50 = probe(port)
            closed = all_closed_after(socks, t0, hold_s)
            after, _ = probe(port)
        finally:
            proc.kill()
            proc.wait()
    when = "never" if closed is None else f"{closed:.1f} s"
    print(
        f"{name:>10}: during attack {ok}/{PROBES} answered (p50 {p50:.1f} ms); "
        f"attack connections all closed: {when}; after: {after}/{PROBES} answered",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=15.0, help="seconds to wait for closes")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < ATTACKERS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    print(f"{ATTACKERS} half-open request heads, server limited to {FD_LIMIT} descriptors")
    run("guarded", [], args.hold)
    run("unlimited", ["--header-timeout", "1e6", "--max-connections", "1000000"], args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
