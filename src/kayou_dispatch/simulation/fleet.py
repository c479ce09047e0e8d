"""Move a simulated fleet along the roads and report noisy GPS fixes.

Volunteers are truck drivers who are themselves driving: each follows the road network at
edge speeds, choosing a random onward road at every junction (never a U-turn unless the road
ends). Service vehicles (tow, crane, mechanic) patrol the same way. A vehicle the dispatcher
holds (offered, assigned, on scene) stops wandering; the simulation moves it instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch._random import as_rng
from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.roads import edge_points

__all__ = ["Fleet", "SERVICE_UNITS", "VOLUNTEER_CAPABILITIES"]

#: Chance that a volunteer driver can help with each capability.
VOLUNTEER_CAPABILITIES: Mapping[str, float] = MappingProxyType(
    {
        "first_aid": 0.30,
        "tyre": 0.35,
        "extinguisher": 0.40,
        "fuel": 0.20,
        "mechanic": 0.12,
        "tow": 0.04,
    }
)
#: Capability sets of service vehicles, assigned in turn.
SERVICE_UNITS: tuple[frozenset[str], ...] = (
    frozenset({"tow", "heavy_tow", "mechanic"}),
    frozenset({"crane", "heavy_tow", "tow"}),
    frozenset({"mechanic", "tyre", "fuel"}),
    frozenset({"first_aid", "medical"}),
)
_M_PER_DEG = EARTH_RADIUS_M * np.pi / 180.0
_MIN_EDGE_S = 0.5  # zero-length edges would stall the walk


class Fleet:
    """Positions and movement of every simulated vehicle.

    Parameters
    ----------
    network
        The roads (strongly connected, so every junction has an onward road).
    volunteers, service_vehicles
        How many of each.
    gps_noise_m
        Standard deviation of reported positions around the true one.
    seed
        Randomness for placement, capabilities, turns and noise.
    """

    def __init__(
        self,
        network: RoadNetwork,
        *,
        volunteers: int,
        service_vehicles: int = 0,
        gps_noise_m: float = 8.0,
        seed: Any = None,
        capabilities: Mapping[str, float] = VOLUNTEER_CAPABILITIES,
    ) -> None:
        self.rng = as_rng(seed)
        self.network = network
        a = network.arrays
        self._arrays = a
        self._tt = np.maximum(a.travel_time_s, _MIN_EDGE_S)
        order = np.argsort(a.u, kind="stable")
        self._out = order
        self._out_start = np.searchsorted(a.u[order], np.arange(network.n_nodes))
        self._out_count = np.bincount(a.u, minlength=network.n_nodes)
        n = volunteers + service_vehicles
        self.ids: list[str] = [f"driver-{i:05d}" for i in range(volunteers)] + [
            f"unit-{i:03d}" for i in range(service_vehicles)
        ]
        self.is_service = np.r_[np.zeros(volunteers, bool), np.ones(service_vehicles, bool)]
        names = list(capabilities)
        probs = np.array([capabilities[c] for c in names])
        has = self.rng.random((volunteers, len(names))) < probs
        self.capabilities: list[frozenset[str]] = [
            frozenset(c for c, h in zip(names, row, strict=True) if h) for row in has
        ] + [SERVICE_UNITS[i % len(SERVICE_UNITS)] for i in range(service_vehicles)]
        w = a.length_m / a.length_m.sum()
        self.edge = self.rng.choice(a.u.size, size=n, p=w).astype(np.int64)
        self.pos_s = self.rng.uniform(0.0, 1.0, n) * self._tt[self.edge]
        self.held = np.zeros(n, dtype=bool)
        self.gps_noise_m = float(gps_noise_m)

    def __len__(self) -> int:
        return len(self.ids)

    def advance(self, dt_s: float) -> None:
        """Drive every vehicle that is not held for ``dt_s`` seconds."""
        moving = np.flatnonzero(~self.held)
        rem = self.pos_s[moving] + dt_s
        edge = self.edge[moving]
        a = self._arrays
        while True:
            tt = self._tt[edge]
            over = np.flatnonzero(rem >= tt)
            if over.size == 0:
                break
            rem[over] -= tt[over]
            came_from = a.u[edge[over]]
            node = a.v[edge[over]]
            count = self._out_count[node]
            start = self._out_start[node]
            pick = start + (self.rng.random(over.size) * count).astype(np.int64)
            # Turning back the way you came only where the road ends.
            back = (a.v[self._out[pick]] == came_from) & (count > 1)
            if back.any():
                shift = 1 + (self.rng.random(back.sum()) * (count[back] - 1)).astype(np.int64)
                pick[back] = start[back] + (pick[back] - start[back] + shift) % count[back]
            edge[over] = self._out[pick]
        self.edge[moving] = edge
        self.pos_s[moving] = rem

    def true_positions(
        self, rows: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(lat, lng, heading_deg)`` of the vehicles (all, or ``rows``)."""
        rows = np.arange(len(self.ids)) if rows is None else rows
        e = self.edge[rows]
        return edge_points(self._arrays, e, self.pos_s[rows] / self._tt[e])

    def gps_fixes(
        self, rows: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return noisy ``(lat, lng, heading_deg)`` fixes as phones would report them."""
        lat, lng, heading = self.true_positions(rows)
        if self.gps_noise_m > 0:
            n = lat.size
            lat = lat + self.rng.normal(0.0, self.gps_noise_m, n) / _M_PER_DEG
            lng = lng + self.rng.normal(0.0, self.gps_noise_m, n) / (
                _M_PER_DEG * np.cos(np.radians(lat))
            )
        return lat, lng, heading

    def place(self, row: int, edge: int, fraction: float) -> None:
        """Put a vehicle at a point of an edge (where it arrived)."""
        self.edge[row] = edge
        self.pos_s[row] = float(np.clip(fraction, 0.0, 1.0)) * self._tt[edge]
