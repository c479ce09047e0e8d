"""Validate request bodies with pydantic and turn library results into JSON.

Bodies reject unknown fields, non-finite numbers and values of the wrong JSON type (a
boolean is not a number, a string is not a coordinate); coordinates are checked against
WGS-84 ranges here, so a bad body is a 422 that names the field before the engine runs.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from kayou_dispatch.lifecycle import Event, Incident, IncidentStatus, Offer
from kayou_dispatch.matching import Candidate
from kayou_dispatch.network import Route
from kayou_dispatch.spatial import Responder, Status

__all__ = [
    "availability_json",
    "AvailabilityIn",
    "BodyTooDeepError",
    "BulkPositionsIn",
    "candidate_json",
    "event_id",
    "event_json",
    "incident_json",
    "IncidentIn",
    "offer_json",
    "parse_event_id",
    "plain_position",
    "PositionIn",
    "PositionRow",
    "responder_json",
    "responder_row_json",
    "route_json",
]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)

# Strict: a JSON number is a number (an int goes as a float), but ``true`` is not 1 and
# ``"60.17"`` is not a latitude -- the lax defaults would store ``"ts": false`` as 0.0.
Lat = Annotated[StrictFloat, Field(ge=-90.0, le=90.0, description="WGS-84 latitude, degrees")]
Lng = Annotated[StrictFloat, Field(ge=-180.0, le=180.0, description="WGS-84 longitude, degrees")]
Id = Annotated[str, Field(min_length=1, max_length=128)]
Ts = Annotated[StrictFloat, Field(ge=0.0, le=1e11, description="time of the fix, clock seconds")]
Heading = Annotated[
    StrictFloat, Field(ge=0.0, le=360.0, description="degrees clockwise from north")
]
Speed = Annotated[StrictFloat, Field(ge=0.0, le=1000.0, description="reported speed, km/h")]
Capability = Annotated[str, Field(min_length=1, max_length=64)]


Capabilities = Annotated[list[Capability], Field(max_length=64)]


class PositionIn(BaseModel):
    """One phone's fix: ``PUT /v1/responders/{id}/position``.

    ``capabilities`` (optional) replaces what the responder carries with the fix: a
    dispatcher's any time, a responder token's with its first position only.
    """

    model_config = _STRICT
    lat: Lat
    lng: Lng
    ts: Ts | None = None
    heading: Heading | None = None
    speed_kph: Speed | None = None
    capabilities: Capabilities | None = None


class RegistrationIn(BaseModel):
    """``PUT /v1/responders/{id}``: what a responder carries, before its first fix or after."""

    model_config = _STRICT
    capabilities: Capabilities


_POSITION_LIMITS = {
    "lat": (-90.0, 90.0),
    "lng": (-180.0, 180.0),
    "ts": (0.0, 1e11),
    "heading": (0.0, 360.0),
    "speed_kph": (0.0, 1000.0),
}


class BodyTooDeepError(ValueError):
    """A JSON body nested deeper than the parser's recursion limit (answered 422)."""


def plain_position(body: bytes) -> dict[str, float | None] | None:
    """Read a plain :class:`PositionIn` body fast; ``None`` for anything else.

    The hot path of a dispatch server: a JSON object of numbers within range, with
    ``lat`` and ``lng`` and no other keys than the model's. Whatever this declines (bad
    JSON, strings, nulls for required fields, out of range...) goes to the model, whose
    422 says what is wrong; whatever it accepts, the model accepts with the same values.
    A body nested too deeply to parse raises :class:`BodyTooDeepError`.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    except RecursionError:  # the full route's parser would fail the same way
        raise BodyTooDeepError from None
    if type(data) is not dict or "lat" not in data or "lng" not in data:
        return None
    fix: dict[str, float | None] = dict.fromkeys((*_POSITION_LIMITS, "capabilities"))
    for key, value in data.items():
        limits = _POSITION_LIMITS.get(key)
        if limits is None:
            return None
        if value is None and key not in ("lat", "lng"):
            continue
        if type(value) not in (int, float) or not limits[0] <= value <= limits[1]:
            return None  # NaN and infinities fail the range test too
        fix[key] = float(value)
    return fix


class PositionRow(BaseModel):
    """One row of a gateway's batch."""

    model_config = _STRICT
    id: Id
    lat: Lat
    lng: Lng
    ts: Ts | None = None


