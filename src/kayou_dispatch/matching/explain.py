"""Explain one responder's ranking for an incident: its route, its ETA, and why it is left out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from kayou_dispatch.geo import haversine_m
from kayou_dispatch.matching.candidates import OFF_NETWORK_M, SnapCache
from kayou_dispatch.matching.carriageway import opposite_carriageway, upstream_on_carriageway
from kayou_dispatch.matching.rank import Candidate
from kayou_dispatch.network import RoadNetwork, Route, Snap
from kayou_dispatch.spatial import Responder, ResponderIndex, Status

__all__ = ["explain_responder", "Explanation", "Reason"]


class Reason(StrEnum):
    """Why a responder is not ranked for an incident."""

    STALE = "stale"
    BUSY = "busy"
    LACKS_CAPABILITY = "lacks_capability"
    EXCLUDED = "excluded"
    OFF_NETWORK = "off_network"
    UNREACHABLE = "unreachable"
    BEYOND_MAX_ETA = "beyond_max_eta"
    OUTRANKED = "outranked"
    # The lifecycle's volunteer rules (explain with a kind; kayou_dispatch.lifecycle.burden).
    OFFER_LIMIT = "offer_limit"
    QUIET_HOURS = "quiet_hours"
    NEEDS_REST = "needs_rest"
    # A run card that offers the covering mutual-aid team first (kayou_dispatch.lifecycle.teams).
    OUTSIDE_TEAM = "outside_team"


@dataclass(frozen=True)
class Explanation:
    """One responder's standing for an incident.

    Attributes
    ----------
    responder_id
        The responder.
    ranked
        Whether :meth:`~kayou_dispatch.DispatchEngine.rank` with the same options returns it.
    position
        Its place in that ranking, from 1 (``None`` when not ranked).
    eta_s, distance_m
        Its fastest road route to the incident (``inf`` when off the network or unreachable),
        computed whatever its status.
    straight_m
        Great-circle distance from its position to the incident's.
    route
        That route with its shape (``None`` when off the network or unreachable).
    reasons
        Why it is not ranked (empty when ranked), in the order of the checks.
    details
        One sentence per reason.
    notes
        What else a dispatcher should know, ranked or not: e.g. "opposite carriageway:
        +14 min via the next exit" (:mod:`kayou_dispatch.matching.carriageway`).
    carriageway
        On a divided road: ``"opposite"`` (it must turn round), ``"same"`` (upstream on
        the incident's carriageway); ``None`` otherwise.
    """

    responder_id: str
    ranked: bool
    position: int | None
    eta_s: float
    distance_m: float
    straight_m: float
    route: Route | None
    reasons: tuple[Reason, ...]
    details: tuple[str, ...]
    notes: tuple[str, ...] = ()
    carriageway: str | None = None

    @property
    def reason(self) -> Reason | None:
        """The first reason it is not ranked (``None`` when ranked)."""
        return self.reasons[0] if self.reasons else None

    @property
    def summary(self) -> str:
        """A one-line account, e.g. for logs."""
        extra = "".join(f"; {n}" for n in self.notes)
        if self.ranked:
            return (
                f"{self.responder_id} is ranked #{self.position}: {self.eta_s:.0f} s, "
                f"{self.distance_m:.0f} m by road{extra}"
            )
        return f"{self.responder_id} is not ranked: " + "; ".join(self.details) + extra


def _responder_snap(index: ResponderIndex, cache: SnapCache, responder_id: str) -> Snap | None:
    slots, _, lat, lng, heading = index._eligible(only=[responder_id])
    s, _, _, _ = cache.get(slots, lat, lng, heading)
    if s.edge[0] < 0:
        return None
    node, twin = int(s.node[0]), int(s.twin[0])
    snap = Snap(
        edge=int(s.edge[0]),
        fraction=float(s.fraction[0]),
        distance_m=float(s.distance_m[0]),
        lat=float(s.lat[0]),
        lng=float(s.lng[0]),
        node=node if node >= 0 else None,
        twin=twin if twin >= 0 else None,
    )
    return snap


def explain_responder(
    network: RoadNetwork,
    index: ResponderIndex,
    cache: SnapCache,
    responder: Responder,
    dest: Snap,
    lat: float,
    lng: float,
    ranking: list[Candidate],
    *,
    k: int,
    needs: frozenset[str],
    max_eta_s: float,
    exclude: frozenset[str],
) -> Explanation:
    """Explain ``responder`` against ``ranking`` (the result of rank with the same options)."""
    rid = responder.responder_id
    reasons: list[Reason] = []
    details: list[str] = []
    if not responder.fresh:
        reasons.append(Reason.STALE)
        details.append(f"its last position (ts={responder.ts:g}) is older than the TTL")
    if responder.status is not Status.AVAILABLE:
        reasons.append(Reason.BUSY)
        details.append(f"its status is {responder.status.value}, not available")
    missing = sorted(needs - responder.capabilities)
    if missing:
        reasons.append(Reason.LACKS_CAPABILITY)
        details.append(f"it lacks {', '.join(missing)}")
    if rid in exclude:
        reasons.append(Reason.EXCLUDED)
        details.append("it was excluded")
    start = _responder_snap(index, cache, rid)
    route = None
    eta = dist = math.inf
    notes: list[str] = []
    side: str | None = None
    if start is None:
        reasons.append(Reason.OFF_NETWORK)
        way = " heading its way" if responder.heading is not None else ""
        details.append(f"no road{way} within {OFF_NETWORK_M:g} m of its position")
    else:
        found = network.route_snapped(start, dest)
        if math.isinf(found.eta_s):
            reasons.append(Reason.UNREACHABLE)
            details.append("no road route leads from it to the incident")
        else:
            route, eta, dist = found, found.eta_s, found.distance_m
            sense = opposite_carriageway(network, dest, start, heading=responder.heading, eta_s=eta)
            if sense.detail is not None:
                side = "opposite"
                notes.append(sense.detail)
            elif upstream_on_carriageway(network, dest, [start], limit_s=eta + 1.0)[0]:
                side = "same"
            if eta > max_eta_s:
                reasons.append(Reason.BEYOND_MAX_ETA)
                details.append(f"its ETA {eta:.0f} s exceeds max_eta_s={max_eta_s:g}")
    position = next((i for i, c in enumerate(ranking, 1) if c.responder_id == rid), None)
    if position is None and not reasons:
        reasons.append(Reason.OUTRANKED)
        last = ranking[-1].eta_s if ranking else math.nan
        details.append(f"{len(ranking)} responders are faster (k={k}; the last takes {last:.0f} s)")
    straight = haversine_m(responder.lat, responder.lng, lat, lng)
    return Explanation(
        rid,
        position is not None,
        position,
        eta,
        dist,
        straight,
        route,
        tuple(reasons),
        tuple(details),
        tuple(notes),
        side,
    )
