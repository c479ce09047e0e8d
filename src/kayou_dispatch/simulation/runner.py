"""Run a simulated day: the real DispatchEngine on a virtual clock, driven by events.

The same code path as production: requests are reported to a :class:`DispatchEngine`,
which ranks, offers, times out and re-offers; simulated drivers answer offers after a delay
(volunteers may decline), drive the routed road time to the scene, serve it and come back
into service. Positions reach the engine as bulk GPS rounds from the moving fleet.

Why this file is just over 600 lines: the event loop and its event handlers share the
simulation's clock, queues and fleet state; the fleet, demand, metrics and replications
are in their own modules.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import InvalidParameterError, KayouDispatchError
from kayou_dispatch.lifecycle import EventKind, IncidentStatus, RunCard, gini
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.coverage import CoverageProbe, Segments
from kayou_dispatch.simulation.demand import Request, generate_requests
from kayou_dispatch.simulation.fleet import Fleet
from kayou_dispatch.simulation.metrics import IncidentRecord, summarize
from kayou_dispatch.simulation.policies import Policy
from kayou_dispatch.simulation.scenario import Scenario
from kayou_dispatch.spatial import Status

__all__ = ["Coverage", "simulate", "SimulationResult", "TRACK_STATUS", "Tracks"]

#: A request nobody reached within this long is cancelled and counted unserved.
GIVE_UP_S = 2 * 3600.0
#: How often an open request with no candidate is tried again.
RETRY_S = 60.0
_WAITING = frozenset({IncidentStatus.OPEN, IncidentStatus.ASSIGNED, IncidentStatus.UNSERVED})

#: The status codes of :attr:`Tracks.status` (the order of the map renderer's colours).
TRACK_STATUS = ("available", "offered", "assigned", "en_route", "on_scene", "offline")
_AVAILABLE, _OFFERED, _ASSIGNED, _EN_ROUTE, _ON_SCENE, _OFFLINE = range(6)


@dataclass
class _Track:
    request: Request
    units: int = 1
    offers: int = 0
    first_offer_s: float = math.nan
    first_accept_s: float = math.nan
    first_arrival_s: float = math.nan
    closed_s: float = math.nan
    resolve_scheduled: bool = False


@dataclass(frozen=True, eq=False)
class Tracks:
    """Where every simulated responder was, and in which state, at regular times.

    Attributes
    ----------
    ids
        Responder ids, one per column.
    times_s : float64 (frames,)
        Simulated seconds of each frame (state just before the events of that second).
    lat, lng : float32 (frames, responders)
        True positions (before GPS noise), WGS-84 degrees.
    status : int8 (frames, responders)
        Index into :data:`TRACK_STATUS`.
    change_s, change_row, change_status, change_incident
        Every status change between frames, in time order: when, whose (column), to what,
        and for which incident (``None`` when it concerns none), so a replay shows offers
        that last seconds.
    """

    ids: tuple[str, ...]
    times_s: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    status: np.ndarray
    change_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    change_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    change_status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    change_incident: tuple[str | None, ...] = ()


@dataclass(frozen=True, eq=False)
class Coverage:
    """Where and when no available responder was within the limit (see ``coverage.py``).

    Attributes
    ----------
    segments
        The motorway and trunk segments probed.
    gap_share : float64 (segments, 24)
        Per segment and local hour: share of probes that found nobody within
        ``limit_s`` (NaN for hours never probed).
    probes : int64 (24,)
        Probes per local hour.
    """

    segments: Segments
    gap_share: np.ndarray
    probes: np.ndarray
    limit_s: float


@dataclass
class SimulationResult:
    """One policy's simulated day (``tracks`` when asked for with ``track_every_s``)."""

    policy: str
    records: list[IncidentRecord]
    metrics: dict[str, Any]
    final_positions: list[tuple[float, float]] = field(default_factory=list)
    places: list[tuple[str, float, float]] = field(default_factory=list)
    tracks: Tracks | None = None
    coverage: Coverage | None = None