class BulkPositionsIn(BaseModel):
    """A gateway's batch of fixes: ``POST /v1/positions``."""

    model_config = _STRICT
    positions: Annotated[list[PositionRow], Field(max_length=20_000)]


class AvailabilityIn(BaseModel):
    """``PUT /v1/responders/{id}/availability``: go on or off duty, change capabilities."""

    model_config = _STRICT
    status: Annotated[str, Field(pattern="^(available|offline)$")] | None = None
    capabilities: Capabilities | None = None


class IncidentIn(BaseModel):
    """``POST /v1/incidents``: a truck in trouble."""

    model_config = _STRICT
    incident_id: Id
    lat: Lat
    lng: Lng
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    severity: Annotated[StrictInt, Field(ge=1, le=5)] = 3
    needs: (
        Annotated[list[Capability], Field(max_length=64)]
        | Annotated[list[Annotated[list[Capability], Field(max_length=64)]], Field(max_length=64)]
        | None
    ) = None
    units: Annotated[StrictInt, Field(ge=1, le=64)] | None = None
    dispatch: StrictBool = False


# --- answers: every endpoint's response model (the OpenAPI document is the contract) -----

_OUT = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of the answers: no field beyond those documented."""

    model_config = _OUT


class PositionOut(Out):
    """``PUT /v1/responders/{id}/position``: whether the fix is the newest one.

    ``on_network: false`` (present only then): the fix lies more than 1 km outside the
    road network's area; it is stored (where the responder really is) and never ranked.
    """

    responder_id: str
    applied: bool
    on_network: Literal[False] | None = None


class BulkPositionsOut(Out):
    """``POST /v1/positions``: rows received and applied (newest fixes).

    ``off_network`` (present only when not empty): ids whose fix lies more than 1 km
    outside the network's area (never ranked while there).
    """

    received: int
    applied: int
    off_network: list[str] | None = None


class RegistrationOut(Out):
    """``PUT /v1/responders/{id}``: the capabilities registered.

    ``positioned``: whether the responder has sent a position (capabilities apply now);
    if not, they come with its first fix.
    """

    responder_id: str
    capabilities: list[str]
    positioned: bool


class OfferOut(Out):
    """An outstanding offer."""

    incident_id: str
    responder_id: str
    eta_s: float
    expires_at: float
    offered_at: float
    needs: list[str]


class _IncidentBase(Out):
    incident_id: str
    kind: str
    severity: int
    lat: float
    lng: float
    status: IncidentStatus
    units: int
    missing: int
    reported_at: float
    mode: str
    offer_timeout_s: float
    dispatched: bool


class IncidentOut(_IncidentBase):
    """An incident as a dispatcher sees it: everything, every responder involved.

    ``requester_id``: the requester token's id that reported it (``null``: a dispatcher).
    """

    requester_id: str | None = None
    needs: list[list[str]]
    assigned: list[str]
    offers: list[OfferOut]
    declined: list[str]
    expired: list[str]
    stages: dict[str, Status]


class IncidentSeenOut(_IncidentBase):
    """An incident as a responder sees it: only its own offer and stage.

    A responder reads an incident (its precise ``lat``/``lng``) only once the incident was
    offered to it (the offer may since have been declined, lapsed or accepted); before
    that the incident answers exactly as an unknown one: 404 ``UnknownIncidentError``.
    """

    offer: OfferOut | None
    stage: Status | None


class HelperOut(Out):
    """An accepted helper as the requester sees it (never its id, never before it accepts).

    Until it arrives (``stage`` ``assigned`` or ``en_route``) ``lat``/``lng`` are the centre
    of the H3 resolution-8 ``cell`` holding its last fix (0.74 km² hexagons: within about
    0.5 km of the real fix) and ``precise`` is false; once ``on_scene``, its precise fix,
    ``precise`` true and ``cell`` null. ``lat``/``lng`` are null while it has no fix.
    """

    stage: Status
    lat: float | None
    lng: float | None
    precise: bool
    cell: str | None


class IncidentRequestedOut(_IncidentBase):
    """An incident as the requester that reported it sees it.

    No offers and no responder ids: ``helpers`` lists only the responders that accepted
    and are not yet released, in acceptance order, at the precision :class:`HelperOut`
    says. Another requester's incident answers as an unknown one (404).
    """

    helpers: list[HelperOut]


#: What reading or answering an incident returns: the view of who asks.
IncidentView = IncidentOut | IncidentSeenOut | IncidentRequestedOut

#: What reporting an incident returns: the dispatcher's view, or the requester's.
IncidentReported = IncidentOut | IncidentRequestedOut


class IncidentsOut(Out):
    """``GET /v1/incidents``: open incidents, most urgent first."""

    incidents: list[IncidentOut]


class DispatchOut(Out):
    """``POST /v1/incidents/{id}/dispatch``: the offers made and the incident after."""

    offers: list[OfferOut]
    incident: IncidentOut


class OfferMadeOut(Out):
    """``POST /v1/incidents/{id}/offers/{rid}``: the offer and the incident after."""

    offer: OfferOut
    incident: IncidentOut


class CandidateOut(Out):
    """A ranked candidate."""

    responder_id: str
    eta_s: float
    distance_m: float
    straight_m: float


class RankOut(Out):
    """``GET /v1/rank``: the fastest candidates by road, best first."""

    candidates: list[CandidateOut]


class RouteOut(Out):
    """``GET /v1/route``: ``reachable: false`` (null ETA and distance) when no road leads."""

    reachable: bool
    eta_s: float | None
    distance_m: float | None
    coords: list[Annotated[list[float], Field(min_length=2, max_length=2)]]


class ResponderOut(Out):
    """A responder's last fix, status, capabilities and engagement."""

    responder_id: str
    lat: float
    lng: float
    ts: float
    status: Status
    heading: float | None
    speed_kph: float | None
    capabilities: list[str]
    fresh: bool
    incident_id: str | None


