"""Live events over the WebSocket: everything for dispatchers, own offers for responders."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from kayou_dispatch import Status

from .conftest import DISP, R17, R42, SCENE


def report(client, iid):
    body = {"incident_id": iid, "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    return client.post("/v1/incidents", json={**body, "dispatch": True}, headers=DISP).json()


def test_dispatcher_sees_everything_responder_only_its_offers(fleet):
    with (
        fleet.websocket_connect("/v1/events", headers=DISP) as disp,
        fleet.websocket_connect("/v1/events?token=r17") as r17,
        fleet.websocket_connect("/v1/events", headers=R42) as r42,
    ):
        inc = report(fleet, "inc-1")
        (offer,) = inc["offers"]
        assert [disp.receive_json()["kind"] for _ in range(2)] == ["reported", "offer_made"]
        mine, other = (r17, r42) if offer["responder_id"] == "truck-17" else (r42, r17)
        got = mine.receive_json()
        assert got["kind"] == "offer_made" and got["incident"]["lat"] == pytest.approx(SCENE[0])
        fleet.post("/v1/incidents/inc-1/cancel", headers=DISP)
        assert mine.receive_json()["kind"] == "offer_withdrawn"
        assert mine.receive_json()["kind"] == "cancelled"
        # the other responder got nothing about inc-1: the next thing it sees is its own offer
        busy = offer["responder_id"]
        off = {"status": "offline"}
        fleet.put(f"/v1/responders/{busy}/availability", json=off, headers=DISP)
        report(fleet, "inc-2")
        nxt = other.receive_json()
        assert nxt["incident_id"] == "inc-2" and nxt["responder_id"] != offer["responder_id"]


def test_events_from_another_thread_reach_the_client(fleet, engine):
    with fleet.websocket_connect("/v1/events", headers=DISP) as ws:
        t = threading.Thread(
            target=engine.report_incident, args=("inc-t", *SCENE), kwargs={"kind": "directions"}
        )
        t.start()
        t.join()
        assert ws.receive_json()["incident_id"] == "inc-t"


def test_events_need_a_token(fleet):
    for kw in ({}, {"headers": {"Authorization": "Bearer nope"}}):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            fleet.websocket_connect("/v1/events", **kw),
        ):
            pass
        assert info.value.code == 4401


def test_the_running_app_ticks_offer_expiries(engine, clock):
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    from .conftest import TOKENS

    engine.update_position("truck-17", 60.1699, 24.9384)
    app = create_app(engine, auth=TOKENS, tick_interval_s=0.05)
    with TestClient(app) as c, c.websocket_connect("/v1/events", headers=R17) as ws:
        report(c, "inc-x")
        assert ws.receive_json()["kind"] == "offer_made"
        clock[0] += 3600  # past the offer's time-out: the background tick expires it
        assert ws.receive_json()["kind"] == "offer_expired"


@settings(max_examples=100, deadline=None)
@given(
    before=st.dictionaries(
        st.sampled_from("abcdef"), st.tuples(st.integers(0, 2), st.sampled_from(list(Status)))
    ),
    after=st.dictionaries(
        st.sampled_from("abcdef"), st.tuples(st.integers(0, 2), st.sampled_from(list(Status)))
    ),
    same_order=st.booleans(),
)
def test_position_changes_match_a_dict_diff(before, after, same_order):
    """Oracle: compare the two fleets id by id."""
    from kayou_dispatch.server._events import position_changes
    from kayou_dispatch.spatial import ResponderIndex

    def index_of(fleet, order):
        index = ResponderIndex(clock=lambda: 1000.0)
        for rid in order:
            step, status = fleet[rid]
            index.update_position(rid, 22.7 + step * 0.001, 114.2, ts=999.0)
            index.set_status(rid, status)
        return index.snapshot()

    if same_order:
        after = {rid: after.get(rid, v) for rid, v in before.items()}
    first = index_of(before, sorted(before))
    second = index_of(after, sorted(after))
    changed, gone = position_changes(first, second)
    want = sorted(rid for rid, v in after.items() if before.get(rid) != v)
    assert sorted(r["responder_id"] for r in changed) == want
    assert gone == sorted(before.keys() - after.keys())
    for r in changed:
        step, status = after[r["responder_id"]]
        assert (r["lat"], r["status"], r["fresh"]) == (22.7 + step * 0.001, status.value, True)
    assert len(position_changes(None, second)[0]) == len(after)  # a first message: all


def test_published_position_changes_reach_dispatchers_only():
    import asyncio

    from kayou_dispatch.server._events import EventHub

    async def run():
        hub = EventHub(lambda callback: lambda: None)
        disp, resp = hub.add(dispatcher=True), hub.add(dispatcher=False)
        assert hub.dispatchers() == 1
        hub.publish({"kind": "positions", "responders": [], "removed": ["x"]})
        await asyncio.sleep(0)
        return disp.queue.qsize(), resp.queue.qsize()

    assert asyncio.run(run()) == (1, 0)


def test_a_client_resumes_after_the_last_event_id_it_saw(fleet):
    """``?since=`` replays exactly the events after the cursor, then the live ones."""
    with fleet.websocket_connect("/v1/events", headers=DISP) as ws:
        report(fleet, "inc-a")
        seen = [ws.receive_json() for _ in range(2)]
    assert [m["kind"] for m in seen] == ["reported", "offer_made"]
    ids = [m["event_id"] for m in seen]
    assert ids[0].split("-")[0] == ids[1].split("-")[0]  # one command, one transaction
    assert ids == sorted(ids, key=lambda e: tuple(map(int, e.split("-"))))
    # Missed while away: inc-a's cancel and inc-b.
    fleet.post("/v1/incidents/inc-a/cancel", headers=DISP)
    report(fleet, "inc-b")
    with fleet.websocket_connect(f"/v1/events?since={ids[0]}", headers=DISP) as ws:
        got = [ws.receive_json() for _ in range(5)]
        report(fleet, "inc-c")
        live = [ws.receive_json() for _ in range(2)]
    assert got[0] == seen[1]  # the first event after the cursor, the same id and body
    assert [(m["kind"], m["incident_id"]) for m in got[1:] + live] == [
        ("offer_withdrawn", "inc-a"),
        ("cancelled", "inc-a"),
        ("reported", "inc-b"),
        ("offer_made", "inc-b"),
        ("reported", "inc-c"),
        ("offer_made", "inc-c"),
    ]
    every = [m["event_id"] for m in [*got, *live]]
    assert len(set(every)) == len(every)
    # The same cursor through the Last-Event-ID header.
    with fleet.websocket_connect("/v1/events", headers={**DISP, "Last-Event-ID": ids[1]}) as ws:
        assert ws.receive_json()["kind"] == "offer_withdrawn"


@pytest.mark.parametrize(("since", "code"), [("12", 4422), ("a-b", 4422), ("999999-0", 4410)])
def test_a_cursor_the_server_cannot_serve_closes_with_a_code(fleet, since, code):
    report(fleet, "inc-z")
    with (
        pytest.raises(WebSocketDisconnect) as info,
        fleet.websocket_connect(f"/v1/events?since={since}", headers=DISP) as ws,
    ):
        ws.receive_json()
    assert info.value.code == code


def test_a_cursor_older_than_the_history_closes_with_4410():
    from kayou_dispatch.lifecycle import Event, EventKind
    from kayou_dispatch.server._events import EventHub

    feed = []
    hub = EventHub(lambda cb: feed.append(cb) or (lambda: None), history=3)
    for txn in range(1, 6):
        feed[0](Event(EventKind.REPORTED, f"i{txn}", None, 0.0, seq=(txn, 0)))
    assert not hub.resumable((1, 0)) and hub.resumable((2, 0))

    async def subscribe():
        return hub.add(since=(1, 0)), hub.add(since=(3, 0))

    import asyncio

    old, ok = asyncio.run(subscribe())
    assert old is None and [e.incident_id for e in ok.backlog] == ["i4", "i5"]
