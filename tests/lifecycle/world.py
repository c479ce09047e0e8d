"""A small real world for lifecycle tests: an index, a great-circle ranker and a clock."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kayou_dispatch import OffNetworkError, ResponderIndex
from kayou_dispatch.geo import haversine_m, haversine_m_array
from kayou_dispatch.lifecycle import Dispatcher

CENTER = (22.72, 114.25)
SPEED_MPS = 10.0  # 36 km/h: a truck in town


@dataclass(frozen=True)
class Cand:
    """The ranker's candidate (the fields of matching's ``Candidate``)."""

    responder_id: str
    eta_s: float
    distance_m: float
    straight_m: float


class Clock:
    """A settable clock."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class GreatCircleRanker:
    """Rank AVAILABLE responders by great-circle distance at a fixed speed (a real ranker).

    ``calls`` counts rank calls (to check replay never ranks).
    """

    def __init__(self, index: ResponderIndex, *, speed_mps: float = SPEED_MPS) -> None:
        self.index = index
        self.speed = speed_mps
        self.calls = 0

    def rank(self, lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
        self.calls += 1
        exclude = set(exclude)
        if max_eta_s is None:
            found = self.index.nearest(lat, lng, k=k + len(exclude), needs=needs)
        else:
            found = self.index.nearby(lat, lng, max_eta_s * self.speed, needs=needs)
        out = [
            Cand(n.responder_id, n.distance_m / self.speed, n.distance_m, n.distance_m)
            for n in found
            if n.responder_id not in exclude
        ]
        return out[:k]

    def eta_matrix(self, points, responder_ids):
        rs = [self.index.get(r) for r in responder_ids]
        lat = np.array([r.lat for r in rs])
        lng = np.array([r.lng for r in rs])
        out = np.empty((len(points), len(rs)))
        for i, (plat, plng) in enumerate(points):
            out[i] = haversine_m_array(lat, lng, plat, plng) / self.speed
        return out


def snap_check(lat, lng, *, max_distance_m=50_000.0):
    """Everything within 50 km of the centre is "on the network"."""
    d = haversine_m(lat, lng, *CENTER)
    if d > max_distance_m:
        msg = f"({lat}, {lng}) is {d:.0f} m from the network"
        raise OffNetworkError(msg, lat=lat, lng=lng, distance_m=d, max_distance_m=max_distance_m)


def place(index, rid, east_m, north_m=0.0, caps=()):
    """Put a responder ``east_m``/``north_m`` metres from the centre."""
    lat = CENTER[0] + north_m / 111_195.0
    lng = CENTER[1] + east_m / (111_195.0 * np.cos(np.radians(CENTER[0])))
    index.update_position(rid, lat, lng, capabilities=set(caps))


def at(east_m, north_m=0.0):
    """A point ``east_m``/``north_m`` metres from the centre."""
    lat = CENTER[0] + north_m / 111_195.0
    lng = CENTER[1] + east_m / (111_195.0 * np.cos(np.radians(CENTER[0])))
    return float(lat), float(lng)


def make(responders=(), *, clock=None, ttl=10**9, **kwargs):
    """An index with ``responders`` ((id, east_m, north_m, caps)), a ranker and a dispatcher."""
    clock = clock or Clock()
    index = ResponderIndex(clock=clock, position_ttl_s=ttl)
    for rid, east, north, caps in responders:
        place(index, rid, east, north, caps)
    ranker = GreatCircleRanker(index)
    kwargs.setdefault("snap_check", snap_check)
    d = Dispatcher(index, rank=ranker.rank, eta_matrix=ranker.eta_matrix, clock=clock, **kwargs)
    return d, index, ranker, clock


ALL_CAPS = ("crane", "tow", "first_aid", "mechanic", "tyre", "fuel", "extinguisher")
