"""``GET /healthz``: liveness, no token."""

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
