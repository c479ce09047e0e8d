"""Read drivable roads from an OpenStreetMap file (``.osm.pbf``, ``.osm``, ``.osm.bz2``).

:func:`read_osm` turns an extract into :class:`~kayou_dispatch.network.EdgeArrays`: an
unsimplified directed graph in which every OSM node on a drivable way is a graph node and
every consecutive node pair of a way is one straight edge per allowed direction.

Rules (written down here because every router chooses differently):

- **Roads**: ways whose ``highway`` is one of
  :data:`~kayou_dispatch.network.profiles.HIGHWAY_CLASSES`; never ``area=yes``.
  ``service=parking_aisle`` and driveways are *kept*: trucks in trouble stop in service
  areas, logistics parks and depots, and a responder must be snapped to the aisle it is on.
- **Access**: the profile's ``access_keys`` are read from the most specific to the most
  general (``hgv``/``motorcar``, ``motor_vehicle``, ``vehicle``, ``access``); the first key
  a way carries decides, and ``no``/``private`` (and ``agricultural``, ``forestry``,
  ``emergency``: the profile's ``excluded_access``) close it. So ``access=no`` with
  ``motor_vehicle=destination`` (or ``hgv=yes`` for trucks) stays open, ``motor_vehicle=no``
  closes. The profile's ``excluded_tags`` (``hgv=no``, ``goods=no`` for trucks) always close.
- **One-way**: ``oneway=yes|true|1`` forward only; ``oneway=-1|reverse`` backward only;
  ``oneway=no|false|0`` both ways, overriding anything implied. Without an explicit value,
  ``junction=roundabout|circular`` and ``highway=motorway`` are one-way forward (the OSM
  wiki's implied one-ways, as OSRM applies them; osmnx does not imply motorways).
  ``motorway_link`` is not implied (the wiki leaves it to tagging, and Chinese ramps carry
  ``oneway=yes``). ``oneway=reversible|alternating`` is driven both ways, as osmnx does:
  the graph has no time of day, and cutting such a road would split the network.
- **Speed**: the first parseable of the profile's ``maxspeed_keys`` (each tried with the
  direction's ``:forward``/``:backward`` suffix first), capped by the class cap; the class
  default otherwise. ``travel_time_s = length_m / speed``, lengths by haversine.
- **Clipped extracts**: way nodes missing from the file split the way; segments touching
  them are dropped and counted in ``meta["missing_nodes"]``. Node locations are looked up
  as libosmium reads the file, so nodes must precede ways (as in every OSM extract), and
  negative ids (unsaved JOSM edits) are treated as missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidCoordinateError, InvalidParameterError, NetworkLoadError
from kayou_dispatch.geo import haversine_m_array
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.profiles import (
    HIGHWAY_CLASSES,
    Profile,
    get_profile,
    parse_maxspeed,
)

__all__ = ["ATTRIBUTION", "read_osm"]

#: The licence notice every network read from OpenStreetMap must carry.
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"

_FORWARD = frozenset({"yes", "true", "1"})
_BACKWARD = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0", "reversible", "alternating"})
_IMPLIED_JUNCTIONS = frozenset({"roundabout", "circular"})
# libosmium stores coordinates as fixed-point integers (1e-7 degree); an unknown location
# reads as 2**31 - 1 in both.
_FIXED_PER_DEG = 10_000_000
_BZ2_MAGIC = b"BZh"
_GZIP_MAGIC = b"\x1f\x8b"


def _validate_bbox(bbox: Any) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        values = tuple(float(x) for x in bbox)
    except (TypeError, ValueError):
        msg = f"bbox must be four numbers (min_lat, min_lng, max_lat, max_lng), got {bbox!r}"
        raise InvalidParameterError(msg, name="bbox", value=bbox) from None
    if len(values) != 4:
        msg = f"bbox must be four numbers (min_lat, min_lng, max_lat, max_lng), got {bbox!r}"
        raise InvalidParameterError(msg, name="bbox", value=bbox)
    min_lat, min_lng, max_lat, max_lng = values
    for lat, lng in ((min_lat, min_lng), (max_lat, max_lng)):
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            msg = (
                f"bbox corner lat={lat!r}, lng={lng!r} is not a WGS-84 point; bbox is "
                "(min_lat, min_lng, max_lat, max_lng) in degrees"
            )
            raise InvalidCoordinateError(msg, lat=lat, lng=lng)
    if min_lat > max_lat or min_lng > max_lng:
        msg = (
            f"bbox {bbox!r} has a minimum above its maximum; the order is "
            "(min_lat, min_lng, max_lat, max_lng) (boxes across the antimeridian are not supported)"
        )
        raise InvalidParameterError(msg, name="bbox", value=bbox)
    return min_lat, min_lng, max_lat, max_lng


def _sniff_format(path: Path, source: Any) -> str:
    """Return the osmium format string for ``path``, judged by its first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        msg = f"cannot read OSM file {str(path)!r}: {exc.strerror or exc}"
        raise NetworkLoadError(msg, source=source) from None
    if not head:
        raise NetworkLoadError(f"OSM file {str(path)!r} is empty", source=source)
    if head.startswith(_BZ2_MAGIC):
        return "osm.bz2"
    if head.startswith(_GZIP_MAGIC):
        return "osm.gz"
    # PBF: a 4-byte big-endian header length, then a BlobHeader whose type is "OSMHeader".
    if b"OSMHeader" in head[:24]:
        return "pbf"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "osm"
    msg = (
        f"{str(path)!r} is not an OpenStreetMap file: it is neither OSM XML (.osm), "
        "PBF (.osm.pbf) nor bzip2/gzip-compressed XML (.osm.bz2, .osm.gz)"
    )
    raise NetworkLoadError(msg, source=source)


