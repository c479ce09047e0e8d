"""Three `serve --shard` processes and a `gateway` on real HTTP: exact across borders, 503s."""

import json
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from kayou_dispatch import DispatchEngine
from tests.processes import free_port
from tests.shared.test_shards import three_shards

from .conftest import TOKENS

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
DISP = {"Authorization": "Bearer disp"}


def moves(net, n, rng, steps):
    """n responders on the roads, each step moving everyone (many across a border)."""
    nodes = rng.integers(0, net.n_nodes, n)
    lat = net.node_lat[nodes] + rng.normal(0, 0.002, n)
    lng = net.node_lng[nodes] + rng.normal(0, 0.002, n)
    for _ in range(steps):
        yield lat, lng
        lat = lat + rng.normal(0, 0.03, n)
        lng = lng + rng.normal(0, 0.05, n)


def test_every_ranking_through_the_gateway_equals_one_engine(deployment, net):
    shard_map, _, gw = deployment
    whole = DispatchEngine(net)
    rng = np.random.default_rng(3)
    n = 10_000
    ids = [f"r{i}" for i in range(n)]
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        for step, (lat, lng) in enumerate(moves(net, n, rng, 3)):
            ts = time.time() - 10 + step
            whole.update_positions(ids, lat, lng, ts=ts)
            rows = [
                {"id": i, "lat": a, "lng": b, "ts": ts}
                for i, a, b in zip(ids, lat.tolist(), lng.tolist(), strict=True)
            ]
            for chunk in range(0, n, 2500):
                r = client.post("/v1/positions", json={"positions": rows[chunk : chunk + 2500]})
                assert r.status_code == 200, r.text
                assert r.json()["received"] == 2500
        # One responder's fix and its GET go to the shard that owns it.
        r = client.put("/v1/responders/r1/position", json={"lat": lat[1], "lng": lng[1]})
        assert r.status_code == 200, r.text
        whole.update_position("r1", float(lat[1]), float(lng[1]))
        assert client.get("/v1/responders/r1").json()["lat"] == pytest.approx(lat[1])
        # 500 incidents within 30 km of a border, and interior ones.
        border, checked = 0, 0
        for q in rng.integers(0, net.n_nodes, 700):
            la, ln = float(net.node_lat[q]), float(net.node_lng[q])
            if shard_map.owner(la, ln) is None:
                continue
            near = len({s.name for s in shard_map.notified(la, ln)}) > 1
            if border >= 500 and near:
                continue
            border += near
            got = client.get("/v1/rank", params={"lat": la, "lng": ln, "k": 8})
            assert got.status_code == 200, got.text
            want = whole.rank(la, ln, k=8, max_eta_s=shard_map.max_eta_s)
            assert [(c["responder_id"], c["eta_s"]) for c in got.json()["candidates"]] == [
                (c.responder_id, c.eta_s) for c in want
            ]
            checked += bool(want)
        assert border >= 400 and checked >= 400
        # The fleet: everyone inside the map once (the others left it: nobody holds them).
        fleet = client.get("/v1/responders").json()["responders"]
        inside = [i for i, a, b in zip(ids, lat, lng, strict=True) if shard_map.owner(a, b)]
        assert len(inside) < n
        assert sorted(r["responder_id"] for r in fleet) == sorted(inside)


def test_incidents_dispatch_on_the_owner_shard_through_one_national_log(deployment, net):
    shard_map, shards, gw = deployment
    whole = DispatchEngine(net)
    rng = np.random.default_rng(5)
    n = 3000
    ids = [f"r{i}" for i in range(n)]
    lat, lng = next(moves(net, n, rng, 1))
    ts = time.time() - 5
    whole.update_positions(ids, lat, lng, ts=ts)
    rows = [
        {"id": i, "lat": a, "lng": b, "ts": ts}
        for i, a, b in zip(ids, lat.tolist(), lng.tolist(), strict=True)
    ]
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        assert client.post("/v1/positions", json={"positions": rows}).status_code == 200
        offered: list[str] = []
        for k, q in enumerate(rng.integers(0, net.n_nodes, 40)):
            la, ln = float(net.node_lat[q]), float(net.node_lng[q])
            body = {
                "incident_id": f"i{k}",
                "lat": la,
                "lng": ln,
                "kind": "directions",
                "dispatch": True,
            }
            r = client.post("/v1/incidents", json=body)
            assert r.status_code == 201, r.text
            want = whole.rank(la, ln, k=1, max_eta_s=min(900, shard_map.max_eta_s), exclude=offered)
            view = client.get(f"/v1/incidents/i{k}").json()
            got = (
                sorted(view["offers"])
                if isinstance(view.get("offers"), dict)
                else [o["responder_id"] for o in view.get("offers", [])]
            )
            assert got == [c.responder_id for c in want], (view, want)
            offered += got
        # Every shard holds every incident: the log is national.
        for s in shards:
            r = httpx.get(f"{s.base}/v1/incidents/i0", headers=DISP)
            assert r.status_code == 200


