"""Offer time-outs under shards: the owner shard refills, once, with its exact ranking."""

import json
import time

import httpx
import numpy as np
import pytest

from kayou_dispatch import DispatchEngine

from .conftest import start_deployment
from .test_gateway import moves

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
#: Our own (starlette's TestClient.websocket_connect adds its headers to the conftest's).
DISP = {"Authorization": "Bearer disp"}
TIMEOUT_S = 4.0
CARDS = {"directions": {"needs": [[]], "offer_timeout_s": TIMEOUT_S, "max_eta_s": 900}}


@pytest.fixture
def short_offers(tmp_path, net, postgres_url):
    """Offers time out in 4 s; s2 ticks every 0.2 s, the others every 1.5 s.

    So, were ticks not routed to the owner, s2 would be the first to time out the offers
    of the others' incidents, and refill them with its own reach.
    """
    cards = tmp_path / "cards.json"
    cards.write_text(json.dumps(CARDS))
    slow = ("--tick-interval", "1.5")
    per = {"s0": slow, "s1": slow, "s2": ("--tick-interval", "0.2")}
    yield from start_deployment(
        tmp_path, net, postgres_url, "--run-cards", str(cards), shard_args=per
    )


def logged_offers(postgres_url):
    """The national log's offer records, in order: (txn, command, op, incident, responder)."""
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        sql = "SELECT txn, name, records FROM kayou_commands ORDER BY txn"
        rows = conn.execute(sql).fetchall()
    return [
        (txn, name, rec["op"], rec["incident_id"], rec.get("responder_id"))
        for txn, name, records in rows
        for rec in records
        if rec["op"] in ("offer", "expire", "no_candidate")
    ]


def blind_spot(shard_map, net, whole, positions, owner, blind):
    """A road node in ``owner``'s cells whose best candidates ``blind``'s reach lacks."""
    reach = shard_map.reach_cells(blind)
    for v in range(0, net.n_nodes, 31):
        la, ln = float(net.node_lat[v]), float(net.node_lng[v])
        o = shard_map.owner(la, ln)
        if o is None or o.name != owner:
            continue
        best = whole.rank(la, ln, k=3, max_eta_s=min(900, shard_map.max_eta_s))
        if len(best) >= 2 and all(
            shard_map.cell(*positions[c.responder_id]) not in reach for c in best
        ):
            return la, ln
    raise AssertionError(f"no node of {owner} out of {blind}'s reach")


def test_a_timed_out_offer_is_refilled_once_by_the_owner_shard(short_offers, net, postgres_url):
    shard_map, shards, gw = short_offers
    whole = DispatchEngine(net)
    rng = np.random.default_rng(17)
    n = 3000
    ids = [f"r{i}" for i in range(n)]
    lat, lng = next(moves(net, n, rng, 1))
    ts = time.time() - 2
    whole.update_positions(ids, lat, lng, ts=ts)
    positions = dict(zip(ids, zip(lat.tolist(), lng.tolist(), strict=True), strict=True))
    rows = [{"id": i, "lat": a, "lng": b, "ts": ts} for i, (a, b) in positions.items()]
    # An incident of s0 whose responders s2 (the quick ticker) does not hold, and one of s2.
    places = {
        "s0": blind_spot(shard_map, net, whole, positions, "s0", "s2"),
        "s2": blind_spot(shard_map, net, whole, positions, "s2", "s0"),
    }
    with httpx.Client(base_url=gw.base, headers=DISP, timeout=60) as client:
        assert client.post("/v1/positions", json={"positions": rows}).status_code == 200
        first = {}
        for name, (la, ln) in places.items():
            body = {"incident_id": f"t-{name}", "lat": la, "lng": ln, "kind": "directions"}
            r = client.post("/v1/incidents", json={**body, "dispatch": True})
            assert r.status_code == 201, r.text
            (offer,) = r.json()["offers"]
            first[name] = offer["responder_id"]
        # Past the time-out and the slow ticks, before the refills time out in turn.
        time.sleep(TIMEOUT_S + 2.5)
        views = {name: client.get(f"/v1/incidents/t-{name}").json() for name in places}
    log = logged_offers(postgres_url)
    for name, (la, ln) in places.items():
        iid = f"t-{name}"
        mine = [(txn, cmd, op, rid) for txn, cmd, op, i, rid in log if i == iid]
        # The first offer, its one expiry, then exactly one refill, by the same tick: the
        # owner's (another shard's tick would fail on a place off its clipped roads, or
        # rank with a reach that lacks the incident's responders).
        assert [op for _, _, op, _ in mine] == ["offer", "expire", "offer"], mine
        (_, _, _, offered), (t_expire, cmd, _, expired), (t_refill, _, _, refill) = mine
        assert offered == expired == first[name] and cmd == "tick" and t_expire == t_refill
        # The owner's exact ranking (the first responder excluded): its responders.
        busy = set(first.values())
        want = whole.rank(la, ln, k=1, max_eta_s=min(900, shard_map.max_eta_s), exclude=busy)
        assert [refill] == [c.responder_id for c in want], (name, mine, want)
        assert [o["responder_id"] for o in views[name]["offers"]] == [refill]
    for shard in shards:
        assert "tick() failed" not in shard.log.read_text(), shard.log


@pytest.mark.parametrize(
    ("cards", "says"),
    [
        ("[1]", "must hold a JSON object"),
        ('{"fire": 3}', "must be an object"),
        ('{"fire": {"needs": [[]], "colour": "red"}}', "colour"),
        ('{"fire": {"needs": [[]], "offer_timeout_s": -1}}', "offer_timeout_s"),
        ("{", "cannot read"),
    ],
)
def test_serve_refuses_bad_run_cards_before_serving(tmp_path, cards, says):
    from .test_postgres_ready import serve_fails

    path = tmp_path / "cards.json"
    path.write_text(cards)
    done = serve_fails(tmp_path, "--run-cards", str(path))
    assert done.returncode == 2 and "--run-cards:" in done.stderr and says in done.stderr
