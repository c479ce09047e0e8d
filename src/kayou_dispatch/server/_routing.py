"""Register endpoints so that waiting on Redis never blocks the event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI

from kayou_dispatch.engine import DispatchEngine

__all__ = ["router"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _route(app: FastAPI, offload: bool, method: str, path: str, **kw: Any) -> Callable[[_F], _F]:
    """Register an endpoint written as a plain function.

    With an in-process engine it runs on the event loop, with no thread hop (most calls
    take microseconds; ranking and routes a few milliseconds). With shared state every
    call waits on Redis: it runs in the thread pool, so the loop keeps serving other
    requests meanwhile (and Redis gets to fsync many clients' writes at once).
    """

    def register(fn: _F) -> _F:
        endpoint: Callable[..., Any] = fn
        if not offload:

            @functools.wraps(fn)
            async def endpoint(*args: Any, **kwargs: Any) -> Any:
                return fn(*args, **kwargs)

        app.api_route(path, methods=[method], **kw)(endpoint)
        return fn

    return register


def router(app: FastAPI, engine: DispatchEngine) -> Callable[..., Callable[[_F], _F]]:
    """``route(method, path, **kw)``: a decorator registering a plain function on ``app``.

    See :func:`_route` for where it runs (event loop or thread pool, by ``engine``).
    """
    return functools.partial(_route, app, engine.shared_log is not None)
