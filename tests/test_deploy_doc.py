"""docs/deploy.md is tested where it can be: its files parse and its unit's command line serves.

The token and capability files are read by the server's own loaders; the systemd unit is
checked by ``systemd-analyze verify``, and the ``serve`` command line it runs is started for
real (on a free port, against a real redis-server) and answers the probes, the metrics and
an authenticated call with the guide's tokens; the proxy, the scrape job and the
``systemctl`` line all name the same worker ports.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kayou_dispatch.server._auth import load_tokens

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deploy.md"
_BLOCK = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.M | re.S)


def blocks(lang: str) -> list[str]:
    """The guide's fenced blocks in ``lang`` (indentation of list items removed)."""
    out = []
    for indent, found, body in _BLOCK.findall(GUIDE.read_text()):
        if found == lang:
            out.append("\n".join(line[len(indent) :] for line in body.splitlines()) + "\n")
    return out


def unit() -> configparser.ConfigParser:
    (text,) = blocks("ini")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def worker_ports() -> list[int]:
    (text,) = [b for b in blocks("bash") if "systemctl enable" in b]
    return [int(p) for p in re.findall(r"kayou-dispatch@(\d+)", text)]


def test_the_token_and_capability_files_load():
    tokens_text, caps_text = blocks("json")
    tokens = load_tokens(json.loads(tokens_text))
    roles = sorted(p.role for p in tokens.values())
    assert roles == ["dispatcher", "requester", "responder", "responder"]
    assert {p.responder_id for p in tokens.values()} == {None, "truck-17", "truck-42"}
    assert {p.requester_id for p in tokens.values()} == {None, "shipper-4"}
    caps = json.loads(caps_text)
    assert caps == sorted(caps) and all(isinstance(c, str) and c for c in caps)


def test_the_unit_is_valid_for_systemd(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    (text,) = blocks("ini")
    # The unit as installed by the guide, with this environment's executable in place of
    # /opt/kayou-dispatch (systemd-analyze checks that the command exists).
    exe = str(Path(sys.executable).with_name("kayou-dispatch"))
    rendered = text.replace("/opt/kayou-dispatch/bin/kayou-dispatch", exe)
    rendered = re.sub(r"^(User|Group)=kayou$", r"\1=root", rendered, flags=re.M)
    path = tmp_path / f"kayou-dispatch@{worker_ports()[0]}.service"
    path.write_text(rendered)
    done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    service = unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    graceful = shlex.split(service["ExecStart"])
    timeout = float(graceful[graceful.index("--graceful-timeout") + 1])
    assert float(service["TimeoutStopSec"]) > timeout  # time to finish, then close stores


def test_the_proxy_the_scrape_job_and_systemctl_name_the_same_workers():
    ports = worker_ports()
    assert len(ports) >= 2
    (nginx,) = blocks("nginx")
    assert nginx.count("{") == nginx.count("}")
    upstream = re.search(r"upstream kayou_dispatch \{(.*?)\}", nginx, re.S).group(1)
    assert [int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+);", upstream)] == ports
    for private in ("/metrics", "/readyz"):
        rule = re.search(rf"location = {private}\s+\{{(.*?)\}}", nginx).group(1)
        assert "deny all;" in rule
    events = re.search(r"location /v1/events \{(.*?)\}", nginx, re.S).group(1)
    assert "proxy_set_header Upgrade $http_upgrade;" in events
    yaml = pytest.importorskip("yaml")
    (scrape,) = blocks("yaml")
    job = yaml.safe_load(scrape)["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    targets = job["static_configs"][0]["targets"]
    assert [int(t.rsplit(":", 1)[1]) for t in targets] == ports


@pytest.mark.redis
@pytest.mark.slow
def test_serve_starts_the_way_the_unit_runs_it(tmp_path):
    import httpx

    from tests.processes import RedisServer, ServeProcess

    redis = RedisServer(tmp_path).start()
    tokens_text, caps_text = blocks("json")
    (tmp_path / "tokens.json").write_text(tokens_text)
    (tmp_path / "capabilities.json").write_text(caps_text)
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert argv[:2] == ["/opt/kayou-dispatch/bin/kayou-dispatch", "serve"]
    i = argv.index("--port")
    assert argv[i + 1] == "%i"  # the instance name is the port
    # Exactly the unit's options, with this test's files, Redis and a free port for %i.
    args = [
        a.replace("/etc/kayou-dispatch", str(tmp_path)).replace(
            "redis://127.0.0.1:6379/0", redis.url
        )
        for a in argv[2:i] + argv[i + 2 :]
    ]
    proc = ServeProcess(tmp_path, *args)
    port = proc.port
    try:
        proc.start(timeout_s=120.0)
        base = proc.base
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["stores"]
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and "kayou_http_requests_total" in metrics.text
        tokens = json.loads(tokens_text)
        phone = next(t for t, e in tokens.items() if e.get("responder_id") == "truck-17")
        ops = next(t for t, e in tokens.items() if e["role"] == "dispatcher")
        # A place on the bundled regional network (--network default): Hanover's centre.
        fix = {"lat": 52.3759, "lng": 9.7320, "capabilities": ["tow"]}
        r = httpx.put(
            f"{base}/v1/responders/truck-17/position",
            json=fix,
            headers={"Authorization": f"Bearer {phone}"},
        )
        assert r.status_code == 200, r.text
        r = httpx.put(
            f"{base}/v1/responders/truck-17",
            json={"capabilities": ["jetpack"]},
            headers={"Authorization": f"Bearer {ops}"},
        )
        assert r.status_code == 422  # outside the guide's capability registry
        log = proc.log.read_text()
        assert f"listening on http://127.0.0.1:{port}" in log
        assert any(line.startswith("{") and json.loads(line) for line in log.splitlines())
        proc.proc.send_signal(signal.SIGTERM)  # as systemd stops it (KillSignal=SIGTERM)
        assert proc.proc.wait(45) == 0
    finally:
        proc.stop()
        redis.stop()
