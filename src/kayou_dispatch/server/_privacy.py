"""Show a requester its helpers: nobody before acceptance, a coarse cell until arrival.

A requester (the driver or fleet that asked for help) follows its incident with
``GET /v1/incidents/{id}``. Volunteers drive their own trucks, so their whereabouts are
theirs until they commit:

- a responder that was offered the incident but has not accepted is not shown at all
  (neither that it exists nor where it is), nor is any other responder;
- an accepted helper (ASSIGNED or EN_ROUTE) is shown at reduced precision: the centre of
  the H3 cell of resolution :data:`REQUESTER_CELL_RES` (8: hexagons of 0.74 km² on average,
  whose centre lies within about one edge, 0.5 km, of the real fix: around Helsinki
  286 m on average and 498 m at most over 20,000 random points) holding its
  last fix, with that cell's id;
- once ON_SCENE, its precise fix (it is where the requester is);
- once released (the incident resolved or cancelled), nothing again.

The requester's own point is its own: it is sent back precisely.
"""

from __future__ import annotations

from typing import Any

import h3

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import KayouDispatchError
from kayou_dispatch.lifecycle import Incident
from kayou_dispatch.server._models import incident_core_json
from kayou_dispatch.spatial import Status

__all__ = ["helper_json", "requested_incident_json", "REQUESTER_CELL_RES"]

#: The H3 resolution of an accepted helper's position as a requester sees it before arrival.
REQUESTER_CELL_RES = 8

#: The stages in which a helper is shown to the requester (accepted, not yet released).
_SHOWN = (Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SCENE)


def helper_json(engine: DispatchEngine, responder_id: str, stage: Status) -> dict[str, Any]:
    """One accepted helper as its requester sees it: its stage and a coarse or exact point.

    ``lat``/``lng`` are ``None`` when the helper has no fix the engine knows.

    Examples
    --------
    >>> from kayou_dispatch import DispatchEngine, load_network
    >>> engine = DispatchEngine(load_network("helsinki"), clock=lambda: 0.0)
    >>> engine.update_position("r1", 60.1699, 24.9384, ts=0.0)
    True
    >>> seen = helper_json(engine, "r1", Status.EN_ROUTE)
    >>> seen["precise"], seen["cell"], (seen["lat"], seen["lng"]) != (60.1699, 24.9384)
    (False, '881126d339fffff', True)
    >>> helper_json(engine, "r1", Status.ON_SCENE)["lat"]
    60.1699
    """
    out: dict[str, Any] = {"stage": stage.value, "lat": None, "lng": None}
    precise = stage is Status.ON_SCENE
    out["precise"] = precise
    out["cell"] = None
    try:
        fix = engine.get(responder_id)
    except KayouDispatchError:  # no fix (or forgotten): nothing to show
        return out
    if precise:
        out["lat"], out["lng"] = fix.lat, fix.lng
    else:
        cell = h3.latlng_to_cell(fix.lat, fix.lng, REQUESTER_CELL_RES)
        out["lat"], out["lng"] = h3.cell_to_latlng(cell)
        out["cell"] = cell
    return out


def requested_incident_json(engine: DispatchEngine, inc: Incident) -> dict[str, Any]:
    """An incident as its requester sees it: no offers, its helpers per :func:`helper_json`."""
    stages = dict(inc.stages)
    return {
        **incident_core_json(inc),
        "helpers": [
            helper_json(engine, rid, stages[rid])
            for rid in inc.assigned
            if stages.get(rid) in _SHOWN
        ],
    }
