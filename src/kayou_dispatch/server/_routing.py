"""Include the routers so that waiting on Redis never blocks the event loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

__all__ = ["include_routers"]


def _on_loop(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return endpoint


def include_routers(app: FastAPI, routers: Iterable[APIRouter], *, offload: bool) -> None:
    """Add every route of ``routers`` to ``app``; plain functions run where they should.

    Endpoints are written as plain functions. With an in-process engine they run on the
    event loop, with no thread hop (most calls take microseconds; ranking and routes a few
    milliseconds). With shared state (``offload``) every call waits on Redis: they run in
    the thread pool, so the loop keeps serving other requests meanwhile (and Redis gets to
    fsync many clients' writes at once). ``async`` endpoints always run on the loop.
    """
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIWebSocketRoute):
                app.add_api_websocket_route(route.path, route.endpoint, name=route.name)
                continue
            assert isinstance(route, APIRoute)
            sync = not inspect.iscoroutinefunction(route.endpoint)
            app.add_api_route(
                route.path,
                _on_loop(route.endpoint) if sync and not offload else route.endpoint,
                methods=sorted(route.methods or ()),
                status_code=route.status_code,
                tags=list(route.tags),
                name=route.name,
                include_in_schema=route.include_in_schema,
                response_class=route.response_class,
                # The answer's contract: the model, its documented refusals, how it is sent.
                response_model=route.response_model,
                responses=route.responses,
                response_model_exclude_none=route.response_model_exclude_none,
                description=route.description,
            )
