"""``/v1/teams``: mutual-aid teams, the areas they cover, and who belongs to them.

Dispatcher only. ``PUT /v1/teams/{id}`` defines a team (or moves or resizes it; members
stay), ``GET /v1/teams`` lists them with their members, ``DELETE /v1/teams/{id}`` drops one (and
answers the teams left),
``PUT /v1/responders/{id}/teams`` sets exactly the teams a responder belongs to (an unknown
team id: 422 naming ``team_ids``). Run cards with ``team_first_s`` offer an incident to the
covering team first (see :mod:`kayou_dispatch.lifecycle.teams`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from kayou_dispatch.lifecycle.teams import Team
from kayou_dispatch.server._crs import Crs, from_wgs84, to_wgs84
from kayou_dispatch.server._deps import DispatcherOnly, Engine, ResponderId
from kayou_dispatch.server._models import (
    ResponderTeamsIn,
    ResponderTeamsOut,
    TeamIn,
    TeamOut,
    TeamsOut,
)

__all__ = ["router"]

router = APIRouter(tags=["teams"])

TeamId = Annotated[str, Path(min_length=1, max_length=128)]


def _team_json(team: Team, members: frozenset[str]) -> dict[str, Any]:
    return {
        "team_id": team.team_id,
        "lat": team.lat,
        "lng": team.lng,
        "radius_m": team.radius_m,
        "members": sorted(members),
    }


@router.put("/v1/teams/{team_id}", response_model=TeamOut)
def put_team(
    engine: Engine, team_id: TeamId, body: TeamIn, who: DispatcherOnly, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Define a team covering a disc, or move or resize it (dispatcher only)."""
    lat, lng = to_wgs84(body.lat, body.lng, crs)
    team = engine.set_team(team_id, lat=lat, lng=lng, radius_m=body.radius_m)
    return from_wgs84(_team_json(team, engine.team_members(team_id)), crs)


@router.get("/v1/teams", response_model=TeamsOut)
def list_teams(engine: Engine, who: DispatcherOnly, crs: Crs = "wgs84") -> dict[str, Any]:
    """Every team with its members, by id (dispatcher only)."""
    teams = [_team_json(t, engine.team_members(t.team_id)) for t in engine.teams()]
    return from_wgs84({"teams": teams}, crs)


@router.delete("/v1/teams/{team_id}", response_model=TeamsOut)
def delete_team(
    engine: Engine, team_id: TeamId, who: DispatcherOnly, crs: Crs = "wgs84"
) -> dict[str, Any]:
    """Drop a team (its members leave it); answer the teams left (422: unknown id)."""
    engine.remove_team(team_id)
    return list_teams(engine, who, crs)


@router.put("/v1/responders/{responder_id}/teams", response_model=ResponderTeamsOut)
def put_responder_teams(
    engine: Engine, responder_id: ResponderId, body: ResponderTeamsIn, who: DispatcherOnly
) -> dict[str, Any]:
    """Set exactly the teams a responder belongs to (dispatcher only)."""
    engine.set_responder_teams(responder_id, body.team_ids)
    return {"responder_id": responder_id, "team_ids": sorted(engine.responder_teams(responder_id))}
