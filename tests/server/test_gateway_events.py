"""``/v1/events`` through the gateway on real HTTP: one stream merged from three shards."""

import json
import time

import httpx
import numpy as np
import pytest

from .test_gateway import moves

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
#: Our own (starlette's TestClient.websocket_connect adds its headers to the conftest's).
DISP = {"Authorization": "Bearer disp"}
ws_client = pytest.importorskip("websockets.sync.client")


def seq(event_id):
    txn, i = event_id.split("-")
    return int(txn), int(i)


def place_in(shard_map, net, name, skip=0):
    """A road node in the cells of shard ``name`` (the ``skip``-th one found)."""
    found = 0
    for v in range(0, net.n_nodes, 53):
        la, ln = float(net.node_lat[v]), float(net.node_lng[v])
        owner = shard_map.owner(la, ln)
        if owner is not None and owner.name == name:
            if found == skip:
                return la, ln
            found += 1
    raise AssertionError(f"no node in {name}")


def report(client, iid, place):
    body = {"incident_id": iid, "lat": place[0], "lng": place[1], "kind": "directions"}
    r = client.post("/v1/incidents", json={**body, "dispatch": True})
    assert r.status_code == 201, r.text


def lifecycle(ws, n, timeout=30):
    """The next ``n`` lifecycle events (position messages set aside)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["kind"] != "positions":
            got.append(message)
    return got


def quiet(ws, wait_s=1.5):
    """Lifecycle events arriving within ``wait_s`` (none expected)."""
    extra = []
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if message["kind"] != "positions":
            extra.append(message)
    return extra


def connect(base, since=None, headers=DISP):
    url = base.replace("http://", "ws://") + "/v1/events"
    if since is not None:
        url += f"?since={since}"
    return ws_client.connect(url, additional_headers=headers, max_size=None, proxy=None)


@pytest.fixture
def fleet_deployment(deployment, net):
    shard_map, shards, gw = deployment
    rng = np.random.default_rng(7)
    lat, lng = next(moves(net, 1500, rng, 1))
    ts = time.time() - 5
    rows = [
        {"id": f"r{i}", "lat": a, "lng": b, "ts": ts}
        for i, (a, b) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True))
    ]
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        assert client.post("/v1/positions", json={"positions": rows}).status_code == 200
    inside = {r["id"] for r in rows if shard_map.owner(r["lat"], r["lng"]) is not None}
    return shard_map, shards, gw, inside


def test_events_from_incidents_on_every_shard_arrive_once_in_log_order(fleet_deployment, net):
    shard_map, shards, gw, _ = fleet_deployment
    places = {s.name: place_in(shard_map, net, s.name) for s in shard_map.shards}
    with (
        connect(gw.base) as ws,
        httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client,
    ):
        time.sleep(1.0)  # the gateway's connections to the shards are open
        report(client, "a0", places["s0"])
        report(client, "a1", places["s1"])
        got = lifecycle(ws, 4)
        # Each event once, both shards' incidents, in the national log's order.
        assert [(m["kind"], m["incident_id"]) for m in got] == [
            ("reported", "a0"),
            ("offer_made", "a0"),
            ("reported", "a1"),
            ("offer_made", "a1"),
        ]
        ids = [seq(m["event_id"]) for m in got]
        assert ids == sorted(set(ids))
        assert quiet(ws) == []  # no shard's copy of those events arrives twice
        # The ids and bodies are those every shard streams (one log, one numbering).
        with connect(shards[2].base, since=got[0]["event_id"]) as direct:
            assert lifecycle(direct, 3) == got[1:]
        for m in got[1::2]:  # the offers streamed are the incidents' offers
            view = client.get(f"/v1/incidents/{m['incident_id']}").json()
            assert m["responder_id"] in [o["responder_id"] for o in view["offers"]]


def test_a_client_resumes_through_the_gateway_and_across_a_dead_shard(fleet_deployment, net):
    shard_map, shards, gw, _ = fleet_deployment
    places = {s.name: place_in(shard_map, net, s.name) for s in shard_map.shards}
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        with connect(gw.base) as ws:
            time.sleep(1.0)
            report(client, "b0", places["s0"])
            first = lifecycle(ws, 2)
        # Missed while away: a cancel on s0, a report on s2.
        assert client.post("/v1/incidents/b0/cancel").status_code == 200
        report(client, "b2", places["s2"])
        with connect(gw.base, since=first[-1]["event_id"]) as ws:
            missed = lifecycle(ws, 4)
            assert [(m["kind"], m["incident_id"]) for m in missed] == [
                ("offer_withdrawn", "b0"),
                ("cancelled", "b0"),
                ("reported", "b2"),
                ("offer_made", "b2"),
            ]
            assert seq(missed[0]["event_id"]) > seq(first[-1]["event_id"])
            # The shard whose stream the gateway follows dies: the next takes over from
            # the last event forwarded, so nothing is lost or repeated.
            shards[0].stop(kill=True)
            report(client, "b1", places["s1"])
            after = lifecycle(ws, 2)
            assert [(m["kind"], m["incident_id"]) for m in after] == [
                ("reported", "b1"),
                ("offer_made", "b1"),
            ]
            assert quiet(ws) == []
        every = [seq(m["event_id"]) for m in [*first, *missed, *after]]
        assert every == sorted(set(every))
        # A cursor nobody holds: 4410, as on one server; a malformed one: 4422.
        for since, code in (("999999999-0", 4410), ("nope", 4422)):
            with connect(gw.base, since=since) as ws, pytest.raises(Exception) as info:
                ws.recv(timeout=30)
            assert getattr(info.value, "rcvd", None) is not None, info.value
            assert info.value.rcvd.code == code


def test_dispatchers_get_each_responder_from_its_owner_shard_only(fleet_deployment):
    shard_map, _, gw, inside = fleet_deployment
    seen: dict[str, str] = {}
    by_shard: dict[str, set[str]] = {}
    with connect(gw.base) as ws:
        deadline = time.monotonic() + 30
        while seen.keys() != inside and time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if message["kind"] != "positions":
                continue
            for row in message["responders"]:
                owner = shard_map.owner(row["lat"], row["lng"])
                assert owner is not None and owner.name == message["shard"], row
                seen[row["responder_id"]] = message["shard"]
                by_shard.setdefault(message["shard"], set()).add(row["responder_id"])
    assert seen.keys() == inside
    assert len(by_shard) == 3
    assert sum(len(v) for v in by_shard.values()) == len(inside)  # nobody twice
    # A responder's socket gets no fleet positions (nor anything else here).
    with (
        connect(gw.base, headers={"Authorization": "Bearer r17"}) as ws,
        pytest.raises(TimeoutError),
    ):
        ws.recv(timeout=2.5)
