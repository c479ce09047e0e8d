"""Move a simulated fleet along the roads and report noisy GPS fixes.

Volunteers are truck drivers on trips: each drives from where it is to a trip hub (a town,
or a gateway where a motorway or trunk road leaves the region) along the fastest route,
loads or unloads there (30-90 minutes), and sets off to the next hub. After 3.5-4.5 hours at
the wheel a driver takes a 45-minute break at the next motorway or trunk ramp (rest areas
and service areas sit behind ramps) or, failing one within 30 minutes, where it is. Service
vehicles (tow, crane, mechanic) wait at depots in the towns and drive back there after a
job. A vehicle sent to an incident follows the fastest route to it (:meth:`Fleet.send`);
one the dispatcher holds still (on scene) does not move.

Every vehicle draws its trips (destinations, loading and break times) from its own
pre-drawn table, so under two dispatch policies vehicle ``i``'s ``k``-th trip goes to the
same hub: the fleets differ only by where helping took them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import ConvexHull, QhullError

from kayou_dispatch._random import as_rng
from kayou_dispatch.geo import EARTH_RADIUS_M
from kayou_dispatch.network import HIGHWAY_CLASSES, RoadNetwork
from kayou_dispatch.simulation.driving import RoadGraph
from kayou_dispatch.simulation.roads import edge_points

__all__ = ["Fleet", "Hubs", "SERVICE_UNITS", "trip_hubs", "VOLUNTEER_CAPABILITIES"]

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
_TRIPS = 64  # pre-drawn trips per vehicle (reused in turn after that)
_LOAD_S = (1800.0, 5400.0)
_BREAK_DUE_S = (3.5 * 3600.0, 4.5 * 3600.0)
_BREAK_S = 45 * 60.0
_BREAK_SEARCH_S = 30 * 60.0
_H = {name: i for i, name in enumerate(HIGHWAY_CLASSES)}
_HIGHWAY = np.array([_H["motorway"], _H["trunk"]])
_RAMPS = np.array([_H["motorway_link"], _H["trunk_link"], _H["service"]])
#: Where trucks are at the start of a day, per metre of road of each class.
_START_WEIGHT = {"motorway": 6.0, "trunk": 4.0, "primary": 1.5, "secondary": 0.6}

_DRIVE, _PAUSE, _ROUTE, _STOP = range(4)
_VECTOR_MIN = 6  # fewer vehicles still driving in a step than this: plain Python


@dataclass(frozen=True, eq=False)
class Hubs:
    """Where trips begin and end: towns and the region's gateways.

    Attributes
    ----------
    nodes
        Network node of each hub.
    gateway
        Whether a hub is a gateway (a motorway or trunk road leaving the region).
    weight
        Relative chance a trip goes to each hub.
    depots
        Indices (into ``nodes``) of the towns service vehicles wait in.
    """

    nodes: NDArray[np.int64]
    gateway: NDArray[np.bool_]
    weight: NDArray[np.float64]
    depots: NDArray[np.int64]


def trip_hubs(network: RoadNetwork, *, towns: int = 12, gateways: int = 10) -> Hubs:
    """Choose a network's trip hubs: the densest road areas, and where main roads leave it.

    The region is cut into an 8 x 8 grid; each cell holding the most road length (cells
    at least two apart) gives a town hub at the node nearest its road-weighted centre.
    Gateways are motorway or trunk nodes within 5 % of the region's width of its edge,
    one per grid cell, the one nearest the edge.
    """
    a = network.arrays
    min_lat, min_lng, max_lat, _ = network.bounds
    lat0 = (min_lat + max_lat) / 2
    kx = _M_PER_DEG * math.cos(math.radians(lat0))
    x = (a.lng - min_lng) * kx
    y = (a.lat - min_lat) * _M_PER_DEG
    w_m, h_m = max(float(x.max()), 1.0), max(float(y.max()), 1.0)
    cell_m = max(w_m, h_m) / 8
    mid = (x[a.u] + x[a.v]) / 2, (y[a.u] + y[a.v]) / 2
    cx = np.minimum((mid[0] / cell_m).astype(np.int64), 7)
    cy = np.minimum((mid[1] / cell_m).astype(np.int64), 7)
    cell = cy * 8 + cx
    road = np.bincount(cell, weights=a.length_m, minlength=64)
    sx = np.bincount(cell, weights=a.length_m * mid[0], minlength=64)
    sy = np.bincount(cell, weights=a.length_m * mid[1], minlength=64)
    town_cells: list[int] = []
    for c in np.argsort(-road, kind="stable").tolist():
        if road[c] <= 0 or len(town_cells) >= towns:
            break
        if all(max(abs(c % 8 - t % 8), abs(c // 8 - t // 8)) >= 2 for t in town_cells):
            town_cells.append(c)
    town_nodes = []
    for c in town_cells:
        px, py = sx[c] / road[c], sy[c] / road[c]
        town_nodes.append(int(np.argmin((x - px) ** 2 + (y - py) ** 2)))
    on_highway = np.zeros(network.n_nodes, dtype=bool)
    main = np.isin(a.highway, _HIGHWAY)
    on_highway[a.u[main]] = True
    # Distance to the edge of the region: to its convex hull (extracts are clipped at
    # polygons, so main roads end near the hull, not at the bounding box).
    pts = np.column_stack((x, y))
    try:
        hull = ConvexHull(pts)
        edge_d = np.min(-(pts @ hull.equations[:, :2].T + hull.equations[:, 2]), axis=1)
    except (QhullError, ValueError):
        edge_d = np.minimum.reduce([x, y, w_m - x, h_m - y])
    near = np.flatnonzero(on_highway & (edge_d <= 0.05 * max(w_m, h_m)))
    gate_nodes: list[int] = []
    if near.size:
        gx = np.minimum((x[near] / cell_m).astype(np.int64), 7)
        gy = np.minimum((y[near] / cell_m).astype(np.int64), 7)
        gcell = gy * 8 + gx
        for c in np.unique(gcell).tolist():
            members = near[gcell == c]
            gate_nodes.append(int(members[np.argmin(edge_d[members])]))
        gate_nodes = gate_nodes[:gateways]
    nodes = np.array(town_nodes + gate_nodes, dtype=np.int64)
    nodes, first = np.unique(nodes, return_index=True)
    order = np.argsort(first)
    nodes = nodes[order]
    gateway = np.arange(nodes.size) >= len(set(town_nodes))
    tw = road[town_cells] / max(float(road[town_cells].sum()), 1.0) if town_cells else np.zeros(0)
    weight = np.r_[
        tw[: int((~gateway).sum())], np.full(int(gateway.sum()), 1.5 / max(len(nodes), 1))
    ]
    weight = weight / weight.sum()
    depots = np.flatnonzero(~gateway)[:6]
    return Hubs(nodes, gateway, weight, depots)


_CACHE: weakref.WeakKeyDictionary[RoadNetwork, tuple[RoadGraph, Hubs, NDArray[np.int64]]] = (
    weakref.WeakKeyDictionary()
)


def _driving(network: RoadNetwork) -> tuple[RoadGraph, Hubs, NDArray[np.int64]]:
    """The network's road graph, hubs and next-edge table (built once per network)."""
    found = _CACHE.get(network)
    if found is None:
        graph = RoadGraph(network, min_edge_s=_MIN_EDGE_S)
        hubs = trip_hubs(network)
        found = (graph, hubs, graph.next_edges(hubs.nodes))
        _CACHE[network] = found
    return found


