"""Gather the responders a ranking may pick, with their positions snapped to the road.

Snapping is the costly step, so snaps are cached per index slot, keyed on the position
and heading they were computed from: a responder that has not moved since the last ranking
is never snapped again, and a moved one is snapped in one vectorised batch with the
others. A key of the position itself (rather than an update counter) makes a reused slot
or an unchanged re-report safe by construction.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.network import RoadNetwork, SnapArrays
from kayou_dispatch.network.trips import Departures, departures_of
from kayou_dispatch.spatial import ResponderIndex

__all__ = ["CandidateSet", "gather", "gather_near", "LocalPlane", "SnapCache"]

#: Responders farther than this from every (qualifying) road are off the network.
OFF_NETWORK_M = 1000.0


@dataclass(frozen=True)
class CandidateSet:
    """Responders that may be ranked, one row each, in index slot order.

    Attributes
    ----------
    slots
        Their index slots.
    names
        Their ids (``names[i]`` is row i's).
    lat, lng, heading
        Reported positions and headings (NaN: unknown).
    snaps
        Their snaps (``edge == -1``: off the network). Headed responders are snapped with
        their heading.
    departures
        Where their trips join the graph (cached with the snaps).
    plane_x, plane_y
        The snapped points in a flat local plane, metres (for quick distance estimates).
    """

    slots: NDArray[np.int64]
    names: Sequence[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    heading: NDArray[np.float64]
    snaps: SnapArrays
    departures: Departures
    plane_x: NDArray[np.float64]
    plane_y: NDArray[np.float64]


_EMPTY_I = np.zeros(0, dtype=np.int64)
_M_PER_DEG = math.radians(1.0) * 6_371_008.8


class LocalPlane:
    """An equirectangular plane around a network's centre, metres (for quick estimates)."""

    def __init__(self, network: RoadNetwork) -> None:
        lat0 = 0.5 * (network.bounds[0] + network.bounds[2])
        self.sx = _M_PER_DEG * math.cos(math.radians(lat0))

    def xy(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Project points (NaN stays NaN)."""
        return lng * self.sx, lat * _M_PER_DEG


class SnapCache:
    """Snaps of responder positions by index slot, re-snapped only when the position moved.

    Parameters
    ----------
    network
        The network to snap to.
    """

    def __init__(self, network: RoadNetwork) -> None:
        self._net = network
        self._lock = threading.Lock()
        self._size = 0
        self._key_lat = self._key_lng = self._key_h = np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._cols: list[NDArray[Any]] = []
        self.snapped = 0  # positions snapped so far (for tests and benchmarks)
        self._last: tuple[NDArray[np.int64], Any] | None = None
        self.plane = LocalPlane(network)
        self._grow(0)

    def _grow(self, size: int) -> None:
        new = max(size, 2 * self._size, 1024)
        keys = []
        for old in (self._key_lat, self._key_lng, self._key_h):
            key = np.full(new, np.nan)
            key[: self._size] = old
            keys.append(key)
        valid = np.zeros(new, dtype=bool)
        valid[: self._size] = self._valid
        if not self._cols:
            e, f = _EMPTY_I, np.zeros(0)
            template: list[NDArray[Any]] = [e, f, f, f, f, e, e, e, f, e, f, f, f]
        else:
            template = self._cols
        cols: list[NDArray[Any]] = []
        for c in template:
            grown = np.zeros(new, dtype=c.dtype)
            grown[: self._size] = c
            cols.append(grown)
        self._key_lat, self._key_lng, self._key_h = keys
        self._valid, self._cols, self._size = valid, cols, new

    def get(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> tuple[SnapArrays, Departures, NDArray[np.float64], NDArray[np.float64]]:
        """Return the snaps, departures and plane coordinates of these slots' positions.

        Only positions that moved since they were last snapped are snapped again; when
        nothing moved and the slots are those of the previous call, its arrays are returned
        again (callers must not modify them).
        """
        with self._lock:
            if slots.size and int(slots.max()) >= self._size:
                self._grow(int(slots.max()) + 1)
            key_h = self._key_h[slots]
            same = (
                self._valid[slots]
                & (self._key_lat[slots] == lat)
                & (self._key_lng[slots] == lng)
                & ((key_h == heading) | (np.isnan(key_h) & np.isnan(heading)))
            )
            stale = np.flatnonzero(~same)
            if stale.size:
                self._refresh(slots[stale], lat[stale], lng[stale], heading[stale])
            elif self._last is not None and np.array_equal(self._last[0], slots):
                return self._last[1]
            cols = [c[slots] for c in self._cols]
            out = (SnapArrays._make(cols[:7]), Departures._make(cols[7:11]), cols[11], cols[12])
            self._last = (slots.copy(), out)
            return out

    def _refresh(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> None:
        self._last = None  # any refresh may change rows the last answer holds
        headed = ~np.isnan(heading)
        for rows, hd in ((np.flatnonzero(~headed), None), (np.flatnonzero(headed), heading)):
            if not rows.size:
                continue
            res = self._net.snap_many(
                lat[rows],
                lng[rows],
                headings=None if hd is None else hd[rows],
                max_distance_m=OFF_NETWORK_M,
            )
            target = slots[rows]
            dep = departures_of(self._net.arrays, res)
            px, py = self.plane.xy(res.lat, res.lng)
            for col, values in zip(self._cols, [*res, *dep, px, py], strict=True):
                col[target] = values
            self.snapped += int(rows.size)
        self._key_lat[slots] = lat
        self._key_lng[slots] = lng
        self._key_h[slots] = heading
        self._valid[slots] = True


def gather(
    index: ResponderIndex,
    cache: SnapCache,
    *,
    needs: frozenset[str],
    exclude: frozenset[str],
) -> CandidateSet:
    """Return the fresh, AVAILABLE responders with every need, not excluded, snapped."""
    slots, ids, lat, lng, heading = index._eligible(needs, exclude)
    snaps, dep, px, py = cache.get(slots, lat, lng, heading)
    names = [str(ids[i]) for i in slots.tolist()]
    return CandidateSet(slots, names, lat, lng, heading, snaps, dep, px, py)


def gather_near(
    index: ResponderIndex,
    cache: SnapCache,
    lat: float,
    lng: float,
    radius_m: float,
    *,
    needs: frozenset[str],
    exclude: frozenset[str],
) -> CandidateSet:
    """Return what :func:`gather` does, for responders within ``radius_m`` of a point only.

    Only these responders are snapped (those that moved since their last snap): the cost
    follows the disk, not the fleet.
    """
    slots, names, lat_, lng_, heading, _ = index._eligible_near(lat, lng, radius_m, needs, exclude)
    snaps, dep, px, py = cache.get(slots, lat_, lng_, heading)
    return CandidateSet(slots, names, lat_, lng_, heading, snaps, dep, px, py)
