"""Share responder positions between processes: a Redis hash per responder, H3 cell sets.

Keys (``p`` is the prefix)::

    {p}:r:<responder id>   hash: lat, lng, ts, hd (heading, '' for none), sp (speed_kph, '' for
                           none), cell, st, caps (a JSON array of strings)
    {p}:c:<h3 cell>        set of the responder ids whose last fix is in that cell
    {p}:pos                stream of applied changes (capped), for processes to follow:
                           ``p`` rows "id\tlat\tlng\tts\thd\n"..., or ``m`` (id), ``st``,
                           ``caps`` for a status / capability change; ``w`` the writer

Writes run as one Lua script per batch: a row older than the stored fix is skipped (so
out-of-order fixes never overwrite newer ones, whichever process receives them), a
responder moves between cell sets atomically with its hash, and the rows applied are
appended to ``{p}:pos`` as one entry. A process mirrors the state by loading every hash
once (:meth:`RedisPositions.snapshot`) and then following the stream
(:meth:`RedisPositions.changes`). Area reads (:meth:`RedisPositions.pull`) take the cell
sets of a disk around a point, in one round trip: for incidents near another shard.

``st`` holds only what the responder chose (``available`` or ``offline``); the lifecycle
statuses (offered, assigned...) come from the shared command log.

The encoding is total over what the library accepts: ids hold no TAB or newline (the
index refuses them), floats are written with ``repr`` (read back bit-identical), and
capabilities -- any non-empty strings, commas and TABs included -- travel as a JSON array
in fields of their own. Whatever does not decode (an entry some other writer put there, a
corrupt hash) is skipped with a logged error, so a follower's cursor always moves on.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from h3.api import basic_int as h3i
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.shared._client import open_client, prefix_for, redis_errors, where
from kayou_dispatch.spatial.cover import cell_edge_m, disk_cover, rings_for_radius
from kayou_dispatch.spatial.index import _latlng_to_cell
from kayou_dispatch.spatial.responders import MAX_ID_CHARS, check_responder_id

_log = logging.getLogger(__name__)

__all__ = [
    "check_ids",
    "decode_capabilities",
    "encode_capabilities",
    "Fixes",
    "Meta",
    "PulledRows",
    "RedisPositions",
    "Removed",
]

# KEYS: changes stream. ARGV: prefix, rows "id\tlat\tlng\tts\thd\tsp\tcell\n"..., stream cap,
# writer (so a process can skip its own changes, already in its index).
# (one string: far cheaper for the client to send than six arguments per row).
_WRITE = r"""
local p = ARGV[1]
local applied, changed = {}, {}
local row = "([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\n]*)\n"
for id, lat, lng, ts, hd, sp, cell in string.gmatch(ARGV[2], row) do
  local key = p .. ':r:' .. id
  local old = redis.call('HMGET', key, 'ts', 'cell')
  if old[1] == false or tonumber(old[1]) <= tonumber(ts) then
    if old[1] == false then
      redis.call('HSET', key, 'lat', lat, 'lng', lng, 'ts', ts, 'hd', hd, 'sp', sp,
                 'cell', cell, 'st', 'available')
    else
      redis.call('HSET', key, 'lat', lat, 'lng', lng, 'ts', ts, 'hd', hd, 'sp', sp,
                 'cell', cell)
    end
    if old[2] ~= cell then
      if old[2] then redis.call('SREM', p .. ':c:' .. old[2], id) end
      redis.call('SADD', p .. ':c:' .. cell, id)
    end
    applied[#applied + 1] = 1
    changed[#changed + 1] = id .. '\t' .. lat .. '\t' .. lng .. '\t' .. ts .. '\t' .. hd .. '\t'
                            .. sp .. '\n'
  else
    applied[#applied + 1] = 0
  end
end
if #changed > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'p', table.concat(changed),
             'w', ARGV[4])
end
return applied
"""

# KEYS: changes stream. ARGV: prefix, field, id, value, stream cap, writer. Sets a field of an
# existing hash (1) or nothing (0); a change is announced with the id, status and
# capabilities each in a field of its own (so no value can be split differently).
_SET_FIELD = r"""
local key = ARGV[1] .. ':r:' .. ARGV[3]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, ARGV[2], ARGV[4])
local v = redis.call('HMGET', key, 'st', 'caps')
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'm', ARGV[3],
           'st', v[1] or '', 'caps', v[2] or '', 'w', ARGV[6])
