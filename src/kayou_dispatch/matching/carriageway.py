"""Carriageway sense on divided roads: upstream on the incident's carriageway, or opposite.

On a divided expressway each carriageway is a one-way road. Road ETAs with headings
already know that a helper on the opposite carriageway must drive on to the next
interchange and come back; this module names it, for ``explain`` and for run cards that
prefer helpers upstream on the incident's own carriageway.

- :func:`upstream_on_carriageway`: whether each helper's fastest route to the incident
  stays on one-way motorway or trunk edges (no exit, no link road, no turning round): it
  is behind the incident on the same carriageway. Run cards with
  ``prefer_same_carriageway_s`` offer those first.
- :func:`opposite_carriageway`: whether a helper drives on the other carriageway of a
  divided road, and what that costs: its ETA minus the ETA it would have driving the other
  way at the same spot (the nearest one-way edge within :data:`CARRIAGEWAY_GAP_M` whose
  bearing is reversed), where it would be upstream on the incident's carriageway. Worth
  saying when turning round costs at least
  :data:`TURN_ROUND_MIN_S`: "opposite carriageway: +14 min via the next exit".

Examples
--------
Two carriageways 30 m apart, one interchange at each end (10 km apart, 100 km/h):

>>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
>>> dlat = 30 / 111_195  # 30 m north
>>> a = EdgeArrays.straight(
...     node_id=[1, 2, 3, 4], lat=[0.0, 0.0, dlat, dlat], lng=[0.0, 0.09, 0.09, 0.0],
...     u=[0, 2, 1, 3], v=[1, 3, 2, 0], length_m=[10_000.0, 10_000.0, 40.0, 40.0],
...     travel_time_s=[360.0, 360.0, 5.0, 5.0], highway=[0, 0, 1, 1])
>>> net = RoadNetwork.from_arrays(a)
>>> dest = net.snap(0.0, 0.06, heading=90.0)          # eastbound, 2/3 of the way
>>> behind = net.snap(0.0, 0.03, heading=90.0)        # eastbound, behind it
>>> across = net.snap(dlat, 0.03, heading=270.0)      # westbound, opposite it
>>> upstream_on_carriageway(net, dest, [behind, across]).tolist()
[True, False]
>>> sense = opposite_carriageway(net, dest, across, heading=270.0)
>>> sense.opposite, round(sense.extra_s), sense.detail
(True, 245, 'opposite carriageway: +4 min via the next exit')
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import OffNetworkError
from kayou_dispatch.network import RoadNetwork, Snap
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES
from kayou_dispatch.network.trips import snap_row

__all__ = [
    "CARRIAGEWAY_GAP_M",
    "CarriagewaySense",
    "DIVIDED_CLASSES",
    "divided_edges",
    "opposite_carriageway",
    "TURN_ROUND_MIN_S",
    "upstream_on_carriageway",
]

#: Road classes whose one-way edges are carriageways of a divided road.
DIVIDED_CLASSES: tuple[str, ...] = ("motorway", "trunk")
#: How far apart two carriageways may be (centre lines), metres.
CARRIAGEWAY_GAP_M = 80.0
#: Turning round must cost at least this much for ``explain`` to speak of it, seconds.
TURN_ROUND_MIN_S = 60.0

_DIVIDED: weakref.WeakKeyDictionary[RoadNetwork, NDArray[np.bool_]] = weakref.WeakKeyDictionary()


def divided_edges(network: RoadNetwork) -> NDArray[np.bool_]:
    """Return, per edge, whether it is a carriageway: one-way, motorway or trunk class."""
    found = _DIVIDED.get(network)
    if found is None:
        codes = [HIGHWAY_CLASSES.index(c) for c in DIVIDED_CLASSES]
        hw = network.arrays.highway
        found = np.isin(hw, codes) & (network.edge_twin < 0)
        _DIVIDED[network] = found
    return found


def upstream_on_carriageway(
    network: RoadNetwork, destination: Snap, starts: Sequence[Snap], *, limit_s: float = math.inf
) -> NDArray[np.bool_]:
    """Return, per start, whether it is upstream of the incident on the incident's carriageway.

    True when the incident is on a carriageway (:func:`divided_edges`) and the start's
    fastest route to it (within ``limit_s``) runs on carriageway edges only, all the way
    from its start edge.
    """
    out = np.zeros(len(starts), dtype=bool)
    divided = divided_edges(network)
    if not starts or not divided[destination.edge]:
        return out
    tree = network.tree_to_snapped(destination, limit_s=limit_s, predecessors=True)
    for i, start in enumerate(starts):
        if not divided[start.edge]:
            continue
        leg = tree.legs(snap_row(start), [0])[0]
        if math.isinf(leg.eta_s):
            continue
        edges = [e for e in (leg.first_edge, leg.last_edge) if e >= 0]
        if len(leg.nodes) > 1:
            between = tree.graph.edges_between(
                np.array(leg.nodes[:-1], dtype=np.int64), np.array(leg.nodes[1:], dtype=np.int64)
            )
            edges.extend(between.tolist())
        out[i] = bool(divided[np.array(edges, dtype=np.int64)].all()) if edges else False
    return out


@dataclass(frozen=True, slots=True)
class CarriagewaySense:
    """A helper's carriageway against an incident's.

    Attributes
    ----------
    opposite
        Whether it drives on a carriageway of a divided road, driving the other way at the
        same spot would put it behind the incident on the incident's carriageway, and that
        would bring it at least :data:`TURN_ROUND_MIN_S` sooner.
    eta_s
        Its ETA as it drives.
    other_way_eta_s
        Its ETA were it on the other carriageway at the same spot (``inf``: no other
        carriageway within :data:`CARRIAGEWAY_GAP_M`).
    extra_s
        What turning round costs (``eta_s - other_way_eta_s``; 0 unless ``opposite``).
    detail
        "opposite carriageway: +14 min via the next exit" (``None`` unless ``opposite``).
    """

    opposite: bool
    eta_s: float
    other_way_eta_s: float
    extra_s: float
    detail: str | None


def _bearing_deg(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lng2 - lng1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def _edge_bearing(network: RoadNetwork, snap: Snap) -> float:
    """The direction of travel along the snapped edge near the snapped point, degrees."""
    a = network.arrays
    u, v = int(a.u[snap.edge]), int(a.v[snap.edge])
    lo, hi = int(a.geom_offsets[snap.edge]), int(a.geom_offsets[snap.edge + 1])
    lats = [float(a.lat[u]), *a.geom_lat[lo:hi].tolist(), float(a.lat[v])]
    lngs = [float(a.lng[u]), *a.geom_lng[lo:hi].tolist(), float(a.lng[v])]
    # The shape segment nearest the snapped point.
    best, seg = math.inf, 0
    for j in range(len(lats) - 1):
        mid_lat, mid_lng = (lats[j] + lats[j + 1]) / 2, (lngs[j] + lngs[j + 1]) / 2
        d = (mid_lat - snap.lat) ** 2 + (
            (mid_lng - snap.lng) * math.cos(math.radians(mid_lat))
        ) ** 2
        if d < best:
            best, seg = d, j
    return _bearing_deg(lats[seg], lngs[seg], lats[seg + 1], lngs[seg + 1])


def opposite_carriageway(
    network: RoadNetwork,
    destination: Snap,
    start: Snap,
    *,
    heading: float | None = None,
    eta_s: float | None = None,
) -> CarriagewaySense:
    """Say whether a helper at ``start`` is on the opposite carriageway, and what it costs.

    Parameters
    ----------
    network
        The road network.
    destination, start
        The incident's and the helper's snaps (the helper's with its heading, as ranked).
    heading
        The helper's heading, degrees (``None``: the direction of its snapped edge).
    eta_s
        Its ETA when known already (then the search stops there: only a shorter ETA the
        other way matters).
    """
    limit = math.inf if eta_s is None or not math.isfinite(eta_s) else float(eta_s)
    tree = network.tree_to_snapped(destination, limit_s=limit)
    eta = float(tree.times(snap_row(start))[0]) if eta_s is None else float(eta_s)
    none = CarriagewaySense(False, eta, math.inf, 0.0, None)
    divided = divided_edges(network)
    if not divided[start.edge] or math.isinf(eta):
        return none
    way = _edge_bearing(network, start) if heading is None else float(heading)
    try:
        other = network.snap(
            start.lat, start.lng, heading=(way + 180.0) % 360.0, max_distance_m=CARRIAGEWAY_GAP_M
        )
    except OffNetworkError:
        return none
    if other.edge == start.edge or not divided[other.edge]:
        return none
    other_eta = float(tree.times(snap_row(other))[0])
    extra = eta - other_eta
    # Opposite means: driving the other way here would put it behind the incident on the
    # incident's own carriageway (a helper past the incident on that carriageway is not).
    behind = extra >= TURN_ROUND_MIN_S and bool(
        upstream_on_carriageway(network, destination, [other], limit_s=other_eta + 1.0)[0]
    )
    if not behind:
        return CarriagewaySense(False, eta, other_eta, 0.0, None)
    detail = f"opposite carriageway: +{extra / 60.0:.0f} min via the next exit"
    return CarriagewaySense(True, eta, other_eta, extra, detail)
