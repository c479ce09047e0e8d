"""Run the incident lifecycle: report, offer, accept or decline, depart, arrive, close.

:class:`Dispatcher` owns incidents and offers; responder statuses live in the
:class:`~kayou_dispatch.spatial.ResponderIndex` and are kept in step with them. Ranking,
ETA matrices, snapping and time are injected, so the lifecycle does not depend on how
candidates are found.

Design
------
Split by job, one module each:

- :mod:`~kayou_dispatch.lifecycle.state`: the state and the pure reducer
  :func:`~kayou_dispatch.lifecycle.state.apply_record`, which applies every *outcome
  record* (``report``, ``offer``, ``accept``...), both live and when replaying a journal;
- :mod:`~kayou_dispatch.lifecycle.commands` (incidents),
  :mod:`~kayou_dispatch.lifecycle.answers` (a responder's answers and its own status) and
  :mod:`~kayou_dispatch.lifecycle.batch` (batch assignment): the command handlers, which
  validate, decide (calling the ranker) and state their outcome as records;
- :mod:`~kayou_dispatch.lifecycle.delivery`: events to subscribers;
- this module: the plumbing. A command runs under one re-entrant lock; its records are
  applied one by one and appended to the journal as one row before the lock is released
  and the command returns. Events are derived from the records and delivered after the
  lock is released, in order, by whichever thread gets to deliver first. Batch
  assignment is planned in :mod:`kayou_dispatch.matching.batch`.

Why this file is long (over 600 lines): :class:`Dispatcher` is the lifecycle's public
surface, so each command (report, offer, answers, teams, burden, batch) has a short
method here with its numpydoc, locking and journaling, delegating the work to the modules
above.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from kayou_dispatch.errors import InvalidParameterError, UnknownIncidentError, UnknownResponderError
from kayou_dispatch.geo import validate_latlng
from kayou_dispatch.lifecycle._validate import check_id, check_seconds, takes_keyword
from kayou_dispatch.lifecycle.acceptance import ResponderStats
from kayou_dispatch.lifecycle.answers import ResponderCommands
from kayou_dispatch.lifecycle.batch import BatchCommands
from kayou_dispatch.lifecycle.burden import BurdenReport, Hold, VolunteerBurden
from kayou_dispatch.lifecycle.delivery import EventDelivery
from kayou_dispatch.lifecycle.journal import CommandLog, Journal, JournalRow
from kayou_dispatch.lifecycle.records import Event, Incident
from kayou_dispatch.lifecycle.runcards import (
    DEFAULT_RUN_CARDS,
    RARE_CAPABILITIES,
    RunCard,
    normalize_needs,
)
from kayou_dispatch.lifecycle.state import (
    IncidentState,
    LifecycleState,
    apply_record,
    snapshot,
)
from kayou_dispatch.lifecycle.teams import Team
from kayou_dispatch.matching.expected import Odds
from kayou_dispatch.spatial import Responder, ResponderIndex, Status
from kayou_dispatch.spatial.responders import checked_clock

__all__ = ["CandidateLike", "Dispatcher", "EtaMatrixFunction", "RankFunction"]

_T = TypeVar("_T")


class CandidateLike(Protocol):
    """What the lifecycle reads from a ranked candidate."""

    @property
    def responder_id(self) -> str: ...

    @property
    def eta_s(self) -> float: ...


class RankFunction(Protocol):
    """``rank(lat, lng, **query.options())``: best AVAILABLE first.

    The keyword options (``k``, ``needs``, ``max_eta_s``, ``heading``, ``exclude``) are a
    :class:`~kayou_dispatch.matching.query.RankQuery`'s fields: defined once, there.
    """

    def __call__(self, lat: float, lng: float, **options: Any) -> Sequence[CandidateLike]: ...


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


class Dispatcher(ResponderCommands, BatchCommands):
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
    same_carriageway
        ``same_carriageway(lat, lng, responder_ids)``: for each responder, whether it is
        upstream on the carriageway of a divided road at the incident (what run cards with
        ``prefer_same_carriageway_s`` ask; the engine passes its own, see
        :mod:`kayou_dispatch.matching.carriageway`). ``None``: those cards keep plain order.

    Notes
    -----
    Severity 5 is the most severe; more severe incidents are ranked, re-offered and
    batch-assigned first (ties: earlier report, then id). Thread-safe: commands are
    serialised by one lock, and a responder is engaged (offered or assigned) by at most
    one incident at a time, whatever the index says. Request ids are remembered for the
    dispatcher's lifetime (and across restarts, through the journal).

    Examples
    --------
    >>> from dataclasses import dataclass
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
    ...     near = index.nearest(lat, lng, k=k + len(exclude), needs=needs)
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
        same_carriageway: Callable[[float, float, Sequence[str]], Sequence[bool]] | None = None,
    ) -> None:
        if not isinstance(index, ResponderIndex):
            msg = f"index must be a ResponderIndex, got {type(index).__name__}"
            raise InvalidParameterError(msg, name="index", value=index)
        for name, fn, optional in (
            ("rank", rank, False),
            ("eta_matrix", eta_matrix, True),
            ("snap_check", snap_check, True),
            ("clock", clock, True),
            ("same_carriageway", same_carriageway, True),
        ):
            if not (callable(fn) or (optional and fn is None)):
                msg = f"{name} must be callable, got {fn!r}"
                raise InvalidParameterError(msg, name=name, value=fn)
        self._lock = threading.RLock()
        self._index = index
        self._rank = rank
        self._eta_matrix = eta_matrix
        self._same_carriageway = same_carriageway
        self._matrix_limits = takes_keyword(eta_matrix, "limit_s")
        self._snap_check = snap_check
        self._clock: Callable[[], float] = index.clock if clock is None else checked_clock(clock)
        self._cards: dict[str, RunCard] = dict(DEFAULT_RUN_CARDS)
        for kind, card in (run_cards or {}).items():
            self.set_run_card(kind, card)
        self._unserved_after_s = float(check_seconds("unserved_after_s", unserved_after_s) or 0)
        self._rare = normalize_needs(rare_capabilities, name="rare_capabilities")
        self._coverage_radius_m = float(
            check_seconds("coverage_radius_m", coverage_radius_m) or 0.0
        )
        self._state = LifecycleState()
        self._incidents = self._state.incidents  # the same dicts, for the command handlers
        self._busy = self._state.busy  # responder -> incident it is offered or assigned
        self._unsynced: set[str] = set()  # responders whose status the index lacks
        self._results: dict[str, tuple[str, str | None, str | None, Any]] = {}
        self._records: list[dict[str, Any]] | None = None
        self._now = 0.0
        self._events = EventDelivery(self._lock)
        self._journal: CommandLog | None = None
        self._dirty = False  # local state may hold records the shared log lacks
        self._txn = 0  # the log's transaction last applied: events' ``seq``
        self._ticks: Callable[[float, float], bool] | None = None  # whose offers tick expires
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
    def txn(self) -> int:
        """The command log's transaction last applied here (events' ``seq`` counts from it)."""
        return self._txn

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
        check_id("kind", kind)
        if not isinstance(card, RunCard):
            msg = f"a run card must be a RunCard, got {card!r}"
            raise InvalidParameterError(msg, name="card", value=card)
        with self._lock:
            self._cards[kind] = card

    def set_tick_scope(self, owns: Callable[[float, float], bool] | None) -> None:
        """Let :meth:`tick` expire and refill only incidents where ``owns(lat, lng)``.

        Several processes that follow one shared log and each rank exactly only in their
        own area (shards) give each incident's time-outs to one of them; ``None``: every
        incident (the default).
        """
        if owns is not None and not callable(owns):
            msg = f"owns must be callable or None, got {owns!r}"
            raise InvalidParameterError(msg, name="owns", value=owns)
        with self._lock:
            self._ticks = owns

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; return a function that stops it.

        Events are delivered in the order they happened, after the command that caused
        them is journaled, outside the dispatcher's lock (a callback may call the
        dispatcher). An exception in a callback is logged and does not stop delivery.
        """
        return self._events.subscribe(callback)

    def events(self) -> queue.SimpleQueue[Event]:
        """Return a queue that receives every future event (for a consumer thread)."""
        return self._events.queue()

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
            self._events.deliver()

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
            self._events.deliver()

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
            self._events.deliver()

    def engagement(self, responder_id: str) -> str | None:
        """Return the incident a responder is offered or assigned to, or ``None``."""
        try:
            with self._lock:
                self._refresh()
                return self._busy.get(responder_id)
        finally:
            self._events.deliver()

    def engagements(self) -> dict[str, str]:
        """Return every engaged responder's incident (offered or assigned), by responder."""
        try:
            with self._lock:
                self._refresh()
                return dict(self._busy)
        finally:
            self._events.deliver()

    def responder_stats(self, responder_id: str, *, kind: str | None = None) -> ResponderStats:
        """Return how a responder has answered offers: counts and shrunk estimates.

        Counted from the lifecycle's own records, so the numbers survive a restart (the
        journal or shared log is replayed) and agree across processes sharing a log. See
        :mod:`kayou_dispatch.lifecycle.acceptance` for the estimates.

        Parameters
        ----------
        responder_id
            A responder in the index or one that has had offers.
        kind
            An incident kind (``None``: every kind together).

        Raises
        ------
        UnknownResponderError
            When the responder is neither in the index nor ever offered anything.
        InvalidParameterError
            For a kind that has no run card and no history.
        """
        try:
            with self._lock:
                self._refresh()
                tally = self._state.acceptance
                if kind is not None and (
                    not isinstance(kind, str) or not (kind in self._cards or tally.knows_kind(kind))
                ):
                    msg = f"unknown incident kind {kind!r}; known: {', '.join(sorted(self._cards))}"
                    raise InvalidParameterError(msg, name="kind", value=kind)
                known = isinstance(responder_id, str) and (
                    responder_id in tally
                    or responder_id in self._busy
                    or responder_id in self._index
                )
                if not known:
                    msg = f"no responder with id {responder_id!r}"
                    raise UnknownResponderError(msg, responder_id=str(responder_id))
                pending = self._state.pending_offers(responder_id, kind)
                return tally.stats(responder_id, kind=kind, pending=pending)
        finally:
            self._events.deliver()

    def volunteer_holds(self, responder_id: str, *, kind: str, eta_s: float = 0.0) -> list[Hold]:
        """Why a volunteer would not be offered an incident of ``kind`` now (empty: it would).

        The run card's offer limit per rolling window, the volunteer's quiet hours, and a
        rest due after long driving (counting the drive of ``eta_s`` to the incident). See
        :mod:`kayou_dispatch.lifecycle.burden`.

        Raises
        ------
        InvalidParameterError
            For an unknown kind or a bad ``eta_s``.
        """
        eta = float(check_seconds("eta_s", eta_s) or 0.0)
        try:
            with self._lock:
                self._refresh()
                card = self._cards.get(kind) if isinstance(kind, str) else None
                if card is None:
                    msg = f"unknown incident kind {kind!r}; known: {', '.join(sorted(self._cards))}"
                    raise InvalidParameterError(msg, name="kind", value=kind)
                return self._state.volunteers.holds(
                    responder_id,
                    now=float(self._clock()),
                    eta_s=eta,
                    max_offers=card.max_offers_per_window,
                    window_s=card.offer_window_s,
                    driving=card.driving,
                )
        finally:
            self._events.deliver()

    def burden_report(self) -> BurdenReport:
        """Offers and assignments per volunteer (zeros included), their maxima and Gini."""
        try:
            with self._lock:
                self._refresh()
                tally = self._state.acceptance
                ids = {*self._index, *tally.responders(), *self._busy}
                loads = []
                for rid in ids:
                    s = tally.stats(rid, pending=self._state.pending_offers(rid))
                    loads.append(VolunteerBurden(rid, s.offers, s.accepted))
                return BurdenReport.of(loads)
        finally:
            self._events.deliver()

    def teams(self) -> list[Team]:
        """Every mutual-aid team, by id."""
        try:
            with self._lock:
                self._refresh()
                return self._state.teams.teams()
        finally:
            self._events.deliver()

    def team_members(self, team_id: str) -> frozenset[str]:
        """A team's members.

        Raises
        ------
        InvalidParameterError
            When no team has this id (``name="team_id"``).
        """
        try:
            with self._lock:
                self._refresh()
                roster = self._state.teams
                if not isinstance(team_id, str) or roster.team(team_id) is None:
                    known = ", ".join(t.team_id for t in roster.teams()) or "none"
                    msg = f"team_id {team_id!r} is not a team; known: {known}"
                    raise InvalidParameterError(msg, name="team_id", value=team_id)
                return roster.members(team_id)
        finally:
            self._events.deliver()

    def responder_teams(self, responder_id: str) -> frozenset[str]:
        """The teams a responder belongs to (empty when none)."""
        try:
            with self._lock:
                self._refresh()
                return self._state.teams.teams_of(responder_id)
        finally:
            self._events.deliver()

    def team_covering(self, lat: float, lng: float) -> Team | None:
        """The team covering a point (the nearest centre of those that cover it), if any."""
        flat, flng = validate_latlng(lat, lng)
        try:
            with self._lock:
                self._refresh()
                return self._state.teams.covering(flat, flng)
        finally:
            self._events.deliver()

    def acceptance_odds(
        self, responder_ids: Sequence[str], *, kind: str | None, offer_timeout_s: float
    ) -> list[Odds]:
        """Each responder's learned :class:`~kayou_dispatch.matching.expected.Odds`.

        For an offer of ``kind`` (``None``: every kind) with this time-out (the inputs of
        ``rank(..., objective="expected")``).
        """
        try:
            with self._lock:
                self._refresh()
                tally = self._state.acceptance
                return [
                    tally.odds(rid, kind=kind, offer_timeout_s=offer_timeout_s)
                    for rid in responder_ids
                ]
        finally:
            self._events.deliver()

    def _get(self, incident_id: str) -> IncidentState:
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

    def _snapshot(self, inc: IncidentState) -> Incident:
        return snapshot(inc)

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
            check_id("request_id", request_id)
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
                    first_event = self._events.mark()
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
                                self._events.drop_since(first_event)
                                raise
                        if records:
                            self._txn = _appended_txn(log, self._txn)
                            self._events.stamp_since(first_event, self._txn)
                    if request_id is not None:
                        self._results[request_id] = (name, subject, responder_id, result)
                    return result
                finally:
                    if log is not None:
                        log.end()
        finally:
            self._events.deliver()

    def _record(self, op: str, incident_id: str, **fields: Any) -> None:
        rec = {"op": op, "incident_id": incident_id, **fields}
        assert self._records is not None  # only called inside _run
        self._records.append(rec)
        event = self._apply(rec, self._now)
        if event is not None:
            self._events.push(event)

    def _set_status(self, responder_id: str, status: Status) -> None:
        try:
            self._index.set_status(responder_id, status)
        except UnknownResponderError:
            # Pruned, or not loaded yet after a replay: _busy stays authoritative, and the
            # status is written when the responder shows up (see _sync_unsynced).
            self._unsynced.add(responder_id)

    def _status_of(self, responder_id: str) -> Status:
        """The status the lifecycle's state gives a responder."""
        return self._state.status_of(responder_id)

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
        """Apply one record (the pure reducer), then write the statuses it set to the index."""
        applied = apply_record(self._state, rec, at)
        for rid, status in applied.statuses:
            self._set_status(rid, status)
        return applied.event

    def _apply_rows(self, rows: Iterable[JournalRow], *, emit: bool) -> None:
        """Apply logged commands (a replay, or other processes' commands when ``emit``)."""
        for row in rows:
            i = 0
            for rec in row.records:
                event = self._apply(rec, row.at)
                if emit and event is not None:
                    self._events.push(replace(event, seq=(row.txn, i)))
                i += event is not None
            self._txn = max(self._txn, row.txn)
            if row.request_id is not None and row.subject is not None:
                result = self._snapshot(self._incidents[row.subject])
                self._results[row.request_id] = (row.name, row.subject, row.responder_id, result)

    def _rebuild(self, log: CommandLog) -> None:
        """Start over from the whole log (after an append that may not have landed)."""
        for rid in list(self._busy):
            self._set_status(rid, Status.AVAILABLE)
        self._state.clear()
        self._txn = 0
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
            self._events.deliver()

    def forget_positions(self, responder_ids: Iterable[str]) -> None:
        """Note that the index forgot these responders (removed, pruned, or elsewhere).

        An engaged one gets its lifecycle status back as soon as it shows up again (its
        next position starts AVAILABLE in the index), see :meth:`sync_statuses`.
        """
        with self._lock:
            self._unsynced.update(r for r in responder_ids if r in self._busy)

    def sync_statuses(self) -> list[str]:
        """Write statuses the index could not take yet; return the responders it still lacks.

        After a replay, responders whose positions were not yet in the index keep the
        status they had in the dispatcher. Every command, :meth:`responder` and this method
        write it once their positions are loaded. (They are never offered meanwhile: an
        engaged responder is skipped whatever the index says.)
        """
        if not self._unsynced:  # the common case, without taking the lock
            return []
        with self._lock:
            self._sync_unsynced()
            return sorted(self._unsynced)

    def check_journal(self) -> str | None:
        """Check that the journal answers; return what it is (``None``: no journal).

        Raises
        ------
        SharedStateError
            When the journal (SQLite file or Redis log) does not answer.
        """
        log = self._journal
        if log is None:
            return None
        ping = getattr(log, "ping", None)
        if ping is not None:
            with self._lock:
                ping()
        where = getattr(log, "store", None) or getattr(log, "path", None)
        return str(where) if where is not None else type(log).__name__

    def close(self) -> None:
        """Close the journal (the dispatcher must not be used afterwards)."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _appended_txn(log: CommandLog | None, last: int) -> int:
    """The transaction a command just appended to ``log`` got (the next one without a log)."""
    txn = getattr(log, "last_txn", None)
    return int(txn) if isinstance(txn, int) and txn > last else last + 1
