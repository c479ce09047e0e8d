"""Keep a process's local index in step with the positions every process shares in Redis.

A :class:`~kayou_dispatch.engine.DispatchEngine` built with ``redis=`` writes every fix
to Redis (authoritative: it refuses older fixes) and to its own index. Before it ranks
around an incident, it copies the responders Redis holds near the incident into the
index (:meth:`PositionMirror.pull_near`), so a fix another process received counts.

Exactness: a responder whose fix is farther than ``R`` from the incident needs more than
``(R - 2 * OFF_NETWORK_M) / top speed`` to get there by road (both ends snap at most
``OFF_NETWORK_M`` away). So a ranking whose k-th ETA is within that bound, after pulling
radius ``R``, is the ranking over every responder in Redis; otherwise ``R`` doubles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from kayou_dispatch.errors import UnknownResponderError
from kayou_dispatch.matching.candidates import OFF_NETWORK_M
from kayou_dispatch.shared.positions import PulledRows, RedisPositions
from kayou_dispatch.spatial import ResponderIndex, Status

__all__ = ["PositionMirror"]

#: Statuses a responder chooses itself (the others come from the lifecycle).
CHOSEN = frozenset({Status.AVAILABLE, Status.OFFLINE})
_CHOSEN_VALUES = frozenset(s.value for s in CHOSEN)


class PositionMirror:
    """Copy shared positions, statuses and capabilities into a local index.

    Parameters
    ----------
    positions
        The shared store.
    index
        This process's index.
    first_radius_m
        Radius of the first pull around an incident (doubled until the ranking is proven).
    """

    def __init__(
        self, positions: RedisPositions, index: ResponderIndex, *, first_radius_m: float = 8000.0
    ) -> None:
        self.positions = positions
        self.index = index
        self.first_radius_m = float(first_radius_m)
        self._meta: dict[str, tuple[str, frozenset[str]]] = {}

    def apply(self, rows: PulledRows) -> int:
        """Copy pulled rows into the index (older fixes never overwrite newer ones)."""
        if not len(rows):
            return 0
        ok = ~np.isnan(rows.lat) & ~np.isnan(rows.lng) & ~np.isnan(rows.ts)
        keep = np.flatnonzero(ok)
        ids = [rows.ids[i] for i in keep]
        applied = self.index.update_positions(
            ids, rows.lat[keep], rows.lng[keep], ts=rows.ts[keep], headings=rows.heading[keep]
        )
        for i in keep:
            rid = rows.ids[i]
            meta = (rows.status[i], rows.capabilities[i])
            if self._meta.get(rid) == meta:
                continue
            try:
                held = self.index.get(rid)
                if meta[1] != held.capabilities:
                    self.index.set_capabilities(rid, meta[1])
                wanted = Status(meta[0]) if meta[0] in _CHOSEN_VALUES else None
                if wanted is not None and held.status in CHOSEN and held.status is not wanted:
                    self.index.set_status(rid, wanted)
            except UnknownResponderError:  # pragma: no cover - removed meanwhile
                continue
            self._meta[rid] = meta
        return applied

    def pull_ids(self, ids: Iterable[str]) -> int:
        """Refresh the named responders from Redis."""
        return self.apply(self.positions.pull(ids=list(ids)))

    def pull_near(self, lat: float, lng: float, radius_m: float) -> int:
        """Refresh every responder within ``radius_m`` by Redis or by the local index."""
        local = [n.responder_id for n in self.index.nearby(lat, lng, radius_m, statuses=None)]
        return self.apply(self.positions.pull(near=(lat, lng, radius_m), ids=local))

    @staticmethod
    def proven_s(radius_m: float, top_speed_mps: float) -> float:
        """ETA below which nobody outside ``radius_m`` can be (see the module notes)."""
        return max(0.0, radius_m - 2.0 * OFF_NETWORK_M) / top_speed_mps

    @staticmethod
    def radius_for_s(eta_s: float, top_speed_mps: float) -> float:
        """The pull radius that proves a ranking up to ``eta_s``."""
        if not math.isfinite(eta_s):
            return math.inf
        return eta_s * top_speed_mps + 2.0 * OFF_NETWORK_M + 1.0
