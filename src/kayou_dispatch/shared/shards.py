"""Split the country into shards by coarse H3 cell: the shard map, its reach and its network.

A shard map (``shards.json``) names the shards, the H3 cells (resolution 3 or 4) each one
owns, where each one serves, and the ranking bound that makes a shard exact across its
border::

    {
      "format": "kayou-shards/1",
      "resolution": 4,
      "max_eta_s": 600,
      "max_speed_kph": 130,
      "shards": [
        {"name": "west", "url": "http://127.0.0.1:8101", "cells": ["841f1d3ffffffff", ...]},
        {"name": "east", "url": "http://127.0.0.1:8102", "cells": ["841f1c9ffffffff", ...]}
      ]
    }

Why a shard is exact across its border. A shard ranks an incident in its own cells within
``max_eta_s``. A responder that can arrive within ``max_eta_s`` drove at most
``reach_m = max_speed * max_eta_s`` (plus the snap distance) on roads, so it stands within
``reach_m`` of the incident, and so does every road of its route. The shard therefore holds
every responder within ``reach_m`` of its cells (its *reach*: the gateway sends it their
fixes too) and every road within ``reach_m`` plus the snap distance of them (its network).
Each such responder snaps to the same road as on the whole network, its route lies inside
the shard's network, so its ETA is the whole network's; a responder whose route leaves the
shard's network takes longer than ``max_eta_s`` (a subgraph only lengthens routes) and is
not returned. The ranking is therefore exactly the ranking of one engine holding the whole
region, within ``max_eta_s``. The cell tests are conservative (a cell counts when its
circumscribed disc comes within the distance), so a shard holds a little more, never less.

A responder leaving a shard's reach. The gateway also sends a fix to every shard whose reach
lies within ``move_m`` of it (the furthest a responder drives within the position TTL); such
a shard forgets the responder (:class:`RegionPositionStore`). A shard that held the previous
fix (at most one TTL old, else it was stale and never ranked) is within ``move_m`` of the
new one, so it hears of the move: no duplicate outlives the move, and the new shard had the
responder since it entered its reach: no gap.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import h3
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import validate_latlng, validate_latlng_array
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.spatial import ResponderIndex, Status
from kayou_dispatch.store import Fix, FixRow, PositionStore

__all__ = [
    "clip_network",
    "load_shard_map",
    "RegionPositionStore",
    "Shard",
    "SHARD_MAP_FORMAT",
    "ShardMap",
    "SNAP_M",
]

#: The ``format`` a shard map file declares.
SHARD_MAP_FORMAT = "kayou-shards/1"
#: The furthest a point snaps to a road (the network's snap limit), metres.
SNAP_M = 1000.0
_EARTH_M = 6_371_008.8
#: Circumscribed radii are widened by this share (great-circle vs planar hexagon edges).
_SLACK = 1.02


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard: its name, where it serves, and the H3 cells it owns."""

    name: str
    url: str
    cells: frozenset[int]
    redis_prefix: str


def _bad(msg: str, value: Any = None) -> InvalidParameterError:
    return InvalidParameterError(msg, name="shards", value=value)


