"""``/v1/events``: live lifecycle events over a WebSocket, filtered by who listens."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast, get_args

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import KayouDispatchError
from kayou_dispatch.lifecycle import Event, EventKind
from kayou_dispatch.server._auth import (
    DuplicateAuthorizationError,
    Principal,
    authorization_of,
    principal_for,
)
from kayou_dispatch.server._crs import CrsName, from_wgs84
from kayou_dispatch.server._events import EventHub
from kayou_dispatch.server._models import event_json, parse_event_id

__all__ = ["router"]

router = APIRouter()

#: The coordinate systems ``?crs=`` names (as on the HTTP endpoints).
CRS_NAMES: tuple[str, ...] = get_args(CrsName)

_CLOSING_KINDS = frozenset(
    {EventKind.RESOLVED, EventKind.CANCELLED, EventKind.UNSERVED, EventKind.REOPENED}
)


@router.websocket("/v1/events")
async def events(websocket: WebSocket) -> None:
    """Live lifecycle events: everything for a dispatcher, its own offers for a responder.

    Authenticate with ``Authorization: Bearer <token>`` or ``?token=<token>`` (browsers
    cannot set headers on a WebSocket). ``?crs=gcj02|bd09`` converts every point sent
    (an offer's incident place, the fleet's positions) as the HTTP endpoints do; an
    unknown crs closes the socket with code 4422. Each message is one event as JSON; an
    ``offer_made`` to a responder carries the incident's place and kind. Dispatchers
    also get ``{"kind": "positions", "responders": [...], "removed": [...]}``: the
    fleet's changes since the previous such message (responders never see others). A
    requester token is refused (close code 4403): it follows its incident over HTTP.

    Every lifecycle event carries an ``event_id`` (its place in the command log). To
    resume after a disconnect, reconnect with ``?since=<the last event_id seen>`` (or a
    ``Last-Event-ID`` header): the events after it come first, then the live ones, none
    twice. A cursor the server no longer holds (older than its last
    ``HISTORY`` events or its start, or unknown to the log) closes the socket with code
    4410: reload ``GET /v1/incidents`` and reconnect without ``since``. A malformed one
    closes it with 4422. Cursors outlive a restart only with a journal or a shared log.
    """
    state = websocket.app.state
    engine: DispatchEngine = state.engine
    hub: EventHub = state.hub
    try:
        auth = authorization_of(websocket.scope.get("headers", []))
    except DuplicateAuthorizationError as exc:
        await websocket.close(code=4400, reason=str(exc))
        return
    who = principal_for(state.tokens, auth, websocket.query_params.get("token", ""))
    if who is None:
        await websocket.close(code=4401, reason="missing or unknown token")
        return
    if who.is_requester:  # the stream carries responders and places: not a requester's
        reason = "a requester token follows its incident with GET /v1/incidents/{id}"
        await websocket.close(code=4403, reason=reason)
        return
    crs = websocket.query_params.get("crs", "wgs84")
    if crs not in CRS_NAMES:
        reason = f"unknown crs {crs!r}; allowed: {', '.join(CRS_NAMES)}"
        await websocket.close(code=4422, reason=reason)
        return
    since_text = websocket.query_params.get("since") or websocket.headers.get("last-event-id")
    since = None
    if since_text:
        since = parse_event_id(since_text)
        if since is None:
            reason = f"since must be an event_id such as '12-0', got {since_text[:40]!r}"
            await websocket.accept()  # so that the code reaches the client (not an HTTP 403)
            await websocket.close(code=4422, reason=reason)
            return
        try:  # a cursor from another process on the log: first read up to it
            await asyncio.to_thread(engine.refresh)
        except KayouDispatchError:
            await websocket.close(code=1013, reason="the lifecycle log does not answer; retry")
            return
    sub = hub.add(state.events_queue_size, dispatcher=who.is_dispatcher, since=since)
    if sub is None:
        reason = f"cannot resume from {since_text!r}; reload GET /v1/incidents, reconnect"
        await websocket.accept()
        await websocket.close(code=4410, reason=reason[:120])
        return
    mine: set[str] = set()
    await websocket.accept()

    async def drain() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    reader = asyncio.create_task(drain())
    try:
        for past in sub.backlog:
            message = _event_for(engine, who, past, mine)
            if message is not None:
                await websocket.send_json(from_wgs84(message, cast(CrsName, crs)))
        sub.backlog = []
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when="FIRST_COMPLETED")
            if reader in done:
                getter.cancel()
                return
            if sub.overflowed:
                await websocket.close(code=1013, reason="too far behind; reconnect")
                return
            event = getter.result()
            if event is None:
                continue
            if isinstance(event, dict):  # published to dispatchers: position changes
                # One dict for every listener: converted on a copy.
                shared = event if crs == "wgs84" else copy.deepcopy(event)
                await websocket.send_json(from_wgs84(shared, cast(CrsName, crs)))
                continue
            if not sub.wants(event):
                continue
            message = _event_for(engine, who, event, mine)
            if message is not None:
                await websocket.send_json(from_wgs84(message, cast(CrsName, crs)))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.remove(sub)
        reader.cancel()


def _event_for(
    engine: DispatchEngine, who: Principal, event: Event, mine: set[str]
) -> dict[str, Any] | None:
    """The message a client gets for an event, or ``None`` when it may not see it."""
    if who.is_dispatcher:
        return event_json(event)
    if who.responder_id is not None and event.responder_id == who.responder_id:
        message = event_json(event)
        if event.kind == EventKind.OFFER_MADE:
            mine.add(event.incident_id)
            try:
                inc = engine.incident(event.incident_id)
            except KayouDispatchError:
                return message
            message["incident"] = {
                "kind": inc.kind,
                "severity": inc.severity,
                "lat": inc.lat,
                "lng": inc.lng,
            }
        return message
    if event.responder_id is None and event.incident_id in mine and event.kind in _CLOSING_KINDS:
        return event_json(event)
    return None