def _bad_location(osmium: Any) -> type[Exception]:
    """libosmium's error for a node location it cannot parse (``lat="nan"``)."""
    error = getattr(osmium, "InvalidLocationError", RuntimeError)
    return error if isinstance(error, type) and issubclass(error, Exception) else RuntimeError


def _is_closed(tags: Any, profile: Profile) -> bool:
    """Tell whether a way's tags close it to the profile's vehicle."""
    if tags.get("area") == "yes":
        return True
    for key, value in profile.excluded_tags:
        if tags.get(key) == value:
            return True
    for key in profile.access_keys:
        value = tags.get(key)
        if value is not None:
            return value in profile.excluded_access
    return False


def _directions(tags: Any, highway: str) -> tuple[bool, bool]:
    """Return ``(forward, backward)``: may the way be driven along / against its node order."""
    oneway = tags.get("oneway")
    if oneway in _FORWARD:
        return True, False
    if oneway in _BACKWARD:
        return False, True
    if oneway in _TWO_WAY:
        return True, True
    if tags.get("junction") in _IMPLIED_JUNCTIONS or highway == "motorway":
        return True, False
    return True, True


def _speed_kph(tags: Any, highway: str, profile: Profile, direction: str) -> float:
    for key in profile.maxspeed_keys:
        for k in (f"{key}:{direction}", key):
            tagged = parse_maxspeed(tags.get(k))
            if tagged is not None:
                return profile.speed_kph(highway, tagged)
    return profile.speed_kph(highway)


