"""Write ``replay.html``: a self-contained page that replays a simulated day on the map.

One file, no network access: the map renderer and the player (``kayou_dispatch/web``),
the simplified road network and the day's data are all inlined. Responder tracks are
thinned to at most ``max_points`` (frames x responders) so the default day stays a few
megabytes (every status change is kept, with its time, so short offers still show);
positions are uint16 steps of ``1e-5`` degrees (coarser on a large region), base64-packed.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.runner import TRACK_STATUS, SimulationResult
from kayou_dispatch.simulation.scenario import Scenario
from kayou_dispatch.spatial import Status
from kayou_dispatch.web import asset_text, network_geometry
from kayou_dispatch.web._geometry import GRID_PER_DEGREE

__all__ = ["MAX_TRACK_POINTS", "replay_data", "write_replay"]

#: Most responder positions (frames x responders) written into one replay.
MAX_TRACK_POINTS = 600_000


def _b64(a: np.ndarray) -> str:
    little = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return base64.b64encode(little.tobytes()).decode("ascii")


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 1)


def replay_data(
    network: RoadNetwork,
    scenario: Scenario,
    result: SimulationResult,
    *,
    max_points: int = MAX_TRACK_POINTS,
) -> dict[str, Any]:
    """Return the JSON-able data a replay page draws.

    Raises
    ------
    InvalidParameterError
        When ``result`` has no tracks (simulate with ``track_every_s``) or ``max_points``
        is not a positive integer.
    """
    tracks = result.tracks
    if tracks is None:
        msg = "the result has no tracks: simulate with track_every_s=... to replay it"
        raise InvalidParameterError(msg, name="result", value=result.policy)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        msg = f"max_points must be an int >= 1, got {max_points!r}"
        raise InvalidParameterError(msg, name="max_points", value=max_points)
    min_lat, min_lng, max_lat, max_lng = network.bounds
    extent_m = max(max_lat - min_lat, (max_lng - min_lng) * math.cos(math.radians(min_lat))) * 111e3
    # Simplify a region's roads more than a city's: a pixel of a 125 km map is ~100 m.
    geometry = network_geometry(network, tolerance_m=max(2.0, extent_m / 10_000))
    n_frames, n_resp = tracks.lat.shape
    step = max(1, math.ceil(n_frames * max(n_resp, 1) / max_points))
    keep = np.arange(0, n_frames, step)
    if keep[-1] != n_frames - 1:
        keep = np.append(keep, n_frames - 1)  # always show the end of the day
    lat0, lng0 = geometry["origin"]
    dlat = tracks.lat[keep].astype(np.float64) - lat0
    dlng = tracks.lng[keep].astype(np.float64) - lng0
    # Positions as uint16 steps: 1e-5 degrees (1 m) where the region allows, coarser steps
    # on a large one (2e-5 degrees over the 100 km region: still 2 m).
    top = max(float(dlat.max(initial=0)), float(dlng.max(initial=0))) * GRID_PER_DEGREE
    track_scale = GRID_PER_DEGREE / max(1, math.ceil((top + 1) / (2**16 - 1)))
    qlat = np.clip(np.rint(dlat * track_scale), 0, 2**16 - 1).astype(np.uint16)
    qlng = np.clip(np.rint(dlng * track_scale), 0, 2**16 - 1).astype(np.uint16)
    dtype = np.uint16
    places = {iid: (lat, lng) for iid, lat, lng in result.places}
    kinds = sorted({r.kind for r in result.records})
    kind_index = {k: i for i, k in enumerate(kinds)}
    records = sorted(result.records, key=lambda r: (r.reported_s, r.incident_id))
    incidents = {
        "id": [r.incident_id for r in records],
        "lat": [round(places[r.incident_id][0], 6) for r in records],
        "lng": [round(places[r.incident_id][1], 6) for r in records],
        "kind": [kind_index[r.kind] for r in records],
        "severity": [r.severity for r in records],
        "reported_s": [_num(r.reported_s) for r in records],
        "accept_s": [_num(r.first_accept_s) for r in records],
        "arrival_s": [_num(r.first_arrival_s) for r in records],
        "closed_s": [_num(r.closed_s) for r in records],
        "served": [int(r.served) for r in records],
    }
    index = {r.incident_id: i for i, r in enumerate(records)}
    changes = {
        "n": int(tracks.change_s.size),
        "t": _b64(tracks.change_s.astype(np.float32)),
        "row": _b64(tracks.change_row.astype(np.uint32)),
        "status": _b64(tracks.change_status.astype(np.uint8)),
        "incident": _b64(
            np.array(
                [index.get(i, -1) if i else -1 for i in tracks.change_incident], dtype=np.int32
            )
        ),
    }
    busy = ((tracks.status[keep] >= 1) & (tracks.status[keep] <= 4)).sum(axis=1)
    open_s = float(tracks.times_s[keep][int(np.argmax(busy))]) if keep.size else 0.0
    return {
        "title": f"{result.policy} · {network.meta.get('name') or network.meta.get('source')}",
        "attribution": "Map data © OpenStreetMap contributors (ODbL)",
        "open_s": open_s,
        "changes": changes,
        # Statuses drawn with a line to their incident (an offer or an engagement).
        "linked": [Status.OFFERED.value, Status.ASSIGNED.value, Status.EN_ROUTE.value],
        "coverage": _coverage_layer(network, result, geometry["origin"]),
        "policy": result.policy,
        "start_hour": scenario.start_hour,
        "end_s": float(tracks.times_s[-1]),
        "network": geometry,
        "kinds": kinds,
        "incidents": incidents,
        "tracks": {
            "n": n_resp,
            "times_s": tracks.times_s[keep].round(1).tolist(),
            "every_s": float(tracks.times_s[keep[1]] - tracks.times_s[keep[0]])
            if keep.size > 1
            else 0.0,
            "status_names": list(TRACK_STATUS),
            "dtype": "uint16" if dtype is np.uint16 else "uint32",
            "scale": track_scale,
            "lat": _b64(qlat),
            "lng": _b64(qlng),
            "status": _b64(tracks.status[keep].astype(np.uint8)),
        },
        "metrics": {
            k: result.metrics.get(k)
            for k in ("incidents", "served", "response_p50_s", "response_p90_s")
        },
    }


def _coverage_layer(
    network: RoadNetwork, result: SimulationResult, origin: list[float]
) -> dict[str, Any] | None:
    """Each probed segment's polyline and its gap share per hour (percent; 255: not probed)."""
    cov = result.coverage
    if cov is None or not len(cov.segments):
        return None
    a = network.arrays
    seg = cov.segments
    lat0, lng0 = origin
    coords: list[int] = []
    offsets = [0]
    line_seg: list[int] = []
    for i in range(len(seg)):
        for e in seg.edges[seg.offsets[i] : seg.offsets[i + 1]].tolist():
            for node in (int(a.u[e]), int(a.v[e])):
                coords += [
                    round((float(a.lat[node]) - lat0) * GRID_PER_DEGREE),
                    round((float(a.lng[node]) - lng0) * GRID_PER_DEGREE),
                ]
            offsets.append(len(coords) // 2)
            line_seg.append(i)
    share = np.where(np.isnan(cov.gap_share), 255, np.rint(cov.gap_share * 100)).astype(np.uint8)
    return {
        "limit_s": cov.limit_s,
        "coords": coords,
        "offsets": offsets,
        "segment": line_seg,
        "share": _b64(share),  # (segments, 24), row-major
        "segments": len(seg),
    }


def write_replay(
    path: str | os.PathLike[str],
    network: RoadNetwork,
    scenario: Scenario,
    result: SimulationResult,
    *,
    max_points: int = MAX_TRACK_POINTS,
) -> Path:
    """Write the replay page of one simulated day; return its path.

    Raises
    ------
    InvalidParameterError
        As :func:`replay_data`.
    """
    data = replay_data(network, scenario, result, max_points=max_points)
    # Inside <script>: "</" would end the element early, so it is escaped.
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = asset_text("replay.html")
    for key, value in (
        ("/*{{CSS}}*/", asset_text("console.css")),
        ("/*{{MAP_JS}}*/", asset_text("map.js")),
        ("/*{{REPLAY_JS}}*/", asset_text("replay.js")),
        ("{{TITLE}}", data["title"].replace("&", "&amp;").replace("<", "&lt;")),
        ("{{DATA}}", blob),
    ):
        page = page.replace(key, value)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
