"""Tell, in constant time, that a fix lies far outside the road network's area.

A phone 6,000 km away (a fix with latitude and longitude swapped, a null island ``0, 0``)
is accepted -- the index keeps where the responder really is, so an old position near the
incidents is never ranked in its place -- and answered with ``on_network: false``. Such a
fix can never be ranked: ranking snaps every position to a road within
:data:`~kayou_dispatch.network.DEFAULT_MAX_DISTANCE_M` (1 km), and this flags only fixes
farther than that from the network's bounding box, hence from every road. A fix inside
the area but more than 1 km from every road is not ranked either; it is not flagged here
(telling so needs a snap, too slow for every fix).

The test is a lower bound on the great-circle distance ``d`` from a point ``P`` (latitude
``phi``) to any point ``Q`` of the box: ``d >= R |phi - clamp(phi)|`` (no path changes
latitude faster than along a meridian), and, when ``P``'s longitude is ``dl`` outside the
box's span, ``sin(d / R) >= cos(phi) sin(min(dl, 90 deg))``: ``Q`` lies in the lune
between the box's bounding meridians, whose nearest point to ``P`` is on a bounding
half-meridian (or a pole), at least the distance from ``P`` to that meridian's great
circle. ``tests/server/test_off_network.py`` checks the bound against snapping.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network import RoadNetwork

__all__ = ["NetworkArea"]

_SNAP_DISTANCE_M = 1000.0  # network.DEFAULT_MAX_DISTANCE_M, the ranking's snapping reach


class NetworkArea:
    """A road network's bounding box, to flag fixes that can never be ranked.

    Examples
    --------
    >>> from kayou_dispatch import load_network
    >>> area = NetworkArea(load_network("helsinki"))
    >>> area.far(60.17, 24.94), area.far(24.94, 60.17), area.far(0.0, 0.0)
    (False, True, True)
    """

    def __init__(self, network: RoadNetwork, *, reach_m: float = _SNAP_DISTANCE_M) -> None:
        self._south, self._west, self._north, self._east = network.bounds
        self._reach_m = reach_m

    def distance_bound_m(self, lat: float, lng: float) -> float:
        """A lower bound of the great-circle distance to the box, metres (0 inside it)."""
        dlat = max(self._south - lat, lat - self._north, 0.0)
        bound = EARTH_RADIUS_M * math.radians(dlat)
        if self._west <= lng <= self._east:
            return bound
        # How far the longitude is outside the span, the short way round.
        dl = min((self._west - lng) % 360.0, (lng - self._east) % 360.0)
        s = math.cos(math.radians(lat)) * math.sin(math.radians(min(dl, 90.0)))
        return max(bound, EARTH_RADIUS_M * math.asin(min(max(s, 0.0), 1.0)))

    def far(self, lat: float, lng: float) -> bool:
        """Whether ``(lat, lng)`` is more than the snapping reach from every road, surely."""
        return self.distance_bound_m(lat, lng) > self._reach_m

    def distance_bound_m_many(
        self, lats: NDArray[np.float64], lngs: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """:meth:`distance_bound_m` of many points at once (the same arithmetic)."""
        dlat = np.maximum(np.maximum(self._south - lats, lats - self._north), 0.0)
        bound = EARTH_RADIUS_M * np.radians(dlat)
        dl = np.minimum((self._west - lngs) % 360.0, (lngs - self._east) % 360.0)
        s = np.cos(np.radians(lats)) * np.sin(np.radians(np.minimum(dl, 90.0)))
        across = EARTH_RADIUS_M * np.arcsin(np.clip(s, 0.0, 1.0))
        inside = (self._west <= lngs) & (lngs <= self._east)
        out: NDArray[np.float64] = np.where(inside, bound, np.maximum(bound, across))
        return out

    def far_many(
        self, lats: NDArray[np.float64], lngs: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """:meth:`far` of many points at once (a bulk upload's rows)."""
        out: NDArray[np.bool_] = self.distance_bound_m_many(lats, lngs) > self._reach_m
        return out