class ResponderRowOut(Out):
    """A responder in the fleet list."""

    responder_id: str
    lat: float
    lng: float
    ts: float
    status: Status
    fresh: bool
    capabilities: list[str]
    incident_id: str | None


class FleetOut(Out):
    """``GET /v1/responders``: every responder, by id, at the server's clock ``now``."""

    now: float
    responders: list[ResponderRowOut]


class AvailabilityOut(Out):
    """``PUT /v1/responders/{id}/availability``: the status and capabilities after."""

    responder_id: str
    status: Status
    capabilities: list[str]


class TeamIn(BaseModel):
    """``PUT /v1/teams/{team_id}``: a mutual-aid team and the disc it covers."""

    model_config = _STRICT
    lat: Lat
    lng: Lng
    radius_m: Annotated[StrictFloat, Field(gt=0.0, le=1_000_000.0)]


class TeamOut(Out):
    """A mutual-aid team: its area and its members."""

    team_id: str
    lat: float
    lng: float
    radius_m: float
    members: list[str]


class TeamsOut(Out):
    """``GET /v1/teams``: every team, by id."""

    teams: list[TeamOut]


class ResponderTeamsIn(BaseModel):
    """``PUT /v1/responders/{id}/teams``: the teams a responder belongs to (exactly these)."""

    model_config = _STRICT
    team_ids: Annotated[list[Id], Field(max_length=100)]


class ResponderTeamsOut(Out):
    """The teams a responder belongs to."""

    responder_id: str
    team_ids: list[str]


class HealthOut(Out):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]
    responders: int


class ReadyOut(Out):
    """``GET /readyz``: every store the engine writes to answers (their names)."""

    status: Literal["ready"]
    stores: list[str]


class GeometryOut(Out):
    """``GET /v1/network/geometry``: simplified polylines, integer steps from ``origin``.

    Line ``i`` is points ``offsets[i]:offsets[i + 1]`` of ``coords`` (``dlat, dlng`` pairs,
    ``1/scale`` degrees); ``cls`` indexes ``classes``; ``major`` the classes drawn wide;
    ``statuses`` the responder statuses in code order.
    """

    origin: list[float]
    scale: float
    bounds: list[float]
    offsets: list[int]
    coords: list[int]
    cls: list[int]
    classes: list[str]
    major: list[int]
    statuses: list[Status]


def offer_json(offer: Offer) -> dict[str, Any]:
    """An offer as JSON."""
    return {
        "incident_id": offer.incident_id,
        "responder_id": offer.responder_id,
        "eta_s": offer.eta_s,
        "expires_at": offer.expires_at,
        "offered_at": offer.offered_at,
        "needs": sorted(offer.needs),
    }


