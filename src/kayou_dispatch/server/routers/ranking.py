"""``/v1/rank`` and ``/v1/route``: who is fastest to a place, and the road between two."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from kayou_dispatch.server._crs import Crs, from_wgs84, to_wgs84
from kayou_dispatch.server._deps import DispatcherOnly, Engine
from kayou_dispatch.server._models import RankOut, RouteOut, candidate_json, route_json

__all__ = ["router"]

router = APIRouter(tags=["ranking"])

Lat = Annotated[float, Query(ge=-90.0, le=90.0, allow_inf_nan=False)]
Lng = Annotated[float, Query(ge=-180.0, le=180.0, allow_inf_nan=False)]


@router.get("/v1/rank", response_model=RankOut)
def get_rank(
    engine: Engine,
    who: DispatcherOnly,
    lat: Lat,
    lng: Lng,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    needs: Annotated[list[str] | None, Query(max_length=64)] = None,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    """The ``k`` responders with the smallest road ETA (dispatcher only)."""
    wanted = sorted({n.strip() for v in needs or () for n in v.split(",") if n.strip()})
    found = engine.rank(*to_wgs84(lat, lng, crs), k=k, needs=wanted)
    return {"candidates": [candidate_json(c) for c in found]}


@router.get("/v1/route", tags=["console"], response_model=RouteOut)
def get_route(
    engine: Engine,
    who: DispatcherOnly,
    from_lat: Lat,
    from_lng: Lng,
    to_lat: Lat,
    to_lng: Lng,
    heading: Annotated[float | None, Query(ge=0.0, le=360.0, allow_inf_nan=False)] = None,
    crs: Crs = "wgs84",
) -> dict[str, Any]:
    """The fastest road route between two points, with its shape (dispatcher only).

    ``reachable: false`` (and ``null`` ETA and distance) when no road leads there.
    """
    start, end = to_wgs84(from_lat, from_lng, crs), to_wgs84(to_lat, to_lng, crs)
    return from_wgs84(route_json(engine.network.route(*start, *end, heading=heading)), crs)
