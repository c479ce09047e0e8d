"""Time the dispatcher console's map redraw in headless Chromium with 5,000 responders.

Sizes (seeded): the bundled Helsinki network (or ``--network``); ``--responders`` (default
5,000) placed on random road nodes (a few metres of jitter) by one bulk upload to a real
``kayou-dispatch serve`` process on loopback; ``--incidents`` (default 40) reported with
``dispatch: true``, a third of their first offers accepted (so offer lines, assignment
lines and routes are drawn too). Debian's Chromium (``/usr/bin/chromium``, driven by
selenium through ``/usr/bin/chromedriver``) loads ``/console`` in a 1280 x 800 window and
the page times, with ``performance.now()``:

* ``full``: ``kayouConsole.redraw()``: the road layer redrawn too (as after a pan or zoom);
* ``dynamic``: ``kayouConsole.redrawDynamic()``: responders, incidents, lines and routes on
  the cached road layer (what a live update costs);
* ``reload``: fetching ``/v1/responders`` + ``/v1/incidents`` and applying them.

Prints median / p95 / max of ``--repeat`` runs (target: full redraw <= 50 ms); asserts
nothing. ``--screenshot PATH`` also saves the page with an incident selected (its ranked
candidates and their routes), as in ``docs/img/console.png``.
Run ``python benchmarks/bench_console.py [--responders 5000] [--screenshot out.png]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from kayou_dispatch import RoadNetwork, load_network

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers: use /tmp instead
    "--window-size=1280,800",
)
KINDS = ("breakdown", "tyre", "collision", "medical", "stuck", "fuel")
DISP = {"Authorization": "Bearer disp"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, network: str) -> tuple[subprocess.Popen[bytes], str]:
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({"disp": {"role": "dispatcher"}}))
    port = free_port()
    cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--port", str(port)]
    cmd += ["--tokens", str(tokens), "--tick-interval", "1", "--network", network]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def populate(base: str, net: RoadNetwork, n_responders: int, n_incidents: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, net.n_nodes, n_responders)
    jitter = rng.normal(0.0, 3e-5, (n_responders, 2))
    lat = net.node_lat[nodes] + jitter[:, 0]
    lng = net.node_lng[nodes] + jitter[:, 1]
    rows = [
        {"id": f"truck-{i:05d}", "lat": float(a), "lng": float(b)}
        for i, (a, b) in enumerate(zip(lat, lng, strict=True))
    ]
    for start in range(0, len(rows), 5_000):
        chunk = {"positions": rows[start : start + 5_000]}
        httpx.post(f"{base}/v1/positions", json=chunk, headers=DISP, timeout=60).raise_for_status()
    places = rng.integers(0, net.n_nodes, n_incidents)
    for i, node in enumerate(places.tolist()):
        body = {
            "incident_id": f"inc-{i:03d}",
            "lat": float(net.node_lat[node]),
            "lng": float(net.node_lng[node]),
            "kind": KINDS[i % len(KINDS)],
            "severity": int(rng.integers(1, 6)),
            "needs": [],
            "dispatch": True,
        }
        r = httpx.post(f"{base}/v1/incidents", json=body, headers=DISP, timeout=30)
        r.raise_for_status()
        offers = r.json()["offers"]
        if i % 3 == 0 and offers:
            rid = offers[0]["responder_id"]
            url = f"{base}/v1/incidents/{body['incident_id']}/offers/{rid}/accept"
            httpx.post(url, headers=DISP, timeout=30).raise_for_status()


def start_browser(profile: str):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver, script: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not driver.execute_script(f"return !!({script})"):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {script}")
        time.sleep(0.05)


def stats(ms: list[float]) -> str:
    a = np.sort(np.asarray(ms))
    return f"{np.median(a):7.1f} {np.percentile(a, 95):7.1f} {a[-1]:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responders", type=int, default=5_000)
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--network",
        default="helsinki",
        help="a bundled network name ('helsinki', 'default': the region) or an OSM extract / .npz",
    )
    parser.add_argument("--screenshot", default=None, help="save a screenshot here")
    args = parser.parse_args()
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise SystemExit("needs Debian's chromium and chromium-driver")
    folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
    if args.network in ("default", "helsinki", "lower_saxony"):
        net = load_network(args.network)
    elif args.network.endswith(".npz"):
        net = RoadNetwork.load(args.network)
    else:
        net = RoadNetwork.from_osm(args.network)
    proc, base = start_server(folder, args.network)
    driver = None
    try:
        populate(base, net, args.responders, args.incidents, args.seed)
        driver = start_browser(str(folder / "profile"))
        driver.get(f"{base}/console?token=disp")
        wait(driver, "window.kayouConsole && window.kayouConsole.state.ready")
        wait(driver, f"window.kayouConsole.map.resp.n >= {args.responders}")
        wait(driver, "window.kayouConsole.map.routes.length > 0", timeout=10)
        full = driver.execute_script(
            f"const t = []; for (let i = 0; i < {args.repeat}; i++) "
            "t.push(window.kayouConsole.redraw()); return t;"
        )
        dynamic = driver.execute_script(
            f"const t = []; for (let i = 0; i < {args.repeat}; i++) "
            "t.push(window.kayouConsole.redrawDynamic()); return t;"
        )
        reload: list[float] = []
        for _ in range(min(args.repeat, 10)):
            reload.append(
                driver.execute_async_script(
                    "const done = arguments[0]; const t0 = performance.now();"
                    "window.kayouConsole.reload().then(() => done(performance.now() - t0));"
                )
            )
        drawn = driver.execute_script("return window.kayouConsole.drawn()")
        version = driver.capabilities.get("browserVersion", "?")
        print(
            f"console in headless Chromium {version}, 1280x800, {net}: {drawn['responders']} "
            f"responders, {drawn['incidents']} incidents, {drawn['lines']} lines, "
            f"{drawn['routes']} routes drawn"
        )
        print(f"{'measure':<34} {'median':>7} {'p95':>7} {'max':>7}  (ms)")
        print(f"{'full redraw (roads too)':<34} {stats(full)}   target <= 50")
        print(f"{'dynamic redraw (cached roads)':<34} {stats(dynamic)}")
        print(f"{'reload responders + incidents':<34} {stats(reload)}")
        if args.screenshot:
            first = driver.execute_script(
                "return window.kayouConsole.state.order.find(id => "
                "!window.kayouConsole.state.incidents.get(id).assigned.length)"
            )
            driver.execute_script("window.kayouConsole.select(arguments[0])", first)
            wait(driver, "window.kayouConsole.state.candidateRoutes.length > 0", timeout=10)
            time.sleep(0.3)
            driver.save_screenshot(args.screenshot)
            print(f"wrote {args.screenshot}")
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
