"""Run the incident lifecycle: report, offer, accept or decline, depart, arrive, close.

:class:`Dispatcher` owns incidents and offers; responder statuses live in the
:class:`~kayou_dispatch.spatial.ResponderIndex` and are kept in step with them. Ranking,
ETA matrices, snapping and time are injected, so the lifecycle does not depend on how
candidates are found.

Design
------
Every state change is an *outcome record* (``report``, ``dispatch``, ``offer``,
``accept``, ``decline``, ``expire``, ``withdraw``, ``depart``, ``arrive``, ``close``,
``no_candidate``) applied by one function, :meth:`Dispatcher._apply`, both live and when
replaying a journal. A command runs under one re-entrant lock: it validates, then
decides (calling the ranker) and applies records one by one; the records of the command
are appended to the journal as one row before the lock is released and the command
returns. Events are derived from the records and delivered to subscribers after the lock
is released, in order, by whichever thread gets to deliver first.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import (
    DuplicateIncidentError,
    InvalidParameterError,
    InvalidTransitionError,
    UnknownIncidentError,
    UnknownResponderError,
)
from kayou_dispatch.geo import validate_latlng
from kayou_dispatch.lifecycle.assign import (
    ASSIGN_POLICIES,
    SEVERITY_WEIGHTS,
    coverage_penalty,
    solve_slots,
)
from kayou_dispatch.lifecycle.journal import CommandLog, Journal, JournalRow
from kayou_dispatch.lifecycle.records import (
    CLOSED_STATUSES,
    Event,
    EventKind,
    Incident,
    IncidentStatus,
    Offer,
)
from kayou_dispatch.lifecycle.runcards import (
    DEFAULT_RUN_CARDS,
    RARE_CAPABILITIES,
    RunCard,
    normalize_needs,
    unit_needs_for,
)
from kayou_dispatch.spatial import Responder, ResponderIndex, Status
from kayou_dispatch.spatial.responders import checked_clock

__all__ = ["CandidateLike", "Dispatcher", "EtaMatrixFunction", "RankFunction"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Extra candidates asked of the ranker, in case some became busy since it looked.
_RANK_SLACK = 3

#: First search limit of a batch's ETA matrix (when the matrix takes ``limit_s``).
_FIRST_BATCH_LIMIT_S = 600.0


class CandidateLike(Protocol):
    """What the lifecycle reads from a ranked candidate."""

    @property
    def responder_id(self) -> str: ...

    @property
    def eta_s(self) -> float: ...


class RankFunction(Protocol):
    """``rank(lat, lng, *, k, needs, max_eta_s, heading, exclude)``: best AVAILABLE first."""

    def __call__(
        self,
        lat: float,
        lng: float,
        *,
        k: int = 10,
        needs: Iterable[str] = (),
        max_eta_s: float | None = None,
        heading: float | None = None,
        exclude: Iterable[str] = (),
    ) -> Sequence[CandidateLike]: ...


class EtaMatrixFunction(Protocol):
    """``eta_matrix(points, responder_ids)``: ``(len(points), len(responder_ids))`` seconds.

    ``points`` is a sequence of ``(lat, lng)`` pairs, one per incident; ``inf`` marks a
    responder that cannot reach an incident. A matrix that also takes ``limit_s`` (one
    limit per point: exact ETAs up to it, ``inf`` beyond, as
    :meth:`~kayou_dispatch.DispatchEngine.eta_matrix`) lets :meth:`Dispatcher.assign_batch`
    search only as far as the solution needs.
    """

    def __call__(
        self, points: Sequence[tuple[float, float]], responder_ids: Sequence[str]
    ) -> Any: ...


_STATUS_EVENT = {
    IncidentStatus.RESOLVED: EventKind.RESOLVED,
    IncidentStatus.CANCELLED: EventKind.CANCELLED,
    IncidentStatus.UNSERVED: EventKind.UNSERVED,
}


@dataclass(eq=False)
class _Inc:
    """The mutable state of one incident (never leaves this module)."""

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


def _takes_keyword(fn: Callable[..., Any] | None, name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``."""
    if fn is None:
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{name} must be a non-empty string, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return value


