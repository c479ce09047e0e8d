"""`serve` as an operator runs it: where it listens, access and JSON logs, graceful stop."""

import json
import signal
import socket
import time

import httpx
import pytest

from tests.processes import ServeProcess

from .conftest import SCENE, TOKENS

DISP = {"Authorization": "Bearer disp"}


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS))
    return path


def _records(log):
    """The JSON lines of a server log (every line must be one)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_json_logs_say_the_real_port_and_log_each_request(tmp_path, tokens):
    proc = ServeProcess(
        tmp_path, "--tokens", str(tokens), "--access-log", "--log-format", "json", any_port=True
    ).start()
    try:
        assert proc.port != 0
        r = httpx.put(
            f"{proc.base}/v1/responders/truck-17/position",
            json={"lat": 60.1699, "lng": 24.9384},
            headers=DISP,
        )
        assert r.status_code == 200
        r = httpx.get(f"{proc.base}/v1/rank", params={"lat": SCENE[0], "lng": SCENE[1]})
        assert r.status_code == 401
        r = httpx.get(f"{proc.base}/console", params={"token": "disp"})
        assert r.status_code == 200
        time.sleep(0.3)
    finally:
        proc.stop()
    records = _records(proc.log)  # fails on any line that is not JSON
    listening = [r for r in records if r["message"].startswith("listening on")]
    assert [r["url"] for r in listening] == [f"http://127.0.0.1:{proc.port}"]
    assert listening[0]["port"] == proc.port and listening[0]["level"] == "info"
    access = [r for r in records if r["logger"] == "kayou_dispatch.access"]
    got = [(r["method"], r["route"], r["status"]) for r in access]
    assert ("PUT", "/v1/responders/{responder_id}/position", 200) in got
    assert ("GET", "other", 401) in got  # refused before routing
    assert ("GET", "/console", 200) in got
    assert all(r["duration_ms"] >= 0 and r["client"] == "127.0.0.1" for r in access)
    assert "disp" not in proc.log.read_text().replace("dispatch", "")  # no token in the log


def test_text_logs_by_default_and_no_access_log_unless_asked(tmp_path, tokens):
    proc = ServeProcess(tmp_path, "--tokens", str(tokens), any_port=True).start()
    try:
        assert httpx.get(f"{proc.base}/healthz").status_code == 200
        time.sleep(0.3)
    finally:
        proc.stop()
    text = proc.log.read_text()
    assert f"listening on http://127.0.0.1:{proc.port}" in text
    assert "kayou_dispatch.access" not in text and "GET /healthz" not in text
    with pytest.raises(json.JSONDecodeError):
        _records(proc.log)


def test_sigterm_lets_a_command_in_flight_finish_and_keeps_it(tmp_path, tokens):
    journal = tmp_path / "journal.db"
    args = ("--tokens", str(tokens), "--journal", str(journal), "--tick-interval", "5")
    proc = ServeProcess(tmp_path, *args, "--graceful-timeout", "20").start()
    body = json.dumps(
        {"incident_id": "late-1", "lat": SCENE[0], "lng": SCENE[1], "kind": "fire"}
    ).encode()
    head = (
        "POST /v1/incidents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer disp\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
        sock.sendall(head + body[:10])  # the command is in flight: half its body sent
        time.sleep(0.3)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.proc.poll() is None  # still finishing the request
        with pytest.raises(httpx.TransportError):  # but taking no new connections
            httpx.get(f"{proc.base}/healthz", timeout=2)
        sock.sendall(body[10:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert proc.proc.wait(20) == 0
    text = proc.log.read_text()
    assert "stopping: no new connections" in text
    assert text.rstrip().endswith("kayou_dispatch.serve: stopped")  # the engine was closed
    again = ServeProcess(tmp_path, *args, name="again").start()
    try:
        r = httpx.get(f"{again.base}/v1/incidents/late-1", headers=DISP)
        assert r.status_code == 200 and r.json()["kind"] == "fire"
    finally:
        again.stop()


def test_serve_refuses_an_unknown_log_format(capsys, tokens):
    from kayou_dispatch.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--tokens", str(tokens), "--log-format", "xml"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
