"""``/v1/incidents/{id}/offers/{responder_id}``: a dispatcher's offer, a responder's answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import InvalidTransitionError, UnknownIncidentError
from kayou_dispatch.server._auth import Principal
from kayou_dispatch.server._crs import Crs, CrsName, from_wgs84
from kayou_dispatch.server._deps import (
    CodedHTTPException,
    DispatcherOnly,
    Engine,
    IdempotencyKey,
    IncidentId,
    ResponderId,
    Who,
    require_self_or_dispatcher,
    visible_incident,
)
from kayou_dispatch.server._models import IncidentView, OfferMadeOut, incident_json, offer_json

__all__ = ["router"]

router = APIRouter(tags=["offers"])

_OFFER = "/v1/incidents/{incident_id}/offers/{responder_id}"


@router.post(_OFFER, status_code=201, response_model=OfferMadeOut)
def post_offer(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: DispatcherOnly,
    idempotency_key: IdempotencyKey = None,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    """Offer an incident to a responder the dispatcher chose (dispatcher only)."""
    inc = engine.offer(incident_id, responder_id, request_id=idempotency_key)
    offer = next(o for o in inc.offers if o.responder_id == responder_id)
    return from_wgs84({"offer": offer_json(offer), "incident": incident_json(inc)}, crs)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A responder's command on an incident: who, on what, with which idempotency key."""

    engine: DispatchEngine
    incident_id: str
    responder_id: str
    who: Principal
    request_id: str | None
    crs: CrsName = "wgs84"

    def run(self, name: str) -> dict[str, Any]:
        """Run ``engine.<name>`` on an incident it may see; the incident as it sees it.

        Refusals: an incident never offered to the responder asking answers as an unknown
        one (404 ``UnknownIncidentError``: its place stays private); accepting or
        declining an offer not held (none made, declined, expired, withdrawn) is 409
        ``OfferNotHeld``; any other step out of order is 409 ``InvalidTransitionError``.
        """
        require_self_or_dispatcher(self.who, self.responder_id)
        try:
            visible_incident(self.engine, self.incident_id, self.who)
        except UnknownIncidentError:
            if self.who.is_dispatcher:
                raise
            # One answer for a hidden and an unknown incident, which says what is allowed.
            msg = (
                f"no incident with id {self.incident_id!r} offered to responder "
                f"{self.responder_id!r}: a responder may answer only offers made to it"
            )
            raise UnknownIncidentError(msg, incident_id=self.incident_id) from None
        command = getattr(self.engine, name)
        try:
            inc = command(self.incident_id, self.responder_id, request_id=self.request_id)
        except InvalidTransitionError as exc:
            if name not in ("accept", "decline"):
                raise
            raise CodedHTTPException(409, str(exc), code="OfferNotHeld") from exc
        viewer = None if self.who.is_dispatcher else self.who.responder_id
        return from_wgs84(incident_json(inc, viewer=viewer), self.crs)


def _answer(
    engine: Engine,
    incident_id: IncidentId,
    responder_id: ResponderId,
    who: Who,
    idempotency_key: IdempotencyKey = None,
    crs: Crs = "wgs84",
) -> _Answer:
    return _Answer(engine, incident_id, responder_id, who, idempotency_key, crs)


Answer = Annotated[_Answer, Depends(_answer)]


@router.post(f"{_OFFER}/accept", name="offer_accept", response_model=IncidentView)
def accept(answer: Answer) -> dict[str, Any]:
    """Accept an outstanding offer (a responder token: its own offer)."""
    return answer.run("accept")


@router.post(f"{_OFFER}/decline", name="offer_decline", response_model=IncidentView)
def decline(answer: Answer) -> dict[str, Any]:
    """Decline an offer; the next candidate is offered at once."""
    return answer.run("decline")


@router.post(f"{_OFFER}/depart", name="offer_depart", response_model=IncidentView)
def depart(answer: Answer) -> dict[str, Any]:
    """An assigned responder sets off (EN_ROUTE)."""
    return answer.run("depart")


@router.post(f"{_OFFER}/arrive", name="offer_arrive", response_model=IncidentView)
def arrive(answer: Answer) -> dict[str, Any]:
    """An assigned responder is on scene."""
    return answer.run("arrive")