def _check_seconds(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not (x >= 0 and math.isfinite(x)):
        msg = f"{name} must be a finite number >= 0, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return x


class Dispatcher:
    """The dispatch lifecycle: incidents, run cards, offers, assignments and events.

    Parameters
    ----------
    index
        The responder index; responder statuses (OFFERED, ASSIGNED, EN_ROUTE, ON_SCENE,
        AVAILABLE) are written there with ``set_status``.
    rank
        ``rank(lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=())``
        returning the best AVAILABLE candidates first, each with ``responder_id`` and
        ``eta_s`` (see :class:`RankFunction`).
    eta_matrix
        ``eta_matrix(points, responder_ids) -> ndarray`` of seconds, ``points`` being
        ``(lat, lng)`` pairs (see :class:`EtaMatrixFunction`); needed only by :meth:`assign_batch`.
    snap_check
        ``snap_check(lat, lng)`` raising :class:`~kayou_dispatch.errors.OffNetworkError` for
        a point off the road network; called by :meth:`report_incident`. ``None``: no check.
    clock
        Returns the current time in seconds; defaults to the index's clock.
    run_cards
        Run cards by kind, merged over :data:`~kayou_dispatch.lifecycle.DEFAULT_RUN_CARDS`
        (so a host may override some kinds and add its own).
    journal
        Path of an SQLite journal, an open :class:`~kayou_dispatch.lifecycle.Journal`, a
        shared :class:`~kayou_dispatch.lifecycle.CommandLog` (several processes serving
        one state, e.g. :class:`kayou_dispatch.shared.RedisLog`), or ``None`` for none.
        Every state-changing command is appended (one row, durably) before it returns;
        commands that change nothing write nothing. An existing journal is replayed from
        its outcome records, without ranking: incidents, offers, assignments, request ids
        and responder statuses come back as they were. Statuses
        are written to ``index`` for the responders it holds, and for the others as soon
        as they appear (next command, :meth:`responder` or :meth:`sync_statuses`).
        Positions are not journaled: they refresh within seconds.
    unserved_after_s
        An incident dispatched this long ago with nobody assigned and no offer outstanding
        becomes UNSERVED.
    rare_capabilities
        Capabilities guarded by ``assign_batch(coverage_margin_s=...)``.
    coverage_radius_m
        The "area" of the coverage guard: a rare-capability responder with no other holder
        of that capability within this distance is the last one of its area.

    Notes
    -----
    Severity 5 is the most severe; more severe incidents are ranked, re-offered and
    batch-assigned first (ties: earlier report, then id). Thread-safe: commands are
    serialised by one lock, and a responder is engaged (offered or assigned) by at most
    one incident at a time, whatever the index says. Request ids are remembered for the
    dispatcher's lifetime (and across restarts, through the journal).

    Examples
    --------
    >>> from kayou_dispatch import ResponderIndex
    >>> from kayou_dispatch.geo import haversine_m
    >>> now = [1000.0]
    >>> index = ResponderIndex(clock=lambda: now[0])
    >>> index.update_position("r1", 22.720, 114.250, capabilities={"mechanic"})
    True
    >>> @dataclass(frozen=True)
    ... class Cand:
    ...     responder_id: str
    ...     eta_s: float
    >>> def rank(lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
    ...     near = index.nearest(lat, lng, k + len(exclude), needs=needs)
    ...     return [Cand(n.responder_id, n.distance_m / 10.0)
    ...             for n in near if n.responder_id not in exclude][:k]
    >>> d = Dispatcher(index, rank=rank)
    >>> d.report_incident("inc-1", 22.721, 114.251, kind="breakdown").status
    <IncidentStatus.OPEN: 'open'>
    >>> [(o.responder_id, o.expires_at) for o in d.dispatch("inc-1")]
    [('r1', 1090.0)]
    >>> d.accept("inc-1", "r1").assigned, index.get("r1").status
    (('r1',), <Status.ASSIGNED: 'assigned'>)
    >>> d.arrive("inc-1", "r1").status
    <IncidentStatus.ON_SCENE: 'on_scene'>
    >>> d.resolve("inc-1").status, index.get("r1").status
    (<IncidentStatus.RESOLVED: 'resolved'>, <Status.AVAILABLE: 'available'>)
    """

    def __init__(
        self,
        index: ResponderIndex,
        *,
        rank: RankFunction | Callable[..., Sequence[Any]],
        eta_matrix: EtaMatrixFunction | Callable[..., Any] | None = None,
        snap_check: Callable[[float, float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        run_cards: Mapping[str, RunCard] | None = None,
        journal: str | os.PathLike[str] | CommandLog | None = None,
        unserved_after_s: float = 300.0,
        rare_capabilities: Iterable[str] = RARE_CAPABILITIES,
        coverage_radius_m: float = 10_000.0,
    ) -> None:
        if not isinstance(index, ResponderIndex):
            msg = f"index must be a ResponderIndex, got {type(index).__name__}"
            raise InvalidParameterError(msg, name="index", value=index)
        for name, fn, optional in (
            ("rank", rank, False),
            ("eta_matrix", eta_matrix, True),
            ("snap_check", snap_check, True),
            ("clock", clock, True),
        ):
            if not (callable(fn) or (optional and fn is None)):
                msg = f"{name} must be callable, got {fn!r}"
                raise InvalidParameterError(msg, name=name, value=fn)
        self._lock = threading.RLock()
        self._index = index
        self._rank = rank
        self._eta_matrix = eta_matrix
        self._matrix_limits = _takes_keyword(eta_matrix, "limit_s")
        self._snap_check = snap_check
        self._clock: Callable[[], float] = index.clock if clock is None else checked_clock(clock)
        self._cards: dict[str, RunCard] = dict(DEFAULT_RUN_CARDS)
        for kind, card in (run_cards or {}).items():
            self.set_run_card(kind, card)
        self._unserved_after_s = float(_check_seconds("unserved_after_s", unserved_after_s) or 0)
        self._rare = normalize_needs(rare_capabilities, name="rare_capabilities")
        self._coverage_radius_m = float(
            _check_seconds("coverage_radius_m", coverage_radius_m) or 0.0
        )
        self._incidents: dict[str, _Inc] = {}
        self._busy: dict[str, str] = {}  # responder -> incident it is offered or assigned
        self._unsynced: set[str] = set()  # responders whose status the index lacks
        self._results: dict[str, tuple[str, str | None, str | None, Any]] = {}
        self._records: list[dict[str, Any]] | None = None
        self._now = 0.0
        self._pending: deque[Event] = deque()
        self._subscribers: list[Callable[[Event], Any]] = []
        self._deliver_lock = threading.Lock()
        self._journal: CommandLog | None = None
        self._dirty = False  # local state may hold records the shared log lacks
        if journal is not None:
            self._journal = journal if isinstance(journal, CommandLog) else Journal(journal)
            with self._lock:
                self._apply_rows(self._journal.rows(), emit=False)

    # -- configuration -----------------------------------------------------------------------

    @property
    def index(self) -> ResponderIndex:
        """The responder index."""
        return self._index

    @property
    def run_cards(self) -> Mapping[str, RunCard]:
        """The run cards in force, by kind (a copy)."""
        with self._lock:
            return dict(self._cards)

    def set_run_card(self, kind: str, card: RunCard) -> None:
        """Add or replace the run card of ``kind`` (applies to incidents reported later).

        Examples
        --------
        >>> from kayou_dispatch import ResponderIndex
        >>> d = Dispatcher(ResponderIndex(clock=lambda: 0.0), rank=lambda *a, **k: [])
        >>> d.set_run_card("livestock", RunCard(needs=[["trailer"], []], mode="broadcast"))
        >>> d.run_cards["livestock"].units
        2
        """
        _check_id("kind", kind)
        if not isinstance(card, RunCard):
            msg = f"a run card must be a RunCard, got {card!r}"
            raise InvalidParameterError(msg, name="card", value=card)
        with self._lock:
            self._cards[kind] = card

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; return a function that stops it.

        Events are delivered in the order they happened, after the command that caused
        them is journaled, outside the dispatcher's lock (a callback may call the
        dispatcher). An exception in a callback is logged and does not stop delivery.
        """
        if not callable(callback):
            msg = f"callback must be callable, got {callback!r}"
            raise InvalidParameterError(msg, name="callback", value=callback)
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def events(self) -> queue.SimpleQueue[Event]:
        """Return a queue that receives every future event (for a consumer thread)."""
        q: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.subscribe(q.put)
        return q

    def _deliver(self) -> None:
        while True:
            if not self._deliver_lock.acquire(blocking=False):
                return  # another thread is delivering and will see our events
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            break
                        event = self._pending.popleft()
                        subscribers = list(self._subscribers)
                    for callback in subscribers:
                        try:
                            callback(event)
                        except Exception:
                            _log.exception("event subscriber %r failed on %r", callback, event)
            finally:
                self._deliver_lock.release()
            with self._lock:
                if not self._pending:
                    return

    # -- reads -------------------------------------------------------------------------------

    def incident(self, incident_id: str) -> Incident:
        """Return a snapshot of one incident.

        Raises
        ------
        UnknownIncidentError
            When no incident has this id.
        """
        try:
            with self._lock:
                self._refresh()
                return self._snapshot(self._get(incident_id))
        finally:
            self._deliver()

    def open_incidents(self) -> list[Incident]:
        """Return the OPEN, ASSIGNED and ON_SCENE incidents, most urgent first.

        Order: severity (5 first), then report time, then id.
        """
        try:
            with self._lock:
                self._refresh()
                live = [i for i in self._incidents.values() if i.live]
                return [self._snapshot(i) for i in sorted(live, key=lambda i: i.priority)]
        finally:
            self._deliver()

    def responder(self, responder_id: str) -> Responder:
        """Return the index's snapshot of a responder (its ``get``).

        Raises
        ------
        UnknownResponderError
            When the responder is not in the index.
        """
        try:
            with self._lock:
                self._refresh()
                self._sync_unsynced()
                return self._index.get(responder_id)
        finally:
            self._deliver()

    def engagement(self, responder_id: str) -> str | None:
        """Return the incident a responder is offered or assigned to, or ``None``."""
        try:
            with self._lock:
                self._refresh()
                return self._busy.get(responder_id)
        finally:
            self._deliver()

    def engagements(self) -> dict[str, str]:
        """Return every engaged responder's incident (offered or assigned), by responder."""
        try:
            with self._lock:
                self._refresh()
                return dict(self._busy)
        finally:
            self._deliver()

    def _get(self, incident_id: str) -> _Inc:
        inc = self._incidents.get(incident_id) if isinstance(incident_id, str) else None
        if inc is None:
            msg = f"no incident with id {incident_id!r}"
            raise UnknownIncidentError(msg, incident_id=str(incident_id))
        return inc

    def _known_responder(self, responder_id: str) -> str:
        if not isinstance(responder_id, str) or not (
            responder_id in self._busy or responder_id in self._index
        ):
            msg = f"no responder with id {responder_id!r}"
            raise UnknownResponderError(msg, responder_id=str(responder_id))
        return responder_id

    def _snapshot(self, inc: _Inc) -> Incident:
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
        )

    # -- command plumbing --------------------------------------------------------------------

    def _run(
        self,
        name: str,
        body: Callable[[], _T],
        *,
        subject: str | None = None,
        responder_id: str | None = None,
        request_id: str | None = None,
    ) -> _T:
        """Run one command: catch up, idempotency, clock, records, log, then events."""
        if request_id is not None:
            _check_id("request_id", request_id)
        try:
            with self._lock:
                log = self._journal
                if log is not None:
                    if self._dirty:
                        self._rebuild(log)
                    fresh = log.begin()  # exclusive across processes sharing the log
                try:
                    if log is not None:
                        self._apply_rows(fresh, emit=True)
                    if request_id is not None and request_id in self._results:
                        seen = self._results[request_id]
                        if seen[:3] != (name, subject, responder_id):
                            msg = (
                                f"request_id {request_id!r} was used for {seen[0]}"
                                f"({seen[1]!r}, {seen[2]!r}); a retry must repeat the same "
                                "command"
                            )
                            raise InvalidParameterError(msg, name="request_id", value=request_id)
                        result: _T = seen[3]
                        return result
                    self._sync_unsynced()
                    self._now = float(self._clock())
                    self._records = []
                    first_event = len(self._pending)
                    ok = False
                    try:
                        result = body()
                        ok = True
                    finally:
                        # Whatever was applied is logged, even when the command then fails
                        # (e.g. the ranker raised after a decline was applied).
                        records, self._records = self._records, None
                        if records and log is not None:
                            try:
                                log.append(
                                    at=self._now,
                                    name=name,
                                    subject=subject,
                                    responder_id=responder_id,
                                    request_id=request_id if ok else None,
                                    records=records,
                                )
                            except BaseException:
                                # Not acknowledged: drop its events; rebuild from the log
                                # before the next command (it may or may not have landed).
                                self._dirty = True
                                while len(self._pending) > first_event:
                                    self._pending.pop()
                                raise
                    if request_id is not None:
                        self._results[request_id] = (name, subject, responder_id, result)
                    return result
                finally:
                    if log is not None:
                        log.end()
        finally:
            self._deliver()

    def _record(self, op: str, incident_id: str, **fields: Any) -> None:
        rec = {"op": op, "incident_id": incident_id, **fields}
        assert self._records is not None  # only called inside _run
        self._records.append(rec)
        event = self._apply(rec, self._now)
        if event is not None:
            self._pending.append(event)

    def _set_status(self, responder_id: str, status: Status) -> None:
        try:
            self._index.set_status(responder_id, status)
        except UnknownResponderError:
            # Pruned, or not loaded yet after a replay: _busy stays authoritative, and the
            # status is written when the responder shows up (see _sync_unsynced).
            self._unsynced.add(responder_id)

    def _status_of(self, responder_id: str) -> Status:
        """The status the dispatcher's state gives a responder."""
        iid = self._busy.get(responder_id)
        if iid is None:
            return Status.AVAILABLE
        inc = self._incidents[iid]
        return Status.OFFERED if responder_id in inc.offers else inc.stage[responder_id]

    def _sync_unsynced(self) -> None:
        """Write the statuses the index could not take earlier, for responders now in it."""
        if self._unsynced:
            for rid in list(self._unsynced):
                if rid not in self._busy:
                    self._unsynced.discard(rid)  # a new position starts AVAILABLE anyway
                elif rid in self._index:
                    self._unsynced.discard(rid)
                    self._set_status(rid, self._status_of(rid))

    def _apply(self, rec: dict[str, Any], at: float) -> Event | None:
        """Apply one outcome record to the state; return the event it stands for."""
        op = rec["op"]
        iid = rec["incident_id"]
        rid: str | None = rec.get("responder_id")
        data: dict[str, Any] = {}
        if op == "report":
            needs = tuple(frozenset(n) for n in rec["needs"])
            inc = _Inc(
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
                filled=[None] * len(needs),
            )
            self._incidents[iid] = inc
            data = {"kind": inc.kind, "severity": inc.severity, "units": len(needs)}
            return Event(EventKind.REPORTED, iid, None, at, data)
        inc = self._incidents[iid]
        if op == "dispatch":
            reopened = inc.closed is IncidentStatus.UNSERVED
            inc.closed = None
            inc.dispatched = True
            inc.deadline = rec["deadline"]
            inc.starved = False
            return Event(EventKind.REOPENED, iid, None, at) if reopened else None
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
            inc.starved = False
            self._busy[rid] = iid
            self._set_status(rid, Status.OFFERED)
            data = {"eta_s": offer.eta_s, "expires_at": offer.expires_at}
            data["needs"] = sorted(offer.needs)
            return Event(EventKind.OFFER_MADE, iid, rid, at, data)
        if op in ("withdraw", "expire", "decline"):
            assert rid is not None
            del inc.offers[rid]
            del self._busy[rid]
            self._set_status(rid, Status.AVAILABLE)
            if op == "withdraw":
                return Event(EventKind.OFFER_WITHDRAWN, iid, rid, at, {"reason": rec["reason"]})
            if op == "expire":
                inc.expired.append(rid)
                return Event(EventKind.OFFER_EXPIRED, iid, rid, at)
            inc.declined.append(rid)
            return Event(EventKind.DECLINED, iid, rid, at)
        if op == "accept":
            assert rid is not None
            unit = rec["unit"]
            del inc.offers[rid]
            inc.filled[unit] = rid
            inc.assigned.append(rid)
            inc.stage[rid] = Status.ASSIGNED
            self._set_status(rid, Status.ASSIGNED)
            return Event(EventKind.ACCEPTED, iid, rid, at, {"unit": unit})
        if op in ("depart", "arrive"):
            assert rid is not None
            stage = Status.EN_ROUTE if op == "depart" else Status.ON_SCENE
            inc.stage[rid] = stage
            self._set_status(rid, stage)
            kind = EventKind.DEPARTED if op == "depart" else EventKind.ARRIVED
            return Event(kind, iid, rid, at)
        if op == "close":
            status = IncidentStatus(rec["status"])
            for who in inc.assigned:
                if self._busy.get(who) == iid:
                    del self._busy[who]
                    self._set_status(who, Status.AVAILABLE)
                inc.stage[who] = Status.AVAILABLE
            inc.closed = status
            return Event(_STATUS_EVENT[status], iid, None, at)
        if op == "no_candidate":
            inc.starved = True
            return Event(EventKind.NO_CANDIDATE, iid, None, at, {"needs": rec["needs"]})
        msg = f"unknown journal record {op!r}"  # pragma: no cover - a corrupt journal
        raise InvalidParameterError(msg, name="journal", value=rec)

    def _apply_rows(self, rows: Iterable[JournalRow], *, emit: bool) -> None:
        """Apply logged commands (a replay, or other processes' commands when ``emit``)."""
        for row in rows:
            for rec in row.records:
                event = self._apply(rec, row.at)
                if emit and event is not None:
                    self._pending.append(event)
            if row.request_id is not None and row.subject is not None:
                result = self._snapshot(self._incidents[row.subject])
                self._results[row.request_id] = (row.name, row.subject, row.responder_id, result)

    def _rebuild(self, log: CommandLog) -> None:
        """Start over from the whole log (after an append that may not have landed)."""
        for rid in list(self._busy):
            self._set_status(rid, Status.AVAILABLE)
        self._incidents.clear()
        self._busy.clear()
        self._results.clear()
        self._unsynced.clear()
        self._apply_rows(log.rows(), emit=False)
        self._dirty = False

    def _refresh(self) -> None:
        """Apply the commands other processes appended to a shared log (under the lock)."""
        log = self._journal
        if log is not None:
            if self._dirty:
                self._rebuild(log)
            self._apply_rows(log.poll(), emit=True)

    def refresh(self) -> None:
        """Catch up with commands other processes appended to a shared log; emit their events.

        Reads and commands do this themselves; a host following a shared log calls it when
        the log says something new arrived (e.g. :meth:`kayou_dispatch.shared.RedisLog.wait`),
        so live events from every process reach its subscribers promptly.

        Raises
        ------
        SharedStateError
            When the shared log cannot be read.
        """
        try:
            with self._lock:
                self._refresh()
        finally:
            self._deliver()

    def sync_statuses(self) -> list[str]:
        """Write statuses the index could not take yet; return the responders it still lacks.

        After a replay, responders whose positions were not yet in the index keep the
        status they had in the dispatcher. Every command, :meth:`responder` and this method
        write it once their positions are loaded. (They are never offered meanwhile: an
        engaged responder is skipped whatever the index says.)
        """
        with self._lock:
            self._sync_unsynced()
            return sorted(self._unsynced)

    def close(self) -> None:
        """Close the journal (the dispatcher must not be used afterwards)."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        _check_id("incident_id", incident_id)
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
            )
            inc = self._incidents[incident_id]
            if dispatch:
                self._start(inc)
                self._fill(inc)
            return self._snapshot(inc)

        return self._run("report_incident", body, subject=incident_id, request_id=request_id)

    # -- dispatching -------------------------------------------------------------------------

    def _start(self, inc: _Inc) -> None:
        if not inc.dispatched or inc.closed is IncidentStatus.UNSERVED:
            self._record("dispatch", inc.incident_id, deadline=self._now + self._unserved_after_s)

    def _refuse_closed(self, inc: _Inc, attempted: str) -> None:
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

    def _fill(self, inc: _Inc) -> list[Offer]:
        """Top the incident's offers up to its run card's target; mark it unserved if due."""
        if not inc.live or not inc.dispatched:
            return []
        made: list[Offer] = []
        starving: list[frozenset[str]] = []
        for needs, missing in inc.missing_by_needs().items():
            outstanding = sum(1 for o in inc.offers.values() if o.needs == needs)
            want = missing * inc.fan_out - outstanding
            if want <= 0:
                continue
            exclude = inc.excluded()
            found = self._rank(
                inc.lat,
                inc.lng,
                k=want + _RANK_SLACK,
                needs=tuple(sorted(needs)),
                max_eta_s=inc.max_eta_s,
                heading=None,
                exclude=tuple(sorted(exclude)),
            )
            for cand in found:
                if want == 0:
                    break
                rid = cand.responder_id
                if rid in exclude or not self._is_free(rid):
                    continue
                if inc.max_eta_s is not None and not cand.eta_s <= inc.max_eta_s:
                    continue  # a ranker that ignores max_eta_s
                self._offer(inc, rid, float(cand.eta_s), needs)
                made.append(inc.offers[rid])
                want -= 1
            if outstanding == 0 and not any(o.needs == needs for o in inc.offers.values()):
                starving.append(needs)
        if starving and not inc.offers and not inc.assigned and self._now >= inc.deadline:
            self._record("close", inc.incident_id, status=IncidentStatus.UNSERVED.value)
        elif starving and not inc.starved:
            self._record("no_candidate", inc.incident_id, needs=[sorted(n) for n in starving])
        return made

    def _offer(self, inc: _Inc, responder_id: str, eta_s: float, needs: frozenset[str]) -> None:
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

        Returns
        -------
        list of Event
            The events this tick caused, in order.
        """

        def body() -> list[Event]:
            first = len(self._pending)
            due = sorted(
                (o.expires_at, o.incident_id, o.responder_id)
                for inc in self._incidents.values()
                for o in inc.offers.values()
                if o.expires_at <= self._now
            )
            for _, iid, rid in due:
                self._record("expire", iid, responder_id=rid)
            live = [i for i in self._incidents.values() if i.live and i.dispatched]
            for inc in sorted(live, key=lambda i: i.priority):
                if any(w is None for w in inc.filled):
                    self._fill(inc)
            return list(self._pending)[first:]

        return self._run("tick", body)

    # -- responder commands ------------------------------------------------------------------

    def _responder_command(
        self,
        name: str,
        incident_id: str,
        responder_id: str,
        request_id: str | None,
        act: Callable[[_Inc, str], None],
    ) -> Incident:
        def body() -> Incident:
            inc = self._get(incident_id)
            rid = self._known_responder(responder_id)
            act(inc, rid)
            return self._snapshot(inc)

        return self._run(
            name, body, subject=incident_id, responder_id=responder_id, request_id=request_id
        )

    def _refuse(self, inc: _Inc, rid: str, attempted: str, why: str) -> NoReturn:
        current = inc.stage.get(rid) or ("offered" if rid in inc.offers else "not engaged")
        msg = f"responder {rid!r} cannot {attempted} incident {inc.incident_id!r}: {why}"
        raise InvalidTransitionError(msg, subject=rid, current=current, attempted=attempted)

    def accept(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Accept an outstanding offer: the responder becomes ASSIGNED to a missing unit.

        Offers for units with the same needs are then trimmed to ``fan_out`` per unit still
        missing (all of them when none is), keeping the best ETAs; the others are withdrawn
        (``offer_withdrawn`` events, reason ``"filled"``).

        Raises
        ------
        UnknownIncidentError, UnknownResponderError
            Unknown ids.
        InvalidTransitionError
            No outstanding offer to this responder (never made, declined, expired by the
            clock even if :meth:`tick` has not run yet, withdrawn, or already accepted).
        """

        def act(inc: _Inc, rid: str) -> None:
            offer = inc.offers.get(rid)
            if offer is None:
                self._refuse(inc, rid, "accept", "it holds no outstanding offer for it")
            if self._now >= offer.expires_at:
                self._refuse(inc, rid, "accept", f"the offer expired at {offer.expires_at}")
            unit = next(
                i
                for i, (needs, who) in enumerate(zip(inc.needs, inc.filled, strict=True))
                if who is None and needs == offer.needs
            )
            self._record("accept", inc.incident_id, responder_id=rid, unit=unit)
            # Keep at most fan_out offers per still-missing unit of this kind: the best
            # by ETA (then id); the others' unit was just filled.
            missing = inc.missing_by_needs().get(offer.needs, 0)
            rivals = sorted(
                (o for o in inc.offers.values() if o.needs == offer.needs),
                key=lambda o: (o.eta_s, o.responder_id),
            )
            for other in sorted(rivals[missing * inc.fan_out :], key=lambda o: o.responder_id):
                self._record(
                    "withdraw", inc.incident_id, responder_id=other.responder_id, reason="filled"
                )

        return self._responder_command("accept", incident_id, responder_id, request_id, act)

    def decline(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Decline an outstanding offer; the next candidate is offered at once.

        The responder becomes AVAILABLE and is never offered this incident again.

        Raises
        ------
        UnknownIncidentError, UnknownResponderError
            Unknown ids.
        InvalidTransitionError
            No outstanding offer to this responder.
        """

        def act(inc: _Inc, rid: str) -> None:
            if rid not in inc.offers:
                self._refuse(inc, rid, "decline", "it holds no outstanding offer for it")
            self._record("decline", inc.incident_id, responder_id=rid)
            self._fill(inc)

        return self._responder_command("decline", incident_id, responder_id, request_id, act)

    def depart(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Mark an ASSIGNED responder EN_ROUTE.

        Raises
        ------
        InvalidTransitionError
            The responder is not ASSIGNED to this incident (or the incident is closed).
        """

        def act(inc: _Inc, rid: str) -> None:
            if not inc.live or inc.stage.get(rid) is not Status.ASSIGNED:
                self._refuse(inc, rid, "depart", "only an ASSIGNED responder can depart")
            self._record("depart", inc.incident_id, responder_id=rid)

        return self._responder_command("depart", incident_id, responder_id, request_id, act)

    def arrive(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Mark an ASSIGNED or EN_ROUTE responder ON_SCENE (the incident becomes ON_SCENE).

        ``depart`` may be skipped: a phone that lost the network may report arrival first.

        Raises
        ------
        InvalidTransitionError
            The responder is not ASSIGNED or EN_ROUTE to this incident.
        """

        def act(inc: _Inc, rid: str) -> None:
            if not inc.live or inc.stage.get(rid) not in (Status.ASSIGNED, Status.EN_ROUTE):
                why = "only an ASSIGNED or EN_ROUTE responder can arrive"
                self._refuse(inc, rid, "arrive", why)
            self._record("arrive", inc.incident_id, responder_id=rid)

        return self._responder_command("arrive", incident_id, responder_id, request_id, act)

    # -- closing -----------------------------------------------------------------------------

    def _close(self, inc: _Inc, status: IncidentStatus) -> None:
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

    # -- batch -------------------------------------------------------------------------------

    def assign_batch(
        self,
        incident_ids: Iterable[str] | None = None,
        *,
        policy: str = "optimal",
        coverage_margin_s: float | None = None,
    ) -> dict[str, list[Offer]]:
        """Offer a burst of incidents' missing units at once, jointly rather than one by one.

        Slots are the units of each incident that are missing and not covered by an
        outstanding offer; candidates are the fresh AVAILABLE responders (not engaged)
        having the needs of at least one slot. ``eta_matrix`` gives every incident's ETA
        from every candidate; a pair is infeasible (never assigned) when the ETA is not
        finite or exceeds the run card's ``max_eta_s``, the responder lacks the slot's
        needs, or declined / let lapse an offer of that incident. Each slot's ETA is
        weighted by severity (:data:`~kayou_dispatch.lifecycle.SEVERITY_WEIGHTS`) and one
        offer per slot is made to the responder the solution picks, whatever the run
        card's mode; later top-ups (after a decline, an expiry, or in :meth:`tick`) follow
        the mode, so a broadcast incident then gets its ``fan_out`` offers.

        With an ``eta_matrix`` taking ``limit_s`` (the engine's), each incident's search
        first stops at 600 s (or its ``max_eta_s``); a pair beyond is priced at the limit,
        a lower bound. If the solution uses such a pair, those incidents search four times
        further and it is solved again; a solution without one is exactly the solution on
        full ETAs -- at a fraction of the searching.

        Parameters
        ----------
        incident_ids
            The incidents to consider; ``None``: every live incident missing units.
            Undispatched ones start dispatching; UNSERVED ones re-open.
        policy
            ``"optimal"``: minimum total weighted ETA (``linear_sum_assignment``);
            ``"greedy"``: most severe slot first takes its nearest candidate.
        coverage_margin_s
            When given, a responder who is the last holder of a rare capability (see
            ``rare_capabilities``) within ``coverage_radius_m`` costs this many extra
            (weighted) seconds for a slot that does not need it, so another responder
            serves it whenever one can arrive within the margin.

        Returns
        -------
        dict
            Incident id -> offers made, for every incident considered.

        Raises
        ------
        UnknownIncidentError
            An unknown id.
        InvalidTransitionError
            A resolved or cancelled incident.
        InvalidParameterError
            Bad policy or margin, or no ``eta_matrix`` was given.
        """
        if policy not in ASSIGN_POLICIES:
            msg = f"policy must be one of {ASSIGN_POLICIES}, got {policy!r}"
            raise InvalidParameterError(msg, name="policy", value=policy)
        margin = _check_seconds("coverage_margin_s", coverage_margin_s, allow_none=True)
        if self._eta_matrix is None:
            msg = "assign_batch needs an eta_matrix callable (give one to the Dispatcher)"
            raise InvalidParameterError(msg, name="eta_matrix", value=None)
        wanted = None if incident_ids is None else list(incident_ids)

        def body() -> dict[str, list[Offer]]:
            if wanted is None:
                incs = [i for i in self._incidents.values() if i.live and None in i.filled]
            else:
                incs = [self._get(iid) for iid in dict.fromkeys(wanted)]
                for inc in incs:
                    self._refuse_closed(inc, "assign")
            incs.sort(key=lambda i: i.priority)
            for inc in incs:
                self._start(inc)
            out: dict[str, list[Offer]] = {inc.incident_id: [] for inc in incs}
            self._batch(incs, policy, margin, out)
            for inc in incs:
                if not out[inc.incident_id]:
                    self._fill_check_starved(inc)
            return out

        return self._run("assign_batch", body)

    def _batch_etas(
        self, points: list[tuple[float, float]], ids: list[str], limits: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """ETAs from the injected matrix: exact up to ``limits`` (NaN, negative: ``inf``)."""
        assert self._eta_matrix is not None
        if self._matrix_limits:
            bounded: Callable[..., Any] = self._eta_matrix
            got = bounded(points, ids, limit_s=limits)
        else:
            got = self._eta_matrix(points, ids)
        eta = np.array(got, dtype=np.float64)
        if eta.shape != (len(points), len(ids)):
            msg = f"eta_matrix returned shape {eta.shape}, expected {(len(points), len(ids))}"
            raise InvalidParameterError(msg, name="eta_matrix", value=eta.shape)
        eta[~(eta >= 0)] = np.inf  # NaN and negative: unreachable
        return eta

    def _fill_check_starved(self, inc: _Inc) -> None:
        """After a batch: an incident nobody was offered to is starved (or unserved)."""
        if inc.live and not inc.offers and not inc.assigned:
            if self._now >= inc.deadline:
                self._record("close", inc.incident_id, status=IncidentStatus.UNSERVED.value)
            elif not inc.starved:
                needs = [sorted(n) for n in inc.missing_by_needs()]
                self._record("no_candidate", inc.incident_id, needs=needs)

    def _batch(
        self,
        incs: list[_Inc],
        policy: str,
        margin: float | None,
        out: dict[str, list[Offer]],
    ) -> None:
        slots: list[tuple[int, frozenset[str]]] = []  # (incident row, needs)
        for row, inc in enumerate(incs):
            for needs, missing in inc.missing_by_needs().items():
                covered = sum(1 for o in inc.offers.values() if o.needs == needs)
                slots.extend([(row, needs)] * max(0, missing - covered))
        if not slots:
            return
        all_needs = {needs for _, needs in slots}
        cands: list[Responder] = []
        for rid in list(self._index):
            if rid in self._busy:
                continue
            try:
                r = self._index.get(rid)
            except UnknownResponderError:
                continue
            if (
                r.status is Status.AVAILABLE
                and r.fresh
                and any(n <= r.capabilities for n in all_needs)
            ):
                cands.append(r)
        if not cands:
            return
        cands.sort(key=lambda r: r.responder_id)
        ids = [r.responder_id for r in cands]
        col_of = {rid: j for j, rid in enumerate(ids)}
        points = [(inc.lat, inc.lng) for inc in incs]
        caps = np.array([math.inf if i.max_eta_s is None else i.max_eta_s for i in incs])
        # Searches bounded at `limits` (per incident) give exact ETAs up to the limit; a
        # pair beyond it costs the limit (a lower bound). A solution that uses no such pair
        # is optimal for the exact ETAs too; otherwise its incidents search further.
        first = _FIRST_BATCH_LIMIT_S if self._matrix_limits else math.inf
        limits = np.minimum(caps, first)
        exact = self._batch_etas(points, ids, limits)
        blocked = np.zeros(exact.shape, dtype=bool)  # declined / lapsed: never again
        for row, inc in enumerate(incs):
            for rid in inc.excluded():
                j = col_of.get(rid)
                if j is not None:
                    blocked[row, j] = True
        has = {
            needs: np.fromiter((needs <= r.capabilities for r in cands), bool, len(cands))
            for needs in all_needs
        }
        slot_rows = np.fromiter((row for row, _ in slots), np.int64, len(slots))
        slot_needs = [needs for _, needs in slots]
        lacks = np.zeros((len(slots), len(cands)), dtype=bool)
        for needs in all_needs:
            if needs:
                rows = np.array([i for i, n in enumerate(slot_needs) if n == needs], np.intp)
                lacks[np.ix_(rows, np.flatnonzero(~has[needs]))] = True
        weights = np.fromiter(
            (SEVERITY_WEIGHTS[incs[row].severity] for row, _ in slots), np.float64, len(slots)
        )
        penalty = None
        if margin:
            penalty = coverage_penalty(
                np.array([r.lat for r in cands]),
                np.array([r.lng for r in cands]),
                [r.capabilities for r in cands],
                [needs for _, needs in slots],
                weights,
                rare=self._rare,
                radius_m=self._coverage_radius_m,
                margin_s=margin,
            )
        while True:
            known = exact <= limits[:, None]
            bound = np.where(limits < caps, limits, np.inf)[:, None]
            eta_inc = np.where(known, exact, bound)
            eta_inc[(eta_inc > caps[:, None]) | blocked] = np.inf
            eta = eta_inc[slot_rows]
            eta[lacks] = np.inf
            picks = solve_slots(eta, weights=weights, penalty_s=penalty, policy=policy)
            unsure = sorted({slot_rows[i] for i, j in picks if not known[slot_rows[i], j]})
            if not unsure:
                break
            wider = limits[unsure] * 4.0
            limits[unsure] = np.where(wider > 86_400.0, math.inf, np.minimum(wider, caps[unsure]))
            exact[unsure] = self._batch_etas([points[r] for r in unsure], ids, limits[unsure])
        for i, j in picks:
            inc = incs[slots[i][0]]
            self._offer(inc, ids[j], float(eta[i, j]), slots[i][1])
            out[inc.incident_id].append(inc.offers[ids[j]])
