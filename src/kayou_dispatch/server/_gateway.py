"""Route the ``/v1`` API to the shards that own each request: ``kayou-dispatch gateway``.

The gateway holds no dispatch state. It checks the bearer token (the same token file as the
shards), then forwards each request over HTTP (httpx) to the shard that owns it:

- a fix (``PUT /v1/responders/{id}/position``) to every shard :meth:`ShardMap.notified`
  names: the owner of its cell (whose answer is returned), the shards whose reach holds it,
  and those it just left (they forget it); a bulk ``POST /v1/positions`` split the same way;
- ``GET /v1/rank`` and ``GET /v1/route`` to the owner of the place;
- ``POST /v1/incidents`` to the owner of the incident's cell, and every later
  ``/v1/incidents/{id}/...`` to the same shard (the incident's place is asked once);
- a responder's registration and availability to every shard (it may sit in several
  reaches), its ``GET`` to the shard owning its last fix;
- anything else (``GET /v1/incidents``, docs) to the first shard that answers: the lifecycle
  is one national log, every shard holds every incident;
- the ``/v1/events`` WebSocket to every shard, merged into one stream
  (:mod:`kayou_dispatch.server._gateway_events`).

A shard that does not answer within the time-out makes the gateway answer 503 with
``Retry-After`` for the requests it owns; never a 500 or a hang.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from kayou_dispatch.server._auth import (
    DuplicateAuthorizationError,
    Principal,
    authorization_of,
    principal_for,
)
from kayou_dispatch.server._crs import to_wgs84
from kayou_dispatch.server._gateway_events import EventsRelay
from kayou_dispatch.shared.shards import Shard, ShardMap

__all__ = ["create_gateway"]

#: Seconds a client is told to wait when a shard is down.
RETRY_AFTER_S = 2
_FORWARDED = ("authorization", "content-type", "idempotency-key", "accept")


def _error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": message, "error": code}, status_code=status, headers=headers)


def _down(shard: Shard) -> JSONResponse:
    msg = f"shard {shard.name!r} does not answer; retry in {RETRY_AFTER_S} s"
    return _error(503, msg, "ShardUnavailable", **{"Retry-After": str(RETRY_AFTER_S)})


class _ShardDown(Exception):
    def __init__(self, shard: Shard) -> None:
        super().__init__(shard.name)
        self.shard = shard


def _point(lat: Any, lng: Any, crs: str) -> tuple[float, float] | None:
    """A routable WGS-84 point, or ``None`` (the shard then answers the validation error)."""
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lng))
    if not ok or not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    try:
        return to_wgs84(float(lat), float(lng), crs)  # type: ignore[arg-type]
    except Exception:
        return None


class _Gateway:
    def __init__(
        self, shard_map: ShardMap, tokens: Mapping[str, Principal], *, timeout_s: float
    ) -> None:
        self.map = shard_map
        self.tokens = tokens
        self.timeout = httpx.Timeout(timeout_s, connect=min(1.0, timeout_s))
        self.client: httpx.AsyncClient | None = None
        self.incidents: dict[str, Shard] = {}

    # --- plumbing ---------------------------------------------------------------------

    async def send(
        self,
        shard: Shard,
        request: Request,
        *,
        path: str | None = None,
        body: bytes | None = None,
        method: str | None = None,
    ) -> httpx.Response:
        assert self.client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            return await self.client.request(
                method or request.method,
                shard.url + (path or request.url.path),
                params=list(request.query_params.multi_items()),
                content=body if body is not None else await request.body(),
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            raise _ShardDown(shard) from exc

    @staticmethod
    def reply(resp: httpx.Response) -> Response:
        headers = {k: v for k, v in resp.headers.items() if k.lower() in ("retry-after",)}
        return Response(
            resp.content,
            status_code=resp.status_code,
            headers=headers,
            media_type=resp.headers.get("content-type"),
        )

    async def first_up(self, request: Request, **kw: Any) -> httpx.Response:
        last: _ShardDown | None = None
        for shard in self.map.shards:
            try:
                return await self.send(shard, request, **kw)
            except _ShardDown as exc:
                last = exc
        assert last is not None
        raise last

    async def everywhere(
        self, request: Request, body: bytes | None = None
    ) -> list[httpx.Response | _ShardDown]:
        async def one(s: Shard) -> httpx.Response | _ShardDown:
            try:
                return await self.send(s, request, body=body)
            except _ShardDown as exc:
                return exc

        return list(await asyncio.gather(*(one(s) for s in self.map.shards)))

    def outside(self, lat: float, lng: float) -> JSONResponse:
        msg = f"({lat}, {lng}) lies in no shard of the shard map"
        return _error(422, msg, "OutsideShardMap")

    # --- routes -----------------------------------------------------------------------

    async def position(self, request: Request) -> Response:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        crs = request.query_params.get("crs", "wgs84")
        point = _point(data.get("lat"), data.get("lng"), crs) if isinstance(data, dict) else None
        if point is None:
            return self.reply(await self.first_up(request))
        shards = self.map.notified(*point)
        if self.map.owner(*point) is None:
            # Outside the map: the shards it may have left forget it; nobody stores it.
            await asyncio.gather(
                *(self.send(s, request, body=raw) for s in shards), return_exceptions=True
            )
            return self.outside(*point)
        results = await asyncio.gather(
            *(self.send(s, request, body=raw) for s in shards), return_exceptions=True
        )
        owner = results[0]
        if isinstance(owner, _ShardDown):
            return _down(owner.shard)
        if isinstance(owner, BaseException):
            raise owner
        return self.reply(owner)

    async def positions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        rows = data.get("positions") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            return self.reply(await self.first_up(request))
        crs = request.query_params.get("crs", "wgs84")
        owned: dict[int, list[Any]] = {}
        halo: dict[int, list[Any]] = {}
        outside: set[str] = set()
        index = {s.name: i for i, s in enumerate(self.map.shards)}
        for row in rows:
            point = _point(row.get("lat"), row.get("lng"), crs) if isinstance(row, dict) else None
            if point is None:  # the shard refuses the batch, all or none, with its reasons
                return self.reply(await self.first_up(request))
            shards = self.map.notified(*point)
            if self.map.owner(*point) is None:
                # Outside the map: never ranked (reported as off the network); the
                # shards it may have left forget it.
                outside.add(str(row.get("id")))
                others = shards
            else:
                owned.setdefault(index[shards[0].name], []).append(row)
                others = shards[1:]
            for s in others:
                halo.setdefault(index[s.name], []).append(row)

        async def bulk(i: int, part: list[Any]) -> httpx.Response:
            body = json.dumps({"positions": part}).encode()
            return await self.send(self.map.shards[i], request, body=body)

        jobs = [bulk(i, part) for i, part in owned.items()]
        jobs += [bulk(i, part) for i, part in halo.items()]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        applied = 0
        far: set[str] = set(outside)
        for res in results[: len(owned)]:
            if isinstance(res, _ShardDown):
                return _down(res.shard)
            if isinstance(res, BaseException):
                raise res
            if res.status_code != 200:
                return self.reply(res)
            out = res.json()
            applied += int(out.get("applied", 0))
            far.update(out.get("off_network", ()))
        reply: dict[str, Any] = {"received": len(rows), "applied": applied}
        if far:
            reply["off_network"] = sorted(far)
        return JSONResponse(reply)

    async def by_place(self, request: Request, lat_key: str, lng_key: str) -> Response:
        q = request.query_params
        try:
            lat, lng = float(q[lat_key]), float(q[lng_key])
        except (KeyError, ValueError):
            return self.reply(await self.first_up(request))
        point = _point(lat, lng, q.get("crs", "wgs84"))
        if point is None:
            return self.reply(await self.first_up(request))
        shard = self.map.owner(*point)
        if shard is None:
            return self.outside(*point)
        return self.reply(await self.send(shard, request))

    async def rank(self, request: Request) -> Response:
        return await self.by_place(request, "lat", "lng")

    async def route(self, request: Request) -> Response:
        return await self.by_place(request, "from_lat", "from_lng")

    async def report(self, request: Request) -> Response:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        point = None
        if isinstance(data, dict):
            point = _point(
                data.get("lat"), data.get("lng"), request.query_params.get("crs", "wgs84")
            )
        if point is None:
            return self.reply(await self.first_up(request))
        shard = self.map.owner(*point)
        if shard is None:
            return self.outside(*point)
        resp = await self.send(shard, request, body=raw)
        if resp.status_code in (200, 201) and isinstance(data.get("incident_id"), str):
            self.incidents[data["incident_id"]] = shard
        return self.reply(resp)

    async def incident(self, request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        shard = self.incidents.get(incident_id)
        if shard is None:
            found = await self.first_up(request, path=f"/v1/incidents/{incident_id}", method="GET")
            if found.status_code != 200:
                return self.reply(found)
            view = found.json()
            inc = view.get("incident", view)
            shard = self.map.owner(float(inc["lat"]), float(inc["lng"]))
            if shard is None:  # pragma: no cover - it was reported through a shard
                shard = self.map.shards[0]
            self.incidents[incident_id] = shard
        return self.reply(await self.send(shard, request))

    async def responder(self, request: Request) -> Response:
        """A responder's state: the shard owning its last fix answers (else any that has it)."""
        results = await self.everywhere(request)
        best: httpx.Response | None = None
        for shard, res in zip(self.map.shards, results, strict=True):
            if isinstance(res, _ShardDown):
                continue
            if res.status_code == 200:
                body = res.json()
                owner = self.map.owner(float(body["lat"]), float(body["lng"]))
                if owner is not None and owner.name == shard.name:
                    return self.reply(res)
                best = best or res
            elif best is None or best.status_code != 200:
                best = best or res
        if best is None:
            return _down(self.map.shards[0])
        return self.reply(best)

    async def broadcast(self, request: Request) -> Response:
        """Registration and availability: every shard that may hold the responder."""
        raw = await request.body()
        results = await self.everywhere(request, body=raw)
        answers = [r for r in results if isinstance(r, httpx.Response)]
        if not answers:
            first = results[0]
            assert isinstance(first, _ShardDown)
            return _down(first.shard)
        ok = [r for r in answers if r.status_code == 200]
        return self.reply(ok[0] if ok else answers[0])

    async def fleet(self, request: Request) -> Response:
        results = await self.everywhere(request)
        rows: dict[str, Any] = {}
        now = 0.0
        for shard, res in zip(self.map.shards, results, strict=True):
            if isinstance(res, _ShardDown):
                return _down(res.shard)
            if res.status_code != 200:
                return self.reply(res)
            body = res.json()
            now = max(now, float(body.get("now", 0.0)))
            for row in body["responders"]:
                owner = self.map.owner(float(row["lat"]), float(row["lng"]))
                if owner is not None and owner.name == shard.name:
                    rows[row["responder_id"]] = row
        return JSONResponse({"now": now, "responders": [rows[k] for k in sorted(rows)]})

    async def ready(self, request: Request) -> Response:
        results = await self.everywhere(request)
        shards = {
            s.name: (r.status_code == 200 if isinstance(r, httpx.Response) else False)
            for s, r in zip(self.map.shards, results, strict=True)
        }
        status = 200 if all(shards.values()) else 503
        return JSONResponse({"ready": status == 200, "shards": shards}, status_code=status)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def other(self, request: Request) -> Response:
        return self.reply(await self.first_up(request))


