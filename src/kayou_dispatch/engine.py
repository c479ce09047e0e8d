"""Embed dispatch in one object: responder positions, the road network, ranking, lifecycle.

:class:`DispatchEngine` is a thin facade. It owns a
:class:`~kayou_dispatch.spatial.ResponderIndex` (positions, statuses, capabilities) and a
:class:`~kayou_dispatch.network.RoadNetwork`, forwards updates and spatial queries to the
index, delegates ranking to :mod:`kayou_dispatch.matching`, and the incident lifecycle
(reports, offers, accepts, time-outs, batch assignment, events, the journal) to a
:class:`~kayou_dispatch.lifecycle.Dispatcher` that ranks with it. Responder state is
written through one :class:`~kayou_dispatch.store.PositionStore` (local or Redis).

Why this file is long (over 600 lines): it is the public facade, so it carries the numpydoc
and doctests of every public method; each method is a few lines of validation and
delegation. The logic lives in the modules it delegates to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import queue
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidParameterError, UnknownResponderError
from kayou_dispatch.geo import validate_latlng, validate_latlng_array
from kayou_dispatch.lifecycle import Dispatcher, Event, Incident, Offer, RunCard
from kayou_dispatch.lifecycle.acceptance import ResponderStats
from kayou_dispatch.lifecycle.burden import BurdenReport, Hold, QuietHours
from kayou_dispatch.lifecycle.journal import CommandLog
from kayou_dispatch.lifecycle.runcards import DEFAULT_OFFER_TIMEOUT_S
from kayou_dispatch.lifecycle.teams import Team
from kayou_dispatch.matching import (
    Candidate,
    Explanation,
    Ranker,
    Reason,
    SnapCache,
    eta_matrix,
    explain_responder,
)
from kayou_dispatch.matching._validate import check_needs
from kayou_dispatch.matching.carriageway import upstream_on_carriageway
from kayou_dispatch.matching.expected import Objective, check_objective, rank_expected
from kayou_dispatch.matching.explain import _responder_snap
from kayou_dispatch.matching.query import RankQuery
from kayou_dispatch.network import RoadNetwork, Snap
from kayou_dispatch.shared import PositionMirror, RedisLog, RedisPositions
from kayou_dispatch.shared._client import open_client, redis_errors, where
from kayou_dispatch.shared.postgres import PostgresLog, is_postgres_url
from kayou_dispatch.spatial import Neighbor, Responder, ResponderIndex, Status
from kayou_dispatch.spatial.index import Snapshot
from kayou_dispatch.spatial.responders import MAX_ID_CHARS
from kayou_dispatch.store import Fix, LocalPositionStore, PositionStore, RedisPositionStore

__all__ = ["DispatchEngine"]

# Fixes are snapped to the road at ingest once this many arrived (one vectorised batch,
# a few microseconds each); rankings snap the few that moved since, near the incident.
_SNAP_BATCH = 256


def _shared_state(
    client: Any, prefix: str, index: ResponderIndex, clock: Callable[[], float]
) -> RedisPositionStore:
    """The position store shared on one Redis client."""
    return RedisPositionStore(RedisPositions(client, prefix=prefix), index, clock=clock)


def _lifecycle_log(lifecycle: Any, name: str) -> CommandLog:
    """The command log a ``lifecycle=`` names: a ``postgresql://`` URL or a CommandLog."""
    if isinstance(lifecycle, CommandLog):
        return lifecycle
    if is_postgres_url(lifecycle):
        return PostgresLog(lifecycle, log=name)
    msg = (
        "lifecycle must be a postgresql:// URL or a CommandLog (an SQLite journal is "
        f"journal=), got {lifecycle!r:.80}"
    )
    raise InvalidParameterError(msg, name="lifecycle", value=lifecycle)


