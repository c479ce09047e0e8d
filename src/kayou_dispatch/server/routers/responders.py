"""``/v1/responders`` and ``/v1/positions``: fixes, availability, a responder, the fleet."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request

from kayou_dispatch.server._crs import Crs, from_wgs84, to_wgs84, to_wgs84_many
from kayou_dispatch.server._deps import (
    CodedHTTPException,
    DispatcherOnly,
    Engine,
    ResponderId,
    Who,
    require_self_or_dispatcher,
)
from kayou_dispatch.server._models import (
    AvailabilityIn,
    BulkPositionsIn,
    PositionIn,
    availability_json,
    responder_json,
    responder_row_json,
)

__all__ = ["RESPONDER_BULK_ROWS", "router"]

router = APIRouter(tags=["responders"])

#: Rows a responder token may send in one bulk (its own fixes, buffered offline): more
#: would only cost the other clients time (a gateway holds a dispatcher token).
RESPONDER_BULK_ROWS = 120


@router.put("/v1/responders/{responder_id}/position")
async def put_position(
    request: Request, responder_id: ResponderId, body: PositionIn, who: Who, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Record one phone's fix (a responder token: its own only)."""
    require_self_or_dispatcher(who, responder_id)
    fix = body.model_dump()
    fix["lat"], fix["lng"] = to_wgs84(fix["lat"], fix["lng"], crs)
    applied = await request.app.state.write_fix(responder_id, fix)
    return {"responder_id": responder_id, "applied": applied}


@router.post("/v1/positions")
def post_positions(
    engine: Engine, body: BulkPositionsIn, who: Who, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Record a gateway's batch of fixes (all or none; a responder: its own rows only)."""
    rows = body.positions
    if not who.is_dispatcher and any(r.id != who.responder_id for r in rows):
        raise HTTPException(403, "a responder token may send only its own positions")
    if not who.is_dispatcher and len(rows) > RESPONDER_BULK_ROWS:
        msg = f"a responder token may send at most {RESPONDER_BULK_ROWS} rows at once"
        raise CodedHTTPException(413, msg, code="BulkTooLarge")
    if not rows:
        return {"received": 0, "applied": 0}
    ids = [r.id for r in rows]
    lats = np.fromiter((r.lat for r in rows), np.float64, len(rows))
    lngs = np.fromiter((r.lng for r in rows), np.float64, len(rows))
    lats, lngs = to_wgs84_many(lats, lngs, crs)
    ts: Any = None
    if any(r.ts is not None for r in rows):
        now = float(engine.clock())
        ts = np.fromiter((now if r.ts is None else r.ts for r in rows), np.float64, len(rows))
    applied = engine.update_positions(ids, lats, lngs, ts=ts)
    return {"received": len(rows), "applied": applied}


@router.get("/v1/responders", tags=["console"])
def list_responders(engine: Engine, who: DispatcherOnly, crs: Crs = "wgs84") -> dict[str, Any]:
    """Every responder's last fix, status and engagement (dispatcher only), by id."""
    fleet = engine.responders()  # caught up once with what other processes wrote
    busy = engine.engagements()
    rows = [responder_row_json(r, incident_id=busy.get(r.responder_id)) for r in fleet]
    return from_wgs84({"now": float(engine.clock()), "responders": rows}, crs)


@router.get("/v1/responders/{responder_id}")
def get_responder(
    engine: Engine, responder_id: ResponderId, who: Who, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """A responder's last fix, status and capabilities (a responder token: its own)."""
    require_self_or_dispatcher(who, responder_id)
    r = engine.responder(responder_id)
    return from_wgs84(responder_json(r, incident_id=engine.engagement(responder_id)), crs)


@router.put("/v1/responders/{responder_id}/availability")
def put_availability(
    engine: Engine, responder_id: ResponderId, body: AvailabilityIn, who: Who
) -> dict[str, Any]:
    """Go on duty (``available``) or off (``offline``); replace capabilities.

    Refused (409) while the responder is offered or assigned an incident. A responder
    token may keep or drop its capabilities; granting one is a dispatcher's decision
    (403 ``CapabilityGrantRefused``); names outside the deployment's registry: 422.
    """
    require_self_or_dispatcher(who, responder_id)
    held = engine.get(responder_id).capabilities  # 404 before anything changes
    if body.capabilities is not None and not who.is_dispatcher:
        granted = sorted(set(body.capabilities) - held)
        if granted:
            msg = f"a responder token may only drop capabilities; {granted} need a dispatcher"
            raise CodedHTTPException(403, msg, code="CapabilityGrantRefused")
    if body.capabilities is not None:
        engine.set_capabilities(responder_id, body.capabilities)
    if body.status is not None:
        engine.set_status(responder_id, body.status)
    return availability_json(engine.get(responder_id))
