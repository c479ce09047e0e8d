"""``GET /metrics``: what a running server is doing, in the Prometheus text format.

One :class:`Metrics` per app, on its own registry (two apps in one process never mix
their numbers). Counted as requests finish (:class:`~._logs.AccessLog` calls
:meth:`Metrics.observe_request`): requests by method, route template and status, and
latency histograms of the two calls a dispatch server lives by, ranking and position
updates. Read from the engine at each scrape: responders online, open incidents, offers
pending. Store errors (journal, Redis, PostgreSQL) are counted wherever they surface: a
request, a readiness probe, a scrape, the background follower of the shared log.

=========================================  ====================================================
metric                                      meaning
=========================================  ====================================================
``kayou_http_requests_total``               requests by ``method``, ``route``, ``status``
``kayou_rank_duration_seconds``             ``GET /v1/rank`` latency (histogram)
``kayou_position_update_duration_seconds``  ``PUT .../position`` and ``POST /v1/positions``
                                            latency (histogram, label ``route``)
``kayou_responders_online``                 responders with a fresh position, not offline
``kayou_responders``                        responders known, fresh or not
``kayou_incidents_open``                    incidents not yet resolved or cancelled
``kayou_offers_pending``                    offers made and not yet answered
``kayou_store_errors_total``                store failures by ``store``: journal, redis, postgresql
=========================================  ====================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import SharedStateError
from kayou_dispatch.spatial import Status

__all__ = ["Metrics", "store_kind"]

RANK_ROUTE = "/v1/rank"
POSITION_ROUTES = frozenset({"/v1/responders/{responder_id}/position", "/v1/positions"})
# Ranking takes about a millisecond, a position update tens of microseconds.
_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def store_kind(exc: SharedStateError) -> str:
    """Which kind of store failed: ``"redis"``, ``"postgresql"`` or ``"journal"``.

    >>> store_kind(SharedStateError("down", store="redis://127.0.0.1:6379/0"))
    'redis'
    """
    where = str(getattr(exc, "store", "") or "")
    if where.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    if where.startswith(("postgres://", "postgresql://")):
        return "postgresql"
    return "journal"


class _EngineGauges(Collector):
    """Gauges read from the engine at scrape time (nothing to keep in step)."""

    def __init__(self, engine: DispatchEngine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.engine.snapshot()
        offline = [s == Status.OFFLINE for s in snap.statuses()]
        online = sum(
            1 for f, off in zip(snap.fresh.tolist(), offline, strict=True) if f and not off
        )
        yield GaugeMetricFamily(
            "kayou_responders_online",
            "Responders with a fresh position whose status is not offline",
            value=online,
        )
        yield GaugeMetricFamily("kayou_responders", "Responders known", value=len(snap.ids))
        try:
            incidents = self.engine.open_incidents()
        except SharedStateError as exc:  # the store is down: say so, skip these two
            self.metrics.store_error(exc)
            return
        yield GaugeMetricFamily(
            "kayou_incidents_open", "Incidents not yet resolved or cancelled", value=len(incidents)
        )
        yield GaugeMetricFamily(
            "kayou_offers_pending",
            "Offers made and not yet accepted, declined or expired",
            value=sum(len(inc.offers) for inc in incidents),
        )


class Metrics:
    """The metrics of one app (see the module docstring for the list)."""

    def __init__(self, engine: DispatchEngine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kayou_http_requests",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.rank_s = Histogram(
            "kayou_rank_duration_seconds",
            "Time to answer GET /v1/rank",
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.position_s = Histogram(
            "kayou_position_update_duration_seconds",
            "Time to answer a position update (one responder, or a bulk POST)",
            ("route",),
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "kayou_store_errors",
            "Failures of the stores the engine writes to",
            ("store",),
            registry=self.registry,
        )
        for kind in ("journal", "redis", "postgresql"):
            self.store_errors.labels(store=kind)  # present at 0 from the start
        self.registry.register(_EngineGauges(engine, self))

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """Count one finished HTTP request (an :class:`~._logs.AccessLog` hook)."""
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        if route == RANK_ROUTE:
            self.rank_s.observe(duration_s)
        elif route in POSITION_ROUTES:
            self.position_s.labels(route=route).observe(duration_s)

    def store_error(self, exc: SharedStateError) -> None:
        """Count one store failure."""
        self.store_errors.labels(store=store_kind(exc)).inc()

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        out: Any = generate_latest(self.registry)
        return bytes(out)