def _unit(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> NDArray[np.float64]:
    la, ln = np.radians(lat), np.radians(lng)
    return np.column_stack([np.cos(la) * np.cos(ln), np.cos(la) * np.sin(ln), np.sin(la)])


def _chord(distance_m: float) -> float:
    """The chord length of a great-circle distance on the unit sphere."""
    return 2.0 * math.sin(min(distance_m / _EARTH_M, math.pi) / 2.0)


def _arc_m(chord: NDArray[np.float64]) -> NDArray[np.float64]:
    return 2.0 * _EARTH_M * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


class ShardMap:
    """Which shard owns which coarse H3 cell, and which shards must hear of a point.

    Build one with :func:`load_shard_map` (a file) or :meth:`from_json` (parsed JSON).

    Examples
    --------
    >>> import h3
    >>> west, east = h3.latlng_to_cell(52.4, 9.7, 4), h3.latlng_to_cell(52.4, 10.6, 4)
    >>> m = ShardMap.from_json({"format": "kayou-shards/1", "resolution": 4, "max_eta_s": 60,
    ...     "max_speed_kph": 100, "shards": [
    ...     {"name": "w", "url": "http://127.0.0.1:1", "cells": [west]},
    ...     {"name": "e", "url": "http://127.0.0.1:2", "cells": [east]}]})
    >>> m.owner(52.4, 9.7).name, m.owner(52.4, 10.6).name, m.owner(0.0, 0.0) is None
    ('w', 'e', True)
    """

    def __init__(
        self,
        shards: Sequence[Shard],
        *,
        resolution: int,
        max_eta_s: float,
        max_speed_kph: float,
        move_m: float,
    ) -> None:
        self.shards: tuple[Shard, ...] = tuple(shards)
        self.resolution = resolution
        self.max_eta_s = float(max_eta_s)
        self.max_speed_kph = float(max_speed_kph)
        #: How far a responder may stand from a shard's cells and still be ranked by it.
        self.reach_m = self.max_speed_kph / 3.6 * self.max_eta_s + SNAP_M
        #: How far a responder may drive between two fixes that are both fresh.
        self.move_m = float(move_m)
        self._by_name = {s.name: s for s in self.shards}
        self._owner: dict[int, int] = {c: i for i, s in enumerate(self.shards) for c in s.cells}
        cells = np.fromiter(self._owner, np.uint64, len(self._owner))
        self._cells = cells
        centre = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells.tolist()])
        self._xyz = _unit(centre[:, 0], centre[:, 1])
        self._radius_m = np.array(
            [_circumradius_m(int(c)) for c in cells.tolist()], dtype=np.float64
        )
        self._tree = cKDTree(self._xyz)
        self._row = {int(c): i for i, c in enumerate(cells.tolist())}
        self._reach = self._near_sets(self.reach_m)
        self._notify = self._near_sets(self.reach_m + self.move_m)
        self._outside: dict[int, frozenset[int]] = {}

    @classmethod
    def from_json(
        cls, data: Any, *, source: str = "shard map", position_ttl_s: float = 300.0
    ) -> ShardMap:
        """Validate a parsed shard map (see the module docstring for the format).

        Raises
        ------
        InvalidParameterError
            For a wrong format, a resolution other than 3 or 4, a bad bound or speed, a
            shard without a name, URL or cells, a duplicate name, a cell that is not an H3
            cell of the map's resolution, or a cell two shards own.
        """
        if not isinstance(data, dict) or data.get("format") != SHARD_MAP_FORMAT:
            msg = f"{source}: not a shard map (want a JSON object with format {SHARD_MAP_FORMAT!r})"
            raise _bad(msg, data if not isinstance(data, dict) else data.get("format"))
        res = data.get("resolution")
        if res not in (3, 4) or isinstance(res, bool):
            raise _bad(f"{source}: resolution must be 3 or 4, got {res!r}", res)
        numbers = {}
        for key in ("max_eta_s", "max_speed_kph"):
            value: Any = data.get(key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and value > 0):
                raise _bad(f"{source}: {key} must be a number > 0, got {value!r}", value)
            numbers[key] = float(value)
        rows = data.get("shards")
        if not isinstance(rows, list) or not rows:
            raise _bad(f"{source}: shards must be a non-empty list", rows)
        shards: list[Shard] = []
        owner: dict[int, str] = {}
        for i, row in enumerate(rows):
            shard = _shard(row, i, res, owner, source)
            if any(s.name == shard.name for s in shards):
                raise _bad(f"{source}: two shards are named {shard.name!r}", shard.name)
            shards.append(shard)
        speed_mps = numbers["max_speed_kph"] / 3.6
        return cls(
            shards,
            resolution=res,
            max_eta_s=numbers["max_eta_s"],
            max_speed_kph=numbers["max_speed_kph"],
            move_m=speed_mps * position_ttl_s,
        )

    # --- lookups ----------------------------------------------------------------------

    def shard(self, name: str) -> Shard:
        """The shard of this name (``InvalidParameterError`` naming the known ones)."""
        found = self._by_name.get(name)
        if found is None:
            known = ", ".join(sorted(self._by_name))
            raise _bad(f"no shard named {name!r} in the shard map; known: {known}", name)
        return found

    def cell(self, lat: float, lng: float) -> int:
        """The map-resolution H3 cell of a point (an int)."""
        return int(h3.str_to_int(h3.latlng_to_cell(lat, lng, self.resolution)))

    def owner(self, lat: float, lng: float) -> Shard | None:
        """The shard that owns the point's cell (``None``: outside the map)."""
        i = self._owner.get(self.cell(lat, lng))
        return None if i is None else self.shards[i]

    def notified(self, lat: float, lng: float) -> list[Shard]:
        """Every shard that must hear of a fix here: the owner first, then the others.

        The others hold it in their reach or forget it (it left their reach).
        """
        c = self.cell(lat, lng)
        i = self._owner.get(c)
        if i is None:  # outside the map: only the shards it may have just left
            near = self._outside.get(c)
            if near is None:
                near = self._outside[c] = self._near_cell(c, self.reach_m + self.move_m)
            return [self.shards[j] for j in sorted(near)]
        return [self.shards[i]] + [self.shards[j] for j in sorted(self._notify[c]) if j != i]

    def ticks_for(self, name: str) -> Callable[[float, float], bool]:
        """Whether shard ``name`` times out the offers of an incident at ``(lat, lng)``.

        Each incident's offers expire and are refilled by one shard: the owner of its cell,
        whose ranking is exact there (another shard's reach may lack its responders). An
        incident outside the map (reported to a shard directly) falls to the map's first
        shard. See :meth:`kayou_dispatch.DispatchEngine.serve_shard`.
        """
        i = self.shards.index(self.shard(name))

        def owns(lat: float, lng: float) -> bool:
            return self._owner.get(self.cell(lat, lng), 0) == i

        return owns

    def reach_cells(self, name: str) -> frozenset[int]:
        """The cells whose responders the shard holds: its own plus those within reach."""
        i = self.shards.index(self.shard(name))
        return frozenset(c for c, near in self._reach.items() if i in near)

    def check_covers(self, network: RoadNetwork) -> None:
        """Refuse a map that misses cells of the network, or slower than its roads.

        Raises
        ------
        InvalidParameterError
            When some road node lies in a cell no shard owns (they are listed), or the
            network has a road faster than ``max_speed_kph``.
        """
        vmax_kph = network.max_speed_mps * 3.6
        if vmax_kph > self.max_speed_kph * 1.0001:
            msg = (
                f"the network has roads at {vmax_kph:.1f} km/h, above the shard map's "
                f"max_speed_kph {self.max_speed_kph:g}: shards would not be exact at the border"
            )
            raise _bad(msg, self.max_speed_kph)
        cells = {
            int(h3.str_to_int(h3.latlng_to_cell(la, ln, self.resolution)))
            for la, ln in zip(network.node_lat.tolist(), network.node_lng.tolist(), strict=True)
        }
        missing = sorted(cells - set(self._owner))
        if missing:
            shown = ", ".join(h3.int_to_str(c) for c in missing[:10])
            msg = f"{len(missing)} cells of the road network belong to no shard: {shown}"
            raise _bad(msg, [h3.int_to_str(c) for c in missing])

    def _near_sets(self, distance_m: float) -> dict[int, frozenset[int]]:
        """Per cell: the shards owning a cell whose disc comes within ``distance_m`` of its disc."""
        rmax = float(self._radius_m.max())
        out: dict[int, frozenset[int]] = {}
        owners = np.array([self._owner[int(c)] for c in self._cells.tolist()])
        for i, c in enumerate(self._cells.tolist()):
            limit = distance_m + self._radius_m[i] + rmax
            near = np.asarray(self._tree.query_ball_point(self._xyz[i], _chord(limit)), np.intp)
            gap = _arc_m(np.linalg.norm(self._xyz[near] - self._xyz[i], axis=1))
            ok = near[gap <= distance_m + self._radius_m[i] + self._radius_m[near]]
            out[int(c)] = frozenset(int(o) for o in owners[ok])
        return out

    def _near_cell(self, cell: int, distance_m: float) -> frozenset[int]:
        """The shards owning a cell whose disc comes within ``distance_m`` of this cell's."""
        lat, lng = h3.cell_to_latlng(h3.int_to_str(cell))
        xyz = _unit(np.array([lat]), np.array([lng]))[0]
        r = _circumradius_m(cell)
        limit = distance_m + r + float(self._radius_m.max())
        near = np.asarray(self._tree.query_ball_point(xyz, _chord(limit)), np.intp)
        if near.size == 0:
            return frozenset()
        gap = _arc_m(np.linalg.norm(self._xyz[near] - xyz, axis=1))
        ok = near[gap <= distance_m + r + self._radius_m[near]]
        return frozenset(self._owner[int(c)] for c in self._cells[ok].tolist())

    def __repr__(self) -> str:
        names = ", ".join(f"{s.name}({len(s.cells)})" for s in self.shards)
        return f"ShardMap(res {self.resolution}, max_eta_s {self.max_eta_s:g}: {names})"


