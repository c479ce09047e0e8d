"""Compute road ETAs from many responders to many incidents: the input of batch assignment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.matching.candidates import SnapCache
from kayou_dispatch.matching.rank import Ranker
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.network._snapping import DEFAULT_MAX_DISTANCE_M
from kayou_dispatch.spatial import ResponderIndex

__all__ = ["eta_matrix"]


def eta_matrix(
    network: RoadNetwork,
    index: ResponderIndex,
    cache: SnapCache,
    ranker: Ranker,
    lats: NDArray[np.float64],
    lngs: NDArray[np.float64],
    responder_ids: Sequence[str],
    limits_s: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Return ETAs, shape ``(incidents, responders)``, ``inf`` where unreachable.

    One reverse search per incident serves every responder: unbounded, or only up to the
    incident's ``limits_s`` (then every ETA above it is ``inf`` too: not searched). Incidents
    are snapped without a heading; responders with theirs, as in ranking, whatever their
    status or freshness (the caller chose them). Off-network responders get ``inf``.

    Raises
    ------
    OffNetworkError
        When an incident is off the network.
    UnknownResponderError
        When a responder id is not in the index.
    """
    slots, _, lat, lng, heading = index._eligible(only=list(responder_ids))
    snaps, dep, _, _ = cache.get(slots, lat, lng, heading)
    out = np.empty((lats.shape[0], slots.shape[0]))
    # Every incident snapped in one vectorised call (the same snaps as one by one).
    snapped = network.snap_many(lats, lngs, max_distance_m=DEFAULT_MAX_DISTANCE_M)
    for i in range(lats.shape[0]):
        point = float(lats[i]), float(lngs[i])
        dest = network._snap_row(snapped, i, *point, DEFAULT_MAX_DISTANCE_M, what="point")
        limit = math.inf if limits_s is None else float(limits_s[i])
        out[i] = ranker.times(dest, snaps, dep, limit_s=limit)
    return out
