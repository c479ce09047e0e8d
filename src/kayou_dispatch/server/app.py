"""Serve a DispatchEngine over HTTP: the ``/v1`` JSON API, live events, auth and limits.

:func:`create_app` wraps one engine in a FastAPI app: the bearer gate, the error mapping,
the background loops, and the routers of :mod:`kayou_dispatch.server.routers` (one per
resource; an endpoint is one function there). It is thin: bodies are validated by
pydantic (:mod:`._models`), then passed to the engine, whose typed errors map to status
codes (:data:`ERROR_STATUS`). Checks run in this order, before any body is parsed: the
client address's rate limit (429), bearer token (401; two ``Authorization`` headers: 400),
the token's rate limit (429), body size (413); then the route's role rules (403), body
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
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
from kayou_dispatch.server._area import NetworkArea
from kayou_dispatch.server._auth import (
    DuplicateAuthorizationError,
    Principal,
    TokenBucket,
    authorization_of,
    load_tokens,
    principal_for,
)
from kayou_dispatch.server._batch import FixBatcher
from kayou_dispatch.server._deps import CodedHTTPException
from kayou_dispatch.server._events import EventHub, feed_positions
from kayou_dispatch.server._logs import AccessLog
from kayou_dispatch.server._metrics import Metrics
from kayou_dispatch.server._models import BodyTooDeepError, plain_position
from kayou_dispatch.server._openapi import document_errors
from kayou_dispatch.server._routing import include_routers
from kayou_dispatch.server.routers import ROUTERS
from kayou_dispatch.store import Fix

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

#: Seconds a client is told to wait after a 503 of the state store (a failover takes seconds).
_STORE_RETRY_AFTER_S = 2

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

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Scope = MutableMapping[str, Any]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status, headers=None)


def _too_many(bucket: TokenBucket, key: str, whose: str) -> JSONResponse:
    """429 with ``Retry-After``: the whole seconds until ``key`` may send again."""
    resp = _error(429, f"rate limit exceeded for {whose}; slow down", error="RateLimited")
    resp.headers["Retry-After"] = str(max(1, round(bucket.retry_after_s(key) + 0.5)))
    return resp


def _bucket(name: str, value: Any) -> TokenBucket | None:
    """A :class:`TokenBucket` for a ``(requests per second, burst)`` option (or ``None``)."""
    if value is None:
        return None
    if not (isinstance(value, tuple | list) and len(value) == 2):
        msg = f"{name} must be (requests per second, burst) or None, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    rate, burst = value
    if isinstance(rate, bool) or isinstance(burst, bool):
        msg = f"{name} must be numbers, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return TokenBucket(rate, burst)


_POSITION_PATH = re.compile(r"/v1/responders/([^/]{1,128})/position")
#: Records one fix; answers the position route's reply (see ``PositionOut``).
FixWriter = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


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
        ip_bucket: TokenBucket | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.bucket = bucket
        self.ip_bucket = ip_bucket
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
        if self.ip_bucket is not None:
            client = scope.get("client")
            address = str(client[0]) if client else ""
            if not self.ip_bucket.allow(address):
                await _too_many(self.ip_bucket, address, "this address")(scope, receive, send)
                return
        raw = scope.get("headers", [])
        headers = {k.lower(): v for k, v in raw}
        try:
            auth = authorization_of(raw)
        except DuplicateAuthorizationError as exc:
            await _error(400, str(exc), error=exc.code)(scope, receive, send)
            return
        principal = principal_for(self.tokens, auth)
        if principal is None:
            why = "missing bearer token" if not auth else "unknown or malformed bearer token"
            resp = _error(401, f"{why}: send 'Authorization: Bearer <token>'")
            resp.headers["WWW-Authenticate"] = "Bearer"
            await resp(scope, receive, send)
            return
        if self.bucket is not None and not self.bucket.allow(principal.token):
            await _too_many(self.bucket, principal.token, "this token")(scope, receive, send)
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
        # Only a plain update takes the fast path: a query (?crs=...) goes to the route.
        plain = scope["method"] == "PUT" and not scope.get("query_string")
        if self.write_fix is not None and plain:
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
                        reply = await self.write_fix(rid, fix)
                    except KayouDispatchError:
                        pass  # the route runs again and maps the error
                    else:
                        scope["kayou.route"] = "/v1/responders/{responder_id}/position"
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


def create_app(
    engine: DispatchEngine,
    *,
    auth: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    rate_limit: tuple[float, float] | None = DEFAULT_RATE_LIMIT,
    ip_rate_limit: tuple[float, float] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    tick_interval_s: float | None = 1.0,
    events_queue_size: int = 1000,
    positions_interval_s: float | None = 1.0,
    access_log: bool = False,
) -> FastAPI:
    """Build the HTTP app serving ``engine``.

    Parameters
    ----------
    engine
        The engine every request acts on (one per process).
    auth
        Tokens: ``{token: {"role": "dispatcher"}}`` / ``{"role": "responder",
        "responder_id": ...}`` / ``{"role": "requester", "requester_id": ...}``, a JSON
        file of that, or ``None`` for ``$KAYOU_TOKENS_FILE``.
    rate_limit
        Per-token ``(requests per second, burst)`` (``None``: no limit; over it: 429
        with ``Retry-After``).
    ip_rate_limit
        Per client address ``(requests per second, burst)`` over every ``/v1`` request,
        with a token or not (``None``: no limit; over it: 429). Behind a proxy every client
        has the proxy's address: limit there instead.
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
    access_log
        Log every HTTP request (logger ``kayou_dispatch.access``, level INFO): method,
        path without the query, route, status, time taken.

    Returns
    -------
    fastapi.FastAPI
        Endpoints under ``/v1``; no token: ``GET /healthz`` (liveness), ``GET /readyz``
        (the stores answer), ``GET /metrics`` (Prometheus), docs at ``/docs``, the
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
    bucket = _bucket("rate_limit", rate_limit)
    ip_bucket = _bucket("ip_rate_limit", ip_rate_limit)
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
    hub = EventHub(engine.subscribe, known_txn=lambda: engine.dispatcher.txn)
    metrics = Metrics(engine)
    batcher = FixBatcher(engine.store) if engine.store.shared else None
    # Other processes write too (positions in Redis, or a lifecycle log in PostgreSQL):
    # follow them, and let handlers wait on the stores in threads.
    shared = engine.store.shared or engine.shared_log is not None

    area = NetworkArea(engine.network)

    async def write_fix(responder_id: str, fix: dict[str, Any]) -> dict[str, Any]:
        plain = fix.get("capabilities") is None and engine.registration(responder_id) is None
        if batcher is not None and plain:
            # Shared state: one Redis write for all the fixes arriving meanwhile.
            applied = await batcher.submit(Fix(responder_id, **fix))
        else:  # capabilities (given or registered) are checked and written by the engine
            applied = engine.update_position(responder_id, **fix)
        reply: dict[str, Any] = {"responder_id": responder_id, "applied": applied}
        if applied and area.far(fix["lat"], fix["lng"]):
            reply["on_network"] = False  # stored, never ranked
        return reply

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if tick_interval_s is not None:
            tasks.append(asyncio.create_task(_tick_forever(engine, float(tick_interval_s))))
        stop = threading.Event()
        if shared:
            follow = asyncio.to_thread(_follow, engine, stop, metrics)
            tasks.append(asyncio.create_task(follow))
        if positions_interval_s is not None:
            feed = feed_positions(engine.snapshot, hub, float(positions_interval_s))
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
        docs_url=None,  # routers/docs.py serves them, without a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.tokens = tokens
    app.state.write_fix = write_fix
    app.state.area = area
    app.state.events_queue_size = events_queue_size
    app.state.geometry = []  # the console's network drawing, built once
    app.add_middleware(
        _Gate,
        tokens=tokens,
        bucket=bucket,
        max_body_bytes=max_body_bytes,
        write_fix=write_fix,
        ip_bucket=ip_bucket,
    )
    # Outermost: it sees the gate's answers (401, 429, the position fast path) too.
    app.add_middleware(AccessLog, log=access_log, hooks=(metrics.observe_request,))
    _add_error_handlers(app)
    include_routers(app, ROUTERS, offload=shared)
    document_errors(app)
    return app