def simulate(
    network: RoadNetwork,
    scenario: Scenario,
    policy: Policy,
    *,
    progress: bool = False,
    track_every_s: float | None = None,
) -> SimulationResult:
    """Simulate ``scenario`` on ``network`` with one dispatch policy.

    Parameters
    ----------
    network, scenario, policy
        The roads, the day and the dispatch policy.
    progress
        Show a progress bar.
    track_every_s
        Also record every responder's position and state this often (simulated
        seconds) into ``SimulationResult.tracks`` (for ``replay.html``); ``None``: don't.
        Recording does not change the simulated day.
    """
    if track_every_s is not None and not (
        isinstance(track_every_s, int | float) and 0 < track_every_s < math.inf
    ):
        msg = f"track_every_s must be a number of seconds > 0 or None, got {track_every_s!r}"
        raise InvalidParameterError(msg, name="track_every_s", value=track_every_s)
    scenario.check_network(network)
    run = _Run(network, scenario, policy, progress=progress, track_every_s=track_every_s)
    return run.run()


class _Run:
    def __init__(
        self,
        network: RoadNetwork,
        scenario: Scenario,
        policy: Policy,
        *,
        progress: bool,
        track_every_s: float | None = None,
    ) -> None:
        self.net = network
        self.sc = scenario
        self.policy = policy
        self.progress = progress
        # Same demand and the same drivers for every policy: seeds depend on the scenario only.
        self.requests = generate_requests(
            network, scenario, seed=np.random.default_rng([scenario.seed, 1])
        )
        self.rng = np.random.default_rng([scenario.seed, 2])
        self.fleet = Fleet(
            network,
            volunteers=scenario.responders,
            service_vehicles=scenario.service_vehicles,
            gps_noise_m=scenario.gps_noise_m,
            seed=np.random.default_rng([scenario.seed, 3]),
        )
        self.row = {rid: i for i, rid in enumerate(self.fleet.ids)}
        # Each volunteer's own behaviour, hidden from the policies (its own stream, so the
        # same volunteers behave the same under every policy).
        traits = np.random.default_rng([scenario.seed, 4])
        self.willingness = traits.normal(0.0, 1.0, len(self.fleet)) * scenario.accept_spread
        self.delay_scale = np.exp(traits.normal(0.0, 1.0, len(self.fleet)) * scenario.delay_spread)
        # Drawn after the traits above, so those stay what they were before ignoring existed.
        self.ignore_p = _ignore_probabilities(
            traits, scenario.ignore_probability, scenario.ignore_spread, self.fleet.is_service
        )
        n = len(self.fleet)
        self.busy = np.zeros(n, dtype=bool)  # offered, assigned, en route or on scene
        self.offer_eta: dict[tuple[str, str], float] = {}
        self.fix = np.full((3, n), np.nan)  # last reported lat, lng, heading
        self.probe: CoverageProbe | None = None
        if scenario.coverage_every_s is not None:
            self.probe = _probe(network, scenario.coverage_limit_s)
            self.gap_count = np.zeros((len(self.probe), 24))
            self.probes = np.zeros(24, dtype=np.int64)
        self.now = 0.0
        ttl = max(300.0, 3 * scenario.gps_interval_s)
        engine = DispatchEngine(network, position_ttl_s=ttl, clock=lambda: self.now)
        self.engine = engine
        engine.set_ranker(lambda lat, lng, **kw: policy.rank(engine, lat, lng, **kw))
        for kind, card in engine.run_cards.items():
            engine.set_run_card(kind, _card_for(policy, card))
        engine.subscribe(self._on_event)
        self.queue: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.tracks: dict[str, _Track] = {}
        self.pending_batch: list[str] = []
        self.events = 0
        self.open_requests = 0
        self.busy_since: dict[str, float] = {}
        self.busy_s = 0.0
        self.online = np.ones(len(self.fleet), dtype=bool)
        self.online_s = 0.0
        self.track_every_s = track_every_s
        self.state = np.zeros(len(self.fleet), dtype=np.int8)  # TRACK_STATUS codes
        self.frames: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        self.state_log: list[tuple[float, int, int, str | None]] = []
        self.state_incident: dict[int, str] = {}

    # -- event plumbing ---------------------------------------------------------------------
    def at(self, t: float, what: str, payload: Any = None) -> None:
        heapq.heappush(self.queue, (t, next(self.seq), what, payload))

    def _on_event(self, event: Any) -> None:
        # Called by the engine while it works: only schedule, never call back into it.
        kind = event.kind
        inc = event.incident_id
        rid = event.responder_id
        track = self.tracks.get(inc)
        if kind == EventKind.OFFER_MADE and track is not None:
            track.offers += 1
            if math.isnan(track.first_offer_s):
                track.first_offer_s = self.now
            row = self.row[rid]
            self.busy[row] = True
            self._set_state(row, _OFFERED, inc)
            self.offer_eta[inc, rid] = float(event.data.get("eta_s", math.inf))
            self.busy_since.setdefault(rid, self.now)
            delay = self._answer_delay_s(row)
            p = (
                1.0
                if self.fleet.is_service[row]
                else _expit(
                    _logit(self.sc.accept_probability.get(track.request.kind, 0.6))
                    + self.willingness[row]
                )
            )
            expires = float(event.data.get("expires_at", self.now + self.sc.offer_timeout_s))
            self.at(expires, "tick")
            # An ignored offer, or one answered after it lapsed, times out.
            ignored = self.ignore_p[row] > 0 and self.rng.random() < self.ignore_p[row]
            if not ignored and self.now + delay < expires:
                answer = "accept" if self.rng.random() < p else "decline"
                self.at(self.now + delay, answer, (inc, rid))
        elif kind in (EventKind.OFFER_EXPIRED, EventKind.OFFER_WITHDRAWN, EventKind.DECLINED):
            self._release(rid)
        elif kind == EventKind.ACCEPTED and track is not None:
            self._set_state(self.row[rid], _ASSIGNED, inc)
            if math.isnan(track.first_accept_s):
                track.first_accept_s = self.now
            self.at(self.now, "depart", (inc, rid, self.offer_eta.pop((inc, rid), math.inf)))
        elif kind == EventKind.NO_CANDIDATE and track is not None:
            self.at(self.now + RETRY_S, "retry", inc)

    def _answer_delay_s(self, row: int) -> float:
        """Seconds this volunteer takes to answer one offer (see ``Scenario.delay_tail``)."""
        mean_s = self.sc.response_delay_s * float(self.delay_scale[row])
        sigma = self.sc.delay_tail
        if sigma is None:  # the exponential delay of earlier versions
            return float(self.rng.exponential(mean_s))
        # Lognormal with the volunteer's mean: exp(N(-sigma^2 / 2, sigma)) has mean 1.
        return mean_s * float(self.rng.lognormal(-0.5 * sigma * sigma, sigma))

    def _release(self, rid: str | None) -> None:
        if rid is None:
            return
        row = self.row[rid]
        self.busy[row] = False
        if self.fleet.held[row]:
            self.fleet.advance_to(self.now, np.array([row]))
            self.fleet.release(row)
        self._set_state(row, _AVAILABLE if self.online[row] else _OFFLINE)
        start = self.busy_since.pop(rid, None)
        if start is not None:
            self.busy_s += self.now - start

    # -- handlers ---------------------------------------------------------------------------
    def report(self, req: Request) -> None:
        inc = self.engine.report_incident(
            req.incident_id, req.lat, req.lng, kind=req.kind, severity=req.severity
        )
        self.tracks[req.incident_id] = _Track(req, units=inc.units)
        self.open_requests += 1
        self.at(self.now + GIVE_UP_S, "give_up", req.incident_id)
        if self.policy.batch_interval_s is None:
            self.engine.dispatch(req.incident_id)
        else:
            self.pending_batch.append(req.incident_id)

    def batch(self) -> None:
        open_ids = [i for i in self.pending_batch if self._is_open(i)]
        self.pending_batch = []
        if open_ids:
            self.engine.assign_batch(open_ids, **self.policy.batch_options())
            for inc in open_ids:
                if not self.engine.incident(inc).offers and self._is_open(inc):
                    self.pending_batch.append(inc)  # nobody now: try next round

    def _is_open(self, inc: str) -> bool:
        snap = self.engine.incident(inc)
        return snap.status in _WAITING and snap.missing > 0

    def depart(self, inc: str, rid: str, eta_s: float = math.inf) -> None:
        self.engine.depart(inc, rid)
        row = self.row[rid]
        self._set_state(row, _EN_ROUTE, inc)
        self.fleet.advance_to(self.now, np.array([row]))
        req = self.tracks[inc].request
        # The offer's ETA was from the phone's last fix: search a little beyond it first.
        limit = 1.25 * eta_s + 120.0 if math.isfinite(eta_s) else math.inf
        eta, edges, frac = self.fleet.route_to(row, req.edge, req.fraction, limit_s=limit)
        if not math.isfinite(eta) and math.isfinite(limit):
            eta, edges, frac = self.fleet.route_to(row, req.edge, req.fraction, limit_s=3 * limit)
        if not math.isfinite(eta):
            eta, edges, frac = self.fleet.route_to(row, req.edge, req.fraction)
        if math.isfinite(eta):
            self.fleet.send(row, edges, frac)
        else:  # cannot happen on a strongly connected network; keep the day going
            eta = 3600.0
        self.at(self.now + eta, "arrive", (inc, rid))

    def arrive(self, inc: str, rid: str) -> None:
        track = self.tracks[inc]
        if not math.isnan(track.closed_s):
            # Closed before it got there: free it -- unless it took another request since
            # (closing released it already; its arrival here is stale).
            if self.engine.engagement(rid) is None:
                self._release(rid)
            return
        self.engine.arrive(inc, rid)
        self._set_state(self.row[rid], _ON_SCENE, inc)
        req = track.request
        self.fleet.advance_to(self.now, np.array([self.row[rid]]))
        self.fleet.place(self.row[rid], req.edge, req.fraction)
        if math.isnan(track.first_arrival_s):
            track.first_arrival_s = self.now
        if not track.resolve_scheduled:
            track.resolve_scheduled = True
            mean, sd = self.sc.service_minutes.get(req.kind, (20.0, 5.0))
            service = max(60.0, self.rng.normal(mean, sd) * 60.0)
            self.at(self.now + service, "resolve", inc)

    def resolve(self, inc: str) -> None:
        snap = self.engine.incident(inc)
        self.engine.resolve(inc)
        self.tracks[inc].closed_s = self.now
        self.open_requests -= 1
        for rid in snap.assigned:
            self._release(rid)

    def give_up(self, inc: str) -> None:
        track = self.tracks[inc]
        if math.isnan(track.first_arrival_s) and math.isnan(track.closed_s):
            snap = self.engine.incident(inc)
            self.engine.cancel(inc)
            track.closed_s = self.now
            self.open_requests -= 1
            for rid in (*snap.assigned, *(o.responder_id for o in snap.offers)):
                self._release(rid)

    def shift(self, row: int) -> None:
        if self.busy[row]:  # busy with a request: log off a little later
            self.at(self.now + 600.0, "shift", row)
            return
        rid = self.fleet.ids[row]
        self.online[row] = not self.online[row]
        if not self.online[row]:  # its last fix goes stale: the probe must not count it
            self.fix[:, row] = np.nan
        self._set_state(row, _AVAILABLE if self.online[row] else _OFFLINE)
        self.engine.set_status(rid, Status.AVAILABLE if self.online[row] else Status.OFFLINE)
        self.at(self.now + float(self.rng.exponential(self.sc.shift_hours * 3600.0)), "shift", row)

    def gps_round(self, dt: float) -> None:
        # Every online phone reports, en route to help included, from where its truck is.
        self.fleet.advance_to(self.now)
        rows = np.flatnonzero(self.online)
        if rows.size:
            lat, lng, heading = self.fleet.gps_fixes(rows)
            ids = [self.fleet.ids[i] for i in rows.tolist()]
            self.engine.update_positions(ids, lat, lng, ts=self.now, headings=heading)
            self.fix[:, rows] = lat, lng, heading
        self.online_s += float(self.online.sum()) * dt

    def coverage(self) -> None:
        probe = self.probe
        assert probe is not None
        rows = np.flatnonzero(self.online & (self.state == _AVAILABLE) & ~np.isnan(self.fix[0]))
        gaps = probe.gaps(self.fix[0, rows], self.fix[1, rows], self.fix[2, rows])
        hour = int((self.sc.start_hour + self.now // 3600) % 24)
        self.gap_count[:, hour] += gaps
        self.probes[hour] += 1

    # -- main loop --------------------------------------------------------------------------
    def run(self) -> SimulationResult:
        sc = self.sc
        end = sc.hours * 3600.0
        # Requests arrive until ``end``; the day then drains: those still open are followed
        # until they close (at most GIVE_UP_S later), so late requests are not "unserved".
        horizon = end + GIVE_UP_S
        lat, lng, heading = self.fleet.gps_fixes()
        for i, rid in enumerate(self.fleet.ids):
            self.engine.update_position(
                rid,
                float(lat[i]),
                float(lng[i]),
                ts=0.0,
                heading=float(heading[i]),
                capabilities=self.fleet.capabilities[i],
            )
        for req in self.requests:
            self.at(req.at_s, "report", req)
        # Volunteers log off and on: shifts of exponential length around ``shift_hours``.
        shift_s = sc.shift_hours * 3600.0
        for row in np.flatnonzero(~self.fleet.is_service).tolist():
            self.at(float(self.rng.exponential(shift_s)), "shift", row)
        t = sc.gps_interval_s
        while t <= horizon:
            self.at(t, "gps", sc.gps_interval_s)
            t += sc.gps_interval_s
        if self.probe is not None and len(self.probe):
            every = cast(float, sc.coverage_every_s)
            t = every / 2
            while t < end:
                self.at(t, "coverage")
                t += every
        if self.policy.batch_interval_s is not None:
            t = self.policy.batch_interval_s
            while t <= horizon:
                self.at(t, "batch")
                t += self.policy.batch_interval_s
        handlers: dict[str, Callable[..., None]] = {
            "report": self.report,
            "gps": self.gps_round,
            "batch": lambda _: self.batch(),
            "tick": lambda _: self._tick(),
            "accept": lambda p: self._answer(self.engine.accept, *p),
            "decline": lambda p: self._answer(self.engine.decline, *p),
            "depart": lambda p: self.depart(*p),
            "coverage": lambda _: self.coverage(),
            "arrive": lambda p: self.arrive(*p),
            "resolve": self.resolve,
            "retry": lambda inc: self._retry(inc),
            "give_up": self.give_up,
            "shift": self.shift,
        }
        wall0 = time.perf_counter()
        cpu0 = time.process_time()
        bar = tqdm(
            total=int(end),
            unit="sim-s",
            disable=not self.progress,
            desc=self.policy.name,
            leave=False,
        )
        next_frame = 0.0 if self.track_every_s is not None else math.inf
        while self.queue and self.queue[0][0] <= horizon:
            if self.queue[0][0] > end and self.open_requests == 0:
                break
            while next_frame <= self.queue[0][0]:
                self._frame(next_frame)
                next_frame += cast(float, self.track_every_s)
            t, _, what, payload = heapq.heappop(self.queue)
            bar.update(max(0, min(int(t), int(end)) - min(int(self.now), int(end))))
            self.now = t
            self.events += 1
            handlers[what](payload)
        bar.close()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        for rid in list(self.busy_since):
            self._release(rid)
        records = [self._record(tr) for tr in self.tracks.values()]
        metrics = summarize(
            records,
            busy_s=self.busy_s,
            online_s=self.online_s,
            wall_s=wall,
            events=self.events,
            cpu_s=cpu,
        )
        coverage = None
        if self.probe is not None and len(self.probe) and self.probes.sum():
            with np.errstate(invalid="ignore", divide="ignore"):
                share = self.gap_count / self.probes
            coverage = Coverage(self.probe.segments, share, self.probes.copy(), self.probe.limit_s)
            metrics["coverage_gap_share"] = float(
                self.gap_count.sum() / (len(self.probe) * self.probes.sum())
            )
        else:
            metrics["coverage_gap_share"] = None
        metrics.update(self._burden())
        lat, lng, _ = self.fleet.true_positions()
        places = [(r.incident_id, r.lat, r.lng) for r in self.requests]
        tracks = None
        if self.track_every_s is not None:
            if not self.frames or self.frames[-1][0] < self.now:
                self._frame(self.now)
            times, lats, lngs, states = zip(*self.frames, strict=True)
            log = self.state_log
            tracks = Tracks(
                tuple(self.fleet.ids),
                np.array(times, dtype=np.float64),
                np.stack(lats),
                np.stack(lngs),
                np.stack(states),
                np.array([e[0] for e in log], dtype=np.float64),
                np.array([e[1] for e in log], dtype=np.int64),
                np.array([e[2] for e in log], dtype=np.int8),
                tuple(e[3] for e in log),
            )
        return SimulationResult(
            self.policy.name,
            records,
            metrics,
            list(zip(lat.tolist(), lng.tolist(), strict=True)),
            places,
            tracks,
            coverage,
        )

    def _burden(self) -> dict[str, float]:
        """Offers per volunteer (service vehicles left out): the busiest one's and the Gini."""
        report = self.engine.burden_report()
        offers = {b.responder_id: b.offers for b in report.volunteers}
        loads = [
            offers.get(rid, 0)
            for row, rid in enumerate(self.fleet.ids)
            if not self.fleet.is_service[row]
        ]
        return {
            "max_offers_per_volunteer": float(max(loads, default=0)),
            "burden_gini": gini(loads),
        }

    def _set_state(self, row: int, code: int, incident: str | None = None) -> None:
        if self.track_every_s is not None and (
            self.state[row] != code or incident != self.state_incident.get(row)
        ):
            self.state_log.append((self.now, row, code, incident))
        self.state[row] = code
        if incident is None:
            self.state_incident.pop(row, None)
        else:
            self.state_incident[row] = incident

    def _frame(self, t: float) -> None:
        self.fleet.advance_to(t)
        lat, lng, _ = self.fleet.true_positions()
        self.frames.append((t, lat.astype(np.float32), lng.astype(np.float32), self.state.copy()))

    def _tick(self) -> None:
        self.engine.tick()

    def _answer(self, command: Callable[[str, str], Any], inc: str, rid: str) -> None:
        # The offer may have been withdrawn or expired meanwhile: the phone gets an error.
        with contextlib.suppress(KayouDispatchError):
            command(inc, rid)

    def _retry(self, inc: str) -> None:
        if self._is_open(inc) and math.isnan(self.tracks[inc].closed_s):
            if self.policy.batch_interval_s is None:
                self.engine.dispatch(inc)
            elif inc not in self.pending_batch:
                self.pending_batch.append(inc)

    def _record(self, tr: _Track) -> IncidentRecord:
        req = tr.request
        hour = int((self.sc.start_hour + req.at_s // 3600) % 24)
        return IncidentRecord(
            req.incident_id,
            req.kind,
            req.serious,
            req.severity,
            hour,
            req.at_s,
            tr.first_offer_s,
            tr.first_accept_s,
            tr.first_arrival_s,
            tr.closed_s,
            tr.offers,
            tr.units,
            not math.isnan(tr.first_arrival_s),
        )


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def _ignore_probabilities(
    traits: np.random.Generator, mean_p: float, spread: float, is_service: np.ndarray
) -> np.ndarray:
    """Each unit's hidden chance to leave an offer unanswered (0 for service vehicles).

    Always draws one normal per unit, whatever ``mean_p``, so what a replication's traits
    stream gives later does not depend on it.
    """
    z = traits.normal(0.0, 1.0, len(is_service)) * spread
    if mean_p <= 0:
        return np.zeros(len(is_service))
    p = 1.0 / (1.0 + np.exp(-(_logit(mean_p) + z)))
    return np.where(is_service, 0.0, p)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _card_for(policy: Policy, card: RunCard) -> RunCard:
    """A run card as the policy runs it: its offer mode, objective and wave target."""
    mode = card.mode if policy.offer_mode is None else policy.offer_mode
    fan_out = card.fan_out if policy.offer_mode is None else (3 if mode == "broadcast" else 1)
    target = policy.accept_target if mode == "broadcast" else None
    return replace(
        card,
        mode=cast(Any, mode),
        fan_out=fan_out,
        objective=cast(Any, policy.objective),
        accept_target=target,
    )


_PROBES: dict[tuple[int, float], CoverageProbe] = {}


def _probe(network: RoadNetwork, limit_s: float) -> CoverageProbe:
    """One coverage probe per network and limit in a process (segments and snaps reused)."""
    key = (id(network), float(limit_s))
    found = _PROBES.get(key)
    if found is None or found.network is not network:
        found = CoverageProbe(network, limit_s=limit_s)
        _PROBES.clear()
        _PROBES[key] = found
    return found
