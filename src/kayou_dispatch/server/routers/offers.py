"""``/v1/incidents/{id}/offers/{responder_id}``: a dispatcher's offer, a responder's answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.server._auth import Principal
from kayou_dispatch.server._deps import (
    DispatcherOnly,
    Engine,
    IdempotencyKey,
    IncidentId,
    ResponderId,
    Who,
    require_self_or_dispatcher,
    visible_incident,
)
from kayou_dispatch.server._models import incident_json, offer_json

__all__ = ["router"]

router = APIRouter(tags=["offers"])

_OFFER = "/v1/incidents/{incident_id}/offers/{responder_id}"


@router.post(_OFFER, status_code=201)
def post_offer(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: DispatcherOnly,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Offer an incident to a responder the dispatcher chose (dispatcher only)."""
    inc = engine.offer(incident_id, responder_id, request_id=idempotency_key)
    offer = next(o for o in inc.offers if o.responder_id == responder_id)
    return {"offer": offer_json(offer), "incident": incident_json(inc)}


def _answer(
    engine: DispatchEngine,
    name: str,
    incident_id: str,
    responder_id: str,
    who: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    """Run a responder's command on an incident it may see; the incident as it sees it."""
    require_self_or_dispatcher(who, responder_id)
    visible_incident(engine, incident_id, who)
    inc = getattr(engine, name)(incident_id, responder_id, request_id=request_id)
    return incident_json(inc, viewer=None if who.is_dispatcher else who.responder_id)


@router.post(f"{_OFFER}/accept", name="offer_accept")
def accept(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Accept an outstanding offer (a responder token: its own offer)."""
    return _answer(engine, "accept", incident_id, responder_id, who, idempotency_key)


@router.post(f"{_OFFER}/decline", name="offer_decline")
def decline(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Decline an offer; the next candidate is offered at once."""
    return _answer(engine, "decline", incident_id, responder_id, who, idempotency_key)


@router.post(f"{_OFFER}/depart", name="offer_depart")
def depart(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """An assigned responder sets off (EN_ROUTE)."""
    return _answer(engine, "depart", incident_id, responder_id, who, idempotency_key)


@router.post(f"{_OFFER}/arrive", name="offer_arrive")
def arrive(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """An assigned responder is on scene."""
    return _answer(engine, "arrive", incident_id, responder_id, who, idempotency_key)
