"""Serve the engine over HTTP (the ``server`` extra: FastAPI + uvicorn).

``create_app(engine, auth=tokens)`` returns the ASGI app; ``kayou-dispatch serve`` runs it
with uvicorn. Only this package imports FastAPI: the library itself does not need it.
"""

from kayou_dispatch.server._auth import Principal, TokenBucket, load_tokens
from kayou_dispatch.server.app import DEFAULT_RATE_LIMIT, ERROR_STATUS, MAX_BODY_BYTES, create_app

__all__ = [
    "create_app",
    "DEFAULT_RATE_LIMIT",
    "ERROR_STATUS",
    "load_tokens",
    "MAX_BODY_BYTES",
    "Principal",
    "TokenBucket",
]