def create_gateway(
    shard_map: ShardMap, tokens: Mapping[str, Principal], *, timeout_s: float = 5.0
) -> Starlette:
    """Build the gateway's ASGI app: the ``/v1`` API of ``serve``, routed to the shards.

    Parameters
    ----------
    shard_map
        Which shard owns which cell and where it serves.
    tokens
        The token file's principals (the shards use the same file).
    timeout_s
        How long a shard may take to answer before the request gets 503.
    """
    gw = _Gateway(shard_map, tokens, timeout_s=timeout_s)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits) as client:
            gw.client = client
            yield
        gw.client = None

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            if request.url.path.startswith("/v1/"):
                try:
                    auth = authorization_of(request.scope["headers"])
                except DuplicateAuthorizationError as exc:
                    return _error(400, str(exc), exc.code)
                token = request.query_params.get("token", "")
                if principal_for(tokens, auth, token) is None:
                    return JSONResponse(
                        {"detail": "missing or unknown bearer token"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
            try:
                response: Response = await handler(request)
            except _ShardDown as exc:
                return _down(exc.shard)
            return response

        return run

    offer = "/v1/incidents/{incident_id}/{rest:path}"
    routes = [
        Route("/healthz", guarded(gw.health), methods=["GET"]),
        Route("/readyz", guarded(gw.ready), methods=["GET"]),
        Route("/v1/responders/{rid}/position", guarded(gw.position), methods=["PUT"]),
        Route("/v1/positions", guarded(gw.positions), methods=["POST"]),
        Route("/v1/rank", guarded(gw.rank), methods=["GET"]),
        Route("/v1/route", guarded(gw.route), methods=["GET"]),
        Route("/v1/incidents", guarded(gw.report), methods=["POST"]),
        Route("/v1/incidents/{incident_id}", guarded(gw.incident), methods=["GET"]),
        Route(offer, guarded(gw.incident), methods=["GET", "POST"]),
        Route("/v1/responders", guarded(gw.fleet), methods=["GET"]),
        Route("/v1/responders/{rid}", guarded(gw.responder), methods=["GET"]),
        Route("/v1/responders/{rid}", guarded(gw.broadcast), methods=["PUT"]),
        Route("/v1/responders/{rid}/availability", guarded(gw.broadcast), methods=["PUT"]),
        Route("/{rest:path}", guarded(gw.other), methods=["GET", "POST", "PUT", "DELETE"]),
        WebSocketRoute("/v1/events", EventsRelay(shard_map, tokens, timeout_s=timeout_s).handle),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gw
    return app
