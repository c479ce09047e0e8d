"""Convert networkx graphs in the osmnx convention to and from :class:`EdgeArrays`.

Nodes carry ``y`` (lat) and ``x`` (lng); edges carry ``length`` (m), ``travel_time`` (s),
``highway`` and optionally ``geometry``, a shapely LineString in ``(lng, lat)`` order that
starts and ends at the edge's nodes.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from kayou_dispatch.errors import InvalidParameterError, NetworkLoadError
from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, Profile

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["arrays_from_networkx", "arrays_to_networkx"]

_HIGHWAY_CODE = {name: i for i, name in enumerate(HIGHWAY_CLASSES)}
# Shape points this close (degrees, about 1 cm) to an edge's node are that node.
_SAME_POINT_DEG = 1e-7
# A crs naming any of these is geographic WGS-84 degrees.
_WGS84_WORDS = ("4326", "wgs84", "wgs 84", "longlat", "crs84")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _first_drivable(highway: Any) -> str | None:
    values = highway if isinstance(highway, list | tuple) else [highway]
    for h in values:
        if isinstance(h, str) and h in _HIGHWAY_CODE:
            return h
    return None


def _maxspeed(value: Any) -> str | float | None:
    if isinstance(value, list | tuple):
        return ";".join(str(x) for x in value)
    return value if isinstance(value, str | int | float) else None


def _shape(geometry: Any, ulat: float, ulng: float, vlat: float, vlng: float) -> list[Any]:
    if geometry is None:
        return []
    try:
        pts = [(float(c[1]), float(c[0])) for c in shapely.get_coordinates(geometry)]
    except (TypeError, ValueError, shapely.errors.ShapelyError):
        return [None]
    if len(pts) >= 2:
        fwd = abs(pts[0][0] - ulat) + abs(pts[0][1] - ulng) + abs(pts[-1][0] - vlat)
        fwd += abs(pts[-1][1] - vlng)
        back = abs(pts[0][0] - vlat) + abs(pts[0][1] - vlng) + abs(pts[-1][0] - ulat)
        back += abs(pts[-1][1] - ulng)
        if back < fwd:
            pts.reverse()
    if pts and abs(pts[0][0] - ulat) < _SAME_POINT_DEG and abs(pts[0][1] - ulng) < _SAME_POINT_DEG:
        pts = pts[1:]
    if (
        pts
        and abs(pts[-1][0] - vlat) < _SAME_POINT_DEG
        and abs(pts[-1][1] - vlng) < _SAME_POINT_DEG
    ):
        pts = pts[:-1]
    return pts


def arrays_from_networkx(graph: Any, *, weight: str, profile: Profile) -> EdgeArrays:
    """Build arrays from a networkx graph; see :meth:`RoadNetwork.from_networkx`."""
    import networkx as nx  # only here: importing the package stays quick

    if not isinstance(graph, nx.Graph):
        msg = f"expected a networkx graph, got {type(graph).__name__}"
        raise NetworkLoadError(msg, source=graph)
    if graph.number_of_nodes() == 0:
        raise NetworkLoadError("the graph has 0 nodes; at least one road is needed", source=graph)
    labels = list(graph.nodes)
    node_id = np.arange(len(labels), dtype=np.int64)
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in labels):
        # Ids beyond int64 are replaced by positions, like any other labels.
        with contextlib.suppress(OverflowError):
            node_id = np.array([int(x) for x in labels], dtype=np.int64)
    index = {label: i for i, label in enumerate(labels)}
    lat = np.empty(len(labels))
    lng = np.empty(len(labels))
    for i, (label, data) in enumerate(graph.nodes(data=True)):
        y, x = _number(data.get("y")), _number(data.get("x"))
        if y is None or x is None or not (abs(y) <= 90.0 and abs(x) <= 180.0):
            msg = (
                f"node {label!r} has no usable coordinates (y={data.get('y')!r}, "
                f"x={data.get('x')!r}); every node needs y (lat) and x (lng) in WGS-84 degrees"
            )
            crs = graph.graph.get("crs")
            if crs is not None and not any(k in str(crs).lower() for k in _WGS84_WORDS):
                msg += (
                    f"; the graph's crs is {crs!r}, project it back first "
                    "(osmnx: ox.project_graph(G, to_crs='epsg:4326'))"
                )
            raise NetworkLoadError(msg, source=graph)
        lat[i], lng[i] = y, x
    if graph.number_of_edges() == 0:
        msg = f"the graph has {len(labels)} nodes and 0 edges; at least one road is needed"
        raise NetworkLoadError(msg, source=graph)

    u: list[int] = []
    v: list[int] = []
    length: list[float] = []
    tt: list[float] = []
    highway: list[int] = []
    offsets = [0]
    glat: list[float] = []
    glng: list[float] = []

    def add(a: int, b: int, data: dict[str, Any]) -> None:
        hw = _first_drivable(data.get("highway"))
        shape = _shape(data.get("geometry"), lat[a], lng[a], lat[b], lng[b])
        if shape and shape[0] is None:
            msg = f"edge ({labels[a]!r}, {labels[b]!r}) has an unreadable geometry"
            raise NetworkLoadError(msg, source=graph)
        if "length" in data:
            ln = _number(data["length"])
        else:
            plat = np.array([lat[a], *(p[0] for p in shape), lat[b]])
            plng = np.array([lng[a], *(p[1] for p in shape), lng[b]])
            ln = float(haversine_m_array(plat[:-1], plng[:-1], plat[1:], plng[1:]).sum())
        if ln is None or not (math.isfinite(ln) and ln >= 0.0):
            msg = (
                f"edge ({labels[a]!r}, {labels[b]!r}) has length {data.get('length')!r}; "
                "lengths must be finite numbers of metres >= 0"
            )
            raise NetworkLoadError(msg, source=graph)
        t = _travel_time(data, ln, hw, labels[a], labels[b])
        u.append(a)
        v.append(b)
        length.append(ln)
        tt.append(t)
        highway.append(_HIGHWAY_CODE[hw] if hw is not None else -1)
        glat.extend(p[0] for p in shape)
        glng.extend(p[1] for p in shape)
        offsets.append(len(glat))

    def _travel_time(data: dict[str, Any], ln: float, hw: str | None, a: Any, b: Any) -> float:
        if weight in data:
            t = _number(data[weight])
            if t is None or not (math.isfinite(t) and t >= 0.0):
                msg = (
                    f"edge ({a!r}, {b!r}) has {weight}={data[weight]!r}; travel times must be "
                    "finite numbers of seconds >= 0"
                )
                raise NetworkLoadError(msg, source=graph)
            return t
        speed = _number(data.get("speed_kph"))
        if speed is None and hw is not None:
            try:
                speed = profile.speed_kph(hw, _maxspeed(data.get("maxspeed")))
            except InvalidParameterError:  # pragma: no cover - hw is drivable by construction
                speed = None
        if speed is None or not (math.isfinite(speed) and speed > 0.0):
            msg = (
                f"edge ({a!r}, {b!r}) has no {weight!r}, no usable speed_kph and no drivable "
                f"highway class; give one of them (drivable: {', '.join(HIGHWAY_CLASSES)})"
            )
            raise NetworkLoadError(msg, source=graph)
        return ln / (speed / 3.6)

    edges: Iterable[tuple[Any, Any, dict[str, Any]]] = graph.edges(data=True)
    for a_label, b_label, data in edges:
        a, b = index[a_label], index[b_label]
        add(a, b, data)
        if not graph.is_directed():
            add(b, a, data)

    arrays = EdgeArrays(
        node_id=node_id,
        lat=lat,
        lng=lng,
        u=np.array(u, dtype=np.int64),
        v=np.array(v, dtype=np.int64),
        length_m=np.array(length, dtype=np.float64),
        travel_time_s=np.array(tt, dtype=np.float64),
        highway=np.array(highway, dtype=np.int8),
        geom_offsets=np.array(offsets, dtype=np.int64),
        geom_lat=np.array(glat, dtype=np.float64),
        geom_lng=np.array(glng, dtype=np.float64),
        meta={"source": "networkx", "profile": profile.name, "weight": weight},
    )
    arrays.validate(source=graph)
    return arrays


def arrays_to_networkx(arrays: EdgeArrays) -> nx.MultiDiGraph:
    """Build an osmnx-style ``MultiDiGraph`` from arrays; see :meth:`RoadNetwork.to_networkx`."""
    import networkx as nx

    graph = nx.MultiDiGraph(crs="epsg:4326")
    ids = arrays.node_id.tolist()
    graph.add_nodes_from(
        (i, {"y": y, "x": x})
        for i, y, x in zip(ids, arrays.lat.tolist(), arrays.lng.tolist(), strict=True)
    )
    off = arrays.geom_offsets
    for e, (a, b, ln, t, hw) in enumerate(
        zip(
            arrays.u.tolist(),
            arrays.v.tolist(),
            arrays.length_m.tolist(),
            arrays.travel_time_s.tolist(),
            arrays.highway.tolist(),
            strict=True,
        )
    ):
        data: dict[str, Any] = {"length": ln, "travel_time": t}
        if hw >= 0:
            data["highway"] = HIGHWAY_CLASSES[hw]
        lo, hi = int(off[e]), int(off[e + 1])
        if hi > lo:
            xs = [arrays.lng[a], *arrays.geom_lng[lo:hi].tolist(), arrays.lng[b]]
            ys = [arrays.lat[a], *arrays.geom_lat[lo:hi].tolist(), arrays.lat[b]]
            data["geometry"] = shapely.LineString(list(zip(xs, ys, strict=True)))
        graph.add_edge(ids[a], ids[b], **data)
    return graph
