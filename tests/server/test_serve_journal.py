"""One writer per journal: a second `serve --journal same.db` is refused; a successor after
a `kill -9` takes over and replays (real processes, real SQLite file)."""

import json
import subprocess
import sys

import httpx
import pytest

from tests.processes import ServeProcess

from .conftest import SCENE, TOKENS

pytestmark = pytest.mark.slow
DISP = {"Authorization": "Bearer disp"}


def test_a_second_server_on_one_journal_is_refused_at_start(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    journal = tmp_path / "same.db"
    args = ("--tokens", str(tokens), "--journal", str(journal), "--tick-interval", "0.5")
    first = ServeProcess(tmp_path, *args, name="first").start()
    try:
        body = {"incident_id": "x", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
        assert httpx.post(f"{first.base}/v1/incidents", json=body, headers=DISP).status_code == 201
        second = subprocess.run(
            [sys.executable, "-m", "kayou_dispatch.cli", "serve", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert "held by another process" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr
        # The first one is untouched and still the only writer.
        r = httpx.get(f"{first.base}/v1/incidents/x", headers=DISP)
        assert r.status_code == 200
    finally:
        first.stop(kill=True)  # kill -9: the kernel drops the lock with the process
    successor = ServeProcess(tmp_path, *args, name="successor").start()
    try:
        r = httpx.get(f"{successor.base}/v1/incidents/x", headers=DISP)
        assert r.status_code == 200 and r.json()["kind"] == "fire"
    finally:
        successor.stop()
