"""Hold the lifecycle's state and apply outcome records to it: the pure reducer.

Every lifecycle change is an *outcome record* (``report``, ``dispatch``, ``offer``,
``accept``, ``decline``, ``expire``, ``withdraw``, ``depart``, ``arrive``, ``close``,
``no_candidate``; a volunteer's own ``quiet_hours`` and ``driving``, and the teams'
``team`` and ``team_members``, whose ``incident_id`` is empty): a plain dict, as
journaled. :func:`apply_record` applies one to a
:class:`LifecycleState` and returns the :class:`~kayou_dispatch.lifecycle.Event` it stands
for plus the responder statuses it sets; it does no I/O (no index, journal, clock or
subscribers), so replay and live commands run the same code and tests drive it alone.

Examples
--------
>>> state = LifecycleState()
>>> rec = {"op": "report", "incident_id": "i1", "kind": "breakdown", "severity": 3,
...        "lat": 60.17, "lng": 24.94, "needs": [["mechanic"]], "mode": "sequential",
...        "offer_timeout_s": 90.0, "fan_out": 1, "max_eta_s": None}
>>> apply_record(state, rec, 10.0).event.kind
<EventKind.REPORTED: 'reported'>
>>> offer = {"op": "offer", "incident_id": "i1", "responder_id": "r1", "eta_s": 60.0,
...          "expires_at": 100.0, "needs": ["mechanic"]}
>>> apply_record(state, offer, 10.0).statuses, state.status_of("r1")
((('r1', <Status.OFFERED: 'offered'>),), <Status.OFFERED: 'offered'>)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.lifecycle.acceptance import AcceptanceTally, Outcome
from kayou_dispatch.lifecycle.burden import QuietHours, VolunteerLedger
from kayou_dispatch.lifecycle.records import Event, EventKind, Incident, IncidentStatus, Offer
from kayou_dispatch.lifecycle.teams import Team, TeamRoster
from kayou_dispatch.spatial import Status

__all__ = ["Applied", "apply_record", "IncidentState", "LifecycleState", "snapshot"]

_STATUS_EVENT = {
    IncidentStatus.RESOLVED: EventKind.RESOLVED,
    IncidentStatus.CANCELLED: EventKind.CANCELLED,
    IncidentStatus.UNSERVED: EventKind.UNSERVED,
}


@dataclass(eq=False)
class IncidentState:
    """The mutable state of one incident (never leaves the lifecycle package)."""

    incident_id: str
    kind: str
    severity: int
    lat: float
    lng: float
    needs: tuple[frozenset[str], ...]
    mode: str
    offer_timeout_s: float
    fan_out: int
    max_eta_s: float | None
    reported_at: float
    objective: str = "eta"
    accept_target: float | None = None
    max_wave: int = 20
    max_offers: int | None = None
    window_s: float = 3600.0
    driving: bool = True
    team_first_s: float | None = None
    prefer_same_carriageway_s: float | None = None
    requester_id: str | None = None
    dispatched_at: float = math.nan
    filled: list[str | None] = field(default_factory=list)
    assigned: list[str] = field(default_factory=list)
    stage: dict[str, Status] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    declined: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    closed: IncidentStatus | None = None
    dispatched: bool = False
    deadline: float = math.inf
    starved: bool = False

    @property
    def priority(self) -> tuple[int, float, str]:
        return (-self.severity, self.reported_at, self.incident_id)

    @property
    def live(self) -> bool:
        return self.closed is None

    def status(self) -> IncidentStatus:
        if self.closed is not None:
            return self.closed
        if any(s is Status.ON_SCENE for s in self.stage.values()):
            return IncidentStatus.ON_SCENE
        return IncidentStatus.ASSIGNED if self.assigned else IncidentStatus.OPEN

    def missing_by_needs(self) -> dict[frozenset[str], int]:
        """Unfilled units per distinct needs, in unit order."""
        out: dict[frozenset[str], int] = {}
        for needs, who in zip(self.needs, self.filled, strict=True):
            if who is None:
                out[needs] = out.get(needs, 0) + 1
        return out

    def excluded(self) -> set[str]:
        return {*self.declined, *self.expired, *self.offers, *self.stage}


@dataclass(eq=False)
class LifecycleState:
    """Every incident's state, which incident engages each responder, how offers ended."""

    incidents: dict[str, IncidentState] = field(default_factory=dict)
    busy: dict[str, str] = field(default_factory=dict)  # responder -> incident
    acceptance: AcceptanceTally = field(default_factory=AcceptanceTally)
    volunteers: VolunteerLedger = field(default_factory=VolunteerLedger)
    teams: TeamRoster = field(default_factory=TeamRoster)

    def status_of(self, responder_id: str) -> Status:
        """The status the lifecycle gives a responder (AVAILABLE when not engaged)."""
        iid = self.busy.get(responder_id)
        if iid is None:
            return Status.AVAILABLE
        inc = self.incidents[iid]
        return Status.OFFERED if responder_id in inc.offers else inc.stage[responder_id]

    def clear(self) -> None:
        """Forget everything (before a rebuild from the log)."""
        self.incidents.clear()
        self.busy.clear()
        self.acceptance.clear()
        self.volunteers.clear()
        self.teams.clear()

    def pending_offers(self, responder_id: str, kind: str | None = None) -> int:
        """1 if the responder holds an outstanding offer (of ``kind``, if given), else 0."""
        iid = self.busy.get(responder_id)
        inc = None if iid is None else self.incidents[iid]
        if inc is None or responder_id not in inc.offers:
            return 0
        return int(kind is None or inc.kind == kind)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one record did: its event (if any) and the responder statuses it set."""

    event: Event | None
    statuses: tuple[tuple[str, Status], ...] = ()


def apply_record(state: LifecycleState, rec: dict[str, Any], at: float) -> Applied:
    """Apply one outcome record to ``state``; return its event and the statuses it sets.

    The one function that changes lifecycle state, live and on replay. Pure: it touches
    nothing but ``state`` (the caller writes the returned statuses to the index).
    """
    writes: list[tuple[str, Status]] = []
    op = rec["op"]
    iid = rec["incident_id"]
    rid: str | None = rec.get("responder_id")
    data: dict[str, Any] = {}
    if op == "report":
        needs = tuple(frozenset(n) for n in rec["needs"])
        inc = IncidentState(
            incident_id=iid,
            kind=rec["kind"],
            severity=rec["severity"],
            lat=rec["lat"],
            lng=rec["lng"],
            needs=needs,
            mode=rec["mode"],
            offer_timeout_s=rec["offer_timeout_s"],
            fan_out=rec["fan_out"],
            max_eta_s=rec["max_eta_s"],
            reported_at=at,
            # Absent from journals written before these run-card settings existed.
            objective=rec.get("objective", "eta"),
            accept_target=rec.get("accept_target"),
            max_wave=rec.get("max_wave", 20),
            max_offers=rec.get("max_offers_per_window"),
            window_s=rec.get("offer_window_s", 3600.0),
            driving=rec.get("driving", True),
            team_first_s=rec.get("team_first_s"),
            prefer_same_carriageway_s=rec.get("prefer_same_carriageway_s"),
            requester_id=rec.get("requester_id"),
            filled=[None] * len(needs),
        )
        state.incidents[iid] = inc
        data = {"kind": inc.kind, "severity": inc.severity, "units": len(needs)}
        return Applied(Event(EventKind.REPORTED, iid, None, at, data), tuple(writes))
    if op == "team":  # a team defined, moved or removed: no incident
        if rec.get("removed"):
            state.teams.remove_team(rec["team_id"])
        else:
            state.teams.set_team(Team(rec["team_id"], rec["lat"], rec["lng"], rec["radius_m"]))
        return Applied(None)
    if op in _RESPONDER_OPS:  # a volunteer's own settings: no incident
        assert rid is not None
        _RESPONDER_OPS[op](state.volunteers, rid, rec)
        return Applied(None)
    if op == "team_members":  # which teams a responder belongs to: no incident
        assert rid is not None
        _team_members(state.teams, rid, rec)
        return Applied(None)
    inc = state.incidents[iid]
    if op == "dispatch":
        reopened = inc.closed is IncidentStatus.UNSERVED
        inc.closed = None
        inc.dispatched = True
        inc.dispatched_at = at
        inc.deadline = rec["deadline"]
        inc.starved = False
        return Applied(
            Event(EventKind.REOPENED, iid, None, at) if reopened else None, tuple(writes)
        )
    if op == "offer":
        assert rid is not None
        offer = Offer(
            iid,
            rid,
            rec["eta_s"],
            rec["expires_at"],
            frozenset(rec["needs"]),
            offered_at=at,
        )
        inc.offers[rid] = offer
        state.volunteers.note_offer(rid, at)
        inc.starved = False
        state.busy[rid] = iid
        writes.append((rid, Status.OFFERED))
        data = {"eta_s": offer.eta_s, "expires_at": offer.expires_at}
        data["needs"] = sorted(offer.needs)
        return Applied(Event(EventKind.OFFER_MADE, iid, rid, at, data), tuple(writes))
    if op in ("withdraw", "expire", "decline"):
        assert rid is not None
        _ended(state, inc, rid, _OUTCOME[op], at)
        del inc.offers[rid]
        del state.busy[rid]
        writes.append((rid, Status.AVAILABLE))
        if op == "withdraw":
            return Applied(
                Event(EventKind.OFFER_WITHDRAWN, iid, rid, at, {"reason": rec["reason"]}),
                tuple(writes),
            )
        if op == "expire":
            inc.expired.append(rid)
            return Applied(Event(EventKind.OFFER_EXPIRED, iid, rid, at), tuple(writes))
        inc.declined.append(rid)
        return Applied(Event(EventKind.DECLINED, iid, rid, at), tuple(writes))
    if op == "accept":
        assert rid is not None
        unit = rec["unit"]
        _ended(state, inc, rid, "accepted", at)
        del inc.offers[rid]
        inc.filled[unit] = rid
        inc.assigned.append(rid)
        inc.stage[rid] = Status.ASSIGNED
        writes.append((rid, Status.ASSIGNED))
        return Applied(Event(EventKind.ACCEPTED, iid, rid, at, {"unit": unit}), tuple(writes))
    if op in ("depart", "arrive"):
        assert rid is not None
        stage = Status.EN_ROUTE if op == "depart" else Status.ON_SCENE
        inc.stage[rid] = stage
        writes.append((rid, stage))
        kind = EventKind.DEPARTED if op == "depart" else EventKind.ARRIVED
        return Applied(Event(kind, iid, rid, at), tuple(writes))
    if op == "close":
        status = IncidentStatus(rec["status"])
        for who in inc.assigned:
            if state.busy.get(who) == iid:
                del state.busy[who]
                writes.append((who, Status.AVAILABLE))
            inc.stage[who] = Status.AVAILABLE
        inc.closed = status
        return Applied(Event(_STATUS_EVENT[status], iid, None, at), tuple(writes))
    if op == "no_candidate":
        inc.starved = True
        return Applied(
            Event(EventKind.NO_CANDIDATE, iid, None, at, {"needs": rec["needs"]}), tuple(writes)
        )
    msg = f"unknown journal record {op!r}"  # pragma: no cover - a corrupt journal
    raise InvalidParameterError(msg, name="journal", value=rec)


def _quiet_hours(ledger: VolunteerLedger, rid: str, rec: dict[str, Any]) -> None:
    quiet = rec["quiet"]
    ledger.set_quiet_hours(rid, None if quiet is None else QuietHours(*quiet))


def _driving(ledger: VolunteerLedger, rid: str, rec: dict[str, Any]) -> None:
    ledger.set_driving(
        rid, continuous_s=rec["continuous_s"], at=rec["reported_at"], driving=rec["driving"]
    )


def _team_members(state_teams: TeamRoster, rid: str, rec: dict[str, Any]) -> None:
    state_teams.set_members(rid, rec["team_ids"])


#: Records about a responder alone (``incident_id`` is empty): its own settings.
_RESPONDER_OPS = {"quiet_hours": _quiet_hours, "driving": _driving}

_OUTCOME: dict[str, Outcome] = {
    "withdraw": "withdrawn",
    "expire": "timed_out",
    "decline": "declined",
}


def _ended(
    state: LifecycleState, inc: IncidentState, rid: str, outcome: Outcome, at: float
) -> None:
    """Tell the acceptance tally how an offer ended (the delay since it was made)."""
    delay_s = max(0.0, at - inc.offers[rid].offered_at)
    state.acceptance.observe(rid, inc.kind, outcome, delay_s=delay_s)


def snapshot(inc: IncidentState) -> Incident:
    """The frozen view of an incident's state."""
    offers = sorted(inc.offers.values(), key=lambda o: (o.eta_s, o.responder_id))
    return Incident(
        incident_id=inc.incident_id,
        kind=inc.kind,
        severity=inc.severity,
        lat=inc.lat,
        lng=inc.lng,
        status=inc.status(),
        needs=inc.needs,
        units=len(inc.needs),
        assigned=tuple(inc.assigned),
        offers=tuple(offers),
        declined=tuple(inc.declined),
        expired=tuple(inc.expired),
        stages=tuple((rid, inc.stage[rid]) for rid in inc.assigned),
        reported_at=inc.reported_at,
        mode=inc.mode,
        offer_timeout_s=inc.offer_timeout_s,
        dispatched=inc.dispatched,
        requester_id=inc.requester_id,
    )


# -- command plumbing --------------------------------------------------------------------
