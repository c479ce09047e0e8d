"""Handle the lifecycle's commands: report, offer, answer, move, close, batch-assign.

:class:`Commands` holds the command handlers of
:class:`~kayou_dispatch.lifecycle.Dispatcher` (which mixes it in): each validates its
input, then, inside ``self._run`` (catch up, idempotency, clock, journal, events),
decides -- calling the injected ranker or ETA matrix -- and states its outcome as records
through ``self._record``, which the pure reducer
(:func:`~kayou_dispatch.lifecycle.state.apply_record`) applies. Nothing here changes state
directly; the plumbing lives in :mod:`kayou_dispatch.lifecycle.dispatcher`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, NoReturn, TypeVar

import numpy as np

from kayou_dispatch.errors import (
    DuplicateIncidentError,
    InvalidParameterError,
    InvalidTransitionError,
    UnknownResponderError,
)
from kayou_dispatch.geo import validate_latlng
from kayou_dispatch.lifecycle._validate import check_id
from kayou_dispatch.lifecycle.burden import Hold
from kayou_dispatch.lifecycle.delivery import EventDelivery
from kayou_dispatch.lifecycle.records import CLOSED_STATUSES, Event, Incident, IncidentStatus, Offer
from kayou_dispatch.lifecycle.runcards import RunCard, unit_needs_for
from kayou_dispatch.lifecycle.state import IncidentState, LifecycleState
from kayou_dispatch.matching.expected import Odds, order_by_expected
from kayou_dispatch.matching.query import RankQuery
from kayou_dispatch.matching.waves import accept_chance, wave_size
from kayou_dispatch.spatial import ResponderIndex, Status

__all__ = ["Commands"]

_T = TypeVar("_T")

#: Extra candidates asked of the ranker, in case some became busy since it looked.
_RANK_SLACK = 3


def _volunteer_settings(card: RunCard) -> dict[str, Any]:
    """The run card's volunteer-aware settings a report records (only when not default)."""
    out: dict[str, Any] = {}
    if card.objective != "eta":
        out["objective"] = card.objective
    if card.accept_target is not None:
        out["accept_target"] = card.accept_target
        out["max_wave"] = card.max_wave
    if card.max_offers_per_window is not None:
        out["max_offers_per_window"] = card.max_offers_per_window
        out["offer_window_s"] = card.offer_window_s
    if not card.driving:
        out["driving"] = False
    if card.team_first_s is not None:
        out["team_first_s"] = card.team_first_s
    if card.prefer_same_carriageway_s is not None:
        out["prefer_same_carriageway_s"] = card.prefer_same_carriageway_s
    return out


class _TeamCandidate(NamedTuple):
    """A team member and its road ETA (what the ranker's candidates offer)."""

    responder_id: str
    eta_s: float


