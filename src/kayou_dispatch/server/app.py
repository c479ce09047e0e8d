"""Serve a DispatchEngine over HTTP: the ``/v1`` JSON API, live events, auth and limits.

:func:`create_app` wraps one engine in a FastAPI app. It is thin: bodies are validated by
pydantic (:mod:`._models`), then passed to the engine, whose typed errors map to status
codes (:data:`ERROR_STATUS`). Checks run in this order, before any body is parsed: bearer
token (401), rate limit (429), body size (413); then the route's role rules (403), body
validation (422), the engine (404/409/422).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.websockets import WebSocketDisconnect

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import (
    DuplicateIncidentError,
    InvalidCoordinateError,
    InvalidParameterError,
    InvalidTransitionError,
    KayouDispatchError,
    OffNetworkError,
    SharedStateError,
    UnknownIncidentError,
    UnknownResponderError,
)
from kayou_dispatch.lifecycle import Event, EventKind, Incident
from kayou_dispatch.server._auth import Principal, TokenBucket, load_tokens
from kayou_dispatch.server._batch import FixBatcher
from kayou_dispatch.server._console import add_console
from kayou_dispatch.server._events import EventHub, feed_positions
from kayou_dispatch.server._models import (
    AvailabilityIn,
    BodyTooDeepError,
    BulkPositionsIn,
    IncidentIn,
    PositionIn,
    candidate_json,
    event_json,
    incident_json,
    offer_json,
    plain_position,
)
from kayou_dispatch.server._routing import router

__all__ = [
    "create_app",
    "DEFAULT_RATE_LIMIT",
    "ERROR_STATUS",
    "MAX_BODY_BYTES",
]

_log = logging.getLogger(__name__)

#: Largest request body accepted, bytes (larger: 413).
MAX_BODY_BYTES = 1_000_000

#: Per-token ``(requests per second, burst)``: above the load targets of one process.
DEFAULT_RATE_LIMIT = (20_000.0, 40_000.0)

#: HTTP status for each library error (most specific first).
ERROR_STATUS: tuple[tuple[type[KayouDispatchError], int], ...] = (
    (UnknownIncidentError, 404),
    (UnknownResponderError, 404),
    (DuplicateIncidentError, 409),
    (InvalidTransitionError, 409),
    (SharedStateError, 503),
    (OffNetworkError, 422),
    (InvalidCoordinateError, 422),
    (InvalidParameterError, 422),
    (KayouDispatchError, 422),
)

_CLOSING_KINDS = frozenset(
    {EventKind.RESOLVED, EventKind.CANCELLED, EventKind.UNSERVED, EventKind.REOPENED}
)

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Scope = MutableMapping[str, Any]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status, headers=None)


_POSITION_PATH = re.compile(r"/v1/responders/([^/]{1,128})/position")
FixWriter = Callable[[str, dict[str, float | None]], Awaitable[bool]]


class _Gate:
    """ASGI middleware: bearer token, rate limit and body size for ``/v1`` HTTP requests.

    Runs before FastAPI reads the body, so an anonymous or oversized request is refused
    without parsing it. The whole body (at most ``max_body_bytes``, counted as it streams,
    whatever Content-Length said) is buffered and replayed to the app.

    A phone's plain position update -- most of a dispatch server's traffic -- is answered
    here (``write_fix``), skipping routing, dependency injection and pydantic; anything
    unusual about it (a body the fast reader declines, another responder's id, an engine
    error) goes on to the full route, which answers as for any request.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        tokens: Mapping[str, Principal],
        bucket: TokenBucket | None,
        max_body_bytes: int,
        write_fix: FixWriter | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.bucket = bucket
        self.max_body_bytes = max_body_bytes
        self.write_fix = write_fix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):  # mounted inside a host's app
            path = path[len(root) :]
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = auth.partition(" ")
        principal = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            why = "missing bearer token" if not auth else "unknown or malformed bearer token"
            resp = _error(401, f"{why}: send 'Authorization: Bearer <token>'")
            resp.headers["WWW-Authenticate"] = "Bearer"
            await resp(scope, receive, send)
            return
        if self.bucket is not None and not self.bucket.allow(principal.token):
            wait = self.bucket.retry_after_s(principal.token)
            resp = _error(429, "rate limit exceeded for this token; slow down")
            resp.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
            await resp(scope, receive, send)
            return
        length = headers.get(b"content-length")
        too_big = _error(413, f"request body over {self.max_body_bytes} bytes")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                n = -1
            if n < 0:
                await _error(400, "bad Content-Length header")(scope, receive, send)
                return
            if n > self.max_body_bytes:
                await too_big(scope, receive, send)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_body_bytes:
                await too_big(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        if self.write_fix is not None and scope["method"] == "PUT":
            target = _POSITION_PATH.fullmatch(path)
            rid = target.group(1) if target else None
            if rid and (principal.is_dispatcher or principal.responder_id == rid):
                try:
                    fix = plain_position(b"".join(chunks))
                except BodyTooDeepError:
                    await _error(422, "request body is nested too deeply")(scope, receive, send)
                    return
                if fix is not None:
                    try:
                        applied = await self.write_fix(rid, fix)
                    except KayouDispatchError:
                        pass  # the route runs again and maps the error
                    else:
                        reply = {"responder_id": rid, "applied": applied}
                        await JSONResponse(reply)(scope, receive, send)
                        return
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, replay, send)


