"""The API docs, served whole by the app: ``/docs`` (Swagger UI).

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc Google's fonts), so
without internet -- or where those hosts are slow or blocked, as often in mainland China
-- ``/docs`` is a blank page. This page loads its script, style and icon from
``/docs/static/...``, files shipped by the ``fastapi-offline`` package (a dependency of
the ``server`` extra), and the schema from ``/openapi.json``: nothing from elsewhere.
There is no ``/redoc``: ReDoc's bundle fetches its badge from its vendor's CDN whatever
its options (a browser test caught it), and one offline docs page is enough.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response

__all__ = ["DOCS_ASSETS", "router"]

#: The files under ``/docs/static/``, with their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_STATIC = "/docs/static"
_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(tags=["docs"])


@cache
def _asset(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this API, every file from this server."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{_STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{_STATIC}/favicon.png",
        oauth2_redirect_url=f"{root}{_REDIRECT}",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get(_REDIRECT, include_in_schema=False)
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(f"{_STATIC}/{{name}}", include_in_schema=False)
async def docs_static(name: str) -> Response:
    """The docs pages' scripts, style and icon."""
    if name not in DOCS_ASSETS:
        raise HTTPException(404, f"no docs file {name!r}")
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(_asset(name), media_type=DOCS_ASSETS[name], headers=headers)
