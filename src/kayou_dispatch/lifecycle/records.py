"""Describe the lifecycle's results: incident snapshots, offers and events.

Everything here is an immutable value handed to the host application; the dispatcher's
own mutable state (:mod:`kayou_dispatch.lifecycle.state`) never leaves the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from kayou_dispatch.spatial import Status

__all__ = ["Event", "EventKind", "Incident", "IncidentStatus", "Offer"]


class IncidentStatus(StrEnum):
    """Where an incident stands.

    ``OPEN``
        Reported, nobody assigned yet (offers may be outstanding).
    ``ASSIGNED``
        At least one responder accepted; missing units are still being offered.
    ``ON_SCENE``
        At least one assigned responder arrived.
    ``RESOLVED``, ``CANCELLED``
        Closed by :meth:`~kayou_dispatch.lifecycle.Dispatcher.resolve` or
        :meth:`~kayou_dispatch.lifecycle.Dispatcher.cancel`; every responder is released.
    ``UNSERVED``
        Dispatched, yet ``unserved_after_s`` later nobody is assigned and no offer is
        outstanding (no candidate remains). :meth:`~kayou_dispatch.lifecycle.Dispatcher.dispatch`
        re-opens it; :meth:`~kayou_dispatch.lifecycle.Dispatcher.cancel` closes it.
    """

    OPEN = "open"
    ASSIGNED = "assigned"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    UNSERVED = "unserved"


#: Statuses after which nothing but a re-dispatch (UNSERVED only) can happen.
CLOSED_STATUSES = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Offer:
    """An outstanding proposal to one responder to serve one unit of an incident.

    Attributes
    ----------
    incident_id, responder_id
        Who is asked to go where.
    eta_s
        The ranker's travel time estimate, seconds.
    expires_at
        Clock time after which the offer lapses (``tick`` frees the responder).
    needs
        The capabilities of the unit the offer is for.
    offered_at
        Clock time the offer was made.

    Examples
    --------
    >>> Offer("inc-1", "r7", 240.0, 1060.0)
    Offer(incident_id='inc-1', responder_id='r7', eta_s=240.0, expires_at=1060.0, needs=frozenset(), offered_at=0.0)
    """  # noqa: E501 - a doctest's output line

    incident_id: str
    responder_id: str
    eta_s: float
    expires_at: float
    needs: frozenset[str] = frozenset()
    offered_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Incident:
    """A snapshot of one incident.

    Attributes
    ----------
    incident_id
        The host's id.
    kind
        Run-card kind ("rollover", "breakdown"...).
    severity
        1 (least) to 5 (most severe); more severe incidents are served first.
    lat, lng
        WGS-84 degrees.
    status
        See :class:`IncidentStatus`.
    needs
        Capabilities required of each unit, one frozenset per unit.
    units
        How many responders the incident needs (``len(needs)``).
    assigned
        Responders who accepted, in acceptance order.
    offers
        Outstanding offers, sorted by ETA then responder id.
    declined
        Responders who declined, in order.
    expired
        Responders who let an offer lapse, in order (never offered this incident again).
    stages
        ``(responder_id, Status)`` for each assigned responder (ASSIGNED, EN_ROUTE,
        ON_SCENE; AVAILABLE once released by resolve/cancel).
    reported_at
        Clock time of the report.
    mode
        Offer mode: ``"sequential"`` or ``"broadcast"``.
    offer_timeout_s
        How long an offer stays open.
    dispatched
        Whether dispatching has started.
    requester_id
        Who asked for help (a server requester token's id), ``None`` when a dispatcher
        reported it.
    """

    incident_id: str
    kind: str
    severity: int
    lat: float
    lng: float
    status: IncidentStatus
    needs: tuple[frozenset[str], ...]
    units: int
    assigned: tuple[str, ...]
    offers: tuple[Offer, ...]
    declined: tuple[str, ...]
    expired: tuple[str, ...]
    stages: tuple[tuple[str, Status], ...]
    reported_at: float
    mode: str
    offer_timeout_s: float
    dispatched: bool
    requester_id: str | None = None

    @property
    def missing(self) -> int:
        """Units nobody has accepted yet."""
        return self.units - len(self.assigned)


class EventKind(StrEnum):
    """What happened, as pushed to subscribers.

    A kind also equals its value spelled with hyphens, and can be looked up that way, so
    hosts that name events ``"offer-made"`` and those that say ``"offer_made"`` both work.

    Examples
    --------
    >>> EventKind.OFFER_MADE == "offer_made", EventKind.OFFER_MADE == "offer-made"
    (True, True)
    >>> EventKind("no-candidate")
    <EventKind.NO_CANDIDATE: 'no_candidate'>
    """

    REPORTED = "reported"
    OFFER_MADE = "offer_made"
    OFFER_EXPIRED = "offer_expired"
    OFFER_WITHDRAWN = "offer_withdrawn"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    NO_CANDIDATE = "no_candidate"
    UNSERVED = "unserved"
    REOPENED = "reopened"

    @classmethod
    def _missing_(cls, value: object) -> EventKind | None:
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            for kind in cls:
                if kind.value == key:
                    return kind
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and not isinstance(other, EventKind):
            return self.value == other.replace("-", "_")
        return self is other

    __hash__ = str.__hash__


def _frozen_data(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to an incident, for notifications.

    Attributes
    ----------
    kind
        See :class:`EventKind`.
    incident_id
        The incident concerned.
    responder_id
        The responder concerned, or ``None`` (reported, resolved, no candidate...).
    at
        Clock time of the command that caused it.
    data
        Read-only details (``eta_s`` and ``expires_at`` of an offer, ``reason`` of a
        withdrawal, ``needs`` of a unit nobody can serve...).
    seq
        Where it stands in the lifecycle: ``(txn, i)``, the command log's transaction that
        caused it and its rank among that command's events (``None`` until the command is
        logged). Every process following one log gives an event the same ``seq``: it
        orders and resumes a stream of events (``/v1/events?since=``), and is left out of
        equality.

    Examples
    --------
    >>> e = Event(EventKind.ACCEPTED, "inc-1", "r7", 1000.0)
    >>> e.kind, e.responder_id, dict(e.data)
    (<EventKind.ACCEPTED: 'accepted'>, 'r7', {})
    """

    kind: EventKind
    incident_id: str
    responder_id: str | None
    at: float
    data: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)
    seq: tuple[int, int] | None = field(default=None, hash=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen_data(self.data))
