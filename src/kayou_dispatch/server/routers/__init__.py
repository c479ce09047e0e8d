"""The HTTP API, one router per resource; :func:`~kayou_dispatch.server.create_app` includes them.

To add an endpoint, write one function in the router of its resource: declare the engine
(``engine: Engine``), who may call it (``who: Who`` or ``who: DispatcherOnly``) and its
inputs; return JSON built by a serializer of :mod:`kayou_dispatch.server._models`. Library
errors map to status codes by themselves (:data:`~kayou_dispatch.server.ERROR_STATUS`).
"""

from kayou_dispatch.server.routers import (
    console,
    docs,
    events,
    incidents,
    offers,
    ops,
    ranking,
    responders,
    teams,
)

#: Every router, in the order they are included.
ROUTERS = (
    ops.router,
    responders.router,
    teams.router,
    ranking.router,
    incidents.router,
    offers.router,
    console.router,
    docs.router,
    events.router,
)

__all__ = [
    "console",
    "docs",
    "events",
    "incidents",
    "offers",
    "ops",
    "ranking",
    "responders",
    "ROUTERS",
    "teams",
]
