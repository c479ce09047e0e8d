"""Share responder positions between processes: a Redis hash per responder, H3 cell sets.

Keys (``p`` is the prefix)::

    {p}:r:<responder id>   hash: lat, lng, ts, hd (heading, '' for none), cell, st, caps
    {p}:c:<h3 cell>        set of the responder ids whose last fix is in that cell

Writes run as one Lua script per batch: a row older than the stored fix is skipped (so
out-of-order fixes never overwrite newer ones, whichever process receives them), and a
responder moves between cell sets atomically with its hash. Reads take the cells of a
disk around an incident (their sets' members) plus any named ids, in one round trip.

``st`` holds only what the responder chose (``available`` or ``offline``); the lifecycle
statuses (offered, assigned...) come from the shared command log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
from h3.api import basic_int as h3i
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.shared._client import check_prefix, open_client, redis_errors, where
from kayou_dispatch.spatial.cover import cell_edge_m, disk_cover, rings_for_radius

__all__ = ["check_ids", "PulledRows", "RedisPositions"]

# KEYS: a routing key of the prefix. ARGV: prefix, rows "id\tlat\tlng\tts\thd\tcell\n"...
# (one string: far cheaper for the client to send than six arguments per row).
_WRITE = r"""
local p = ARGV[1]
local applied = {}
local row = "([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\n]*)\n"
for id, lat, lng, ts, hd, cell in string.gmatch(ARGV[2], row) do
  local key = p .. ':r:' .. id
  local old = redis.call('HMGET', key, 'ts', 'cell')
  if old[1] == false or tonumber(old[1]) <= tonumber(ts) then
    if old[1] == false then
      redis.call('HSET', key, 'lat', lat, 'lng', lng, 'ts', ts, 'hd', hd, 'cell', cell,
                 'st', 'available')
    else
      redis.call('HSET', key, 'lat', lat, 'lng', lng, 'ts', ts, 'hd', hd, 'cell', cell)
    end
    if old[2] ~= cell then
      if old[2] then redis.call('SREM', p .. ':c:' .. old[2], id) end
      redis.call('SADD', p .. ':c:' .. cell, id)
    end
    applied[#applied + 1] = 1
  else
    applied[#applied + 1] = 0
  end
end
return applied
"""

# KEYS: routing key. ARGV: prefix, field, then (id, value)... Sets a field of existing hashes.
_SET_FIELD = """
local p, field = ARGV[1], ARGV[2]
local done = {}
for i = 3, #ARGV, 2 do
  local key = p .. ':r:' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, field, ARGV[i + 1])
    done[#done + 1] = 1
  else
    done[#done + 1] = 0
  end
end
return done
"""

# KEYS: routing key. ARGV: prefix, number of cells, cells..., ids...
_PULL = """
local p, ncells = ARGV[1], tonumber(ARGV[2])
local seen, out = {}, {}
local function add(id)
  if seen[id] then return end
  seen[id] = true
  local v = redis.call('HMGET', p .. ':r:' .. id, 'lat', 'lng', 'ts', 'hd', 'st', 'caps')
  if v[1] then
    out[#out + 1] = id
    for j = 1, 6 do out[#out + 1] = v[j] or '' end
  end
end
for i = 3, 2 + ncells do
  for _, id in ipairs(redis.call('SMEMBERS', p .. ':c:' .. ARGV[i])) do add(id) end
end
for i = 3 + ncells, #ARGV do add(ARGV[i]) end
return out
"""


@dataclass(frozen=True, slots=True)
class PulledRows:
    """Responders read from Redis (parallel arrays)."""

    ids: list[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    ts: NDArray[np.float64]
    heading: NDArray[np.float64]
    status: list[str]
    capabilities: list[frozenset[str]]

    def __len__(self) -> int:
        return len(self.ids)


def check_ids(ids: Iterable[str]) -> None:
    """Refuse responder ids the shared store cannot hold (tabs, newlines)."""
    for rid in ids:
        if not isinstance(rid, str) or "\t" in rid or "\n" in rid:
            msg = f"a shared responder id must be a string without tabs or newlines: {rid!r}"
            raise InvalidParameterError(msg, name="responder_id", value=rid)


class RedisPositions:
    """Responder positions, statuses and capabilities shared through Redis.

    Parameters
    ----------
    redis
        A ``redis://`` URL or a ``redis.Redis`` client.
    prefix
        Key prefix (one per dispatch state / shard).
    cell_resolution
        H3 resolution of the cell sets (7: ~5 km² cells; a 10 km disk is ~60 sets).

    Raises
    ------
    InvalidParameterError
        For a bad URL, prefix or resolution.
    """

    def __init__(self, redis: Any, *, prefix: str = "kd", cell_resolution: int = 7) -> None:
        self._r = open_client(redis)
        self.prefix = check_prefix(prefix)
        if isinstance(cell_resolution, bool) or cell_resolution not in range(3, 11):
            msg = f"cell_resolution must be an int from 3 to 10, got {cell_resolution!r}"
            raise InvalidParameterError(msg, name="cell_resolution", value=cell_resolution)
        self.cell_resolution = int(cell_resolution)
        self._route = [f"{prefix}:log"]
        self._write = self._r.register_script(_WRITE)
        self._set_field = self._r.register_script(_SET_FIELD)
        self._pull = self._r.register_script(_PULL)

    @property
    def store(self) -> str:
        """The Redis server, for messages (no password)."""
        return where(self._r)

    def write(
        self,
        ids: Sequence[str],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        ts: NDArray[np.float64],
        headings: NDArray[np.float64] | None = None,
    ) -> NDArray[np.bool_]:
        """Store validated fixes; return which rows were applied (not older than stored).

        Rows are applied in order, so a later row of the same id wins on equal ``ts``.
        """
        n = len(ids)
        if n == 0:
            return np.zeros(0, dtype=bool)
        check_ids(ids)
        res = self.cell_resolution
        la, ln, t = lats.tolist(), lngs.tolist(), ts.tolist()
        hd = (
            [""] * n if headings is None else ["" if h != h else repr(h) for h in headings.tolist()]
        )
        cells = [h3.latlng_to_cell(a, b, res) for a, b in zip(la, ln, strict=True)]
        rows = zip(ids, la, ln, t, hd, cells, strict=True)
        body = "".join(f"{i}\t{a!r}\t{b!r}\t{c!r}\t{h}\t{e}\n" for i, a, b, c, h, e in rows)
        with redis_errors(self._r, "storing positions"):
            applied = self._write(keys=self._route, args=[self.prefix, body])
        return np.asarray(applied, dtype=np.int64).astype(bool)

    def _set(self, field: str, pairs: Iterable[tuple[str, str]]) -> list[bool]:
        args = [self.prefix, field]
        for rid, value in pairs:
            args += [rid, value]
        with redis_errors(self._r, f"storing {field}"):
            done = self._set_field(keys=self._route, args=args)
        return [bool(d) for d in done]

    def set_status(self, responder_id: str, status: str) -> bool:
        """Store a responder's chosen status; ``False`` when Redis has no such responder."""
        return self._set("st", [(responder_id, status)])[0]

    def set_capabilities(self, responder_id: str, capabilities: Iterable[str]) -> bool:
        """Store a responder's capabilities; ``False`` when Redis has no such responder."""
        return self._set("caps", [(responder_id, ",".join(sorted(capabilities)))])[0]

    def cells_within(self, lat: float, lng: float, radius_m: float) -> list[str]:
        """The cells (at :attr:`cell_resolution`) that hold every point within ``radius_m``."""
        res = self.cell_resolution
        cell = h3i.latlng_to_cell(lat, lng, res)
        k = rings_for_radius(radius_m, cell_edge_m(cell))
        cover = disk_cover(lat, lng, cell, k, res)
        disk = cover.cells if cover is not None else h3i.grid_disk(cell, 2 * k + 2)
        return [h3i.int_to_str(c) for c in disk]

    def pull(
        self,
        *,
        near: tuple[float, float, float] | None = None,
        ids: Iterable[str] = (),
    ) -> PulledRows:
        """Read the responders within ``near = (lat, lng, radius_m)`` and those named.

        "Within" is by cell: every responder whose stored fix is closer than the radius is
        returned (some a little farther may be too).
        """
        cells = [] if near is None else self.cells_within(*near)
        args = [self.prefix, str(len(cells)), *cells, *ids]
        with redis_errors(self._r, "reading positions"):
            flat = self._pull(keys=self._route, args=args)
        if not flat:
            return PulledRows([], *(np.zeros(0),) * 4, [], [])
        cols = [flat[j::7] for j in range(7)]

        def floats(col: list[bytes]) -> NDArray[np.float64]:
            return np.array([float(x) if x else math.nan for x in col], dtype=np.float64)

        return PulledRows(
            ids=[x.decode() for x in cols[0]],
            lat=floats(cols[1]),
            lng=floats(cols[2]),
            ts=floats(cols[3]),
            heading=floats(cols[4]),
            status=[x.decode() or "available" for x in cols[5]],
            capabilities=[frozenset(c for c in x.decode().split(",") if c) for x in cols[6]],
        )

    def count(self) -> int:
        """Number of responders stored (scans keys: for tests and sizing, not hot paths)."""
        with redis_errors(self._r, "counting responders"):
            return sum(1 for _ in self._r.scan_iter(match=f"{self.prefix}:r:*", count=10_000))

    def close(self) -> None:
        """Close the client's connections."""
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisPositions({self.store!r}, prefix={self.prefix!r})"
