"""Slowloris against a real `serve` on loopback: unfinished heads and dripped bodies are
closed by their timeouts, connections beyond the cap at once, and clients get through."""

import json
import socket
import time

import httpx
import pytest

from tests.processes import ServeProcess

from .conftest import TOKENS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slowloris")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    proc = ServeProcess(
        folder,
        "--tokens", str(tokens),
        "--header-timeout", "2",
        "--body-timeout", "1.5",
        "--max-connections", "40",
        name="slowloris",
    ).start()
    yield proc
    proc.stop()


def open_partial(port, data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def closed_by_server(s, within_s):
    """Whether the server closes ``s`` within ``within_s`` (EOF or reset)."""
    s.settimeout(within_s)
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        s.close()


def healthy(base):
    return httpx.get(f"{base}/healthz", timeout=3).status_code == 200


def test_unfinished_request_heads_are_closed_and_clients_get_back_in(server):
    socks = [open_partial(server.port) for _ in range(30)]
    assert healthy(server.base)  # under the cap: a client still gets in
    start = time.monotonic()
    assert all(closed_by_server(s, 5.0) for s in socks)
    assert time.monotonic() - start < 4.0
    assert healthy(server.base)


def test_a_connection_that_never_sends_anything_is_closed(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    assert closed_by_server(s, 5.0)


def test_a_dripped_body_is_closed_by_the_body_timeout(server):
    head = (
        b"PUT /v1/responders/truck-17/position HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer r17\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    s = open_partial(server.port, head)
    start = time.monotonic()
    closed = False
    try:
        for _ in range(20):  # one byte every 0.25 s: the head arrived, the body never ends
            time.sleep(0.25)
            s.sendall(b" ")
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if closed:
        s.close()
    assert closed or closed_by_server(s, 3.0)
    assert time.monotonic() - start < 5.0
    assert healthy(server.base)


def test_beyond_the_cap_the_longest_waiting_connections_make_room(server):
    socks = []
    start = time.monotonic()
    for _ in range(55):
        socks.append(open_partial(server.port))
        time.sleep(0.002)  # an order of arrival, so "longest waiting" is well defined
    assert healthy(server.base)  # a client gets in though attackers hold the cap
    evicted = [closed_by_server(s, 0.02) for s in socks[:16]]
    # Closed to make room, well before the 2 s header timeout could have closed them.
    assert time.monotonic() - start < 1.8
    assert sum(evicted) >= 15, evicted
    for s in socks[16:]:
        s.close()
    assert healthy(server.base)


def test_keep_alive_clients_are_not_cut_off_between_requests(server):
    with httpx.Client(base_url=server.base, timeout=3) as client:
        for _ in range(12):  # spans several header timeouts on one connection
            assert client.get("/healthz").status_code == 200
            time.sleep(0.3)


@pytest.mark.parametrize(
    "args",
    [
        ["--max-connections", "0"],
        ["--max-connections", "many"],
        ["--header-timeout", "0"],
        ["--body-timeout", "-1"],
        ["--timeout-keep-alive", "nan"],
    ],
)
def test_serve_refuses_bad_connection_limits(args, capsys):
    from kayou_dispatch.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", *args])
    assert exc.value.code == 2 and args[0] in capsys.readouterr().err