async def _tick_forever(engine: DispatchEngine, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(engine.tick)
        except Exception:  # a failing tick must not stop the next ones
            _log.exception("engine.tick() failed")


def _follow(engine: DispatchEngine, stop: threading.Event, metrics: Metrics) -> None:
    """Apply other processes' commands as they arrive, so their events stream from here too."""
    while not stop.is_set():
        try:
            engine.refresh(wait_s=0.1)
        except Exception as exc:
            if isinstance(exc, SharedStateError):
                metrics.store_error(exc)  # whatever failed, the follower must live on (and say so)
            _log.exception("following the shared log failed; retrying")
            stop.wait(1.0)


def _add_error_handlers(app: FastAPI) -> None:
    async def library_error(request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))
        resp = _error(status, str(exc), error=type(exc).__name__)
        if isinstance(exc, SharedStateError):
            request.app.state.metrics.store_error(exc)
            # Nothing was acknowledged; a Redis failover or restart is over in seconds.
            resp.headers["Retry-After"] = str(_STORE_RETRY_AFTER_S)
        return resp

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

    async def coded_refusal(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CodedHTTPException)
        return _error(exc.status_code, str(exc.detail), error=exc.code)

    app.add_exception_handler(KayouDispatchError, library_error)
    app.add_exception_handler(CodedHTTPException, coded_refusal)
    app.add_exception_handler(RequestValidationError, invalid_body)
