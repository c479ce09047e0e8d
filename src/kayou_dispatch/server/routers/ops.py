"""Probes and metrics for operators: ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

Neither needs a token. ``/healthz`` is liveness: the process answers (restart it if not).
``/readyz`` is readiness: every store the engine writes to (the SQLite journal, Redis)
answers now; while one does not it is 503, so a load balancer sends traffic elsewhere
rather than to a process whose commands would fail, and takes it back once it recovers.
``/metrics`` is the Prometheus text format (:mod:`kayou_dispatch.server._metrics` lists
the metrics); like the probes it is meant for the private network: keep it off the
public side of the reverse proxy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from kayou_dispatch.server._deps import Engine
from kayou_dispatch.server._models import HealthOut, ReadyOut

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=HealthOut)
def healthz(engine: Engine) -> dict[str, Any]:
    """Liveness: no token needed."""
    return {"status": "ok", "responders": len(engine)}


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"description": "a store does not answer (error: SharedStateError)"}},
)
def readyz(engine: Engine) -> dict[str, Any]:
    """Readiness: 200 while the engine's stores answer, else 503 naming the one that fails."""
    # A SharedStateError maps to 503 {"error": "SharedStateError", "detail": ...}.
    return {"status": "ready", "stores": engine.check_stores()}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Metrics in the Prometheus text format: no token needed."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