_bearer = HTTPBearer(auto_error=False, description="A token from the token file")


def _principal(
    request: Request,
    _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # pragma: no cover - the gate sets it for every /v1 request
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return principal


Who = Annotated[Principal, Depends(_principal)]
ResponderId = Annotated[str, Path(min_length=1, max_length=128)]
IncidentId = Annotated[str, Path(min_length=1, max_length=128)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="a retry with the same key applies the command once",
    ),
]


def _dispatcher_only(who: Principal) -> None:
    if not who.is_dispatcher:
        raise HTTPException(403, "this needs a dispatcher token")


def _self_or_dispatcher(who: Principal, responder_id: str) -> None:
    if not who.is_dispatcher and who.responder_id != responder_id:
        raise HTTPException(403, "a responder token may act only for its own responder")


def _seen_by(inc: Incident, responder_id: str) -> bool:
    """Whether an incident was ever offered to a responder (so it may see where it is)."""
    return (
        any(o.responder_id == responder_id for o in inc.offers)
        or responder_id in inc.assigned
        or responder_id in inc.declined
        or responder_id in inc.expired
    )


def _view(inc: Incident, who: Principal) -> dict[str, Any]:
    return incident_json(inc, viewer=None if who.is_dispatcher else who.responder_id)


def create_app(
    engine: DispatchEngine,
    *,
    auth: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    rate_limit: tuple[float, float] | None = DEFAULT_RATE_LIMIT,
    max_body_bytes: int = MAX_BODY_BYTES,
    tick_interval_s: float | None = 1.0,
    events_queue_size: int = 1000,
    positions_interval_s: float | None = 1.0,
) -> FastAPI:
    """Build the HTTP app serving ``engine``.

    Parameters
    ----------
    engine
        The engine every request acts on (one per process).
    auth
        Tokens: ``{token: {"role": "dispatcher"}}`` / ``{"role": "responder",
        "responder_id": ...}``, a JSON file of that, or ``None`` for ``$KAYOU_TOKENS_FILE``.
    rate_limit
        Per-token ``(requests per second, burst)`` (``None``: no limit; over it: 429).
    max_body_bytes
        Largest request body (over it: 413).
    tick_interval_s
        While the app runs (its lifespan), call ``engine.tick()`` this often so offers
        expire and cascade; ``None``: the host ticks.
    events_queue_size
        Events a live client may fall behind before it is disconnected.
    positions_interval_s
        While dispatchers follow ``/v1/events``, send them the fleet's position and status
        changes this often (``{"kind": "positions", ...}`` messages); ``None``: never.

    Returns
    -------
    fastapi.FastAPI
        Endpoints under ``/v1``, ``GET /healthz`` (no token), docs at ``/docs``, the
        dispatcher console at ``/console?token=...``.

    Raises
    ------
    InvalidParameterError
        For bad tokens or options.
    """
    if not isinstance(engine, DispatchEngine):
        msg = f"engine must be a DispatchEngine, got {type(engine).__name__}"
        raise InvalidParameterError(msg, name="engine", value=engine)
    tokens = load_tokens(auth)
    bucket = None if rate_limit is None else TokenBucket(*rate_limit)
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1
    ):
        msg = f"max_body_bytes must be an int >= 1, got {max_body_bytes!r}"
        raise InvalidParameterError(msg, name="max_body_bytes", value=max_body_bytes)
    for name, value in (
        ("tick_interval_s", tick_interval_s),
        ("positions_interval_s", positions_interval_s),
    ):
        if value is not None and not (isinstance(value, int | float) and 0 < value < 3600):
            msg = f"{name} must be in (0, 3600) seconds or None, got {value!r}"
            raise InvalidParameterError(msg, name=name, value=value)
    hub = EventHub(engine.subscribe)
    batcher = None if engine.shared is None else FixBatcher(engine)

    async def write_fix(responder_id: str, fix: dict[str, Any]) -> bool:
        if batcher is None:
            return engine.update_position(responder_id, **fix)
        # Shared state: one Redis write for all the fixes arriving meanwhile.
        return await batcher.submit(responder_id, **fix)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if tick_interval_s is not None:
            tasks.append(asyncio.create_task(_tick_forever(engine, float(tick_interval_s))))
        stop = threading.Event()
        if engine.shared_log is not None:
            tasks.append(asyncio.create_task(asyncio.to_thread(_follow, engine, stop)))
        if positions_interval_s is not None:
            feed = feed_positions(engine.index, hub, float(positions_interval_s))
            tasks.append(asyncio.create_task(feed))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="kayou_dispatch",
        version="1",
        summary="Who goes when a truck driver is in trouble: positions, incidents, offers.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.hub = hub
    app.state.tokens = tokens
    app.add_middleware(
        _Gate,
        tokens=tokens,
        bucket=bucket,
        max_body_bytes=max_body_bytes,
        write_fix=write_fix,
    )
    _add_error_handlers(app)
    _add_routes(app, engine, write_fix)
    _add_events(app, engine, hub, tokens, events_queue_size)
    add_console(app, engine, tokens)
    return app


