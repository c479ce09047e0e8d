"""Probes for a process manager or an orchestrator: ``GET /healthz`` and ``GET /readyz``.

Neither needs a token. ``/healthz`` is liveness: the process answers (restart it if not).
``/readyz`` is readiness: every store the engine writes to (the SQLite journal, Redis)
answers now; while one does not it is 503, so a load balancer sends traffic elsewhere
rather than to a process whose commands would fail, and takes it back once it recovers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kayou_dispatch.server._deps import Engine

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz(engine: Engine) -> dict[str, Any]:
    """Liveness: no token needed."""
    return {"status": "ok", "responders": len(engine)}


@router.get(
    "/readyz",
    responses={503: {"description": "a store does not answer (error: SharedStateError)"}},
)
def readyz(engine: Engine) -> dict[str, Any]:
    """Readiness: 200 while the engine's stores answer, else 503 naming the one that fails."""
    # A SharedStateError maps to 503 {"error": "SharedStateError", "detail": ...}.
    return {"status": "ready", "stores": engine.check_stores()}