class DispatchEngine:
    """Track responders on a road network and rank them for incidents by road ETA.

    Parameters
    ----------
    network
        The road network ETAs are measured on.
    resolution, position_ttl_s, clock, max_clock_skew_s
        As for :class:`~kayou_dispatch.spatial.ResponderIndex`: a position older than
        ``position_ttl_s`` (by ``clock``) is stale and never ranked; a fix more than
        ``max_clock_skew_s`` ahead of the clock is refused (it would pin the responder).
    capabilities
        The capability names in use (a registry); ``needs`` and responders' capabilities
        outside it are rejected. ``None``: any names.
    run_cards
        Per incident kind: needs per unit, offer mode and time-out (overrides and additions
        to :data:`~kayou_dispatch.lifecycle.DEFAULT_RUN_CARDS`).
    journal
        Path of an SQLite journal (or ``None``): every lifecycle command is appended before
        it is acknowledged, and an engine built on an existing journal replays it to the
        same incidents, offers, assignments and statuses. Positions are not journaled:
        phones refresh them within seconds. One process writes a journal: another one
        opening it is refused with :class:`InvalidParameterError` while this one runs.
    unserved_after_s
        An incident nobody could be offered for this long becomes UNSERVED (a later
        ``dispatch`` re-opens it).
    redis
        A ``redis://`` URL (or ``redis.Redis`` client) to share state with other processes
        (the ``redis`` extra): the lifecycle runs on a shared
        :class:`~kayou_dispatch.shared.RedisLog` (instead of ``journal``); fixes, statuses
        and capabilities are written to :class:`~kayou_dispatch.shared.RedisPositions`,
        and a :class:`~kayou_dispatch.shared.PositionMirror` applies what other processes
        wrote before every ranking or read. ``None``: this process only.
    redis_prefix
        Key prefix of the shared state (one per dispatch region / shard); also the log's
        name in the database of ``lifecycle``.
    lifecycle
        Where the lifecycle's commands live, shared by every process that names it: a
        ``postgresql://`` URL (the ``postgresql`` extra: a
        :class:`~kayou_dispatch.shared.PostgresLog`, the system of record, durable on
        commit) or any :class:`~kayou_dispatch.lifecycle.CommandLog`. Excludes
        ``journal``; with ``redis``, positions stay in Redis and the lifecycle moves here
        (instead of the Redis log).

    Raises
    ------
    InvalidParameterError
        For a bad network, resolution, TTL, clock or registry, or a ``lifecycle`` that is
        not a PostgreSQL URL.
    SharedStateError
        When the shared store (Redis, PostgreSQL) does not answer at start.

    Examples
    --------
    >>> from kayou_dispatch.network import EdgeArrays
    >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
    ...                         lng=[0.0, 0.01, 0.02], u=[0, 1, 1, 2], v=[1, 0, 2, 1],
    ...                         length_m=[1112.0] * 4, travel_time_s=[60.0] * 4)
    >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 0.0)
    >>> engine.update_position("near", 0.0, 0.012, capabilities={"tow"})
    True
    >>> engine.update_position("far", 0.0, 0.002)
    True
    >>> [(c.responder_id, round(c.eta_s)) for c in engine.rank(0.0, 0.01)]
    [('near', 12), ('far', 48)]
    >>> engine.rank(0.0, 0.01, needs={"tow"}, k=1)[0].responder_id
    'near'
    """

    def __init__(
        self,
        network: RoadNetwork,
        *,
        resolution: int = 8,
        position_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        capabilities: Iterable[str] | None = None,
        run_cards: Mapping[str, RunCard] | None = None,
        journal: str | os.PathLike[str] | CommandLog | None = None,
        unserved_after_s: float = 300.0,
        redis: Any = None,
        redis_prefix: str = "kd",
        max_clock_skew_s: float = 60.0,
        lifecycle: str | CommandLog | None = None,
    ) -> None:
        if not isinstance(network, RoadNetwork):
            msg = f"network must be a RoadNetwork, got {type(network).__name__}"
            raise InvalidParameterError(msg, name="network", value=network)
        self._index = ResponderIndex(
            resolution=resolution,
            position_ttl_s=position_ttl_s,
            clock=clock,
            max_clock_skew_s=max_clock_skew_s,
        )
        self._net = network
        self._registry = (
            None if capabilities is None else check_needs(capabilities, None, name="capabilities")
        )
        self._snaps = SnapCache(network)
        self._snaps.follow(self._index)  # fixes are snapped at ingest, in batches
        self._ranker = Ranker(network)
        self._rank_fn: Callable[..., Sequence[Any]] = self.rank
        self._eta_cap_s: float | None = None  # a shard's ranking bound (serve_shard)
        # Capabilities registered before a responder's first position (see register).
        self._registered: dict[str, frozenset[str]] = {}
        self._store: PositionStore = LocalPositionStore(self._index)
        self._shared_log: RedisLog | PostgresLog | None = None
        self._redis: Any = None
        log: CommandLog | None = None
        if lifecycle is not None:
            if journal is not None:
                msg = "give journal or lifecycle, not both (the lifecycle log is the journal)"
                raise InvalidParameterError(msg, name="journal", value=journal)
            log = _lifecycle_log(lifecycle, redis_prefix)
        if redis is not None:
            if journal is not None:
                msg = "give journal or redis, not both (the Redis log is the journal)"
                raise InvalidParameterError(msg, name="journal", value=journal)
            self._redis = open_client(redis)
            if log is None:
                log = RedisLog(self._redis, prefix=redis_prefix)
            self._store = _shared_state(self._redis, redis_prefix, self._index, clock)
        if log is not None:
            if isinstance(log, RedisLog | PostgresLog):
                self._shared_log = log
            journal = log
        self._dispatcher = Dispatcher(
            self._index,
            rank=lambda lat, lng, **kw: self._rank_fn(lat, lng, **kw),
            eta_matrix=self.eta_matrix,
            snap_check=lambda lat, lng: self._net.snap(lat, lng),
            clock=self._index.clock,
            run_cards=run_cards,
            journal=journal,
            unserved_after_s=unserved_after_s,
            same_carriageway=self._upstream_flags,
        )

    # --- properties ---------------------------------------------------------------------

    @property
    def network(self) -> RoadNetwork:
        """The road network."""
        return self._net

    @property
    def index(self) -> ResponderIndex:
        """The responder index (positions, statuses, capabilities)."""
        return self._index

    @property
    def capabilities(self) -> frozenset[str] | None:
        """The capability registry (``None``: any names)."""
        return self._registry

    @property
    def clock(self) -> Callable[[], float]:
        """The injected clock."""
        return self._index.clock

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self._index

    # --- responders (forwarded to the index) ----------------------------------------------

    def update_position(
        self,
        responder_id: str,
        lat: float,
        lng: float,
        *,
        ts: float | None = None,
        heading: float | None = None,
        speed_kph: float | None = None,
        capabilities: Iterable[str] | None = None,
    ) -> bool:
        """Insert or move one responder; see :meth:`ResponderIndex.update_position`.

        With shared state the answer is Redis's: whether this is the newest fix anywhere.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError
            On bad input (including capabilities outside the registry); nothing changes.
        """
        caps = None if capabilities is None else self._check_capabilities(capabilities)
        held = self._registered.get(responder_id) if self._registered else None
        if held is not None and caps is None and responder_id not in self._index:
            caps = held  # its first position: what it registered
        applied = self._store.write(Fix(responder_id, lat, lng, ts, heading, speed_kph, caps))
        if held is not None:
            self._registered.pop(responder_id, None)
        self._snaps.settle_moved(at_least=_SNAP_BATCH)
        return applied

    def update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        ts: float | ArrayLike | None = None,
        headings: ArrayLike | None = None,
    ) -> int:
        """Insert or move many responders; see :meth:`ResponderIndex.update_positions`."""
        if not self._registered:
            applied = self._store.update_positions(ids, lats, lngs, ts=ts, headings=headings)
        else:
            new = {str(rid) for rid in ids if rid in self._registered and rid not in self._index}
            applied = self._store.update_positions(ids, lats, lngs, ts=ts, headings=headings)
            for rid in sorted(new):
                caps = self._registered.pop(rid, None)
                if caps is not None and rid in self._index:
                    self._store.set_capabilities(rid, caps)
        self._snaps.settle_moved(at_least=_SNAP_BATCH)
        return applied

    def register(self, responder_id: str, *, capabilities: Iterable[str]) -> bool:
        """Say what a responder carries, before its first position or after.

        A responder the engine knows gets its capabilities replaced at once (as
        :meth:`set_capabilities`); one it does not know yet gets them with its first
        position (unless that position brings its own). Registrations wait in this
        process: with several processes sharing state, register through the process that
        receives the first position, or send ``capabilities`` with it.

        Returns
        -------
        bool
            Whether the responder is known (has a position) already.

        Raises
        ------
        InvalidParameterError
            For a bad id, or capabilities outside the registry.

        Examples
        --------
        >>> from kayou_dispatch import load_network
        >>> engine = DispatchEngine(load_network(), clock=lambda: 0.0)
        >>> engine.register("r1", capabilities={"tow"})
        False
        >>> engine.update_position("r1", *engine.network.node_latlng(3))
        True
        >>> sorted(engine.get("r1").capabilities)
        ['tow']
        """
        if not isinstance(responder_id, str) or not 0 < len(responder_id) <= MAX_ID_CHARS:
            msg = (
                f"responder_id must be a non-empty string of at most {MAX_ID_CHARS} "
                f"characters, got {responder_id!r}"
            )
            raise InvalidParameterError(msg, name="responder_id", value=responder_id)
        caps = self._check_capabilities(capabilities)
        self._catch_up()
        if responder_id in self._index:
            self._store.set_capabilities(responder_id, caps)
            return True
        self._registered[responder_id] = caps
        return False

    def registration(self, responder_id: str) -> frozenset[str] | None:
        """The capabilities registered for a responder with no position yet (else ``None``)."""
        return self._registered.get(responder_id)

    def set_status(self, responder_id: str, status: Status | str) -> None:
        """Set a status the responder chose: AVAILABLE or OFFLINE (only AVAILABLE is ranked).

        The lifecycle decides the status of an engaged responder; the rule lives in
        :meth:`~kayou_dispatch.lifecycle.Dispatcher.set_responder_status`.

        Raises
        ------
        InvalidTransitionError
            While the responder is offered or assigned an incident.
        UnknownResponderError, InvalidParameterError
            For an unknown responder or status.
        """
        self._catch_up()
        self._dispatcher.set_responder_status(responder_id, status, write=self._store.set_status)

    def set_capabilities(self, responder_id: str, capabilities: Iterable[str]) -> None:
        """Replace a responder's capabilities (checked against the registry)."""
        caps = self._check_capabilities(capabilities)
        self._catch_up()
        self._store.set_capabilities(responder_id, caps)

    def remove(self, responder_id: str) -> None:
        """Forget a responder; see :meth:`ResponderIndex.remove`.

        With shared state every process forgets it. If it is engaged on an incident, the
        lifecycle keeps it there and restores its status when it reports again.
        """
        self._registered.pop(responder_id, None)
        self._store.remove(responder_id)
        self._dispatcher.forget_positions([responder_id])

    def _check_incident_needs(self, needs: Any) -> Any:
        """Check ``needs`` (one set, or one per unit) against the registry; return it reusable.

        Shapes the lifecycle refuses anyway (not iterable, mixed) are left to it.
        """
        if isinstance(needs, str):
            check_needs(needs, self._registry)
            return needs
        try:
            items = list(needs)
        except TypeError:
            return needs
        if all(isinstance(n, str) for n in items):
            check_needs(items, self._registry)
            return items
        units: list[Any] = []
        for unit in items:
            if not isinstance(unit, str):
                with contextlib.suppress(TypeError):  # not iterable: the lifecycle says so
                    unit = list(unit)
                    check_needs(unit, self._registry)
            units.append(unit)
        return units

    def _check_capabilities(self, capabilities: Iterable[str]) -> frozenset[str]:
        return check_needs(capabilities, self._registry, name="capabilities")

    def get(self, responder_id: str) -> Responder:
        """Return a snapshot of one responder; see :meth:`ResponderIndex.get`."""
        self._catch_up()
        return self._index.get(responder_id)

    def nearby(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        needs: Iterable[str] = (),
        statuses: Iterable[Status | str] | None = (Status.AVAILABLE,),
    ) -> list[Neighbor]:
        """Return fresh responders within a great-circle radius (see ``ResponderIndex.nearby``)."""
        need_set = check_needs(needs, self._registry)
        self._catch_up()
        return self._index.nearby(lat, lng, radius_m, needs=need_set, statuses=statuses)

    # --- ranking ------------------------------------------------------------------------

    def _incident(self, lat: float, lng: float, heading: float | None) -> tuple[float, float, Snap]:
        flat, flng = validate_latlng(lat, lng)
        return flat, flng, self._net.snap(flat, flng, heading=heading)

    def rank(
        self,
        lat: float,
        lng: float,
        *,
        k: int = 10,
        needs: Iterable[str] = (),
        max_eta_s: float | None = None,
        heading: float | None = None,
        exclude: Iterable[str] = (),
        query: RankQuery | None = None,
        objective: Objective = "eta",
        kind: str | None = None,
    ) -> list[Candidate]:
        """Return the ``k`` responders with the smallest road travel time to an incident.

        Only fresh, AVAILABLE responders with every capability in ``needs`` count. The
        incident is snapped to the nearest road (with ``heading``, the nearest one running
        that way); each responder with its last heading when it reported one. Responders
        off the network (no such road within 1000 m), unreachable by road, or slower than
        ``max_eta_s`` are left out, never guessed; :meth:`explain` says why.

        Parameters
        ----------
        lat, lng
            The incident, WGS-84 degrees.
        k
            How many to return at most (fewer when fewer qualify).
        needs
            Capabilities every returned responder must have.
        max_eta_s
            Leave out responders slower than this (``None``: no limit).
        heading
            The incident vehicle's travel direction, degrees clockwise from north.
        exclude
            Responder ids to skip (e.g. those who declined).
        query
            All of these options as one :class:`~kayou_dispatch.RankQuery` (instead of them).
        objective
            ``"eta"``: by road travel time. ``"expected"``: by expected time until help
            arrives when offers cascade down the list, each responder's learned declines
            and time-outs included (:meth:`responder_stats`):
            ``expected_s = eta_s + a + f (1 - p) / p``, with ``p`` its chance to accept
            within the time-out, ``a`` its accept delay and ``f`` what a failed offer to
            it costs (decline delay or the time-out). Sorting by it minimises the
            cascade's expected time to help (see :mod:`kayou_dispatch.matching.expected`).
        kind
            With ``"expected"``: the incident kind whose acceptance and run-card time-out
            apply (``None``: every kind's, and a 90 s time-out).

        Returns
        -------
        list of Candidate
            Sorted by ``eta_s``, ties by ``responder_id``; exactly the result of sorting every
            qualifying responder's exact road time. With ``objective="expected"``:
            :class:`~kayou_dispatch.ExpectedCandidate` sorted by ``expected_s`` (ties by
            id), exactly the top ``k`` of every qualifying responder's.

        Raises
        ------
        InvalidCoordinateError
            For a bad incident position.
        OffNetworkError
            When the incident is more than 1000 m from every (qualifying) road.
        InvalidParameterError
            For a bad ``k``, ``max_eta_s``, ``heading``, ``needs`` or ``exclude``.
        """
        q = self._query(
            query, k=k, needs=needs, max_eta_s=max_eta_s, heading=heading, exclude=exclude
        )
        if self._eta_cap_s is not None and not (q.max_eta_s or math.inf) <= self._eta_cap_s:
            q = q.replace(max_eta_s=self._eta_cap_s)
        if check_objective(objective) == "expected":
            timeout_s = self._offer_timeout_s(kind)
        elif kind is not None:
            msg = 'kind is used by objective="expected" only'
            raise InvalidParameterError(msg, name="kind", value=kind)
        flat, flng, dest = self._incident(lat, lng, q.heading)
        self._catch_up()
        if objective == "eta":
            return self._ranking(dest, flat, flng, q)
        return list(
            rank_expected(
                lambda n: self._ranking(dest, flat, flng, q.replace(k=n)),
                lambda ids: self._dispatcher.acceptance_odds(
                    ids, kind=kind, offer_timeout_s=timeout_s
                ),
                k=q.k,
            )
        )

    def _offer_timeout_s(self, kind: str | None) -> float:
        """The run card's offer time-out of ``kind`` (the default card's for ``None``)."""
        if kind is None:
            return DEFAULT_OFFER_TIMEOUT_S
        card = self._dispatcher.run_cards.get(kind) if isinstance(kind, str) else None
        if card is None:
            known = ", ".join(sorted(self._dispatcher.run_cards))
            msg = f"unknown incident kind {kind!r}; known: {known}"
            raise InvalidParameterError(msg, name="kind", value=kind)
        return card.offer_timeout_s

    def _query(self, query: RankQuery | None, **options: Any) -> RankQuery:
        """The ranking's options as one validated query (needs checked against the registry)."""
        q = RankQuery.of(query, **options)
        check_needs(q.needs, self._registry)
        return q

    def _ranking(self, dest: Snap, lat: float, lng: float, q: RankQuery) -> list[Candidate]:
        """Rank by exact road ETA: the one call into the ranker (it gathers near the incident)."""
        return self._ranker.rank_near(
            dest,
            lat,
            lng,
            self._index,
            self._snaps,
            k=q.k,
            max_eta_s=q.max_eta_limit_s,
            needs=q.needs,
            exclude=q.exclude,
        )

    def _catch_up(self) -> None:
        """Apply what other processes wrote; give re-appeared engaged responders their status."""
        removed = self._store.catch_up()
        if removed:
            self._dispatcher.forget_positions(removed)
        self._dispatcher.sync_statuses()
        self._snaps.settle_moved(at_least=_SNAP_BATCH)

    def explain(
        self,
        lat: float,
        lng: float,
        responder_id: str,
        *,
        k: int = 10,
        needs: Iterable[str] = (),
        max_eta_s: float | None = None,
        heading: float | None = None,
        exclude: Iterable[str] = (),
        query: RankQuery | None = None,
        kind: str | None = None,
    ) -> Explanation:
        """Explain whether and why :meth:`rank` (same options, or ``query``) returns a responder.

        Gives its route and ETA to the incident whatever its status, and every reason it
        is left out: stale, busy, lacks a capability, excluded, off the network,
        unreachable, beyond ``max_eta_s``, or outranked by ``k`` faster responders. With
        ``kind`` it speaks for the lifecycle's offers of that kind: a volunteer held back
        by the run card's offer limit, its quiet hours or a rest due after long driving
        is not ranked either, and the reasons say so (``offer_limit``, ``quiet_hours``,
        ``needs_rest``, see :meth:`volunteer_holds`).

        Raises
        ------
        UnknownResponderError
            When the responder is not known.
        InvalidCoordinateError, OffNetworkError, InvalidParameterError
            As :meth:`rank`.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0, 1], v=[1, 0], length_m=[1112.0] * 2,
        ...                         travel_time_s=[60.0] * 2)
        >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 0.0)
        >>> engine.update_position("r1", 0.0, 0.002)
        True
        >>> engine.index.set_status("r1", "en_route")  # busy elsewhere (a host's own lifecycle)
        >>> why = engine.explain(0.0, 0.005, "r1")
        >>> why.ranked, [r.value for r in why.reasons], round(why.eta_s)
        (False, ['busy'], 18)
        """
        q = self._query(
            query, k=k, needs=needs, max_eta_s=max_eta_s, heading=heading, exclude=exclude
        )
        self._catch_up()
        responder = self._index.get(responder_id)
        flat, flng, dest = self._incident(lat, lng, q.heading)
        ranking = self._ranking(dest, flat, flng, q)
        why = explain_responder(
            self._net,
            self._index,
            self._snaps,
            responder,
            dest,
            flat,
            flng,
            ranking,
            k=q.k,
            needs=q.needs,
            max_eta_s=q.max_eta_limit_s,
            exclude=q.exclude,
        )
        if kind is None:
            return why
        eta_s = why.eta_s if math.isfinite(why.eta_s) else 0.0
        held = [
            (Reason(h.reason), h.detail)
            for h in self._dispatcher.volunteer_holds(responder_id, kind=kind, eta_s=eta_s)
        ]
        team = self._team_first(flat, flng, kind, responder_id, q.needs)
        if team is not None:
            held.append((Reason.OUTSIDE_TEAM, team))
        if not held:
            return why
        return dataclasses.replace(
            why,
            ranked=False,
            position=None,
            reasons=(*why.reasons, *(r for r, _ in held)),
            details=(*why.details, *(d for _, d in held)),
        )

    def _team_first(
        self, lat: float, lng: float, kind: str, responder_id: str, needs: frozenset[str]
    ) -> str | None:
        """Why a non-member waits while the kind's run card offers the covering team first."""
        card = self._dispatcher.run_cards.get(kind)
        if card is None or card.team_first_s is None:
            return None
        team = self._dispatcher.team_covering(lat, lng)
        if team is None or responder_id in (members := self._dispatcher.team_members(team.team_id)):
            return None
        free = [
            rid
            for rid in members
            if rid in self._index
            and (r := self._index.get(rid)).status is Status.AVAILABLE
            and r.fresh
            and needs <= r.capabilities
        ]
        if not free:  # the lifecycle widens at once when no member can be offered
            return None
        return (
            f"the run card offers team {team.team_id!r} ({len(free)} free) first, for "
            f"{card.team_first_s:g} s after dispatch; it is not a member"
        )

    def _upstream_flags(self, lat: float, lng: float, responder_ids: Sequence[str]) -> list[bool]:
        """Whether each responder is upstream on the incident's carriageway (run cards)."""
        dest = self._net.snap(lat, lng)
        flags = [False] * len(responder_ids)
        starts: list[Snap] = []
        rows: list[int] = []
        for i, rid in enumerate(responder_ids):
            snap = _responder_snap(self._index, self._snaps, rid) if rid in self._index else None
            if snap is not None:
                starts.append(snap)
                rows.append(i)
        for i, up in zip(
            rows, upstream_on_carriageway(self._net, dest, starts).tolist(), strict=True
        ):
            flags[i] = bool(up)
        return flags

    # --- volunteers ----------------------------------------------------------------------

    def set_quiet_hours(self, responder_id: str, quiet_hours: QuietHours | None) -> None:
        """Set (``None``: clear) the daily hours a volunteer is never offered anything.

        Journaled with the lifecycle (survives restarts, shared through Redis).

        Raises
        ------
        UnknownResponderError
            When the responder is not known.
        InvalidParameterError
            When ``quiet_hours`` is not a :class:`~kayou_dispatch.QuietHours` or ``None``.

        Examples
        --------
        >>> from kayou_dispatch import QuietHours
        >>> from kayou_dispatch.network import EdgeArrays
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0, 1], v=[1, 0], length_m=[1112.0] * 2,
        ...                         travel_time_s=[60.0] * 2)
        >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 23 * 3600.0)
        >>> engine.update_position("r1", 0.0, 0.002, ts=23 * 3600.0)
        True
        >>> engine.set_quiet_hours("r1", QuietHours(22.0, 6.0))
        >>> why = engine.explain(0.0, 0.005, "r1", kind="other")
        >>> why.ranked, [r.value for r in why.reasons]
        (False, ['quiet_hours'])
        >>> _ = engine.report_incident("i1", 0.0, 0.005, kind="other", dispatch=True)
        >>> engine.incident("i1").offers
        ()
        """
        self._catch_up()
        self._dispatcher.set_quiet_hours(responder_id, quiet_hours)

    def report_driving(
        self,
        responder_id: str,
        *,
        continuous_driving_s: float,
        driving: bool = True,
        at: float | None = None,
    ) -> None:
        """Record a volunteer's continuous driving time (``Dispatcher.report_driving``).

        A volunteer whose continuous driving would reach 4 hours by its arrival is not
        offered driving tasks until it has rested 20 minutes (stopped: ``driving=False``)
        or reports a smaller count.

        Raises
        ------
        InvalidParameterError
            A negative ``continuous_driving_s`` or an ``at`` in the future (naming it).
        UnknownResponderError
            When the responder is not known.
        """
        self._catch_up()
        self._dispatcher.report_driving(
            responder_id, continuous_driving_s=continuous_driving_s, driving=driving, at=at
        )

    # --- mutual-aid teams -------------------------------------------------------------------

    def set_team(self, team_id: str, *, lat: float, lng: float, radius_m: float) -> Team:
        """Define a mutual-aid team covering a disc (or move or resize it); return it.

        Run cards with ``team_first_s`` offer incidents in its area to its members first
        (see :mod:`kayou_dispatch.lifecycle.teams`). Journaled with the lifecycle.

        Raises
        ------
        InvalidParameterError
            A bad ``team_id`` or ``radius_m`` (naming the field).
        InvalidCoordinateError
            A centre that is not a place.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0, 1], v=[1, 0], length_m=[1112.0] * 2,
        ...                         travel_time_s=[60.0] * 2)
        >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 0.0)
        >>> engine.update_positions(["near", "member"], [0.0, 0.0], [0.004, 0.001])
        2
        >>> _ = engine.set_team("east", lat=0.0, lng=0.01, radius_m=5_000.0)
        >>> engine.set_responder_teams("member", ["east"])
        >>> engine.set_run_card("other", dataclasses.replace(
        ...     engine.run_cards["other"], team_first_s=120.0))
        >>> engine.explain(0.0, 0.005, "near", kind="other").reasons
        (<Reason.OUTSIDE_TEAM: 'outside_team'>,)
        >>> _ = engine.report_incident("i1", 0.0, 0.005, kind="other", dispatch=True)
        >>> [o.responder_id for o in engine.incident("i1").offers]
        ['member']
        """
        team = Team(team_id, lat, lng, radius_m)
        self._catch_up()
        self._dispatcher.set_team(team)
        return team

    def remove_team(self, team_id: str) -> None:
        """Drop a team (its members leave it).

        Raises
        ------
        InvalidParameterError
            When no team has this id (``name="team_id"``).
        """
        self._catch_up()
        self._dispatcher.remove_team(team_id)

    def set_responder_teams(self, responder_id: str, team_ids: Iterable[str]) -> None:
        """Make a responder a member of exactly these teams (empty: of none).

        Raises
        ------
        InvalidParameterError
            When ``team_ids`` names a team that is not defined (``name="team_ids"``).
        UnknownResponderError
            When the responder is not known.
        """
        self._catch_up()
        self._dispatcher.set_responder_teams(responder_id, team_ids)

    def teams(self) -> list[Team]:
        """Every mutual-aid team, by id."""
        self._catch_up()
        return self._dispatcher.teams()

    def team_members(self, team_id: str) -> frozenset[str]:
        """A team's members (``InvalidParameterError`` naming ``team_id`` when unknown)."""
        self._catch_up()
        return self._dispatcher.team_members(team_id)

    def responder_teams(self, responder_id: str) -> frozenset[str]:
        """The teams a responder belongs to."""
        self._catch_up()
        return self._dispatcher.responder_teams(responder_id)

    def team_covering(self, lat: float, lng: float) -> Team | None:
        """The team that covers a point (the nearest centre of those that do), if any."""
        self._catch_up()
        return self._dispatcher.team_covering(lat, lng)

    def volunteer_holds(self, responder_id: str, *, kind: str, eta_s: float = 0.0) -> list[Hold]:
        """Why a volunteer would not be offered an incident of ``kind`` now (empty: it would)."""
        return self._dispatcher.volunteer_holds(responder_id, kind=kind, eta_s=eta_s)

    def burden_report(self) -> BurdenReport:
        """Offers and assignments per volunteer (zeros included), their maxima and Gini."""
        self._catch_up()
        return self._dispatcher.burden_report()

    def eta_matrix(
        self,
        incidents: Sequence[tuple[float, float]] | ArrayLike,
        responder_ids: Sequence[str],
        *,
        limit_s: float | ArrayLike = math.inf,
    ) -> NDArray[np.float64]:
        """Return road ETAs from each responder to each incident, shape (incidents, responders).

        For batch assignment. One search per incident serves every responder; incidents are
        snapped without a heading, responders with theirs. Status and freshness are not
        checked (the caller chose the responders). ``inf`` where a responder is off the
        network or cannot reach the incident.

        ``limit_s`` (one for all incidents, or one per incident) bounds each search: ETAs
        up to it are exact, larger ones are ``inf`` (not searched) -- far cheaper when only
        the near responders matter (``assign_batch`` widens the limit where it must).

        Raises
        ------
        InvalidCoordinateError
            For a bad incident position.
        InvalidParameterError
            When ``incidents`` is not a sequence of ``(lat, lng)`` pairs.
        OffNetworkError
            When an incident is off the network.
        UnknownResponderError
            When a responder id is not known.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 0.0)
        >>> engine.update_positions(["a", "b"], [0.0, 0.0], [0.002, 0.008])
        2
        >>> engine.eta_matrix([(0.0, 0.005), (0.0, 0.009)], ["a", "b"]).round(1).tolist()
        [[18.0, inf], [42.0, 6.0]]
        """
        try:
            pts = np.asarray(incidents, dtype=np.float64)
        except (TypeError, ValueError):
            pts = np.zeros((0, 3))
        if pts.shape == (0,):
            pts = pts.reshape(0, 2)
        if pts.ndim != 2 or pts.shape[1] != 2:
            msg = "incidents must be a sequence of (lat, lng) pairs"
            raise InvalidParameterError(msg, name="incidents", value=incidents)
        if isinstance(responder_ids, str):
            msg = "responder_ids must be a sequence of ids, not one string"
            raise InvalidParameterError(msg, name="responder_ids", value=responder_ids)
        la, ln = validate_latlng_array(pts[:, 0], pts[:, 1])
        try:
            limits = np.broadcast_to(np.asarray(limit_s, dtype=np.float64), la.shape)
        except (TypeError, ValueError):
            limits = np.array([np.nan])
        if not (limits >= 0).all():
            msg = "limit_s must be seconds >= 0 (inf allowed), one or one per incident"
            raise InvalidParameterError(msg, name="limit_s", value=limit_s)
        self._catch_up()
        return eta_matrix(
            self._net, self._index, self._snaps, self._ranker, la, ln, list(responder_ids), limits
        )

    def eta_matrix_many(
        self,
        lats: ArrayLike,
        lngs: ArrayLike,
        responder_ids: Sequence[str],
        *,
        limit_s: float | ArrayLike = math.inf,
    ) -> NDArray[np.float64]:
        """:meth:`eta_matrix` in the package's vector form: incidents as ``lats, lngs`` arrays.

        Raises
        ------
        InvalidParameterError
            When ``lats`` and ``lngs`` differ in length; else as :meth:`eta_matrix`.
        """
        la = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        ln = np.atleast_1d(np.asarray(lngs, dtype=np.float64))
        if la.ndim != 1 or la.shape != ln.shape:
            msg = f"lats and lngs must be 1-d and of one length, got {la.shape} and {ln.shape}"
            raise InvalidParameterError(msg, name="lats", value=(la.shape, ln.shape))
        return self.eta_matrix(np.column_stack((la, ln)), responder_ids, limit_s=limit_s)

    #: The vector form's name in the package's one scheme (``_many``); ``update_positions``
    #: stays as an earlier issue named it.
    update_position_many = update_positions

    def serve_shard(
        self,
        reach_cells: frozenset[int],
        *,
        resolution: int,
        max_eta_s: float,
        owns: Callable[[float, float], bool] | None = None,
    ) -> None:
        """Serve one shard: hold only fixes in ``reach_cells``, rank within ``max_eta_s``.

        See :mod:`kayou_dispatch.shared.shards` for why this ranks exactly like one engine
        holding the whole region (within ``max_eta_s``) for incidents in the shard's cells.
        ``owns(lat, lng)`` says which incidents' offers this shard's :meth:`tick` expires
        and refills (:meth:`kayou_dispatch.shared.shards.ShardMap.ticks_for`); every
        shard follows the whole national log, and only the owner ranks an incident
        exactly. ``None``: every incident (one shard alone).
        """
        from kayou_dispatch.shared.shards import RegionPositionStore

        self._store = RegionPositionStore(self._store, frozenset(reach_cells), resolution)
        self._eta_cap_s = float(max_eta_s)
        self._dispatcher.set_tick_scope(owns)

    def set_ranker(self, rank: Callable[..., Sequence[Any]] | None) -> None:
        """Choose how :meth:`dispatch` ranks candidates (``None``: :meth:`rank`, road ETA).

        ``rank`` takes ``(lat, lng, **RankQuery(...).options())`` -- keyword arguments ``k,
        needs, max_eta_s, heading, exclude`` -- and returns
        candidates with ``responder_id`` and ``eta_s``, best first: simulations use this to
        compare policies on the same engine.
        """
        if rank is not None and not callable(rank):
            msg = f"rank must be callable or None, got {rank!r}"
            raise InvalidParameterError(msg, name="rank", value=rank)
        self._rank_fn = self.rank if rank is None else rank

    # --- the incident lifecycle (delegated to the Dispatcher) -------------------------------

    @property
    def dispatcher(self) -> Dispatcher:
        """The lifecycle core this engine delegates to."""
        return self._dispatcher

    @property
    def run_cards(self) -> Mapping[str, RunCard]:
        """Run cards in force, by incident kind."""
        return self._dispatcher.run_cards

    def set_run_card(self, kind: str, card: RunCard) -> None:
        """Override (or add) the run card of one incident kind."""
        self._dispatcher.set_run_card(kind, card)

    def report_incident(
        self,
        incident_id: str,
        lat: float,
        lng: float,
        *,
        kind: str,
        severity: int = 3,
        needs: Any = None,
        units: int | None = None,
        request_id: str | None = None,
        dispatch: bool = False,
        requester_id: str | None = None,
    ) -> Incident:
        """Record an incident (OPEN); with ``dispatch=True`` also make its first offers.

        See :meth:`kayou_dispatch.lifecycle.Dispatcher.report_incident`.

        Raises
        ------
        DuplicateIncidentError, OffNetworkError, InvalidParameterError, InvalidCoordinateError
            For a reused id, a place off the road network, or bad kind/severity/needs/units
            (including needs outside the capability registry).
        """
        if needs is not None and self._registry is not None:
            needs = self._check_incident_needs(needs)
        return self._dispatcher.report_incident(
            incident_id,
            lat,
            lng,
            kind=kind,
            severity=severity,
            needs=needs,
            units=units,
            request_id=request_id,
            dispatch=dispatch,
            requester_id=requester_id,
        )

    def dispatch(self, incident_id: str) -> list[Offer]:
        """Offer the best ranked candidates for the missing units; return the new offers."""
        return self._dispatcher.dispatch(incident_id)

    def offer(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Offer an incident to a responder the dispatcher chose (``Dispatcher.offer``)."""
        return self._dispatcher.offer(incident_id, responder_id, request_id=request_id)

    def accept(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Accept an outstanding offer: the responder becomes ASSIGNED."""
        return self._dispatcher.accept(incident_id, responder_id, request_id=request_id)

    def decline(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Decline an offer: the responder is freed and the next candidate is offered."""
        return self._dispatcher.decline(incident_id, responder_id, request_id=request_id)

    def depart(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """An assigned responder sets off (EN_ROUTE)."""
        return self._dispatcher.depart(incident_id, responder_id, request_id=request_id)

    def arrive(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """An assigned responder is on scene (ON_SCENE)."""
        return self._dispatcher.arrive(incident_id, responder_id, request_id=request_id)

    def resolve(self, incident_id: str, *, request_id: str | None = None) -> Incident:
        """Close an incident as resolved; its responders return to AVAILABLE."""
        return self._dispatcher.resolve(incident_id, request_id=request_id)

    def cancel(self, incident_id: str, *, request_id: str | None = None) -> Incident:
        """Cancel an incident; offers are withdrawn and responders released."""
        return self._dispatcher.cancel(incident_id, request_id=request_id)

    def tick(self) -> list[Event]:
        """Expire offers past their time-out (by the clock) and offer the next candidates."""
        return self._dispatcher.tick()

    def assign_batch(
        self,
        incident_ids: Iterable[str] | None = None,
        *,
        policy: str = "optimal",
        coverage_margin_s: float | None = None,
    ) -> dict[str, list[Offer]]:
        """Assign many open incidents at once (``"optimal"`` or ``"greedy"``)."""
        return self._dispatcher.assign_batch(
            incident_ids, policy=policy, coverage_margin_s=coverage_margin_s
        )

    def incident(self, incident_id: str) -> Incident:
        """A snapshot of one incident."""
        return self._dispatcher.incident(incident_id)

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet closed, most severe first."""
        return self._dispatcher.open_incidents()

    def responder(self, responder_id: str) -> Responder:
        """A snapshot of one responder (status included)."""
        self._catch_up()
        return self._dispatcher.responder(responder_id)

    def engagement(self, responder_id: str) -> str | None:
        """The incident a responder is offered or assigned to, or ``None``."""
        return self._dispatcher.engagement(responder_id)

    def engagements(self) -> dict[str, str]:
        """Every engaged responder's incident (offered or assigned), by responder."""
        return self._dispatcher.engagements()

    def responder_stats(self, responder_id: str, *, kind: str | None = None) -> ResponderStats:
        """How a responder answers offers: counts, P(accept) and median delays.

        Learned from the lifecycle itself (every offer's end is a journaled record), so the
        numbers survive restarts and agree across processes sharing a Redis log. Estimates
        are shrunk towards the population (and, with ``kind``, towards that kind's rate):
        a responder never offered anything gets exactly the population's numbers. See
        :mod:`kayou_dispatch.lifecycle.acceptance` and ``docs/volunteers.md``.

        Parameters
        ----------
        responder_id
            A responder in the index, or one that has had offers.
        kind
            An incident kind (``None``: every kind together).

        Raises
        ------
        UnknownResponderError
            When the responder is neither known nor ever offered anything.
        InvalidParameterError
            For an unknown kind.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0, 1], v=[1, 0], length_m=[1112.0] * 2,
        ...                         travel_time_s=[60.0] * 2)
        >>> engine = DispatchEngine(RoadNetwork.from_arrays(a), clock=lambda: 0.0)
        >>> engine.update_position("r1", 0.0, 0.002, capabilities={"mechanic"})
        True
        >>> _ = engine.report_incident("i1", 0.0, 0.005, kind="breakdown", dispatch=True)
        >>> _ = engine.decline("i1", "r1")
        >>> s = engine.responder_stats("r1")
        >>> s.offers, s.accepted, s.declined, s.timed_out, s.p_accept < 0.5
        (1, 0, 1, 0, True)
        """
        self._catch_up()
        return self._dispatcher.responder_stats(responder_id, kind=kind)

    def responders(self) -> list[Responder]:
        """Every responder's snapshot, by id, after catching up (other processes included)."""
        self.refresh()
        self._dispatcher.sync_statuses()
        out = []
        for rid in sorted(self._index):
            try:
                out.append(self._index.get(rid))
            except UnknownResponderError:  # removed meanwhile
                continue
        return out

    def snapshot(self) -> Snapshot:
        """A columnar snapshot of every responder's position and status (for live feeds)."""
        return self._index.snapshot()

    def subscribe(self, callback: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every lifecycle event; returns an unsubscribe function."""
        return self._dispatcher.subscribe(callback)

    def events(self) -> queue.SimpleQueue[Event]:
        """A queue that receives every lifecycle event from now on."""
        return self._dispatcher.events()

    @property
    def store(self) -> PositionStore:
        """Where responder state is written (local, or shared through Redis)."""
        return self._store

    @property
    def shared(self) -> PositionMirror | None:
        """The shared-state mirror (``redis=``), else ``None``."""
        store = self._store
        return store.mirror if isinstance(store, RedisPositionStore) else None

    @property
    def shared_log(self) -> RedisLog | PostgresLog | None:
        """The shared command log (``lifecycle=`` or ``redis=``), else ``None``."""
        return self._shared_log

    def refresh(self, wait_s: float = 0.0) -> bool:
        """Apply what other processes wrote: lifecycle commands and positions.

        Their lifecycle events reach this engine's subscribers. Reads and commands catch
        up by themselves; a server calls this in a loop so live events flow promptly and
        positions are applied in batches rather than at ranking time.

        Parameters
        ----------
        wait_s
            First block up to this long for a lifecycle command (0: do not wait).

        Returns
        -------
        bool
            ``False`` without shared state, or when no command arrived within ``wait_s``.

        Raises
        ------
        InvalidParameterError
            For a ``wait_s`` that is not 0 to 60 seconds.
        SharedStateError
            When Redis fails.
        """
        if isinstance(wait_s, bool) or not isinstance(wait_s, int | float) or not 0 <= wait_s <= 60:
            msg = f"wait_s must be 0 to 60 seconds, got {wait_s!r}"
            raise InvalidParameterError(msg, name="wait_s", value=wait_s)
        if self._shared_log is None:
            return False
        arrived = wait_s > 0 and self._shared_log.wait(wait_s)
        self._catch_up()
        self._dispatcher.refresh()
        return arrived or wait_s == 0

    def check_stores(self) -> list[str]:
        """Check that every store the engine writes to answers now (a readiness probe).

        Returns
        -------
        list of str
            The stores checked: the journal's path, the PostgreSQL or Redis server; empty
            without any.

        Raises
        ------
        SharedStateError
            Naming the first store that does not answer (Redis or PostgreSQL down, journal
            file gone).

        Examples
        --------
        >>> from kayou_dispatch import DispatchEngine, load_network
        >>> DispatchEngine(load_network()).check_stores()
        []
        """
        journal = self._dispatcher.check_journal()
        stores = [] if journal is None else [journal]
        if self._redis is not None and not isinstance(self._shared_log, RedisLog):
            # Positions in Redis, the lifecycle elsewhere: both must answer.
            with redis_errors(self._redis, "answering a ping"):
                self._redis.ping()
            stores.append(where(self._redis))
        return stores

    def close(self) -> None:
        """Close the journal or shared log (if any)."""
        self._dispatcher.close()

    def __enter__(self) -> DispatchEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DispatchEngine {len(self._index)} responders on {self._net!r}>"
