"""`serve --lifecycle postgresql://…`: refused at start when bad, 503 while PostgreSQL is down."""

import json
import subprocess
import sys

import httpx
import pytest

pytest.importorskip("psycopg")

from tests.processes import PostgresServer, ServeProcess, free_port

from .conftest import DISP, TOKENS
from .test_readyz import _wait_for

pytestmark = pytest.mark.postgresql


def serve_fails(tmp_path, *args):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    cmd = [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--network", "helsinki"]
    cmd += ["--tokens", str(tokens), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_a_bad_or_refusing_lifecycle_url_stops_serve_before_it_serves(tmp_path):
    done = serve_fails(tmp_path, "--lifecycle", "mysql://x")
    assert done.returncode == 2 and "--lifecycle:" in done.stderr and "postgresql://" in done.stderr
    port = free_port()
    done = serve_fails(tmp_path, "--lifecycle", f"postgresql://kayou:pw@127.0.0.1:{port}/x")
    assert done.returncode == 2 and "--lifecycle:" in done.stderr
    assert "SharedState" not in done.stderr.splitlines()[0] and "pw" not in done.stderr
    assert f"postgresql://kayou@127.0.0.1:{port}/x" in done.stderr
    journal = str(tmp_path / "j.db")
    done = serve_fails(tmp_path, "--lifecycle", "postgresql://h/x", "--journal", journal)
    assert done.returncode == 2 and "exclude each other" in done.stderr


@pytest.mark.slow
def test_not_ready_while_postgres_is_down_and_ready_again_after(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    pg = PostgresServer().start()
    proc = ServeProcess(tmp_path, "--tokens", str(tokens), "--lifecycle", pg.url).start()
    try:
        r = httpx.get(f"{proc.base}/readyz")
        assert r.status_code == 200 and r.json()["stores"] == [pg.url]
        body = {"incident_id": "i1", "lat": 60.17, "lng": 24.94, "kind": "directions"}
        assert httpx.post(f"{proc.base}/v1/incidents", json=body, headers=DISP).status_code == 201
        pg.crash()
        r = _wait_for(f"{proc.base}/readyz", 503)
        assert r.status_code == 503 and r.json()["error"] == "SharedStateError"
        assert f"127.0.0.1:{pg.port}" in r.json()["detail"]
        body2 = {**body, "incident_id": "i2"}
        r = httpx.post(f"{proc.base}/v1/incidents", json=body2, headers=DISP)
        assert r.status_code == 503  # not acknowledged, and said so: never a 500
        assert httpx.get(f"{proc.base}/healthz").status_code == 200
        text = httpx.get(f"{proc.base}/metrics").text
        (line,) = [
            x
            for x in text.splitlines()
            if x.startswith('kayou_store_errors_total{store="postgresql"}')
        ]
        assert float(line.split()[-1]) >= 2
        pg.start()  # same folder, same port: WAL replay
        r = _wait_for(f"{proc.base}/readyz", 200)
        assert r.status_code == 200 and r.json()["status"] == "ready"
        r = httpx.get(f"{proc.base}/v1/incidents/i1", headers=DISP)
        assert r.status_code == 200  # the acknowledged report survived the crash
        assert httpx.post(f"{proc.base}/v1/incidents", json=body2, headers=DISP).status_code == 201
    finally:
        proc.stop()
        pg.remove()
