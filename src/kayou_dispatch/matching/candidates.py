"""Gather the responders a ranking may pick, with their positions snapped to the road.

Snapping is the costly step, so snaps are cached per index slot, keyed on the position
and heading they were computed from: a responder that has not moved since the last ranking
is never snapped again, and a moved one is snapped in one vectorised batch with the
others. A key of the position itself (rather than an update counter) makes a reused slot
or an unchanged re-report safe by construction.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.network import RoadNetwork, SnapArrays
from kayou_dispatch.spatial import ResponderIndex

__all__ = ["CandidateSet", "gather", "SnapCache"]

#: Responders farther than this from every (qualifying) road are off the network.
OFF_NETWORK_M = 1000.0


@dataclass(frozen=True)
class CandidateSet:
    """Responders that may be ranked, one row each, in index slot order.

    Attributes
    ----------
    ids
        Responder ids.
    lat, lng, heading
        Reported positions and headings (NaN: unknown).
    snaps
        Their snaps (``edge == -1``: off the network). Headed responders are snapped with
        their heading.
    """

    ids: list[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    heading: NDArray[np.float64]
    snaps: SnapArrays


_EMPTY_I = np.zeros(0, dtype=np.int64)


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
        self._key = np.zeros((0, 3))
        self._valid = np.zeros(0, dtype=bool)
        self._cols: list[NDArray[Any]] = []
        self.snapped = 0  # positions snapped so far (for tests and benchmarks)
        self._grow(0)

    def _grow(self, size: int) -> None:
        new = max(size, 2 * self._size, 1024)
        key = np.full((new, 3), np.nan)
        key[: self._size] = self._key
        valid = np.zeros(new, dtype=bool)
        valid[: self._size] = self._valid
        if not self._cols:
            template = SnapArrays(
                _EMPTY_I, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), _EMPTY_I, _EMPTY_I
            )
        else:
            template = SnapArrays._make(self._cols)
        cols: list[NDArray[Any]] = []
        for c in template:
            grown = np.zeros(new, dtype=c.dtype)
            grown[: self._size] = c
            cols.append(grown)
        self._key, self._valid, self._cols, self._size = key, valid, cols, new

    def get(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> SnapArrays:
        """Return the snaps of these slots at these positions, snapping only what moved."""
        with self._lock:
            if slots.size and int(slots.max()) >= self._size:
                self._grow(int(slots.max()) + 1)
            key = self._key[slots]
            same = (
                self._valid[slots]
                & (key[:, 0] == lat)
                & (key[:, 1] == lng)
                & ((key[:, 2] == heading) | (np.isnan(key[:, 2]) & np.isnan(heading)))
            )
            stale = np.flatnonzero(~same)
            if stale.size:
                self._refresh(slots[stale], lat[stale], lng[stale], heading[stale])
            return SnapArrays._make(c[slots] for c in self._cols)

    def _refresh(
        self,
        slots: NDArray[np.int64],
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        heading: NDArray[np.float64],
    ) -> None:
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
            for col, values in zip(self._cols, res, strict=True):
                col[target] = values
            self.snapped += int(rows.size)
        self._key[slots, 0] = lat
        self._key[slots, 1] = lng
        self._key[slots, 2] = heading
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
    snaps = cache.get(slots, lat, lng, heading)
    return CandidateSet(ids, lat, lng, heading, snaps)