async def _tick_forever(engine: DispatchEngine, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(engine.tick)
        except Exception:  # a failing tick must not stop the next ones
            _log.exception("engine.tick() failed")


def _follow(engine: DispatchEngine, stop: threading.Event) -> None:
    """Apply other processes' commands as they arrive, so their events stream from here too."""
    while not stop.is_set():
        try:
            engine.refresh(wait_s=0.1)
        except Exception:  # whatever failed, the follower must live on (and say so)
            _log.exception("following the shared log failed; retrying")
            stop.wait(1.0)


def _add_error_handlers(app: FastAPI) -> None:
    async def library_error(_request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))
        return _error(status, str(exc), error=type(exc).__name__)

    async def invalid_body(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        message = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:10])
        return _error(422, message or "invalid request", errors=errors[:50])

    app.add_exception_handler(KayouDispatchError, library_error)
    app.add_exception_handler(RequestValidationError, invalid_body)


def _add_routes(app: FastAPI, engine: DispatchEngine, write_fix: FixWriter) -> None:
    route = router(app, engine)

    @route("GET", "/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        """Liveness: no token needed."""
        return {"status": "ok", "responders": len(engine)}

    # --- responders -----------------------------------------------------------------------

    @app.put("/v1/responders/{responder_id}/position", tags=["responders"])
    async def put_position(responder_id: ResponderId, body: PositionIn, who: Who) -> dict[str, Any]:
        """Record one phone's fix (a responder token: its own only)."""
        _self_or_dispatcher(who, responder_id)
        applied = await write_fix(responder_id, body.model_dump())
        return {"responder_id": responder_id, "applied": applied}

    @route("POST", "/v1/positions", tags=["responders"])
    def post_positions(body: BulkPositionsIn, who: Who) -> dict[str, Any]:
        """Record a gateway's batch of fixes (all or none; a responder: its own rows only)."""
        rows = body.positions
        if not who.is_dispatcher and any(r.id != who.responder_id for r in rows):
            raise HTTPException(403, "a responder token may send only its own positions")
        if not rows:
            return {"received": 0, "applied": 0}
        ids = [r.id for r in rows]
        lats = np.fromiter((r.lat for r in rows), np.float64, len(rows))
        lngs = np.fromiter((r.lng for r in rows), np.float64, len(rows))
        ts: Any = None
        if any(r.ts is not None for r in rows):
            now = float(engine.clock())
            ts = np.fromiter((now if r.ts is None else r.ts for r in rows), np.float64, len(rows))
        applied = engine.update_positions(ids, lats, lngs, ts=ts)
        return {"received": len(rows), "applied": applied}

    @route("GET", "/v1/responders/{responder_id}", tags=["responders"])
    def get_responder(responder_id: ResponderId, who: Who) -> dict[str, Any]:
        """A responder's last fix, status and capabilities (a responder token: its own)."""
        _self_or_dispatcher(who, responder_id)
        r = engine.responder(responder_id)
        return {
            "responder_id": r.responder_id,
            "lat": r.lat,
            "lng": r.lng,
            "ts": r.ts,
            "status": r.status.value,
            "heading": r.heading,
            "speed_kph": r.speed_kph,
            "capabilities": sorted(r.capabilities),
            "fresh": r.fresh,
            "incident_id": engine.dispatcher.engagement(responder_id),
        }

    @route("PUT", "/v1/responders/{responder_id}/availability", tags=["responders"])
    def put_availability(
        responder_id: ResponderId, body: AvailabilityIn, who: Who
    ) -> dict[str, Any]:
        """Go on duty (``available``) or off (``offline``); replace capabilities."""
        _self_or_dispatcher(who, responder_id)
        engine.get(responder_id)  # 404 before anything changes
        if body.capabilities is not None:
            engine.set_capabilities(responder_id, body.capabilities)
        if body.status is not None:
            if engine.dispatcher.engagement(responder_id) is not None:
                msg = (
                    f"responder {responder_id!r} is engaged on an incident; decline the "
                    "offer or finish the incident before changing availability"
                )
                raise HTTPException(409, msg)
            engine.set_status(responder_id, body.status)
        r = engine.get(responder_id)
        return {
            "responder_id": responder_id,
            "status": r.status.value,
            "capabilities": sorted(r.capabilities),
        }

    # --- ranking --------------------------------------------------------------------------

    @route("GET", "/v1/rank", tags=["ranking"])
    def get_rank(
        who: Who,
        lat: Annotated[float, Query(ge=-90.0, le=90.0, allow_inf_nan=False)],
        lng: Annotated[float, Query(ge=-180.0, le=180.0, allow_inf_nan=False)],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        needs: Annotated[list[str] | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        """The ``k`` responders with the smallest road ETA (dispatcher only)."""
        _dispatcher_only(who)
        wanted = sorted({n.strip() for v in needs or () for n in v.split(",") if n.strip()})
        found = engine.rank(lat, lng, k=k, needs=wanted)
        return {"candidates": [candidate_json(c) for c in found]}

    # --- incidents ------------------------------------------------------------------------

    def visible(incident_id: str, who: Principal) -> Incident:
        inc = engine.incident(incident_id)
        if who.is_dispatcher or (who.responder_id and _seen_by(inc, who.responder_id)):
            return inc
        # Not offered to this responder: as if it did not exist (its location is private).
        raise HTTPException(404, f"no incident with id {incident_id!r}")

    @route("POST", "/v1/incidents", status_code=201, tags=["incidents"])
    def post_incident(
        body: IncidentIn, who: Who, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        """Report an incident (dispatcher only); ``dispatch: true`` also makes offers."""
        _dispatcher_only(who)
        inc = engine.report_incident(
            body.incident_id,
            body.lat,
            body.lng,
            kind=body.kind,
            severity=body.severity,
            needs=body.needs,
            units=body.units,
            request_id=idempotency_key,
            dispatch=body.dispatch,
        )
        return incident_json(inc)

    @route("GET", "/v1/incidents", tags=["incidents"])
    def list_incidents(who: Who) -> dict[str, Any]:
        """Open incidents, most urgent first (dispatcher only)."""
        _dispatcher_only(who)
        return {"incidents": [incident_json(i) for i in engine.open_incidents()]}

    @route("GET", "/v1/incidents/{incident_id}", tags=["incidents"])
    def get_incident(incident_id: IncidentId, who: Who) -> dict[str, Any]:
        """One incident; a responder sees it only once it was offered to it."""
        return _view(visible(incident_id, who), who)

    @route("POST", "/v1/incidents/{incident_id}/dispatch", tags=["incidents"])
    def post_dispatch(incident_id: IncidentId, who: Who) -> dict[str, Any]:
        """Offer the missing units to the best candidates (dispatcher only)."""
        _dispatcher_only(who)
        offers = engine.dispatch(incident_id)
        return {
            "offers": [offer_json(o) for o in offers],
            "incident": incident_json(engine.incident(incident_id)),
        }

    @route("POST", "/v1/incidents/{incident_id}/cancel", tags=["incidents"])
    def post_cancel(
        incident_id: IncidentId, who: Who, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        """Cancel an incident and release its responders (dispatcher only)."""
        _dispatcher_only(who)
        return incident_json(engine.cancel(incident_id, request_id=idempotency_key))

    @route("POST", "/v1/incidents/{incident_id}/resolve", tags=["incidents"])
    def post_resolve(
        incident_id: IncidentId, who: Who, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        """Close an incident as resolved (dispatcher only)."""
        _dispatcher_only(who)
        return incident_json(engine.resolve(incident_id, request_id=idempotency_key))

    def answer(name: str, doc: str) -> None:
        command = getattr(engine, name)

        def endpoint(
            incident_id: IncidentId,
            responder_id: ResponderId,
            who: Who,
            idempotency_key: IdempotencyKey = None,
        ) -> dict[str, Any]:
            _self_or_dispatcher(who, responder_id)
            visible(incident_id, who)
            inc = command(incident_id, responder_id, request_id=idempotency_key)
            return _view(inc, who)

        endpoint.__doc__ = doc
        route(
            "POST",
            f"/v1/incidents/{{incident_id}}/offers/{{responder_id}}/{name}",
            tags=["offers"],
            name=f"offer_{name}",
        )(endpoint)

    answer("accept", "Accept an outstanding offer (a responder token: its own offer).")
    answer("decline", "Decline an offer; the next candidate is offered at once.")
    answer("depart", "An assigned responder sets off (EN_ROUTE).")
    answer("arrive", "An assigned responder is on scene.")


def _add_events(
    app: FastAPI,
    engine: DispatchEngine,
    hub: EventHub,
    tokens: Mapping[str, Principal],
    queue_size: int,
) -> None:
    @app.websocket("/v1/events")
    async def events(websocket: WebSocket) -> None:
        """Live lifecycle events: everything for a dispatcher, its own offers for a responder.

        Authenticate with ``Authorization: Bearer <token>`` or ``?token=<token>`` (browsers
        cannot set headers on a WebSocket). Each message is one event as JSON; an
        ``offer_made`` to a responder carries the incident's place and kind. Dispatchers
        also get ``{"kind": "positions", "responders": [...], "removed": [...]}``: the
        fleet's changes since the previous such message (responders never see others).
        """
        auth = websocket.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or websocket.query_params.get("token", "")
        who = tokens.get(token)
        if who is None:
            await websocket.close(code=4401, reason="missing or unknown token")
            return
        sub = hub.add(queue_size, dispatcher=who.is_dispatcher)
        mine: set[str] = set()
        await websocket.accept()

        async def drain() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        reader = asyncio.create_task(drain())
        try:
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
                    await websocket.send_json(event)
                    continue
                message = _event_for(engine, who, event, mine)
                if message is not None:
                    await websocket.send_json(message)
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
    if event.responder_id == who.responder_id:
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