class Fleet:
    """Positions and movement of every simulated vehicle.

    Parameters
    ----------
    network
        The roads (strongly connected, so every hub can be reached).
    volunteers, service_vehicles
        How many of each.
    gps_noise_m
        Standard deviation of reported positions around the true one.
    seed
        Randomness for placement, capabilities, trips and noise.
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
        rng = self.rng
        self.network = network
        self.graph, self.hubs, self._next = _driving(network)
        a = network.arrays
        self._arrays = a
        self._tt = self.graph.tt
        n = volunteers + service_vehicles
        self.ids: list[str] = [f"driver-{i:05d}" for i in range(volunteers)] + [
            f"unit-{i:03d}" for i in range(service_vehicles)
        ]
        self.is_service = np.r_[np.zeros(volunteers, bool), np.ones(service_vehicles, bool)]
        names = list(capabilities)
        probs = np.array([capabilities[c] for c in names])
        has = rng.random((volunteers, len(names))) < probs
        self.capabilities: list[frozenset[str]] = [
            frozenset(c for c, h in zip(names, row, strict=True) if h) for row in has
        ] + [SERVICE_UNITS[i % len(SERVICE_UNITS)] for i in range(service_vehicles)]
        hubs = self.hubs
        n_hubs = hubs.nodes.size
        # Each vehicle's trips, drawn up front (common random numbers across policies).
        self._dest_table = rng.choice(n_hubs, size=(n, _TRIPS), p=hubs.weight)
        self._load_table = rng.uniform(*_LOAD_S, size=(n, _TRIPS))
        self._break_table = rng.uniform(*_BREAK_DUE_S, size=(n, _TRIPS))
        self.trip = np.zeros(n, dtype=np.int64)
        self.dest = self._dest_table[:, 0].copy()
        table = np.array([_START_WEIGHT.get(c, 0.2) for c in HIGHWAY_CLASSES] + [0.2])
        w = a.length_m * table[a.highway]
        self.edge = rng.choice(a.u.size, size=n, p=w / w.sum()).astype(np.int64)
        self.pos_s = rng.uniform(0.0, 1.0, n) * self._tt[self.edge]
        self.mode = np.full(n, _DRIVE, dtype=np.int8)
        self.pause_until = np.zeros(n)
        self.after_pause_new_trip = np.zeros(n, dtype=bool)
        self.drive_s = rng.uniform(0.0, _BREAK_DUE_S[0], n)
        self.break_due = self._break_table[:, 0].copy()
        on_break = rng.random(n) < 0.15
        self.mode[on_break] = _PAUSE
        self.pause_until[on_break] = rng.uniform(0.0, _BREAK_S, int(on_break.sum()))
        self.drive_s[on_break] = 0.0
        # Service vehicles wait at their depots (in turn), at the end of an edge into it.
        self.home = np.full(n, -1, dtype=np.int64)
        if service_vehicles and hubs.depots.size:
            rows = np.flatnonzero(self.is_service)
            self.home[rows] = hubs.depots[np.arange(rows.size) % hubs.depots.size]
            into = np.argsort(a.v, kind="stable")
            start = np.searchsorted(a.v[into], hubs.nodes[self.home[rows]])
            self.edge[rows] = into[start]
            self.pos_s[rows] = self._tt[self.edge[rows]]
            self.mode[rows] = _STOP
            self.dest[rows] = self.home[rows]
        self._is_ramp = np.isin(a.highway, _RAMPS)
        self._ramp_list: list[bool] = self._is_ramp.tolist()
        self._tt_list: list[float] = self._tt.tolist()
        self._v_list: list[int] = a.v.tolist()
        self.held = np.zeros(n, dtype=bool)
        self._routes: dict[int, tuple[list[int], int, float]] = {}
        self.gps_noise_m = float(gps_noise_m)
        self.t = 0.0
        self.t_row = np.zeros(n)  # each vehicle's own clock (see advance_to)

    def __len__(self) -> int:
        return len(self.ids)

    # -- commands from the simulation -------------------------------------------------------
    def route_to(
        self, row: int, edge: int, fraction: float, *, limit_s: float = math.inf
    ) -> tuple[float, list[int], float]:
        """Return ``(seconds, edges, fraction)``: the fastest route from a vehicle to a road
        point (see :meth:`RoadGraph.route <kayou_dispatch.simulation.driving.RoadGraph.route>`)."""
        return self.graph.route(
            int(self.edge[row]), float(self.pos_s[row]), edge, fraction, limit_s=limit_s
        )

    def send(self, row: int, edges: list[int], fraction: float) -> None:
        """Drive a vehicle along ``edges`` (from :meth:`route_to`), stopping at ``fraction``
        of the last one."""
        self.held[row] = True
        self.mode[row] = _ROUTE
        self._routes[row] = (edges, 0, float(np.clip(fraction, 0.0, 1.0)))

    def place(self, row: int, edge: int, fraction: float) -> None:
        """Put a vehicle at a point of an edge and hold it there (it arrived)."""
        self.edge[row] = edge
        self.pos_s[row] = float(np.clip(fraction, 0.0, 1.0)) * self._tt[edge]
        self.held[row] = True
        self.mode[row] = _STOP
        self._routes.pop(row, None)

    def release(self, row: int) -> None:
        """Let a vehicle go back to its business: its trip, or its depot."""
        self.held[row] = False
        self._routes.pop(row, None)
        self.mode[row] = _DRIVE
        if self.is_service[row]:
            self.dest[row] = self.home[row]

    # -- movement ---------------------------------------------------------------------------
    def advance_to(self, t_s: float, rows: NDArray[np.int64] | None = None) -> None:
        """Move every vehicle (or only ``rows``) to simulated time ``t_s``, never backwards.

        Each vehicle keeps its own clock, so moving one (it is sent somewhere) does not
        move the others; moving it in several steps or in one lands it in the same place.
        """
        pick = np.arange(len(self.ids)) if rows is None else np.asarray(rows, dtype=np.int64)
        pick = pick[self.t_row[pick] < t_s]
        if pick.size:
            self._advance(pick, float(t_s))
        self.t = max(self.t, float(t_s)) if rows is None else self.t

    def advance(self, dt_s: float) -> None:
        """Drive every vehicle ``dt_s`` seconds (from the fleet's clock) along its trip or route."""
        self.advance_to(self.t + dt_s)

    def _advance(self, rows: NDArray[np.int64], t_end: float) -> None:
        t0 = self.t_row[rows]
        budget = np.zeros(len(self.ids))
        free = ~self.held[rows]
        mode = self.mode[rows]
        drive = rows[free & (mode == _DRIVE)]
        budget[drive] = t_end - self.t_row[drive]
        waking = rows[free & (mode == _PAUSE) & (self.pause_until[rows] < t_end)]
        if waking.size:
            budget[waking] = t_end - np.maximum(self.pause_until[waking], self.t_row[waking])
            self.mode[waking] = _DRIVE
            renew = waking[self.after_pause_new_trip[waking]]
            self.after_pause_new_trip[waking] = False
            self._new_trip(renew)
        self._drive(rows[budget[rows] > 0], budget, t_end)
        if self._routes:
            for row, start in zip(rows.tolist(), t0.tolist(), strict=True):
                if row in self._routes:
                    self._follow(row, t_end - start)
        self.t_row[rows] = t_end

    def _new_trip(self, rows: NDArray[np.int64]) -> None:
        if not rows.size:
            return
        here = self._arrays.v[self.edge[rows]]
        for _ in range(4):  # never a trip to where the truck already is
            self.trip[rows] += 1
            k = self.trip[rows] % _TRIPS
            self.dest[rows] = self._dest_table[rows, k]
            self.break_due[rows] = self._break_table[rows, k]
            rows = rows[self.hubs.nodes[self.dest[rows]] == here]
            if not rows.size:
                break
            here = self._arrays.v[self.edge[rows]]

    def _drive(self, rows: NDArray[np.int64], budget: NDArray[np.float64], t_end: float) -> None:
        # Only the vehicles that reach the end of their edge are touched on each pass.
        v, tt_all = self._arrays.v, self._tt
        edge = self.edge[rows]
        rem = self.pos_s[rows] + budget[rows]
        self.drive_s[rows] += budget[rows]
        drive = self.drive_s[rows]
        due = self.break_due[rows]
        dest = self.dest[rows]
        dest_node = self.hubs.nodes[dest]
        volunteer = ~self.is_service[rows]
        idx = np.arange(rows.size)
        while idx.size > _VECTOR_MIN:
            e = edge[idx]
            t = tt_all[e]
            over = rem[idx] >= t
            if not over.any():
                break
            idx, e, t = idx[over], e[over], t[over]
            rem[idx] -= t
            node = v[e]
            left = rem[idx]
            arrived = node == dest_node[idx]
            driven = drive[idx] - left
            brk = (
                ~arrived
                & volunteer[idx]
                & (driven >= due[idx])
                & (self._is_ramp[e] | (driven >= due[idx] + _BREAK_SEARCH_S))
            )
            stop = arrived | brk
            if stop.any():
                self._stop(rows[idx[stop]], arrived[stop], t_end - left[stop])
                rem[idx[stop]] = t[stop]  # at the end of the edge, at the node
                keep = ~stop
                idx, node = idx[keep], node[keep]
            nxt = self._next[dest[idx], node]
            edge[idx] = np.where(nxt >= 0, nxt, edge[idx])
        # The last few vehicles (long runs of short edges) are cheaper one by one.
        if idx.size:
            tt_l, v_l = self._tt_list, self._v_list
            for k in idx.tolist():
                row = int(rows[k])
                ce = int(edge[k])
                cr = float(rem[k])
                d_node = int(dest_node[k])
                nxt_row = self._next[int(dest[k])]
                vol = bool(volunteer[k])
                dv, du = float(drive[k]), float(due[k])
                while cr >= tt_l[ce]:
                    cr -= tt_l[ce]
                    at_node: int = v_l[ce]
                    driven_s = dv - cr
                    arrived = at_node == d_node
                    brk = (
                        not arrived
                        and vol
                        and driven_s >= du
                        and (self._ramp_list[ce] or driven_s >= du + _BREAK_SEARCH_S)
                    )
                    if arrived or brk:
                        self._stop(np.array([row]), np.array([arrived]), np.array([t_end - cr]))
                        cr = tt_l[ce]
                        break
                    n_e = int(nxt_row[at_node])
                    if n_e < 0:
                        break
                    ce = n_e
                edge[k] = ce
                rem[k] = cr
        self.edge[rows] = edge
        self.pos_s[rows] = np.minimum(rem, tt_all[edge])

    def _stop(
        self, rows: NDArray[np.int64], arrived: NDArray[np.bool_], at: NDArray[np.float64]
    ) -> None:
        """Park vehicles that reached their hub (load) or a break place, at times ``at``."""
        service_home = arrived & self.is_service[rows]
        self.mode[rows] = np.where(service_home, _STOP, _PAUSE)
        load = self._load_table[rows, self.trip[rows] % _TRIPS]
        self.pause_until[rows] = at + np.where(arrived, load, _BREAK_S)
        self.after_pause_new_trip[rows] = arrived & ~self.is_service[rows]
        self.drive_s[rows[~arrived]] = 0.0
        done = rows[arrived]
        self.drive_s[done] = np.minimum(self.drive_s[done], _BREAK_DUE_S[0] / 2)

    def _follow(self, row: int, dt_s: float) -> None:
        edges, i, frac = self._routes[row]
        rem = float(self.pos_s[row]) + dt_s
        while True:
            e = edges[i]
            tt = float(self._tt[e])
            end = frac * tt if i == len(edges) - 1 else tt
            if rem < end:
                break
            if i == len(edges) - 1:
                rem = end
                self.mode[row] = _STOP
                del self._routes[row]
                break
            rem -= tt
            i += 1
        self.edge[row] = edges[i]
        self.pos_s[row] = rem
        if row in self._routes:
            self._routes[row] = (edges, i, frac)

    # -- positions --------------------------------------------------------------------------
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

    @property
    def paused(self) -> NDArray[np.bool_]:
        """Whether each vehicle is parked (a break, loading, or waiting at its depot)."""
        out: NDArray[np.bool_] = (self.mode == _PAUSE) | ((self.mode == _STOP) & ~self.held)
        return out
