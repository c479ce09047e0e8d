"""A plain-dict model of the responder index and brute-force queries: the test oracle."""

from __future__ import annotations

from dataclasses import dataclass, field

from kayou_dispatch.geo import haversine_m
from kayou_dispatch.spatial import Status

EPS_M = 1e-6


@dataclass
class Row:
    lat: float
    lng: float
    ts: float
    status: Status = Status.AVAILABLE
    caps: frozenset = field(default_factory=frozenset)


def brute(model, now, ttl, lat, lng, *, needs=(), statuses=(Status.AVAILABLE,)):
    """Every matching fresh responder with its distance, sorted by (distance, id)."""
    out = []
    for rid, row in model.items():
        if row.ts < now - ttl:
            continue
        if statuses is not None and row.status not in statuses:
            continue
        if not frozenset(needs) <= row.caps:
            continue
        out.append((haversine_m(lat, lng, row.lat, row.lng), rid))
    out.sort()
    return out


def assert_nearby(got, expected, radius):
    dists = [(nb.distance_m, nb.responder_id) for nb in got]
    assert dists == sorted(dists), "results must be sorted by distance then id"
    truth = {rid: d for d, rid in expected}
    got_ids = {nb.responder_id for nb in got}
    must = {rid for d, rid in expected if d <= radius - EPS_M}
    may = {rid for d, rid in expected if d <= radius + EPS_M}
    assert must <= got_ids <= may, (must - got_ids, got_ids - may)
    for nb in got:
        assert abs(truth[nb.responder_id] - nb.distance_m) < EPS_M
    assert len(got) == len(got_ids), "a responder was returned twice"


def assert_nearest(got, expected, k):
    dists = [(nb.distance_m, nb.responder_id) for nb in got]
    assert dists == sorted(dists)
    assert len(got) == min(k, len(expected))
    assert len({nb.responder_id for nb in got}) == len(got)
    truth = {rid: d for d, rid in expected}
    for nb, (d, _) in zip(got, expected, strict=False):
        assert abs(nb.distance_m - d) < EPS_M
        assert abs(truth[nb.responder_id] - nb.distance_m) < EPS_M