def incident_core_json(inc: Incident) -> dict[str, Any]:
    """What every viewer of an incident sees: its place, kind, status and counts."""
    return {
        "incident_id": inc.incident_id,
        "kind": inc.kind,
        "severity": inc.severity,
        "lat": inc.lat,
        "lng": inc.lng,
        "status": inc.status.value,
        "units": inc.units,
        "missing": inc.missing,
        "reported_at": inc.reported_at,
        "mode": inc.mode,
        "offer_timeout_s": inc.offer_timeout_s,
        "dispatched": inc.dispatched,
    }


def incident_json(inc: Incident, *, viewer: str | None = None) -> dict[str, Any]:
    """An incident as JSON; for a responder (``viewer``) only its own offer and stage."""
    out = incident_core_json(inc)
    if viewer is None:
        out["requester_id"] = inc.requester_id
        out["needs"] = [sorted(n) for n in inc.needs]
        out["assigned"] = list(inc.assigned)
        out["offers"] = [offer_json(o) for o in inc.offers]
        out["declined"] = list(inc.declined)
        out["expired"] = list(inc.expired)
        out["stages"] = {rid: st.value for rid, st in inc.stages}
    else:
        out["offer"] = next((offer_json(o) for o in inc.offers if o.responder_id == viewer), None)
        out["stage"] = next((st.value for rid, st in inc.stages if rid == viewer), None)
    return out


def candidate_json(c: Candidate) -> dict[str, Any]:
    """A ranked candidate as JSON."""
    return {
        "responder_id": c.responder_id,
        "eta_s": c.eta_s,
        "distance_m": c.distance_m,
        "straight_m": c.straight_m,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def event_id(seq: tuple[int, int]) -> str:
    """An event's id on ``/v1/events``: ``"<txn>-<i>"`` (its :attr:`Event.seq`)."""
    return f"{seq[0]}-{seq[1]}"


def parse_event_id(text: str) -> tuple[int, int] | None:
    """The ``seq`` an event id names, or ``None`` when ``text`` is not one."""
    txn, sep, i = text.partition("-")
    if not (sep and txn.isdigit() and i.isdigit() and txn.isascii() and i.isascii()):
        return None
    return int(txn), int(i)


def event_json(event: Event) -> dict[str, Any]:
    """A lifecycle event as JSON (``event_id`` once its command is logged)."""
    out = {
        "kind": event.kind.value,
        "incident_id": event.incident_id,
        "responder_id": event.responder_id,
        "at": event.at,
        "data": {str(k): _plain(v) for k, v in event.data.items()},
    }
    if event.seq is not None:
        out["event_id"] = event_id(event.seq)
    return out


def responder_json(r: Responder, *, incident_id: str | None) -> dict[str, Any]:
    """A responder's last fix, status, capabilities and engagement as JSON."""
    return {
        "responder_id": r.responder_id,
        "lat": r.lat,
        "lng": r.lng,
        "ts": r.ts,
        "status": r.status.value,
        "heading": r.heading,
        "speed_kph": r.speed_kph,
        "capabilities": sorted(r.capabilities),
        "fresh": r.fresh,
        "incident_id": incident_id,
    }


#: The fields of a responder row in the console's fleet list.
_ROW_FIELDS = ("responder_id", "lat", "lng", "ts", "status", "fresh", "capabilities", "incident_id")


def responder_row_json(r: Responder, *, incident_id: str | None) -> dict[str, Any]:
    """A responder as a row of the console's fleet list (fewer fields)."""
    full = responder_json(r, incident_id=incident_id)
    return {k: full[k] for k in _ROW_FIELDS}


def availability_json(r: Responder) -> dict[str, Any]:
    """A responder's availability and capabilities as JSON."""
    return {
        "responder_id": r.responder_id,
        "status": r.status.value,
        "capabilities": sorted(r.capabilities),
    }


def route_json(route: Route) -> dict[str, Any]:
    """A road route as JSON (``reachable: false``, null ETA and distance when none)."""
    ok = math.isfinite(route.eta_s)
    return {
        "reachable": ok,
        "eta_s": route.eta_s if ok else None,
        "distance_m": route.distance_m if ok else None,
        "coords": [[lat, lng] for lat, lng in route.coords],
    }
