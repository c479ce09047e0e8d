"""``/v1/incidents``: report, list, read, dispatch, cancel and resolve incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.server._crs import Crs, CrsName, from_wgs84, to_wgs84
from kayou_dispatch.server._deps import (
    Anyone,
    DispatcherOnly,
    Engine,
    IdempotencyKey,
    IncidentId,
    Reporter,
    visible_incident,
)
from kayou_dispatch.server._models import (
    DispatchOut,
    IncidentIn,
    IncidentOut,
    IncidentReported,
    IncidentsOut,
    IncidentView,
    incident_json,
    offer_json,
)
from kayou_dispatch.server._privacy import requested_incident_json

__all__ = ["router"]

router = APIRouter(tags=["incidents"])


@router.post("/v1/incidents", status_code=201, response_model=IncidentReported)
def post_incident(
    engine: Engine,
    body: IncidentIn,
    who: Reporter,
    idempotency_key: IdempotencyKey = None,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    """Report an incident (a dispatcher or a requester); ``dispatch: true`` also makes offers.

    A requester token's report is recorded as that requester's (it may then follow it with
    ``GET /v1/incidents/{id}``) and answered in the requester's view (no offers).
    """
    inc = engine.report_incident(
        body.incident_id,
        *to_wgs84(body.lat, body.lng, crs),
        kind=body.kind,
        severity=body.severity,
        needs=body.needs,
        units=body.units,
        request_id=idempotency_key,
        dispatch=body.dispatch,
        requester_id=who.requester_id,
    )
    if who.is_requester:
        return from_wgs84(requested_incident_json(engine, inc), crs)
    return from_wgs84(incident_json(inc), crs)


@router.get("/v1/incidents", response_model=IncidentsOut)
def list_incidents(engine: Engine, who: DispatcherOnly, crs: Crs = "wgs84") -> dict[str, Any]:
    """Open incidents, most urgent first (dispatcher only)."""
    return from_wgs84({"incidents": [incident_json(i) for i in engine.open_incidents()]}, crs)


@router.get("/v1/incidents/{incident_id}", response_model=IncidentView)
def get_incident(
    engine: Engine, incident_id: IncidentId, who: Anyone, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """One incident, in the view of who asks.

    A dispatcher sees everything; a responder an incident once it was offered to it (its
    own offer and stage only); a requester the incidents it reported, with its accepted
    helpers at reduced precision until they arrive. Any other answers as unknown (404).
    """
    inc = visible_incident(engine, incident_id, who)
    if who.is_requester:
        return from_wgs84(requested_incident_json(engine, inc), crs)
    viewer = None if who.is_dispatcher else who.responder_id
    return from_wgs84(incident_json(inc, viewer=viewer), crs)


@router.post("/v1/incidents/{incident_id}/dispatch", response_model=DispatchOut)
def post_dispatch(
    engine: Engine, incident_id: IncidentId, who: DispatcherOnly, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Offer the missing units to the best candidates (dispatcher only)."""
    offers = engine.dispatch(incident_id)
    out = {
        "offers": [offer_json(o) for o in offers],
        "incident": incident_json(engine.incident(incident_id)),
    }
    return from_wgs84(out, crs)


@dataclass(frozen=True, slots=True)
class _Closing:
    """A dispatcher closing an incident, with an idempotency key."""

    engine: DispatchEngine
    incident_id: str
    request_id: str | None
    crs: CrsName = "wgs84"

    def run(self, name: str) -> dict[str, Any]:
        """Run ``engine.<name>`` (cancel or resolve); the incident as JSON."""
        inc = getattr(self.engine, name)(self.incident_id, request_id=self.request_id)
        return from_wgs84(incident_json(inc), self.crs)


def _closing(
    engine: Engine,
    incident_id: IncidentId,
    who: DispatcherOnly,
    idempotency_key: IdempotencyKey = None,
    crs: Crs = "wgs84",
) -> _Closing:
    return _Closing(engine, incident_id, idempotency_key, crs)


Closing = Annotated[_Closing, Depends(_closing)]


@router.post("/v1/incidents/{incident_id}/cancel", response_model=IncidentOut)
def post_cancel(closing: Closing) -> dict[str, Any]:
    """Cancel an incident and release its responders (dispatcher only)."""
    return closing.run("cancel")


@router.post("/v1/incidents/{incident_id}/resolve", response_model=IncidentOut)
def post_resolve(closing: Closing) -> dict[str, Any]:
    """Close an incident as resolved (dispatcher only)."""
    return closing.run("resolve")
