"""The dispatcher console: the ``/console`` page, its static files, the network geometry.

- ``GET /console?token=...``: the page (a dispatcher token; missing/unknown: 401, a
  responder's: 403). A browser cannot set headers on a navigation, hence the query token;
  the page sends it back as ``Authorization: Bearer`` and on the WebSocket, and is served
  with ``Referrer-Policy: no-referrer`` so the address never leaks to another origin.
- ``GET /console/static/{name}``: its script and style (no data, no token).
- ``GET /v1/network/geometry`` (dispatcher only). The console's other reads are the API's:
  ``GET /v1/responders``, ``GET /v1/route``, ``POST /v1/incidents/{id}/offers/{rid}``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from kayou_dispatch.server._auth import (
    DuplicateAuthorizationError,
    authorization_of,
    bearer_token,
    principal_for,
)
from kayou_dispatch.server._deps import DispatcherOnly, Engine
from kayou_dispatch.server._models import GeometryOut
from kayou_dispatch.web import ASSETS, asset_bytes, asset_text, network_geometry

__all__ = ["CONSOLE_HEADERS", "router"]

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

router = APIRouter(tags=["console"])


def _page_error(status: int, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>kayou-dispatch console</title>"
        f"<h1>{status}</h1><p>{message}</p>"
    )
    headers = dict(CONSOLE_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return HTMLResponse(body, status_code=status, headers=headers)


@router.get("/console", include_in_schema=False)
async def console_page(request: Request) -> Response:
    """The console page (a dispatcher token in ``?token=`` or the bearer header)."""
    token = request.query_params.get("token", "")
    try:
        header = authorization_of(request.scope.get("headers", []))
    except DuplicateAuthorizationError as exc:
        return _page_error(400, str(exc))
    auth = "" if token else header
    who = principal_for(request.app.state.tokens, auth, token)
    if who is None:
        given = token or bearer_token(auth)
        why = "missing token" if not given else "unknown token"
        return _page_error(401, f"{why}: open /console?token=&lt;a dispatcher token&gt;")
    if not who.is_dispatcher:
        return _page_error(403, "the console needs a dispatcher token")
    return HTMLResponse(asset_text("console.html"), headers=CONSOLE_HEADERS)


@router.get("/console/static/{name}", include_in_schema=False)
async def console_static(name: str) -> Response:
    """The console's script and style."""
    if name not in _STATIC:
        raise HTTPException(404, f"no console file {name!r}")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(asset_bytes(name), media_type=ASSETS[name], headers=headers)


@router.get("/v1/network/geometry", responses={200: {"model": GeometryOut}})
async def get_geometry(request: Request, engine: Engine, who: DispatcherOnly) -> Response:
    """The road network as simplified polylines for drawing (dispatcher only).

    Integer ``coords`` pairs ``(dlat, dlng)`` in ``1/scale`` degrees from ``origin``;
    line ``i`` is points ``offsets[i]:offsets[i + 1]``; twin directions drawn once.
    """
    cache: list[bytes] = request.app.state.geometry
    if not cache:
        data = network_geometry(engine.network)
        cache.append(json.dumps(data, separators=(",", ":")).encode())
    return Response(cache[0], media_type="application/json")