return 1
"""

# KEYS: changes stream. ARGV: prefix, id, stream cap, writer. Forgets a responder (1) or
# nothing (0); announced as "x": id, "t": the ts of the fix forgotten (a process holding a
# newer fix of it keeps that one).
_REMOVE = r"""
local key = ARGV[1] .. ':r:' .. ARGV[2]
local old = redis.call('HMGET', key, 'cell', 'ts')
if not old[1] then return 0 end
redis.call('SREM', ARGV[1] .. ':c:' .. old[1], ARGV[2])
redis.call('DEL', key)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'x', ARGV[2], 't', old[2],
           'w', ARGV[4])
return 1
"""

# KEYS: routing key. ARGV: prefix, number of cells, cells..., ids...
_PULL = """
local p, ncells = ARGV[1], tonumber(ARGV[2])
local seen, out = {}, {}
local function add(id)
  if seen[id] then return end
  seen[id] = true
  local v = redis.call('HMGET', p .. ':r:' .. id, 'lat', 'lng', 'ts', 'hd', 'sp', 'st', 'caps')
  if v[1] then
    out[#out + 1] = id
    for j = 1, 7 do out[#out + 1] = v[j] or '' end
  end
end
for i = 3, 2 + ncells do
  for _, id in ipairs(redis.call('SMEMBERS', p .. ':c:' .. ARGV[i])) do add(id) end
end
for i = 3 + ncells, #ARGV do add(ARGV[i]) end
return out
"""


@dataclass(frozen=True, slots=True)
class Fixes:
    """Position fixes (parallel arrays); heading and speed NaN where none."""

    ids: list[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    ts: NDArray[np.float64]
    heading: NDArray[np.float64]
    speed_kph: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class PulledRows:
    """Responders read from Redis: their fixes, chosen statuses and capabilities."""

    fixes: Fixes
    status: list[str]
    capabilities: list[frozenset[str]]

    def __len__(self) -> int:
        return len(self.fixes)


@dataclass(frozen=True, slots=True)
class Meta:
    """A responder's chosen status and capabilities changed."""

    responder_id: str
    status: str
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Removed:
    """A responder was forgotten, with the time of its last fix then."""

    responder_id: str
    ts: float


def check_ids(ids: Iterable[str]) -> None:
    """Refuse responder ids the shared store cannot hold (see :func:`check_responder_id`)."""
    for rid in ids:
        check_responder_id(rid)


def encode_capabilities(capabilities: Iterable[str]) -> str:
    """Capabilities as stored in Redis: a sorted JSON array (any string survives it).

    Examples
    --------
    >>> encode_capabilities({"tow", "a,b"})
    '["a,b","tow"]'
    >>> sorted(decode_capabilities('["a,b","tow"]'))
    ['a,b', 'tow']
    """
    return json.dumps(sorted(capabilities), separators=(",", ":"))


def decode_capabilities(text: str) -> frozenset[str]:
    """Read :func:`encode_capabilities`'s form (and the older comma-joined one).

    Raises
    ------
    ValueError
        When ``text`` is neither (the caller skips what it cannot read).
    """
    if not text.startswith("["):
        return frozenset(c for c in text.split(",") if c)  # written by an older release
    caps = json.loads(text)
    if type(caps) is not list or not all(type(c) is str and c for c in caps):
        raise ValueError(f"not a list of capability strings: {text[:80]!r}")
    return frozenset(caps)


_Row = tuple[str, float, float, float, float, float]


def _number(text: str) -> float:
    return float(text) if text else math.nan


def _fix_row(
    rid: str, lat: str, lng: str, ts: str, hd: str, sp: str = ""
) -> tuple[float, float, float, float, float]:
    """One stored fix as floats; ``ValueError`` unless it is one the library would accept."""
    la, ln, t, h, v = float(lat), float(lng), float(ts), _number(hd), _number(sp)
    if not (rid and -90.0 <= la <= 90.0 and -180.0 <= ln <= 180.0 and math.isfinite(t)):
        raise ValueError(f"not a valid fix: {rid!r} {lat!r} {lng!r} {ts!r}")
    if math.isinf(h) or math.isinf(v) or v < 0.0:
        raise ValueError(f"not a valid heading or speed: {hd!r} {sp!r}")
    return la, ln, t, h, v


def _fields(line: str) -> list[str]:
    # "id\tlat\tlng\tts\thd\tsp"; entries written before speeds have no sp.
    row = line.split("\t")
    return [*row, ""] if len(row) == 5 else row


def _parse_fix_entry(body: bytes) -> list[_Row]:
    """The rows of one ``p`` entry; ``ValueError`` (or ``UnicodeDecodeError``) if any is bad."""
    rows = []
    for line in body.decode().split("\n"):
        if line:
            rid, lat, lng, ts, hd, sp = _fields(line)
            rows.append((check_responder_id(rid), *_fix_row(rid, lat, lng, ts, hd, sp)))
    return rows


def _fixes(rows: list[_Row]) -> Fixes:
    ids, lat, lng, ts, hd, sp = zip(*rows, strict=True) if rows else ((),) * 6
    col = lambda c: np.array(c, dtype=np.float64)  # noqa: E731
    return Fixes(list(ids), col(lat), col(lng), col(ts), col(hd), col(sp))


def _column(values: Sequence[str]) -> NDArray[np.float64]:
    return np.array([float(x) if x else math.nan for x in values], dtype=np.float64)


def _parse_fix_entries(entries: list[tuple[Any, bytes]]) -> Fixes:
    """Consecutive ``p`` entries as one batch; an entry with any bad row is skipped whole.

    The common case (everything valid) parses all entries at once and checks them with
    array tests; only when that fails is each entry parsed on its own, to find the bad.
    """
    try:
        text = b"".join(body for _, body in entries).decode()
        if "\r" in text or text.startswith("\t") or "\n\t" in text:
            raise ValueError("an id with a carriage return, or an empty id")
        rows = [_fields(line) for line in text.split("\n") if line]
        ids, lat, lng, ts, hd, sp = zip(*rows, strict=True) if rows else ((),) * 6
        fixes = Fixes(
            list(ids), _column(lat), _column(lng), _column(ts), _column(hd), _column(sp)
        )
        ok = (
            (np.abs(fixes.lat) <= 90.0)
            & (np.abs(fixes.lng) <= 180.0)
            & np.isfinite(fixes.ts)
            & ~np.isinf(fixes.heading)
            & ~np.isinf(fixes.speed_kph)
            & ~(fixes.speed_kph < 0.0)
        )
        if ok.all() and (not ids or max(map(len, ids)) <= MAX_ID_CHARS):
            return fixes
    except ValueError:  # a field count or number that is off; UnicodeDecodeError too
        pass
    good: list[_Row] = []
    for entry_id, body in entries:
        try:
            good.extend(_parse_fix_entry(body))
        except ValueError as exc:
            _skipped("position change", entry_id, exc)
    return _fixes(good)


def _meta(fields: dict[bytes, bytes]) -> Meta:
    """A status / capability change entry; ``ValueError`` when it is not one."""
    rid = fields[b"m"].decode()
    if b"st" not in fields:  # written by an older release: "id\tst\tcaps"
        rid, st, caps = rid.split("\t")
        return Meta(check_responder_id(rid), st, decode_capabilities(caps))
    st, caps = fields[b"st"].decode(), fields[b"caps"].decode()
    return Meta(check_responder_id(rid), st, decode_capabilities(caps))


def _removed(fields: dict[bytes, bytes]) -> Removed:
    """A removal entry; ``ValueError`` when it is not one."""
    return Removed(check_responder_id(fields[b"x"].decode()), float(fields.get(b"t") or "inf"))


def _skipped(what: str, entry_id: Any, exc: BaseException) -> None:
    _log.error("skipped an undecodable %s %s: %s: %s", what, entry_id, type(exc).__name__, exc)


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
    stream_cap
        About how many change entries ``{prefix}:pos`` keeps (one per write call); a
        follower further behind than that reloads everything.

    Raises
    ------
    InvalidParameterError
        For a bad URL, prefix, resolution or cap.
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "kd",
        cell_resolution: int = 7,
        stream_cap: int = 10_000,
    ) -> None:
        self._r = open_client(redis)
        self.prefix = prefix = prefix_for(self._r, prefix)
        if isinstance(cell_resolution, bool) or cell_resolution not in range(3, 11):
            msg = f"cell_resolution must be an int from 3 to 10, got {cell_resolution!r}"
            raise InvalidParameterError(msg, name="cell_resolution", value=cell_resolution)
        if isinstance(stream_cap, bool) or not isinstance(stream_cap, int) or stream_cap < 100:
            msg = f"stream_cap must be an int >= 100, got {stream_cap!r}"
            raise InvalidParameterError(msg, name="stream_cap", value=stream_cap)
        self.cell_resolution = int(cell_resolution)
        self.stream_key = f"{prefix}:pos"
        self._cap = str(stream_cap)
        self.writer = secrets.token_hex(8).encode()  # marks this client's own changes
        self._write = self._r.register_script(_WRITE)
        self._set_field = self._r.register_script(_SET_FIELD)
        self._pull = self._r.register_script(_PULL)
        self._remove = self._r.register_script(_REMOVE)

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
        speeds_kph: NDArray[np.float64] | None = None,
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
        hd = [""] * n
        if headings is not None:
            hd = ["" if h != h else repr(h) for h in headings.tolist()]  # NaN: none
        sp = [""] * n
        if speeds_kph is not None:
            sp = ["" if v != v else repr(v) for v in speeds_kph.tolist()]
        cells = map(_latlng_to_cell, la, ln, repeat(res))
        rows = zip(ids, la, ln, t, hd, sp, cells, strict=True)
        body = "".join(
            f"{i}\t{a!r}\t{b!r}\t{c!r}\t{h}\t{v}\t{e:x}\n" for i, a, b, c, h, v, e in rows
        )
        args: list[str | bytes] = [self.prefix, body, self._cap, self.writer]
        with redis_errors(self._r, "storing positions"):
            applied = self._write(keys=[self.stream_key], args=args)
        return np.asarray(applied, dtype=np.int64).astype(bool)

    def _set(self, field: str, responder_id: str, value: str) -> bool:
        args: list[str | bytes] = [self.prefix, field, responder_id, value, self._cap, self.writer]
        with redis_errors(self._r, f"storing {field}"):
            return bool(self._set_field(keys=[self.stream_key], args=args))

    def set_status(self, responder_id: str, status: str) -> bool:
        """Store a responder's chosen status; ``False`` when Redis has no such responder."""
        return self._set("st", responder_id, status)

    def set_capabilities(self, responder_id: str, capabilities: Iterable[str]) -> bool:
        """Store a responder's capabilities; ``False`` when Redis has no such responder."""
        return self._set("caps", responder_id, encode_capabilities(capabilities))

    def remove(self, responder_id: str) -> bool:
        """Forget a responder everywhere; ``False`` when Redis has no such responder."""
        check_ids([responder_id])
        args: list[str | bytes] = [self.prefix, responder_id, self._cap, self.writer]
        with redis_errors(self._r, "removing a responder"):
            return bool(self._remove(keys=[self.stream_key], args=args))

    def tip(self) -> str:
        """Id of the newest change entry ('' when there is none)."""
        with redis_errors(self._r, "reading the position stream"):
            last: Any = self._r.xrevrange(self.stream_key, count=1)
        return last[0][0].decode() if last else ""

    def changes(
        self, after: str, count: int = 500
    ) -> tuple[list[Fixes | Meta | Removed], str, bool, bool]:
        """Changes other clients wrote after entry ``after``, at most ``count`` entries.

        Removals come back to their writer too: a process that removed a responder it had
        not loaded yet forgets it once the older fixes before the removal are applied.
        Returns ``(changes, new cursor, more, gap)``: consecutive fixes come as one
        :class:`Fixes` batch; ``more`` when there may be further entries; ``gap`` when entry
        ``after`` is gone (trimmed, or Redis lost data), so the caller missed changes and
        must reload (:meth:`snapshot`).
        """
        lo = after or "-"
        with redis_errors(self._r, "reading the position stream"):
            entries: list[Any] = (
                self._r.xrange(self.stream_key, min=lo, max="+", count=count + 1) or []
            )
        if after:
            if not entries or entries[0][0].decode() != after:
                return [], after, False, True
            entries = entries[1:]
        out: list[Fixes | Meta | Removed] = []
        bodies: list[tuple[Any, bytes]] = []  # consecutive fixes are applied as one batch
        for entry_id, fields in entries:
            if fields.get(b"w") == self.writer and b"x" not in fields:
                continue  # this client's own change: its process applied it already
            if b"p" in fields:
                bodies.append((entry_id, fields[b"p"]))
                continue
            try:
                change: Meta | Removed = _removed(fields) if b"x" in fields else _meta(fields)
            except (ValueError, KeyError) as exc:  # UnicodeDecodeError is a ValueError
                _skipped("position change", entry_id, exc)
                continue
            if bodies:
                out.append(_parse_fix_entries(bodies))
                bodies = []
            out.append(change)
        if bodies:
            out.append(_parse_fix_entries(bodies))
        cursor = entries[-1][0].decode() if entries else after
        return out, cursor, len(entries) >= count, False

    def snapshot(self, batch: int = 5_000) -> Iterator[PulledRows]:
        """Every responder stored, in batches (a process's start-up load)."""
        head = len(self.prefix) + 3
        with redis_errors(self._r, "loading every responder"):
            keys: list[str] = []
            for key in self._r.scan_iter(match=f"{self.prefix}:r:*", count=batch):
                keys.append(key.decode()[head:])
                if len(keys) == batch:
                    yield self.pull(ids=keys)
                    keys = []
            if keys:
                yield self.pull(ids=keys)

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
        returned (some a little farther may be too). For areas a process does not follow,
        e.g. the neighbouring shard's side of an incident near a border.
        """
        cells = [] if near is None else self.cells_within(*near)
        args = [self.prefix, str(len(cells)), *cells, *ids]
        with redis_errors(self._r, "reading positions"):
            flat = self._pull(keys=[self.stream_key], args=args)
        rows: list[_Row] = []
        status: list[str] = []
        capabilities: list[frozenset[str]] = []
        for j in range(0, len(flat) - 7, 8):
            try:
                rid, lat, lng, ts, hd, sp, st, caps = (x.decode() for x in flat[j : j + 8])
                row = (check_responder_id(rid), *_fix_row(rid, lat, lng, ts, hd, sp))
                cap_set = decode_capabilities(caps)
            except (ValueError, KeyError) as exc:
                _skipped("responder hash", flat[j], exc)
                continue
            rows.append(row)
            status.append(st or "available")
            capabilities.append(cap_set)
        return PulledRows(_fixes(rows), status, capabilities)

    def count(self) -> int:
        """Number of responders stored (scans keys: for tests and sizing, not hot paths)."""
        with redis_errors(self._r, "counting responders"):
            return sum(1 for _ in self._r.scan_iter(match=f"{self.prefix}:r:*", count=10_000))

    def close(self) -> None:
        """Close the client's connections."""
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisPositions({self.store!r}, prefix={self.prefix!r})"
