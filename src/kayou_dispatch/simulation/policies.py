"""Dispatch policies the simulation compares: who gets offered a request, and how.

A policy is a small object: a ``name``, a way to rank candidates for a request
(``ranked``, given the request's options as one :class:`~kayou_dispatch.RankQuery`), and
optionally an offer mode that overrides the run cards and a batch interval (requests wait
and are assigned together every ``batch_interval_s`` by ``DispatchEngine.assign_batch``).
Write your own by subclassing :class:`Policy` and overriding
``ranked(engine, lat, lng, query)``; :meth:`Policy.rank` takes the options as keywords (as
the lifecycle calls a ranker) or as ``query=`` and validates them once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from h3.api import basic_int as h3i

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m
from kayou_dispatch.matching.query import RankQuery

if TYPE_CHECKING:
    from kayou_dispatch.engine import DispatchEngine
    from kayou_dispatch.matching import Candidate
    from kayou_dispatch.spatial import Responder

__all__ = [
    "BatchPolicy",
    "BUILTIN_POLICIES",
    "ExpectedPolicy",
    "get_policies",
    "H3RingPolicy",
    "Policy",
    "RoadEtaPolicy",
    "StraightLinePolicy",
    "VOLUNTEER_POLICIES",
]

# What a naive app shows as an ETA when it only knows the straight-line distance.
_NAIVE_SPEED_MPS = 40_000 / 3600


@dataclass(frozen=True)
class Policy:
    """Rank by road ETA (the engine's own ranking); base class for custom policies.

    Attributes
    ----------
    name
        Shown in reports.
    offer_mode
        ``"sequential"``, ``"broadcast"`` or ``None`` (each kind's run card decides).
    batch_interval_s
        ``None``: dispatch each request as it comes; else assign waiting requests together
        this often with ``assign_batch``.
    objective
        The run cards' ``objective``: ``"eta"`` (offer the fastest first) or
        ``"expected"`` (the shortest expected time to help, learned from answers).
    accept_target
        For broadcast cards: size each wave so that enough accept with this chance
        (``None``: the card's fan-out).
    """

    name: str = "road-eta"
    offer_mode: str | None = None
    batch_interval_s: float | None = None
    objective: str = "eta"
    accept_target: float | None = None

    def rank(
        self,
        engine: DispatchEngine,
        lat: float,
        lng: float,
        *,
        query: RankQuery | None = None,
        **options: Any,
    ) -> list[Candidate]:
        """Return the candidates to offer, best first.

        Takes the ranking's options as one :class:`~kayou_dispatch.RankQuery` or as its
        keyword arguments (``k``, ``needs``, ``max_eta_s``, ``heading``, ``exclude``, what
        the lifecycle passes), validates them once and hands the query to :meth:`ranked`.
        A custom policy overrides :meth:`ranked` (or, as before, this method).

        Raises
        ------
        InvalidParameterError
            For bad options, or a query given together with options.
        """
        return self.ranked(engine, lat, lng, RankQuery.of(query, **options))

    def ranked(
        self, engine: DispatchEngine, lat: float, lng: float, query: RankQuery
    ) -> list[Candidate]:
        """Rank for one validated query: here the engine's road-ETA ranking."""
        return engine.rank(lat, lng, query=query)

    def batch_options(self) -> dict[str, Any]:
        """Keyword arguments for ``assign_batch`` (batch policies)."""
        return {}


RoadEtaPolicy = Policy


@dataclass(frozen=True)
class ExpectedPolicy(Policy):
    """Offer by expected time to help, learned from volunteers' answers; size grab waves.

    Ranks by road ETA like :class:`Policy`, then the lifecycle re-orders by
    ``eta + accept delay + (1 - p) / p * failed-offer cost`` per volunteer, and broadcast
    waves reach a 0.95 chance that enough accept (see ``docs/volunteers.md``).
    """

    name: str = "expected"
    objective: str = "expected"
    accept_target: float | None = 0.95


@dataclass(frozen=True)
class StraightLinePolicy(Policy):
    """Offer the nearest responders as the crow flies (what naive apps do)."""

    name: str = "straight-line"

    def ranked(
        self, engine: DispatchEngine, lat: float, lng: float, query: RankQuery
    ) -> list[Candidate]:
        from kayou_dispatch.matching import Candidate

        skip = query.exclude
        found = engine.index.nearest(lat, lng, k=query.k + len(skip), needs=query.needs)
        out = []
        for nb in found:
            if nb.responder_id in skip:
                continue
            eta = nb.distance_m / _NAIVE_SPEED_MPS
            if eta > query.max_eta_limit_s:
                break
            out.append(Candidate(nb.responder_id, eta, nb.distance_m, nb.distance_m))
        return out[: query.k]


@dataclass(frozen=True)
class H3RingPolicy(Policy):
    """Offer whoever is in the nearest H3 rings, ring by ring (a common fast heuristic).

    Ring ``r`` holds the responders whose cell is at most ``r`` cells from the incident's
    and who are within ``(1.5 r + 1) * 1.2`` average cell edges of it; each responder
    belongs to the first ring that holds it. Within a ring responders are taken in id order:
    the policy knows cells, not distances.

    Cost: the rings are read in batches of doubling size (1, 3, 7, 15, 30 rings), one
    radius query each, so a ranking touches each responder within the last batch's radius
    a bounded number of times (not once per ring).
    """

    name: str = "h3-ring"
    max_rings: int = 30

    def ranked(
        self, engine: DispatchEngine, lat: float, lng: float, query: RankQuery
    ) -> list[Candidate]:
        from kayou_dispatch.matching import Candidate

        index = engine.index
        k, needs, skip = query.k, query.needs, query.exclude
        origin = h3i.latlng_to_cell(lat, lng, index.resolution)
        edge_m = h3i.average_hexagon_edge_length(index.resolution, "m")

        def radius(ring: int) -> float:
            return (1.5 * ring + 1.0) * edge_m * 1.2

        def first_ring(distance_m: float) -> int:
            # The smallest ring whose radius holds this distance (as nearby() tests it).
            ring = max(0, math.ceil((distance_m / (edge_m * 1.2) - 1.0) / 1.5))
            while ring > 0 and distance_m <= radius(ring - 1):
                ring -= 1
            while distance_m > radius(ring):
                ring += 1
            return ring

        hi = 0
        while True:
            hi = min(self.max_rings, 2 * hi + 1)
            joined: list[tuple[int, str, Responder]] = []
            for nb in index.nearby(lat, lng, radius(hi), needs=needs):
                if nb.responder_id in skip:
                    continue
                r = index.get(nb.responder_id)
                cells = h3i.grid_distance(origin, h3i.str_to_int(r.cell))
                ring = max(cells, first_ring(nb.distance_m))
                if ring <= hi:
                    joined.append((ring, nb.responder_id, r))
            # Everyone in rings up to hi is in this batch: its first k are the answer.
            if len(joined) >= k or hi == self.max_rings:
                break
        joined.sort(key=lambda row: (row[0], row[1]))
        out: list[Candidate] = []
        for _, rid, r in joined[:k]:
            straight = haversine_m(lat, lng, r.lat, r.lng)
            out.append(Candidate(rid, straight / _NAIVE_SPEED_MPS, straight, straight))
        return out


@dataclass(frozen=True)
class BatchPolicy(Policy):
    """Hold requests and assign them together by road ETA every ``batch_interval_s``."""

    name: str = "batch-optimal"
    batch_interval_s: float | None = 30.0
    solver: str = "optimal"
    coverage_margin_s: float | None = None

    def batch_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"policy": self.solver}
        if self.coverage_margin_s is not None:
            opts["coverage_margin_s"] = self.coverage_margin_s
        return opts


def _builtin(base: list[Policy]) -> dict[str, Policy]:
    out: dict[str, Policy] = {}
    for p in base:
        for mode in ("sequential", "broadcast"):
            q = replace(p, name=f"{p.name}/{mode}", offer_mode=mode)
            out[q.name] = q
    return out


#: Every built-in policy by name: each ranking with sequential and with broadcast offers.
BUILTIN_POLICIES: dict[str, Policy] = _builtin(
    [
        StraightLinePolicy(),
        H3RingPolicy(),
        Policy(),
        BatchPolicy(),
        BatchPolicy(name="batch-coverage", coverage_margin_s=300.0),
    ]
)

#: The volunteer-aware policies (``expected/sequential``, ``expected/broadcast``): by name
#: (or ``"volunteers"``), kept out of ``"all"`` (the ten classic ones).
VOLUNTEER_POLICIES: dict[str, Policy] = _builtin([ExpectedPolicy()])


def get_policies(names: Iterable[str | Policy]) -> list[Policy]:
    """Resolve policy names (``"all"``, ``"volunteers"``, a full name, or a ranking name for
    both modes)."""
    known = {**BUILTIN_POLICIES, **VOLUNTEER_POLICIES}
    out: list[Policy] = []
    for name in names:
        if isinstance(name, Policy):
            out.append(name)
        elif name == "all":
            out.extend(BUILTIN_POLICIES.values())
        elif name == "volunteers":
            out.extend(VOLUNTEER_POLICIES.values())
        elif name in known:
            out.append(known[name])
        elif any(n.startswith(f"{name}/") for n in known):
            out.extend(p for n, p in known.items() if n.startswith(f"{name}/"))
        else:
            allowed = ", ".join(["all", "volunteers", *known])
            msg = f"unknown policy {name!r}; allowed: {allowed}"
            raise InvalidParameterError(msg, name="policy", value=name)
    return out