def read_osm(
    path: str | os.PathLike[str],
    *,
    profile: str | Profile = "truck",
    bbox: Sequence[float] | None = None,
) -> EdgeArrays:
    """Read the drivable road graph of an OpenStreetMap extract.

    Needs the optional ``osmium`` package (``pip install 'kayou-dispatch[osm]'``). The graph
    is unsimplified: every OSM node of a drivable way is a node, every consecutive pair of a
    way's nodes an edge (one per allowed direction); see the module docstring for the
    one-way, access and speed rules.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` (XML) or ``.osm.bz2`` file; the format is recognised from
        the content, not the name.
    profile
        ``"truck"`` (default), ``"car"``, or a :class:`~kayou_dispatch.network.Profile`:
        decides which ways are open and how fast they are driven.
    bbox
        ``(min_lat, min_lng, max_lat, max_lng)``, WGS-84 degrees: keep only edges with both
        ends inside (edges are not cut at the border).

    Returns
    -------
    EdgeArrays
        ``node_id`` are OSM node ids; ``highway`` indexes ``HIGHWAY_CLASSES``; all edges are
        straight. ``meta`` holds ``source`` (file name), ``profile``, ``attribution``,
        ``osm_ways`` (ways contributing edges), ``excluded_ways`` (drivable classes closed by
        access tags or ``area=yes``), ``missing_nodes`` (referenced but absent from the
        file), ``dropped_segments`` (segments lost to them) and ``bbox``.

    Raises
    ------
    NetworkLoadError
        ``path`` is not a path; the file is missing, a directory, empty, not OSM,
        unreadable (a node location that is no number included), or holds no drivable
        road (inside ``bbox``, when given); or ``osmium`` is not installed.
    InvalidParameterError
        An unknown profile or a malformed ``bbox``.
    InvalidCoordinateError
        A ``bbox`` corner outside WGS-84 ranges.

    Examples
    --------
    >>> import tempfile
    >>> xml = '''<osm version="0.6">
    ...   <node id="1" lat="23.0" lon="113.5"/><node id="2" lat="23.0" lon="113.501"/>
    ...   <way id="7"><nd ref="1"/><nd ref="2"/>
    ...     <tag k="highway" v="primary"/><tag k="oneway" v="yes"/></way>
    ... </osm>'''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "tiny.osm"
    ...     _ = p.write_text(xml)
    ...     a = read_osm(p)
    >>> a.node_id.tolist(), a.u.tolist(), a.v.tolist()
    ([1, 2], [0], [1])
    >>> round(float(a.length_m[0]), 1), round(float(a.travel_time_s[0]), 2)
    (102.4, 7.37)
    """
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        msg = f"path must be a file path (str or os.PathLike), got {type(path).__name__}"
        raise NetworkLoadError(msg, source=path)
    prof = get_profile(profile)
    box = _validate_bbox(bbox)
    p = Path(path)
    if not p.exists():
        raise NetworkLoadError(f"no OSM file at {str(p)!r}", source=path)
    if not p.is_file():
        msg = f"{str(p)!r} is not a file; give an .osm.pbf, .osm or .osm.bz2 file"
        raise NetworkLoadError(msg, source=path)
    fmt = _sniff_format(p, path)
    try:
        import osmium
        import osmium.filter
    except ImportError:
        msg = (
            "reading OpenStreetMap files needs the optional 'osmium' package: "
            "pip install 'kayou-dispatch[osm]'"
        )
        raise NetworkLoadError(msg, source=path) from None
    if not hasattr(osmium, "FileProcessor"):
        msg = "reading OpenStreetMap files needs osmium >= 4: pip install -U 'kayou-dispatch[osm]'"
        raise NetworkLoadError(msg, source=path)

    speeds = prof.speeds_kph
    code_of = {name: i for i, name in enumerate(HIGHWAY_CLASSES)}
    refs: list[int] = []
    xs: list[int] = []
    ys: list[int] = []
    # Per accepted way: node count, highway code, allowed directions, speeds.
    counts: list[int] = []
    codes: list[int] = []
    fwd: list[bool] = []
    bwd: list[bool] = []
    speed_f: list[float] = []
    speed_b: list[float] = []
    excluded = 0
    try:
        processor = (
            osmium.FileProcessor(osmium.io.File(str(p), fmt), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = way.tags
            highway = tags.get("highway")
            if highway is None or highway not in speeds:
                continue
            if _is_closed(tags, prof):
                excluded += 1
                continue
            nodes = way.nodes
            if len(nodes) < 2:
                continue
            for node in nodes:
                loc = node.location
                refs.append(node.ref)
                xs.append(loc.x)
                ys.append(loc.y)
            forward, backward = _directions(tags, highway)
            counts.append(len(nodes))
            codes.append(code_of.get(highway, -1))
            fwd.append(forward)
            bwd.append(backward)
            speed_f.append(_speed_kph(tags, highway, prof, "forward"))
            speed_b.append(_speed_kph(tags, highway, prof, "backward"))
    except (RuntimeError, OSError, _bad_location(osmium)) as exc:
        msg = f"cannot read OSM file {str(p)!r} as {fmt}: {exc}"
        raise NetworkLoadError(msg, source=path) from None

    if not counts:
        msg = (
            f"{str(p)!r} holds no drivable road for the {prof.name!r} profile "
            f"(highway classes: {', '.join(HIGHWAY_CLASSES)})"
        )
        raise NetworkLoadError(msg, source=path)
    return _build(
        np.array(refs, dtype=np.int64),
        np.array(xs, dtype=np.int64),
        np.array(ys, dtype=np.int64),
        np.array(counts, dtype=np.int64),
        way_arrays=(codes, fwd, bwd, speed_f, speed_b),
        box=box,
        prof=prof,
        meta={"source": p.name, "profile": prof.name, "attribution": ATTRIBUTION},
        excluded=excluded,
        source=path,
    )


def _build(
    refs: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    counts: np.ndarray,
    *,
    way_arrays: tuple[list[int], list[bool], list[bool], list[float], list[float]],
    box: tuple[float, float, float, float] | None,
    prof: Profile,
    meta: dict[str, Any],
    excluded: int,
    source: Any,
) -> EdgeArrays:
    """Turn the flat way-node lists into edge arrays (all numpy, no per-node Python)."""
    codes = np.array(way_arrays[0], dtype=np.int8)
    fwd = np.array(way_arrays[1], dtype=bool)
    bwd = np.array(way_arrays[2], dtype=bool)
    speed_f = np.array(way_arrays[3], dtype=np.float64)
    speed_b = np.array(way_arrays[4], dtype=np.float64)

    valid = (np.abs(xs) <= 180 * _FIXED_PER_DEG) & (np.abs(ys) <= 90 * _FIXED_PER_DEG)
    lat = ys / _FIXED_PER_DEG
    lng = xs / _FIXED_PER_DEG
    # Segment i joins way-node i and i + 1 unless i is the last node of its way.
    way_of = np.repeat(np.arange(counts.size), counts)
    seg_ok = np.ones(refs.size - 1, dtype=bool)
    seg_ok[np.cumsum(counts)[:-1] - 1] = False
    seg_way = way_of[:-1]
    in_way = seg_ok.copy()
    seg_ok &= valid[:-1] & valid[1:]
    dropped = int((in_way & ~seg_ok).sum())
    seg_ok &= refs[:-1] != refs[1:]  # a node repeated in a row is no road
    if box is not None:
        min_lat, min_lng, max_lat, max_lng = box
        inside = (lat >= min_lat) & (lat <= max_lat) & (lng >= min_lng) & (lng <= max_lng)
        seg_ok &= inside[:-1] & inside[1:]
    a = np.flatnonzero(seg_ok)
    b = a + 1
    missing = int(np.unique(refs[~valid]).size)
    if a.size == 0:
        where = f" inside bbox {box}" if box is not None else ""
        msg = f"{meta['source']!r} holds no drivable road{where} for the {prof.name!r} profile"
        if missing:
            msg += (
                f"; {missing} node(s) its roads reference have no location in the file (a "
                "clipped extract, nodes listed after ways, or negative ids of an unsaved edit)"
            )
        raise NetworkLoadError(msg, source=source)

    node_id, first, inverse = np.unique(
        np.concatenate([refs[a], refs[b]]), return_index=True, return_inverse=True
    )
    ends = np.concatenate([a, b])[first]
    ua, ub = inverse[: a.size], inverse[a.size :]
    w = seg_way[a]
    # Interleave: segment k's forward edge, then its backward edge, in file order.
    u = np.stack([ua, ub], axis=1).ravel()
    v = np.stack([ub, ua], axis=1).ravel()
    keep = np.stack([fwd[w], bwd[w]], axis=1).ravel()
    speed = np.stack([speed_f[w], speed_b[w]], axis=1).ravel()[keep]
    hw = np.repeat(codes[w], 2)[keep]
    u, v = u[keep], v[keep]
    node_lat, node_lng = lat[ends], lng[ends]
    length_m = haversine_m_array(node_lat[u], node_lng[u], node_lat[v], node_lng[v])
    travel_time_s = length_m / (speed / 3.6)

    meta = {
        **meta,
        "osm_ways": int(np.unique(w).size),
        "excluded_ways": excluded,
        "missing_nodes": missing,
        "dropped_segments": dropped,
        "bbox": list(box) if box is not None else None,
    }
    return EdgeArrays.straight(
        node_id=node_id,
        lat=node_lat,
        lng=node_lng,
        u=u,
        v=v,
        length_m=length_m,
        travel_time_s=travel_time_s,
        highway=hw,
        meta=meta,
    )