def test_a_shard_that_is_down_answers_503_for_its_cells_only(deployment, net):
    shard_map, shards, gw = deployment
    down = shards[2]
    cells = {s.name: next(iter(s.cells)) for s in shard_map.shards}
    import h3

    places = {name: h3.cell_to_latlng(h3.int_to_str(c)) for name, c in cells.items()}
    # An incident in the shard's cells, on the national log, before the shard dies.
    node = next(
        v
        for v in range(0, net.n_nodes, 97)
        if (o := shard_map.owner(float(net.node_lat[v]), float(net.node_lng[v]))) is not None
        and o.name == "s2"
    )
    body = {"incident_id": "kept", "lat": float(net.node_lat[node]),
            "lng": float(net.node_lng[node]), "kind": "directions"}  # fmt: skip
    assert httpx.post(f"{gw.base}/v1/incidents", json=body, headers=DISP).status_code == 201
    before = httpx.get(f"{down.base}/v1/incidents/kept", headers=DISP).json()
    down.stop(kill=True)
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=10) as client:
        r = client.get("/v1/incidents/kept")
        assert r.status_code == 503 and r.headers["Retry-After"]
        t0 = time.monotonic()
        r = client.get("/v1/rank", params={"lat": places["s2"][0], "lng": places["s2"][1]})
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"] == "ShardUnavailable" and time.monotonic() - t0 < 5
        r = client.put(
            "/v1/responders/x/position", json={"lat": places["s2"][0], "lng": places["s2"][1]}
        )
        assert r.status_code == 503
        ok = client.get("/v1/rank", params={"lat": places["s0"][0], "lng": places["s0"][1]})
        assert ok.status_code in (200, 422), ok.text
        assert client.get("/readyz").status_code == 503
        down.start()
        r = client.get("/v1/rank", params={"lat": places["s2"][0], "lng": places["s2"][1]})
        assert r.status_code in (200, 422), r.text
        assert client.get("/readyz").status_code == 200
        # Full state after the restart: the shard replayed the national log.
        assert client.get("/v1/incidents/kept").json() == before
        # No token: 401 from the gateway itself.
        assert httpx.get(f"{gw.base}/v1/rank", params={"lat": 52, "lng": 10}).status_code == 401


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shard", "nowhere"], "no shard named 'nowhere'"),
        (["--shard", "s0", "--lifecycle", "postgresql://nobody@127.0.0.1:1/none"], "--lifecycle"),
    ],
)
def test_serve_refuses_a_bad_shard_before_serving(tmp_path, net, args, says):
    saved = tmp_path / "net.npz"
    net.save(saved)
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps(three_shards(net)))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    cmd = [
        sys.executable,
        "-m",
        "kayou_dispatch.cli",
        "serve",
        "--network",
        str(saved),
        "--tokens",
        str(tokens),
        "--shards",
        str(shards_file),
        "--port",
        str(free_port()),
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_gateway_refuses_a_bad_shard_map(tmp_path):
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps({"format": "kayou-shards/1", "resolution": 7}))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    cmd = [
        sys.executable,
        "-m",
        "kayou_dispatch.cli",
        "gateway",
        "--shards",
        str(shards_file),
        "--tokens",
        str(tokens),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "resolution must be 3 or 4" in done.stderr, done.stderr


def test_500_accepts_racing_through_shards_and_the_gateway_never_double_assign(deployment, net):
    """Every offer accepted at once through the gateway and through every shard directly."""
    import asyncio
    import random

    _, shards, gw = deployment
    rng = np.random.default_rng(11)
    n = 2000
    lat, lng = next(moves(net, n, rng, 1))
    ts = time.time() - 5
    rows = [
        {"id": f"r{i}", "lat": a, "lng": b, "ts": ts}
        for i, (a, b) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True))
    ]
    bases = [gw.base, *(s.base for s in shards)]
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        assert client.post("/v1/positions", json={"positions": rows}).status_code == 200
        made = 0
        for k, q in enumerate(rng.integers(0, net.n_nodes, 40)):
            la, ln = float(net.node_lat[q]), float(net.node_lng[q])
            body = {"incident_id": f"fire-{k}", "lat": la, "lng": ln, "kind": "fire"}
            r = client.post("/v1/incidents", json={**body, "dispatch": True})
            made += r.status_code == 201
        incidents = client.get("/v1/incidents").json()["incidents"]
    offers = [(i["incident_id"], o["responder_id"]) for i in incidents for o in i["offers"]]
    assert made >= 30 and len(offers) >= 150
    attempts = [(b, iid, rid) for iid, rid in offers for b in random.Random(1).sample(bases, 3)]
    attempts += [(gw.base, "fire-0", f"r{i}") for i in range(60)]  # offers never made
    random.Random(2).shuffle(attempts)
    assert len(attempts) >= 500

    async def race():
        async with httpx.AsyncClient(headers=DISP, timeout=30) as ac:
            sem = asyncio.Semaphore(48)

            async def one(base, iid, rid):
                async with sem:
                    r = await ac.post(f"{base}/v1/incidents/{iid}/offers/{rid}/accept")
                    return r.status_code

            return await asyncio.gather(*(one(*a) for a in attempts))

    codes = asyncio.run(race())
    through_gw = {c for (b, _, _), c in zip(attempts, codes, strict=True) if b == gw.base}
    assert through_gw <= {200, 409}, through_gw
    # A shard reached directly knows only the responders of its reach: 404 for the others.
    assert set(codes) <= {200, 404, 409}, set(codes)
    won = sorted((iid, rid) for (_, iid, rid), c in zip(attempts, codes, strict=True) if c == 200)
    states = []
    for base in bases:
        listed = httpx.get(f"{base}/v1/incidents", headers=DISP).json()["incidents"]
        states.append({i["incident_id"]: sorted(i["assigned"]) for i in listed})
    assert all(s == states[0] for s in states)  # one national log: every shard agrees
    assigned = [rid for rids in states[0].values() for rid in rids]
    assert len(assigned) == len(set(assigned))  # nobody assigned twice
    assert all(len(rids) <= 3 for rids in states[0].values())  # no incident over-filled
    assert won == sorted((iid, rid) for iid, rids in states[0].items() for rid in rids)
