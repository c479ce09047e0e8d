"""Serve the dispatcher console: the ``/console`` page and the ``/v1`` reads it draws from.

:func:`add_console` adds to an app made by :func:`~kayou_dispatch.server.create_app`:

- ``GET /console?token=...``: the page (a dispatcher token; missing/unknown: 401, a
  responder's: 403). A browser cannot set headers on a navigation, hence the query token;
  the page sends it back as ``Authorization: Bearer`` and on the WebSocket, and is served
  with ``Referrer-Policy: no-referrer`` so the address never leaks to another origin.
- ``GET /console/static/{name}``: its script and style (no data, no token).
- ``GET /v1/network/geometry``, ``GET /v1/responders``, ``GET /v1/route`` and
  ``POST /v1/incidents/{id}/offers/{responder_id}`` (dispatcher only, behind the same
  bearer gate as the rest of ``/v1``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.server._auth import Principal
from kayou_dispatch.server._models import incident_json, offer_json
from kayou_dispatch.server._routing import router
from kayou_dispatch.web import ASSETS, asset_bytes, asset_text, network_geometry

__all__ = ["add_console", "CONSOLE_HEADERS"]

#: Headers of the console page: no caching (it embeds nothing secret, but the address
#: holds the token), no referrer, scripts and connections from this origin only.
CONSOLE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}

_STATIC = sorted(n for n in ASSETS if n.endswith((".js", ".css")))
_Id = Annotated[str, Path(min_length=1, max_length=128)]
_Lat = Annotated[float, Query(ge=-90.0, le=90.0, allow_inf_nan=False)]
_Lng = Annotated[float, Query(ge=-180.0, le=180.0, allow_inf_nan=False)]


def _dispatcher(request: Request) -> Principal:
    """The request's principal (set by the bearer gate), which must be a dispatcher."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:  # pragma: no cover - the gate answers 401 for every /v1 request first
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not who.is_dispatcher:
        raise HTTPException(403, "this needs a dispatcher token")
    return who


def _page_error(status: int, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>kayou-dispatch console</title>"
        f"<h1>{status}</h1><p>{message}</p>"
    )
    headers = dict(CONSOLE_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return HTMLResponse(body, status_code=status, headers=headers)


def add_console(app: FastAPI, engine: DispatchEngine, tokens: Mapping[str, Principal]) -> None:
    """Add the dispatcher console page and its ``/v1`` endpoints to ``app``.

    Parameters
    ----------
    app
        An app from :func:`~kayou_dispatch.server.create_app` (its bearer gate guards
        ``/v1``).
    engine
        The engine the app serves.
    tokens
        The app's tokens: the page checks the ``token`` query parameter against them.
    """
    geometry_cache: list[bytes] = []

    @app.get("/console", include_in_schema=False)
    async def console_page(request: Request) -> Response:
        token = request.query_params.get("token", "")
        auth = request.headers.get("authorization", "")
        scheme, _, bearer = auth.partition(" ")
        if not token and scheme.lower() == "bearer":
            token = bearer.strip()
        who = tokens.get(token) if token else None
        if who is None:
            why = "missing token" if not token else "unknown token"
            return _page_error(401, f"{why}: open /console?token=&lt;a dispatcher token&gt;")
        if not who.is_dispatcher:
            return _page_error(403, "the console needs a dispatcher token")
        return HTMLResponse(asset_text("console.html"), headers=CONSOLE_HEADERS)

    @app.get("/console/static/{name}", include_in_schema=False)
    async def console_static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, f"no console file {name!r}")
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(asset_bytes(name), media_type=ASSETS[name], headers=headers)

    @app.get("/v1/network/geometry", tags=["console"])
    async def get_geometry(request: Request) -> Response:
        """The road network as simplified polylines for drawing (dispatcher only).

        Integer ``coords`` pairs ``(dlat, dlng)`` in ``1/scale`` degrees from ``origin``;
        line ``i`` is points ``offsets[i]:offsets[i + 1]``; twin directions drawn once.
        """
        _dispatcher(request)
        if not geometry_cache:
            data = network_geometry(engine.network)
            geometry_cache.append(json.dumps(data, separators=(",", ":")).encode())
        return Response(geometry_cache[0], media_type="application/json")

    route = router(app, engine)

    @route("GET", "/v1/responders", tags=["console"])
    def list_responders(request: Request) -> dict[str, Any]:
        """Every responder's last fix, status and engagement (dispatcher only), by id."""
        _dispatcher(request)
        engine.refresh()  # once: what other processes wrote (shared state)
        engine.dispatcher.sync_statuses()
        busy = engine.dispatcher.engagements()
        rows = []
        for rid in sorted(engine.index):
            try:
                r = engine.index.get(rid)
            except KeyError:  # removed meanwhile
                continue
            rows.append(
                {
                    "responder_id": rid,
                    "lat": r.lat,
                    "lng": r.lng,
                    "ts": r.ts,
                    "status": r.status.value,
                    "fresh": r.fresh,
                    "capabilities": sorted(r.capabilities),
                    "incident_id": busy.get(rid),
                }
            )
        return {"now": float(engine.clock()), "responders": rows}

    @route("GET", "/v1/route", tags=["console"])
    def get_route(
        request: Request,
        from_lat: _Lat,
        from_lng: _Lng,
        to_lat: _Lat,
        to_lng: _Lng,
        heading: Annotated[float | None, Query(ge=0.0, le=360.0, allow_inf_nan=False)] = None,
    ) -> dict[str, Any]:
        """The fastest road route between two points, with its shape (dispatcher only).

        ``reachable: false`` (and ``null`` ETA and distance) when no road leads there.
        """
        _dispatcher(request)
        route = engine.network.route(from_lat, from_lng, to_lat, to_lng, heading=heading)
        ok = math.isfinite(route.eta_s)
        return {
            "reachable": ok,
            "eta_s": route.eta_s if ok else None,
            "distance_m": route.distance_m if ok else None,
            "coords": [[lat, lng] for lat, lng in route.coords],
        }

    @route("POST", "/v1/incidents/{incident_id}/offers/{responder_id}", tags=["offers"])
    def post_offer(request: Request, incident_id: _Id, responder_id: _Id) -> JSONResponse:
        """Offer an incident to a responder the dispatcher chose (dispatcher only)."""
        _dispatcher(request)
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 128:
            raise HTTPException(422, "Idempotency-Key must be 1 to 128 characters")
        inc = engine.offer(incident_id, responder_id, request_id=key)
        offer = next(o for o in inc.offers if o.responder_id == responder_id)
        return JSONResponse(
            {"offer": offer_json(offer), "incident": incident_json(inc)}, status_code=201
        )