class Commands:
    """The lifecycle's commands (mixed into :class:`~kayou_dispatch.lifecycle.Dispatcher`)."""

    # Provided by the Dispatcher.
    _lock: threading.RLock
    _state: LifecycleState
    _index: ResponderIndex
    _incidents: dict[str, IncidentState]
    _busy: dict[str, str]
    _cards: dict[str, RunCard]
    _rank: Callable[..., Any]
    _eta_matrix: Callable[..., Any] | None
    _same_carriageway: Callable[[float, float, Sequence[str]], Sequence[bool]] | None
    _matrix_limits: bool
    _snap_check: Callable[[float, float], Any] | None
    _unserved_after_s: float
    _rare: frozenset[str]
    _coverage_radius_m: float
    _now: float
    _events: EventDelivery
    _ticks: Callable[[float, float], bool] | None  # which incidents tick() handles

    # The Dispatcher's plumbing (see kayou_dispatch.lifecycle.dispatcher).
    _run: Callable[..., Any]  # _run(name, body, *, subject, responder_id, request_id)
    _record: Callable[..., None]  # _record(op, incident_id, **fields): apply + journal
    _get: Callable[[str], IncidentState]
    _known_responder: Callable[[str], str]
    _snapshot: Callable[[IncidentState], Incident]
    _status_of: Callable[[str], Status]

    # -- reporting ---------------------------------------------------------------------------

    def report_incident(
        self,
        incident_id: str,
        lat: float,
        lng: float,
        *,
        kind: str,
        severity: int = 3,
        needs: Iterable[str] | Iterable[Iterable[str]] | None = None,
        units: int | None = None,
        request_id: str | None = None,
        dispatch: bool = False,
        requester_id: str | None = None,
    ) -> Incident:
        """Record a new incident (OPEN); with ``dispatch=True`` also start dispatching.

        Parameters
        ----------
        incident_id
            The host's id, unique for the dispatcher's lifetime.
        lat, lng
            Where the truck is, WGS-84 degrees.
        kind
            A run-card kind (see :mod:`kayou_dispatch.lifecycle.runcards`).
        severity
            1 (least) to 5 (most severe): more severe incidents are served first.
        needs
            ``None``: the run card's needs. Capabilities (``{"tow"}``; ``()`` for none):
            the same needs for every unit. One set per unit (``[["crane"], [], []]``):
            per-unit needs, and ``units`` (if given) must match.
        units
            ``None``: the run card's (or ``len(needs)`` per unit). With run-card needs,
            fewer units keep the card's first units and more repeat its last one.
        request_id
            Idempotency key: a retry with the same key returns the first result.
        dispatch
            Also call :meth:`dispatch`.
        requester_id
            Who asked for help (the server's requester token), recorded with the report
            so that requester may follow the incident; ``None``: reported by a dispatcher.

        Raises
        ------
        InvalidParameterError
            Bad id, kind, severity, needs or units.
        InvalidCoordinateError
            A latitude/longitude that is not a place.
        OffNetworkError
            From ``snap_check``: the point is too far from any road.
        DuplicateIncidentError
            The id is taken (and ``request_id`` is not a retry).
        """
        check_id("incident_id", incident_id)
        if requester_id is not None:
            check_id("requester_id", requester_id)
        flat, flng = validate_latlng(lat, lng)
        if (
            not isinstance(severity, int | np.integer)
            or isinstance(severity, bool)
            or not 1 <= severity <= 5
        ):
            msg = f"severity must be an integer from 1 (least) to 5 (most severe), got {severity!r}"
            raise InvalidParameterError(msg, name="severity", value=severity)
        with self._lock:
            card = self._cards.get(kind) if isinstance(kind, str) else None
        if card is None:
            msg = f"unknown incident kind {kind!r}; known: {', '.join(sorted(self._cards))}"
            raise InvalidParameterError(msg, name="kind", value=kind)
        unit_needs = unit_needs_for(card, needs=needs, units=units)

        def body() -> Incident:
            if incident_id in self._incidents:
                msg = f"incident {incident_id!r} already exists"
                raise DuplicateIncidentError(msg, incident_id=incident_id)
            if self._snap_check is not None:
                self._snap_check(flat, flng)
            self._record(
                "report",
                incident_id,
                kind=kind,
                severity=int(severity),
                lat=flat,
                lng=flng,
                needs=[sorted(n) for n in unit_needs],
                mode=card.mode,
                offer_timeout_s=card.offer_timeout_s,
                fan_out=card.fan_out,
                max_eta_s=card.max_eta_s,
                **_volunteer_settings(card),
                # Only when set: reports without a requester keep their old record.
                **({} if requester_id is None else {"requester_id": requester_id}),
            )
            inc = self._incidents[incident_id]
            if dispatch:
                self._start(inc)
                self._fill(inc)
            return self._snapshot(inc)

        return self._run("report_incident", body, subject=incident_id, request_id=request_id)

    # -- dispatching -------------------------------------------------------------------------

    def _start(self, inc: IncidentState) -> None:
        if not inc.dispatched or inc.closed is IncidentStatus.UNSERVED:
            self._record("dispatch", inc.incident_id, deadline=self._now + self._unserved_after_s)

    def _refuse_closed(self, inc: IncidentState, attempted: str) -> None:
        if inc.closed in CLOSED_STATUSES:
            msg = f"incident {inc.incident_id!r} is {inc.closed}; cannot {attempted}"
            raise InvalidTransitionError(
                msg, subject=inc.incident_id, current=inc.closed, attempted=attempted
            )

    def _is_free(self, responder_id: str) -> bool:
        if responder_id in self._busy:
            return False
        try:
            return self._index.get(responder_id).status is Status.AVAILABLE
        except UnknownResponderError:
            return False

    def _fill(self, inc: IncidentState) -> list[Offer]:
        """Top the incident's offers up to its run card's target; mark it unserved if due."""
        if not inc.live or not inc.dispatched:
            return []
        made: list[Offer] = []
        starving: list[frozenset[str]] = []
        for needs, missing in inc.missing_by_needs().items():
            open_offers = [o for o in inc.offers.values() if o.needs == needs]
            outstanding = len(open_offers)
            sent: list[float] = []  # accept chances of the open offers (wave sizing only)
            if inc.accept_target is None:
                want = missing * inc.fan_out - outstanding
                ask = want + _RANK_SLACK
            else:  # a wave sized by learned chances; at most max_wave open at once
                sent = [o.p_accept for o in self._odds(inc, [o.responder_id for o in open_offers])]
                if accept_chance(sent, need=missing) >= inc.accept_target:
                    continue  # the open offers suffice: no need to rank
                want = inc.max_wave - outstanding
                ask = want + _RANK_SLACK
            if want <= 0:
                continue
            exclude = inc.excluded()
            # Volunteers held back whatever their ETA (offer limit, quiet hours): the
            # ranker need not return them.
            ledger = self._state.volunteers
            maybe = ledger.candidates_for_holds(max_offers=inc.max_offers)
            held = {r for r in maybe if self.holds(inc, r, 0.0)}
            query = RankQuery(ask, needs, inc.max_eta_s, None, frozenset(exclude | held))
            usable: list[tuple[str, float]] = []
            team = self._team_phase(inc)
            if team is not None:  # the covering team first; everyone once none is free
                usable = self._usable(inc, self._team_candidates(inc, query, team), exclude)
            if not usable:
                usable = self._usable(inc, self._candidates(inc, query), exclude)
            if inc.accept_target is not None:
                odds = self._odds(inc, [rid for rid, _ in usable])
                want = wave_size(
                    sent,
                    [o.p_accept for o in odds[:want]],
                    need=missing,
                    target=inc.accept_target,
                    at_least=len(inc.declined) + len(inc.expired),
                )
            for rid, eta_s in usable[: max(want, 0)]:
                self._offer(inc, rid, eta_s, needs)
                made.append(inc.offers[rid])
            if outstanding == 0 and not any(o.needs == needs for o in inc.offers.values()):
                starving.append(needs)
        if starving and not inc.offers and not inc.assigned and self._now >= inc.deadline:
            self._record("close", inc.incident_id, status=IncidentStatus.UNSERVED.value)
        elif starving and not inc.starved:
            self._record("no_candidate", inc.incident_id, needs=[sorted(n) for n in starving])
        return made

    def _usable(
        self, inc: IncidentState, candidates: Iterable[Any], exclude: set[str]
    ) -> list[tuple[str, float]]:
        """The candidates that may be offered now, as ``(responder_id, eta_s)``."""
        return [
            (cand.responder_id, float(cand.eta_s))
            for cand in candidates
            if cand.responder_id not in exclude
            and self._is_free(cand.responder_id)
            # a ranker that ignores max_eta_s
            and (inc.max_eta_s is None or cand.eta_s <= inc.max_eta_s)
            and not self.holds(inc, cand.responder_id, float(cand.eta_s))
        ]

    def _candidates(self, inc: IncidentState, query: RankQuery) -> list[Any]:
        """The ranker's candidates, best first by the incident's objective."""
        return self._ordered(
            inc, query.k, lambda n: self._rank(inc.lat, inc.lng, **query.replace(k=n).options())
        )

    def _ordered(
        self, inc: IncidentState, k: int, fetch: Callable[[int], Sequence[Any]]
    ) -> list[Any]:
        """The top ``k`` of ``fetch(n)`` (the ``n`` best by ETA) in the incident's order.

        By ETA or expected time to help (the objective); with ``prefer_same_carriageway_s``,
        helpers upstream on the incident's carriageway count that much sooner, and more
        are fetched until nobody further down could still come first (exact top ``k``).
        """

        def scored(n: int) -> list[tuple[Any, float]]:
            if inc.objective != "expected":
                return [(c, float(c.eta_s)) for c in fetch(n)]
            ordered = order_by_expected(fetch, lambda ids: self._odds(inc, ids), k=n)
            return [(cand, exp_s) for cand, exp_s, _ in ordered]

        bonus = inc.prefer_same_carriageway_s
        if not bonus or self._same_carriageway is None:
            return [c for c, _ in scored(k)]
        n = k
        while True:
            found = scored(n)
            flags = self._same_carriageway(inc.lat, inc.lng, [c.responder_id for c, _ in found])
            adjusted = sorted(
                (
                    (score - bonus if upstream else score, c.responder_id, c)
                    for (c, score), upstream in zip(found, flags, strict=True)
                ),
                key=lambda t: (t[0], t[1]),
            )
            # Anyone not fetched scores at least the last score seen, minus the bonus.
            done = len(found) < n or (
                len(adjusted) >= k and adjusted[k - 1][0] <= found[-1][1] - bonus
            )
            if done:
                return [c for _, _, c in adjusted[:k]]
            n *= 2

    def _team_phase(self, inc: IncidentState) -> frozenset[str] | None:
        """The covering team's members while the run card offers to them first, else None."""
        if inc.team_first_s is None or not self._now < inc.dispatched_at + inc.team_first_s:
            return None
        team = self._state.teams.covering(inc.lat, inc.lng)
        return None if team is None else self._state.teams.members(team.team_id)

    def _team_candidates(
        self, inc: IncidentState, query: RankQuery, members: frozenset[str]
    ) -> list[Any]:
        """The team's free, fresh, capable members by road ETA (then the incident's order)."""
        ids = sorted(
            rid
            for rid in members - query.exclude
            if self._is_free(rid)
            and (r := self._index.get(rid)).fresh
            and query.needs <= r.capabilities
        )
        if not ids:
            return []
        if self._eta_matrix is None:  # no matrix: the ranker's order, team members only
            cands = [
                c
                for c in self._rank(inc.lat, inc.lng, **query.replace(k=len(ids) + 1).options())
                if c.responder_id in members
            ]
        else:
            limit = math.inf if inc.max_eta_s is None else inc.max_eta_s
            got = (
                self._eta_matrix([(inc.lat, inc.lng)], ids, limit_s=limit)
                if self._matrix_limits
                else self._eta_matrix([(inc.lat, inc.lng)], ids)
            )
            row = np.asarray(got, dtype=np.float64).reshape(-1)
            cands = sorted(
                (
                    _TeamCandidate(rid, float(t))
                    for rid, t in zip(ids, row.tolist(), strict=True)
                    if t <= limit
                ),
                key=lambda c: (c.eta_s, c.responder_id),
            )
        return self._ordered(inc, query.k, lambda n: cands[:n])

    def holds(self, inc: IncidentState, responder_id: str, eta_s: float) -> list[Hold]:
        """Why a volunteer is held back from this incident's offers now (empty: it is not)."""
        return self._state.volunteers.holds(
            responder_id,
            now=self._now,
            eta_s=eta_s,
            max_offers=inc.max_offers,
            window_s=inc.window_s,
            driving=inc.driving,
        )

    def _odds(self, inc: IncidentState, responder_ids: Sequence[str]) -> list[Odds]:
        """Each responder's learned odds of answering an offer of this incident's kind."""
        tally = self._state.acceptance
        return [
            tally.odds(rid, kind=inc.kind, offer_timeout_s=inc.offer_timeout_s)
            for rid in responder_ids
        ]

    def _offer(
        self, inc: IncidentState, responder_id: str, eta_s: float, needs: frozenset[str]
    ) -> None:
        self._record(
            "offer",
            inc.incident_id,
            responder_id=responder_id,
            eta_s=eta_s,
            expires_at=self._now + inc.offer_timeout_s,
            needs=sorted(needs),
        )

    def dispatch(self, incident_id: str) -> list[Offer]:
        """Offer the incident's missing units to the best candidates; return the new offers.

        Sequential incidents get one offer per missing unit, broadcast ones ``fan_out``
        per missing unit; units already covered by outstanding offers get none. Calling it
        again tops offers up (nothing if none is missing). An UNSERVED incident re-opens.

        Raises
        ------
        UnknownIncidentError
            When no incident has this id.
        InvalidTransitionError
            When the incident is resolved or cancelled.
        """

        def body() -> list[Offer]:
            inc = self._get(incident_id)
            self._refuse_closed(inc, "dispatch")
            self._start(inc)
            return self._fill(inc)

        return self._run("dispatch", body, subject=incident_id)

    def offer(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Offer an incident to a responder a dispatcher chose, whoever the ranking prefers.

        The offer is for the first missing unit (in unit order) whose needs the responder
        has, with the road ETA from ``eta_matrix`` and the run card's time-out; it is
        answered like any other (:meth:`accept`, :meth:`decline`, expiry). It may go beyond
        the run card's fan-out and ``max_eta_s`` (the dispatcher's call). An undispatched
        incident stays so (no automatic offers follow a decline); an UNSERVED one re-opens.

        Returns
        -------
        Incident
            The incident with the new offer (like :meth:`accept`, so a retried
            ``request_id`` returns the same thing, after a restart too).

        Raises
        ------
        UnknownIncidentError, UnknownResponderError
            Unknown ids.
        InvalidTransitionError
            The incident is resolved or cancelled or misses no unit; the responder is not
            AVAILABLE (offline, or offered or assigned to any incident), lacks the needs of
            every missing unit, declined this incident or let its offer lapse, or cannot
            reach it by road.
        InvalidParameterError
            No ``eta_matrix`` was given to the dispatcher.

        Examples
        --------
        >>> from kayou_dispatch import ResponderIndex
        >>> from kayou_dispatch.lifecycle import Dispatcher
        >>> index = ResponderIndex(clock=lambda: 1000.0)
        >>> index.update_position("r1", 22.720, 114.250, capabilities={"mechanic"})
        True
        >>> d = Dispatcher(index, rank=lambda *a, **kw: [],
        ...                eta_matrix=lambda points, ids: [[120.0] * len(ids)])
        >>> _ = d.report_incident("inc-1", 22.721, 114.251, kind="breakdown")
        >>> [o] = d.offer("inc-1", "r1").offers
        >>> (o.responder_id, o.eta_s, o.expires_at), index.get("r1").status
        (('r1', 120.0, 1090.0), <Status.OFFERED: 'offered'>)
        """

        def body() -> Incident:
            eta_matrix = self._eta_matrix
            if eta_matrix is None:  # checked here: a retried request_id needs none
                msg = "offer needs an eta_matrix callable (give one to the Dispatcher)"
                raise InvalidParameterError(msg, name="eta_matrix", value=None)
            inc = self._get(incident_id)
            rid = self._known_responder(responder_id)
            self._refuse_closed(inc, "offer")
            missing = list(inc.missing_by_needs())
            if not missing:
                self._refuse(inc, rid, "offer", "the incident misses no unit")
            if rid in inc.offers or rid in inc.stage:
                self._refuse(inc, rid, "offer", "it is already offered or assigned this incident")
            if rid in inc.declined or rid in inc.expired:
                why = "it declined this incident or let its offer lapse"
                self._refuse(inc, rid, "offer", why)
            if not self._is_free(rid):
                self._refuse(inc, rid, "offer", "it is not AVAILABLE (offline or engaged)")
            caps = self._index.get(rid).capabilities
            needs = next((n for n in missing if n <= caps), None)
            if needs is None:
                why = f"it lacks the needs of every missing unit {[sorted(n) for n in missing]}"
                self._refuse(inc, rid, "offer", why)
            eta_s = float(np.asarray(eta_matrix([(inc.lat, inc.lng)], [rid]), float)[0, 0])
            if not math.isfinite(eta_s):
                self._refuse(inc, rid, "offer", "it cannot reach the incident by road")
            if inc.closed is IncidentStatus.UNSERVED:
                self._start(inc)
            self._offer(inc, rid, eta_s, needs)
            return self._snapshot(inc)

        return self._run(
            "offer", body, subject=incident_id, responder_id=responder_id, request_id=request_id
        )

    def tick(self) -> list[Event]:
        """Expire due offers, re-offer, and mark incidents unserved, by the injected clock.

        Offers whose ``expires_at`` is reached are withdrawn (their responders are never
        offered that incident again); then every dispatched, live incident, most severe
        first, has its offers topped up (so expiries cascade and responders who came
        online are used) or, past ``unserved_after_s`` with no one to ask, becomes UNSERVED.
        Under :meth:`set_tick_scope`, only the incidents it gives this process.

        Returns
        -------
        list of Event
            The events this tick caused, in order.
        """

        def body() -> list[Event]:
            first = self._events.mark()
            owns = self._ticks
            mine = [
                inc
                for inc in self._incidents.values()
                if owns is None or ((inc.offers or inc.live) and owns(inc.lat, inc.lng))
            ]
            due = sorted(
                (o.expires_at, o.incident_id, o.responder_id)
                for inc in mine
                for o in inc.offers.values()
                if o.expires_at <= self._now
            )
            for _, iid, rid in due:
                self._record("expire", iid, responder_id=rid)
            live = [i for i in mine if i.live and i.dispatched]
            for inc in sorted(live, key=lambda i: i.priority):
                if any(w is None for w in inc.filled):
                    self._fill(inc)
            return self._events.since(first)

        return self._run("tick", body)

    def _refuse(self, inc: IncidentState, rid: str, attempted: str, why: str) -> NoReturn:
        current = inc.stage.get(rid) or ("offered" if rid in inc.offers else "not engaged")
        msg = f"responder {rid!r} cannot {attempted} incident {inc.incident_id!r}: {why}"
        raise InvalidTransitionError(msg, subject=rid, current=current, attempted=attempted)

    # -- closing -----------------------------------------------------------------------------

    def _close(self, inc: IncidentState, status: IncidentStatus) -> None:
        for rid in sorted(inc.offers):
            self._record("withdraw", inc.incident_id, responder_id=rid, reason=status.value)
        self._record("close", inc.incident_id, status=status.value)

    def resolve(self, incident_id: str, *, request_id: str | None = None) -> Incident:
        """Close an ASSIGNED or ON_SCENE incident as resolved; release its responders.

        Outstanding offers are withdrawn; assigned responders return to AVAILABLE.

        Raises
        ------
        InvalidTransitionError
            When nobody is assigned (use :meth:`cancel`) or it is already closed.
        """

        def body() -> Incident:
            inc = self._get(incident_id)
            current = inc.status()
            if current not in (IncidentStatus.ASSIGNED, IncidentStatus.ON_SCENE):
                msg = (
                    f"incident {incident_id!r} is {current}; only an ASSIGNED or ON_SCENE "
                    "incident can be resolved (cancel the others)"
                )
                raise InvalidTransitionError(
                    msg, subject=incident_id, current=current, attempted="resolve"
                )
            self._close(inc, IncidentStatus.RESOLVED)
            return self._snapshot(inc)

        return self._run("resolve", body, subject=incident_id, request_id=request_id)

    def cancel(self, incident_id: str, *, request_id: str | None = None) -> Incident:
        """Cancel an incident that is not resolved or cancelled; release its responders.

        Raises
        ------
        InvalidTransitionError
            When it is already resolved or cancelled.
        """

        def body() -> Incident:
            inc = self._get(incident_id)
            self._refuse_closed(inc, "cancel")
            self._close(inc, IncidentStatus.CANCELLED)
            return self._snapshot(inc)

        return self._run("cancel", body, subject=incident_id, request_id=request_id)
