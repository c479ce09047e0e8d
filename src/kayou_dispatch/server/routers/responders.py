"""``/v1/responders`` and ``/v1/positions``: registration, fixes, availability, the fleet.

The order a phone follows: ``PUT /v1/responders/{id}`` with its capabilities (optional; or
``capabilities`` in its first position body only), then ``PUT /v1/responders/{id}/position``
with every fix; ``PUT /v1/responders/{id}/availability`` to go off or on duty. A
responder token declares its capabilities while it has no position yet; later it may keep
or drop them, and granting one is a dispatcher's decision (403 ``CapabilityGrantRefused``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import UnknownResponderError
from kayou_dispatch.server._auth import Principal
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
    AvailabilityOut,
    BulkPositionsIn,
    BulkPositionsOut,
    FleetOut,
    PositionIn,
    PositionOut,
    RegistrationIn,
    RegistrationOut,
    ResponderOut,
    availability_json,
    responder_json,
    responder_row_json,
)

__all__ = ["RESPONDER_BULK_ROWS", "router"]

router = APIRouter(tags=["responders"])

#: Rows a responder token may send in one bulk (its own fixes, buffered offline): more
#: would only cost the other clients time (a gateway holds a dispatcher token).
RESPONDER_BULK_ROWS = 120


def refuse_grant(
    engine: DispatchEngine, who: Principal, responder_id: str, capabilities: list[str] | None
) -> None:
    """Refuse (403) a responder token adding capabilities to a responder with a position.

    Before its first position a responder declares what it carries; after, only a
    dispatcher grants more.
    """
    if capabilities is None or who.is_dispatcher:
        return
    try:
        held = engine.get(responder_id).capabilities
    except UnknownResponderError:
        return  # no position yet: it declares what it carries
    granted = sorted(set(capabilities) - held)
    if granted:
        msg = f"a responder token may only drop capabilities; {granted} need a dispatcher"
        raise CodedHTTPException(403, msg, code="CapabilityGrantRefused")


def _positioned(engine: DispatchEngine, responder_id: str) -> bool:
    try:
        engine.get(responder_id)
    except UnknownResponderError:
        return False
    return True


@router.put("/v1/responders/{responder_id}", response_model=RegistrationOut)
def put_responder(
    engine: Engine, responder_id: ResponderId, body: RegistrationIn, who: Who
) -> dict[str, Any]:
    """Register what a responder carries, before its first position or after.

    Before the first fix the capabilities wait for it (in this process; with several
    workers, or to be sure, send ``capabilities`` with the first position too). A responder
    token declares them before its first fix; afterwards it may only drop some (403).
    Names outside the deployment's registry: 422.
    """
    require_self_or_dispatcher(who, responder_id)
    refuse_grant(engine, who, responder_id, body.capabilities)
    positioned = engine.register(responder_id, capabilities=body.capabilities)
    return {
        "responder_id": responder_id,
        "capabilities": sorted(set(body.capabilities)),
        "positioned": positioned,
    }


@router.put(
    "/v1/responders/{responder_id}/position",
    response_model=PositionOut,
    response_model_exclude_none=True,
)
async def put_position(
    request: Request,
    engine: Engine,
    responder_id: ResponderId,
    body: PositionIn,
    who: Who,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    """Record one phone's fix (a responder token: its own only).

    ``capabilities`` replaces what it carries: a dispatcher's any time, a responder
    token's with its first position only (later: 422 ``CapabilitiesOnFirstFixOnly``).
    A fix more than 1 km outside the road network's area is stored and answered with
    ``on_network: false``: it is never ranked.
    """
    require_self_or_dispatcher(who, responder_id)
    if (
        body.capabilities is not None
        and not who.is_dispatcher
        and _positioned(engine, responder_id)
    ):
        msg = (
            "a responder token sends capabilities with its first position only; change them "
            f"with PUT /v1/responders/{responder_id}/availability (drop) or ask a dispatcher"
        )
        raise CodedHTTPException(422, msg, code="CapabilitiesOnFirstFixOnly")
    fix = body.model_dump()
    fix["lat"], fix["lng"] = to_wgs84(fix["lat"], fix["lng"], crs)
    reply: dict[str, Any] = await request.app.state.write_fix(responder_id, fix)
    return reply


@router.post("/v1/positions", response_model=BulkPositionsOut, response_model_exclude_none=True)
def post_positions(
    request: Request, engine: Engine, body: BulkPositionsIn, who: Who, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Record a gateway's batch of fixes (all or none; a responder: its own rows only).

    ``off_network`` lists the ids whose fix lies more than 1 km outside the road network's
    area (never ranked while there); it is left out when there is none.
    """
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
    out: dict[str, Any] = {"received": len(rows), "applied": applied}
    area = request.app.state.area
    far = sorted({ids[i] for i in np.flatnonzero(area.far_many(lats, lngs)).tolist()})
    if far:
        out["off_network"] = far
    return out


@router.get(
    "/v1/responders",
    tags=["console"],
    response_model=None,
    responses={200: {"model": FleetOut, "description": "Successful Response"}},
)
def list_responders(engine: Engine, who: DispatcherOnly, crs: Crs = "wgs84") -> JSONResponse:
    """Every responder's last fix, status and engagement (dispatcher only), by id."""
    fleet = engine.responders()  # caught up once with what other processes wrote
    busy = engine.engagements()
    rows = [responder_row_json(r, incident_id=busy.get(r.responder_id)) for r in fleet]
    # Documented as FleetOut, sent as built: validating a national fleet's rows again
    # would cost more than building them (the schemathesis test checks the shape).
    return JSONResponse(from_wgs84({"now": float(engine.clock()), "responders": rows}, crs))


@router.get("/v1/responders/{responder_id}", response_model=ResponderOut)
def get_responder(
    engine: Engine, responder_id: ResponderId, who: Who, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """A responder's last fix, status and capabilities (a responder token: its own)."""
    require_self_or_dispatcher(who, responder_id)
    r = engine.responder(responder_id)
    return from_wgs84(responder_json(r, incident_id=engine.engagement(responder_id)), crs)


@router.put("/v1/responders/{responder_id}/availability", response_model=AvailabilityOut)
def put_availability(
    engine: Engine, responder_id: ResponderId, body: AvailabilityIn, who: Who
) -> dict[str, Any]:
    """Go on duty (``available``) or off (``offline``); replace capabilities.

    Refused (409) while the responder is offered or assigned an incident. A responder
    token may keep or drop its capabilities; granting one is a dispatcher's decision
    (403 ``CapabilityGrantRefused``); names outside the deployment's registry: 422.
    """
    require_self_or_dispatcher(who, responder_id)
    engine.get(responder_id)  # 404 before anything changes
    refuse_grant(engine, who, responder_id, body.capabilities)
    if body.capabilities is not None:
        engine.set_capabilities(responder_id, body.capabilities)
    if body.status is not None:
        engine.set_status(responder_id, body.status)
    return availability_json(engine.get(responder_id))