def _circumradius_m(cell: int) -> float:
    """The furthest any point of the cell is from its centre, widened by a small slack."""
    text = h3.int_to_str(cell)
    lat, lng = h3.cell_to_latlng(text)
    ring = np.array(h3.cell_to_boundary(text))
    xyz = _unit(ring[:, 0], ring[:, 1])
    centre = _unit(np.array([lat]), np.array([lng]))[0]
    return float(_arc_m(np.linalg.norm(xyz - centre, axis=1)).max()) * _SLACK


def _shard(row: Any, i: int, res: int, owner: dict[int, str], source: str) -> Shard:
    if not isinstance(row, dict):
        raise _bad(f"{source}: shards[{i}] must be an object", row)
    name = row.get("name")
    if not isinstance(name, str) or not name or len(name) > 64 or "}" in name or "{" in name:
        raise _bad(f"{source}: shards[{i}].name must be 1-64 characters without braces", name)
    url: Any = row.get("url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _bad(f"{source}: shard {name!r}: url must be http(s)://host:port, got {url!r}", url)
    texts = row.get("cells")
    if not isinstance(texts, list) or not texts:
        raise _bad(f"{source}: shard {name!r} has no cells (give a non-empty list)", texts)
    cells: set[int] = set()
    for text in texts:
        if not (isinstance(text, str) and h3.is_valid_cell(text)):
            raise _bad(f"{source}: shard {name!r}: {text!r} is not an H3 cell", text)
        if h3.get_resolution(text) != res:
            msg = (
                f"{source}: shard {name!r}: cell {text} has resolution "
                f"{h3.get_resolution(text)}, the map's is {res}"
            )
            raise _bad(msg, text)
        c = int(h3.str_to_int(text))
        if c in owner and owner[c] != name:
            msg = f"{source}: cell {text} is owned by both {owner[c]!r} and {name!r}"
            raise _bad(msg, text)
        owner[c] = name
        cells.add(c)
    prefix = row.get("redis_prefix", f"kd:{{{name}}}")
    if not isinstance(prefix, str) or not prefix:
        raise _bad(f"{source}: shard {name!r}: redis_prefix must be a non-empty string", prefix)
    return Shard(name=name, url=url.rstrip("/"), cells=frozenset(cells), redis_prefix=prefix)


def load_shard_map(path: str | os.PathLike[str], *, position_ttl_s: float = 300.0) -> ShardMap:
    """Read and validate a ``shards.json`` file (see :mod:`kayou_dispatch.shared.shards`).

    Raises
    ------
    InvalidParameterError
        When the file cannot be read, is not JSON, or is not a valid shard map.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad(f"cannot read shard map {str(path)!r}: {exc}", str(path)) from None
    return ShardMap.from_json(data, source=str(path), position_ttl_s=position_ttl_s)


def clip_network(network: RoadNetwork, cells: Iterable[int], *, margin_m: float) -> RoadNetwork:
    """Keep every road with a point within ``margin_m`` of the given H3 cells.

    An edge is kept when one of its ends lies within ``margin_m`` plus the edge's length of
    a cell (a road is never shorter than the straight line along it), so every road point
    within ``margin_m`` of the cells survives, with both its ends.
    """
    cell_list = sorted(set(cells))
    if not cell_list:
        raise _bad("clip_network needs at least one cell", cell_list)
    centre = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in cell_list])
    radius = max(_circumradius_m(c) for c in cell_list)
    tree = cKDTree(_unit(centre[:, 0], centre[:, 1]))
    a = network.arrays
    chord, _ = tree.query(_unit(a.lat, a.lng))
    # A lower bound on each node's distance to the cells' union.
    gap = np.maximum(_arc_m(np.asarray(chord)) - radius, 0.0)
    keep_edge = np.minimum(gap[a.u], gap[a.v]) <= margin_m + a.length_m
    keep_node = np.zeros(a.n_nodes, dtype=bool)
    keep_node[a.u[keep_edge]] = True
    keep_node[a.v[keep_edge]] = True
    meta = {**a.meta, "clipped_cells": len(cell_list), "clip_margin_m": float(margin_m)}
    kept = a.subset(keep_node, keep_edge, meta=meta)
    return RoadNetwork.from_arrays(kept)


class RegionPositionStore:
    """A position store that holds only fixes inside a shard's reach.

    A fix outside the reach means the responder left it: the responder is forgotten here
    (the next :meth:`catch_up` reports it, so the lifecycle restores an engaged one's status
    when it comes back). Everything else is the wrapped store's.
    """

    def __init__(self, inner: PositionStore, cells: frozenset[int], resolution: int) -> None:
        self._inner = inner
        self._cells = cells
        self._res = resolution
        self._left: list[str] = []

    @property
    def index(self) -> ResponderIndex:
        """The index the wrapped store writes."""
        return self._inner.index

    @property
    def shared(self) -> bool:
        """Whether the wrapped store is shared."""
        return self._inner.shared

    def inside(self, lat: float, lng: float) -> bool:
        """Whether a point lies in the reach (``InvalidCoordinateError`` off the globe)."""
        return self._holds(*validate_latlng(lat, lng))

    def _holds(self, lat: float, lng: float) -> bool:
        """:meth:`inside` for a point already validated."""
        return int(h3.str_to_int(h3.latlng_to_cell(lat, lng, self._res))) in self._cells

    def _leave(self, responder_id: str) -> None:
        if responder_id in self._inner.index:
            self._inner.remove(responder_id)
            self._left.append(responder_id)

    def apply_fix(self, fix: Fix) -> FixRow:
        """Apply one fix inside the reach (the wrapped store's); outside: forget the responder."""
        if self.inside(fix.lat, fix.lng):
            return self._inner.apply_fix(fix)
        self._leave(fix.responder_id)
        return FixRow(fix, math.nan if fix.ts is None else float(fix.ts), applied=False)

    def publish(self, rows: Sequence[FixRow]) -> list[bool]:
        """Publish the rows the reach kept."""
        return self._inner.publish(rows)

    def write(self, fix: Fix) -> bool:
        """Write one fix inside the reach; outside: forget the responder, ``False``."""
        if self.inside(fix.lat, fix.lng):
            return self._inner.write(fix)
        self._leave(fix.responder_id)
        return False

    def update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        ts: float | ArrayLike | None = None,
        headings: ArrayLike | None = None,
    ) -> int:
        """Write the rows inside the reach; forget the responders of the others."""
        la, ln = validate_latlng_array(lats, lngs)
        if len(ids) != la.shape[0]:  # the wrapped store names the mismatch
            return self._inner.update_positions(ids, la, ln, ts=ts, headings=headings)
        rows = zip(la.tolist(), ln.tolist(), strict=True)
        mask = np.fromiter((self._holds(a, b) for a, b in rows), bool, la.shape[0])
        if mask.all():
            return self._inner.update_positions(ids, la, ln, ts=ts, headings=headings)
        id_arr = np.asarray(ids, dtype=object)
        for rid in id_arr[~mask].tolist():
            self._leave(str(rid))
        if not mask.any():
            return 0
        ts_in = ts if ts is None or np.ndim(ts) == 0 else np.asarray(ts)[mask]
        hd_in = None if headings is None else np.asarray(headings)[mask]
        return self._inner.update_positions(
            id_arr[mask].tolist(), la[mask], ln[mask], ts=ts_in, headings=hd_in
        )

    def set_status(self, responder_id: str, status: Status) -> None:
        """Record a status (the wrapped store's)."""
        self._inner.set_status(responder_id, status)

    def set_capabilities(self, responder_id: str, capabilities: frozenset[str]) -> None:
        """Replace capabilities (the wrapped store's)."""
        self._inner.set_capabilities(responder_id, capabilities)

    def remove(self, responder_id: str) -> None:
        """Forget a responder (the wrapped store's)."""
        self._inner.remove(responder_id)

    def catch_up(self) -> list[str]:
        """What the wrapped store removed, plus the responders that left the reach."""
        left, self._left = self._left, []
        return [*self._inner.catch_up(), *left]

    def close(self) -> None:
        """Release the wrapped store."""
        self._inner.close()
