"""Index responder positions in an H3 grid for fast, exact proximity queries.

Positions live in columnar numpy arrays (one slot per responder); the slots of each H3 cell
come out of :class:`~kayou_dispatch.spatial._cells.CellBuckets` (two sorted arrays and a log of
moves, folded in bulk). Queries re-check every candidate's current position exactly.

Why this file is long (over 600 lines): :class:`ResponderIndex` is the one owner of the
per-slot columns and of the lock that guards them; every read and write of a responder's
state (fixes one and in bulk, status, capabilities, removal, the proximity queries and the
ranking's slot gathers) must take that lock and keep the columns, the buckets and the
watchers consistent together, so they live in one class. Its public methods carry numpydoc
and doctests; the bucket structure, parsing and validation are already in their own modules.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat, starmap
from typing import Any

import numpy as np
from h3.api import basic_int as h3i
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch._compat import keyword_only
from kayou_dispatch.errors import InvalidParameterError, UnknownResponderError
from kayou_dispatch.geo import haversine_m_array, validate_latlng, validate_latlng_array
from kayou_dispatch.spatial._cells import CellBuckets
from kayou_dispatch.spatial._ids import IdTable
from kayou_dispatch.spatial.cover import cell_edge_m, cell_inscribed, disk_cover, rings_for_radius
from kayou_dispatch.spatial.responders import (
    CODE_BY_STATUS,
    MAX_ID_CHARS,
    STATUS_BY_CODE,
    Neighbor,
    Responder,
    Status,
    check_responder_id,
    checked_clock,
    parse_capabilities,
    parse_status,
)

__all__ = ["ResponderIndex", "Snapshot"]

_AVAILABLE = CODE_BY_STATUS[Status.AVAILABLE]
_EMPTY: frozenset[str] = frozenset()

try:  # h3's compiled core: the same function as the public API, one call layer less
    from h3._cy import latlng_to_cell as _latlng_to_cell
except ImportError:  # pragma: no cover - layout of another h3 release
    _latlng_to_cell = h3i.latlng_to_cell

# Per-slot columns: dtype and the value of an empty slot. ``cell`` 0 is no H3 cell, so a
# new slot's first position always files it; ``crad`` -1 disables the stay-in-cell test.
# The cell's inscribed circle (clat, clng, crad, and ccos: metres per degree of longitude
# there) only decides whether a fix may skip the H3 call, so it is kept in float32, its
# radius shortened by what that rounding can move the centre (see _caps32).
_M_PER_DEG = math.radians(1.0) * 6_371_008.8
_COLUMNS: dict[str, tuple[Any, Any]] = {
    "lat": (np.float64, 0.0),
    "lng": (np.float64, 0.0),
    "ts": (np.float64, -np.inf),
    "heading": (np.float64, np.nan),
    "speed": (np.float64, np.nan),
    "cell": (np.int64, 0),
    "clat": (np.float32, 0.0),
    "clng": (np.float32, 0.0),
    "crad": (np.float32, -1.0),
    "ccos": (np.float32, 0.0),
    "status": (np.int8, _AVAILABLE),
    "alive": (np.bool_, False),
    # Bumped (wrapping round) when a freed slot is given to another responder; read as int64.
    "epoch": (np.uint32, 0),
}
# A float32 centre is within half a unit in the last place of the float64 one: 2**-18
# degrees of latitude (0.42 m), 2**-17 of longitude (0.85 m at most); with ccos's own
# rounding (relative 2**-24), under 0.95 m in the plane. The radius is shortened by this.
_CAP_MARGIN_M = 1.0


def _caps32(
    clat: NDArray[np.float64], clng: NDArray[np.float64], crad: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Inscribed circles as stored: float32 centre and ccos, and a radius that stays inside.

    The stored radius is at most ``crad - _CAP_MARGIN_M`` (see :func:`_short_radius`): a
    point within it of the stored centre is within ``crad`` of the exact one, so in the
    cell (a tiny cell's radius goes negative: its fixes always call H3).
    """
    ccos = (np.cos(np.radians(clat)) * _M_PER_DEG).astype(np.float32)
    rad = _short_radius(crad).astype(np.float32)
    return clat.astype(np.float32), clng.astype(np.float32), rad, ccos


def _short_radius(crad: Any) -> Any:
    # crad - _CAP_MARGIN_M, less one part in 2**23: its nearest float32 is never above it
    # (rounding moves a float32 by at most one part in 2**24).
    short = crad - _CAP_MARGIN_M
    return short - abs(short) * 2.0**-23


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every responder of an index at one moment (parallel arrays; see ``snapshot``)."""

    ids: list[str]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    ts: NDArray[np.float64]
    fresh: NDArray[np.bool_]
    status: NDArray[np.int8]  #: codes: ``STATUS_BY_CODE[code]``

    def statuses(self) -> list[Status]:
        """The statuses as :class:`Status` values."""
        return [STATUS_BY_CODE[c] for c in self.status.tolist()]


def _check_id(responder_id: Any) -> str:
    return check_responder_id(responder_id)


def _check_number(
    name: str, value: Any, *, low: float = -math.inf, high: float = math.inf
) -> float:
    # Strict: a boolean or a string is not a number, even where float() would take it.
    if type(value) is float:
        x = value
    elif isinstance(value, bool | np.bool_ | str | bytes):
        x = math.nan
    else:
        x = _as_float(value)
    if not (low <= x <= high and math.isfinite(x)):
        bound = "" if low == -math.inf else f" and >= {low:g}"
        bound += "" if high == math.inf else f" and <= {high:g}"
        msg = f"{name} must be a finite number{bound}, got {value!r:.80}"
        raise InvalidParameterError(msg, name=name, value=value)
    return x


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _plain_ids(ids: list[str]) -> bool:
    """Whether every id passes :func:`check_responder_id` (C-level scans, for bulk inserts)."""
    joined = "".join(ids)
    if "\t" in joined or "\n" in joined or "\r" in joined:
        return False
    lengths = list(map(len, ids))
    if min(lengths) < 1 or max(lengths) > MAX_ID_CHARS:
        return False
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _has_bool(value: Any) -> bool:
    """Whether a list or tuple holds a boolean (numpy would read it as 0 or 1)."""
    return isinstance(value, list | tuple) and bool in set(map(type, value))


#: Largest heading magnitude accepted, degrees (two turns either way).
MAX_HEADING = 720.0

#: Largest speed a fix may report, km/h (as the HTTP API).
MAX_SPEED_KPH = 1000.0




def _in_cap_box(
    lats: NDArray[np.float64], lngs: NDArray[np.float64], lat: float, lng: float, radius_m: float
) -> NDArray[np.bool_]:
    """Cheap superset test: points that may lie within ``radius_m`` of (lat, lng).

    Uses the exact latitude/longitude extent of a spherical cap (widened by a hair for
    rounding), so no point inside the cap is ever dropped.
    """
    r = radius_m / 6_371_008.8
    dlat = math.degrees(r) * 1.000001 + 1e-9
    ok = np.abs(lats - lat) <= dlat
    s = math.sin(r) / max(math.cos(math.radians(lat)), 1e-300)
    if r < math.pi / 2 and s < 1.0:  # the cap does not reach a pole
        dlng = math.degrees(math.asin(s)) * 1.000001 + 1e-9
        ok &= np.abs((lngs - lng + 540.0) % 360.0 - 180.0) <= dlng
    return ok


class ResponderIndex:
    """Responder positions in an H3 grid: high-rate updates, staleness, exact queries.

    Parameters
    ----------
    resolution
        H3 resolution of the buckets (0-15). The default 8 (cells ~0.74 km²) suits
        queries of a few hundred metres to tens of kilometres.
    position_ttl_s
        A position older than this (by ``clock``) is never returned by a query.
    clock
        Returns the current time in seconds; injected so simulations and tests control
        time. Timestamps given to updates must use the same clock. A reading that is not a
        finite number raises :class:`InvalidParameterError` where it is read.
    max_clock_skew_s
        How far ahead of ``clock()`` a fix's ``ts`` may be (a phone's clock runs a little
        fast); a later one is refused -- it would win over every real fix until then.
        ``math.inf``: no limit.

    Notes
    -----
    Thread-safe: every public method holds one re-entrant lock, so concurrent updates
    and queries from many threads see a consistent index.

    Examples
    --------
    >>> index = ResponderIndex(clock=lambda: 1000.0)
    >>> index.update_position("r1", 22.7196, 114.2470, capabilities={"tow"})
    True
    >>> index.update_position("r1", 22.0, 114.0, ts=900.0)  # older fix: ignored
    False
    >>> index.nearby(22.72, 114.248, 500.0)
    [Neighbor(responder_id='r1', distance_m=111.79...)]
    """

    def __init__(
        self,
        *,
        resolution: int = 8,
        position_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        max_clock_skew_s: float = 60.0,
    ) -> None:
        if (
            not isinstance(resolution, int)
            or isinstance(resolution, bool)
            or not (0 <= resolution <= 15)
        ):
            msg = f"resolution must be an int in [0, 15], got {resolution!r}"
            raise InvalidParameterError(msg, name="resolution", value=resolution)
        ttl = _check_number("position_ttl_s", position_ttl_s, low=0.0)
        if not callable(clock):
            msg = f"clock must be a callable returning seconds, got {clock!r}"
            raise InvalidParameterError(msg, name="clock", value=clock)
        if isinstance(max_clock_skew_s, bool | str) or not _as_float(max_clock_skew_s) >= 0:
            msg = f"max_clock_skew_s must be seconds >= 0 (inf: no limit), got {max_clock_skew_s!r}"
            raise InvalidParameterError(msg, name="max_clock_skew_s", value=max_clock_skew_s)
        self._res = resolution
        self._ttl = ttl
        self._skew = float(max_clock_skew_s)
        self._clock = checked_clock(clock)
        self._lock = threading.RLock()
        self._ids: list[str | None] = []
        self._slot_of = IdTable(self._ids)  # id -> slot (reads self._ids: never replaced)
        self._caps: list[frozenset[str]] = []
        self._free: list[int] = []
        self._col: dict[str, NDArray[Any]] = {
            name: np.full(1024, fill, dtype=dtype) for name, (dtype, fill) in _COLUMNS.items()
        }
        self._buckets = CellBuckets(self._col["cell"], self._col["alive"])
        # Called (under the lock) with the slots whose position changed: see _watch.
        self._watchers: list[Callable[[NDArray[np.int64]], None]] = []

    # -- properties -------------------------------------------------------------------------

    @property
    def resolution(self) -> int:
        """H3 resolution of the buckets."""
        return self._res

    @property
    def position_ttl_s(self) -> float:
        """Age beyond which a position is stale."""
        return self._ttl

    @property
    def clock(self) -> Callable[[], float]:
        """The injected clock (checked: a reading that is not a finite number raises)."""
        return self._clock

    @property
    def max_clock_skew_s(self) -> float:
        """How far ahead of the clock a fix's ``ts`` may be."""
        return self._skew

    def _check_future(self, ts: float | NDArray[np.float64]) -> None:
        """Refuse timestamps beyond ``clock() + max_clock_skew_s``."""
        if self._skew == math.inf:
            return
        limit = self._clock() + self._skew
        if isinstance(ts, float):  # one fix: no numpy on the hot path
            if ts <= limit:
                return
            ts = np.float64(ts)
        ahead = np.flatnonzero(np.asarray(ts) > limit)
        if ahead.size:
            worst = float(np.max(ts))
            rows = "" if np.ndim(ts) == 0 else f" (rows {ahead[:10].tolist()})"
            msg = (
                f"ts {worst!r} is {worst - limit + self._skew:.6g} s ahead of the clock{rows}; "
                f"at most max_clock_skew_s={self._skew:g} s ahead is allowed"
            )
            raise InvalidParameterError(msg, name="ts", value=worst)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self._slot_of

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(self._slot_of)  # slot order (a snapshot: a list)

    # -- storage ------------------------------------------------------------------------------

    def _alloc(self, new_ids: list[str]) -> NDArray[np.int64]:
        """Give each new id a slot (freed ones first) in its initial state."""
        k = len(new_ids)
        n_reuse = min(k, len(self._free))
        reuse = [self._free.pop() for _ in range(n_reuse)]
        for slot, rid in zip(reuse, new_ids, strict=False):
            self._ids[slot] = rid
            self._caps[slot] = _EMPTY
        first = len(self._ids)
        self._ids.extend(new_ids[n_reuse:])
        self._caps.extend([_EMPTY] * (k - n_reuse))
        cap = self._col["lat"].shape[0]
        if len(self._ids) > cap:
            new_cap = max(len(self._ids), 2 * cap)
            for name, (dtype, fill) in _COLUMNS.items():
                grown = np.full(new_cap, fill, dtype=dtype)
                grown[:cap] = self._col[name]
                self._col[name] = grown
            self._buckets.retarget(self._col["cell"], self._col["alive"])
        if reuse:  # slots past the old end still hold their fill values
            epoch = self._col["epoch"][reuse] + 1
            for name, (_, fill) in _COLUMNS.items():
                self._col[name][reuse] = fill
            self._col["epoch"][reuse] = epoch
        slots = np.concatenate(
            [np.array(reuse, dtype=np.int64), np.arange(first, len(self._ids), dtype=np.int64)]
        )
        self._col["alive"][slots] = True
        if k == 1:
            self._slot_of.add(new_ids[0], int(slots[0]))
        else:
            self._slot_of.add_many(new_ids, slots)
        return slots

    def _slot(self, responder_id: str) -> int:
        try:
            return self._slot_of[responder_id]
        except (KeyError, TypeError):
            msg = f"unknown responder {responder_id!r}: it has sent no position (or was removed)"
            raise UnknownResponderError(msg, responder_id=str(responder_id)) from None

    def _file(self, cells: NDArray[np.int64], slots: NDArray[np.int64]) -> None:
        """Move slots to new cells (their cell column, its geometry and the buckets)."""
        if not cells.size:
            return
        order = np.argsort(cells)
        sorted_cells = cells[order]
        sorted_slots = slots[order]
        starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
        heads = sorted_cells[starts].tolist()
        col = self._col
        col["cell"][sorted_slots] = sorted_cells
        geom = np.array([cell_inscribed(c) for c in heads]).reshape(-1, 3)
        counts = np.diff(np.r_[starts, cells.size])
        for name, values in zip(
            ("clat", "clng", "crad", "ccos"), _caps32(geom[:, 0], geom[:, 1], geom[:, 2]),
            strict=True,
        ):
            col[name][sorted_slots] = np.repeat(values, counts)
        self._buckets.move_many(sorted_slots)

    # -- updates ------------------------------------------------------------------------------

    def update_position(
        self,
        responder_id: str,
        lat: float,
        lng: float,
        *,
        ts: float | None = None,
        heading: float | None = None,
        speed_kph: float | None = None,
        capabilities: Iterable[str] | None = None,
    ) -> bool:
        """Insert or move one responder.

        Parameters
        ----------
        responder_id
            The host's id for the responder.
        lat, lng
            WGS-84 position, degrees.
        ts
            Time of the fix (defaults to ``clock()``).
        heading
            Degrees clockwise from north, -720 to 720 (normalised to ``[0, 360)``; beyond
            that a float has lost the fraction of a turn that matters).
        speed_kph
            Reported speed, 0 to 1000.
        capabilities
            Replaces the stored set when given.

        Returns
        -------
        bool
            ``False`` when the fix is older than the stored one (GPS fixes arrive out of
            order) and was ignored; ``True`` when applied.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError
            On bad input; nothing is changed.
        """
        _check_id(responder_id)
        flat, flng = validate_latlng(lat, lng)
        if ts is None:
            fts = self._clock()
        else:
            fts = _check_number("ts", ts)
            self._check_future(fts)
        fhead = (
            math.nan
            if heading is None
            else _check_number("heading", heading, low=-MAX_HEADING, high=MAX_HEADING) % 360.0
        )
        fspeed = (
            math.nan
            if speed_kph is None
            else _check_number("speed_kph", speed_kph, low=0, high=MAX_SPEED_KPH)
        )
        caps = (
            None if capabilities is None else parse_capabilities(capabilities, name="capabilities")
        )
        cell = _latlng_to_cell(flat, flng, self._res)
        with self._lock:
            col = self._col
            slot = self._slot_of.get(responder_id)
            if slot is None:
                slot = int(self._alloc([responder_id])[0])
            elif fts < col["ts"][slot]:
                return False
            col["lat"][slot] = flat
            col["lng"][slot] = flng
            col["ts"][slot] = fts
            for watch in self._watchers:
                watch(np.array([slot]))
            col["heading"][slot] = fhead
            col["speed"][slot] = fspeed
            if caps is not None:
                self._caps[slot] = caps
            if col["cell"][slot] != cell:
                col["cell"][slot] = cell
                clat, clng, crad = cell_inscribed(cell)  # stored as _caps32 would
                col["clat"][slot], col["clng"][slot] = clat, clng
                col["crad"][slot] = _short_radius(crad)
                col["ccos"][slot] = math.cos(math.radians(clat)) * _M_PER_DEG
                self._buckets.move(slot)
            return True

    def update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        ts: float | ArrayLike | None = None,
        headings: ArrayLike | None = None,
    ) -> int:
        """Insert or move many responders at once (a gateway batching phones).

        Every row is validated before any is applied: a batch with a bad row raises and
        changes nothing. Rows older than the stored fix are skipped; when an id appears
        more than once, its newest row wins (the later row on equal timestamps).

        Parameters
        ----------
        ids
            Responder ids (strings).
        lats, lngs
            WGS-84 positions, degrees, same length as ``ids``.
        ts
            One timestamp for all rows, one per row, or ``None`` for ``clock()``.
        headings
            Optional headings in degrees (NaN for unknown), one per row.

        Returns
        -------
        int
            How many rows were applied.

        Raises
        ------
        InvalidCoordinateError
            Naming every bad row index in ``rows``.
        InvalidParameterError
            For bad ids, timestamps or headings.

        Examples
        --------
        >>> import numpy as np
        >>> index = ResponderIndex(clock=lambda: 0.0)
        >>> index.update_positions(["a", "b"], np.array([22.7, 22.8]), np.array([114.2, 114.3]))
        2
        """
        return self._update_positions(ids, lats, lngs, ts, headings, check_future=True)

    def _update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        ts: float | ArrayLike | None,
        headings: ArrayLike | None,
        *,
        check_future: bool,
    ) -> int:
        """:meth:`update_positions`; ``check_future=False`` for fixes another process
        already accepted (its clock decided; this one may run a little behind)."""
        la, ln = validate_latlng_array(lats, lngs)
        n = la.shape[0]
        if isinstance(ids, str | bytes):
            msg = f"ids must be a sequence of responder ids, not one string: {ids[:60]!r}"
            raise InvalidParameterError(msg, name="ids", value=ids)
        id_list = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        if len(id_list) != n:
            msg = f"ids has {len(id_list)} rows but lats/lngs have {n}"
            raise InvalidParameterError(msg, name="ids", value=len(id_list))
        tsa = self._row_values("ts", ts, n, self._clock())
        if check_future and ts is not None and n:
            self._check_future(tsa)
        hda = self._row_values("headings", headings, n, math.nan, allow_nan=True)
        if (np.abs(hda) > MAX_HEADING).any():
            rows = np.flatnonzero(np.abs(hda) > MAX_HEADING)[:10].tolist()
            msg = f"headings must be degrees from -720 to 720 (NaN for unknown); bad rows {rows}"
            raise InvalidParameterError(msg, name="headings", value=rows)
        hda %= 360.0
        if n == 0:
            return 0
        with self._lock:
            col = self._col
            try:
                slots = self._slot_of.get_many(id_list)
            except TypeError:
                msg = "responder ids must be non-empty strings (an id was unhashable)"
                raise InvalidParameterError(msg, name="ids", value=None) from None
            fresh = np.flatnonzero(slots < 0)
            if fresh.size:
                # Only ids the index has never stored need checking; known ones are valid.
                fresh_ids = id_list if fresh.size == n else [id_list[r] for r in fresh.tolist()]
                new_ids = list(dict.fromkeys(fresh_ids))
                if set(map(type, new_ids)) != {str}:
                    bad = [i for i in new_ids if not isinstance(i, str)][:5]
                    msg = f"responder ids must be non-empty strings, got {bad!r}"
                    raise InvalidParameterError(msg, name="ids", value=bad)
                if not _plain_ids(new_ids):
                    for rid in new_ids:  # find the bad one, for the message
                        check_responder_id(rid, name="ids")
                new_slots = self._alloc(new_ids)
                if len(new_ids) == fresh.size:  # no repeats: rows and new ids align
                    slots[fresh] = new_slots
                else:
                    slots[fresh] = self._slot_of.get_many([id_list[r] for r in fresh.tolist()])
            rows = np.arange(n)
            if np.bincount(slots).max() > 1:
                # An id repeats: keep its newest row (the later row on equal timestamps).
                order = np.lexsort((rows, tsa, slots))
                last = np.r_[slots[order][1:] != slots[order][:-1], True]
                rows = np.sort(order[last])
            s = slots[rows]
            keep = tsa[rows] >= col["ts"][s]
            rows, s = rows[keep], s[keep]
            new_lat, new_lng = la[rows], ln[rows]
            # A fix inside its cell's inscribed circle stays in that cell: no H3 call needed.
            # Local planar distance: within a cell it is exact to ~1e-4, and crad is 1 % short
            # (and shortened by the float32 rounding of the centre). In float64 throughout.
            dy = (new_lat - col["clat"][s]) * _M_PER_DEG
            dx = ((new_lng - col["clng"][s] + 540.0) % 360.0 - 180.0) * col["ccos"][s]
            crad = col["crad"][s].astype(np.float64)
            stay = dx * dx + dy * dy < crad * np.abs(crad)
            move = np.flatnonzero(~stay)
            cells = col["cell"][s]
            if move.size:
                cells[move] = np.fromiter(
                    map(
                        _latlng_to_cell,
                        new_lat[move].tolist(),
                        new_lng[move].tolist(),
                        repeat(self._res),
                    ),
                    dtype=np.int64,
                    count=move.size,
                )
            col["lat"][s] = new_lat
            col["lng"][s] = new_lng
            col["ts"][s] = tsa[rows]
            col["heading"][s] = hda[rows]
            col["speed"][s] = np.nan
            changed = cells != col["cell"][s]
            self._file(cells[changed], s[changed])
            for watch in self._watchers:
                watch(s)
            return int(rows.size)

    @staticmethod
    def _row_values(
        name: str, value: Any, n: int, default: float, *, allow_nan: bool = False
    ) -> NDArray[np.float64]:
        """Broadcast a per-row option (``None``: default) to n finite floats."""
        if value is None:
            return np.full(n, default)
        try:
            kind = np.asarray(value).dtype.kind
            if kind not in "iufO" or _has_bool(value):  # booleans, strings: not numbers
                raise TypeError
            out = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
        except (TypeError, ValueError):
            msg = f"{name} must be a number or one number per row, got {value!r}"
            raise InvalidParameterError(msg, name=name, value=value) from None
        bad = np.isinf(out) | (np.isnan(out) if not allow_nan else False)
        if bad.any():
            rows = np.flatnonzero(bad)[:10].tolist()
            what = "finite (NaN for unknown)" if allow_nan else "finite"
            msg = f"{name} must be {what}; bad rows {rows}"
            raise InvalidParameterError(msg, name=name, value=rows)
        return out

    def set_status(self, responder_id: str, status: Status | str) -> None:
        """Set a responder's lifecycle status.

        Raises
        ------
        UnknownResponderError
            When the responder has sent no position.
        InvalidParameterError
            When ``status`` is not a :class:`Status` (or its value).
        """
        code = CODE_BY_STATUS[parse_status(status)]
        with self._lock:
            self._col["status"][self._slot(responder_id)] = code

    def set_capabilities(self, responder_id: str, capabilities: Iterable[str]) -> None:
        """Replace a responder's capabilities."""
        caps = parse_capabilities(capabilities, name="capabilities")
        with self._lock:
            self._caps[self._slot(responder_id)] = caps

    def remove(self, responder_id: str) -> None:
        """Forget a responder.

        Raises
        ------
        UnknownResponderError
            When the responder is not in the index.
        """
        with self._lock:
            slot = self._slot(responder_id)
            self._slot_of.remove(responder_id)
            self._ids[slot] = None
            self._caps[slot] = _EMPTY
            self._col["alive"][slot] = False
            self._col["cell"][slot] = 0
            self._free.append(slot)

    def prune(self, *, older_than_s: float | None = None) -> int:
        """Remove responders whose last fix is older than ``older_than_s`` (default: the TTL).

        Returns
        -------
        int
            How many were removed.
        """
        age = self._ttl if older_than_s is None else _check_number("older_than_s", older_than_s)
        with self._lock:
            cutoff = self._clock() - age
            n = len(self._ids)
            gone = np.flatnonzero(self._col["alive"][:n] & (self._col["ts"][:n] < cutoff)).tolist()
            for slot in gone:
                rid = self._ids[slot]
                if rid is not None:  # alive slots always have one
                    self.remove(rid)
            return len(gone)

    # -- reads --------------------------------------------------------------------------------

    def get(self, responder_id: str) -> Responder:
        """Return a snapshot of one responder.

        Raises
        ------
        UnknownResponderError
            When the responder is not in the index.
        """
        with self._lock:
            slot = self._slot(responder_id)
            ts = float(self._col["ts"][slot])
            heading = float(self._col["heading"][slot])
            speed = float(self._col["speed"][slot])
            return Responder(
                responder_id=responder_id,
                lat=float(self._col["lat"][slot]),
                lng=float(self._col["lng"][slot]),
                ts=ts,
                status=STATUS_BY_CODE[int(self._col["status"][slot])],
                heading=None if math.isnan(heading) else heading,
                speed_kph=None if math.isnan(speed) else speed,
                capabilities=self._caps[slot],
                cell=h3i.int_to_str(int(self._col["cell"][slot])),
                fresh=ts >= self._clock() - self._ttl,
            )

    def snapshot(self) -> Snapshot:
        """Return every responder's id, fix, freshness and status at once (copies).

        For views of the whole fleet (a dispatcher's map): one consistent read under the
        lock, in slot order, cheaper than one :meth:`get` per responder.

        Examples
        --------
        >>> index = ResponderIndex(clock=lambda: 100.0)
        >>> index.update_positions(["a", "b"], [22.7, 22.8], [114.2, 114.3], ts=90.0)
        2
        >>> snap = index.snapshot()
        >>> snap.ids, snap.lat.tolist(), [s.value for s in snap.statuses()]
        (['a', 'b'], [22.7, 22.8], ['available', 'available'])
        """
        with self._lock:
            slots = np.flatnonzero(self._col["alive"][: len(self._ids)])
            ids = self._ids
            col = self._col
            ts = col["ts"][slots]
            return Snapshot(
                ids=[str(ids[i]) for i in slots.tolist()],
                lat=col["lat"][slots],
                lng=col["lng"][slots],
                ts=ts,
                fresh=ts >= self._clock() - self._ttl,
                status=col["status"][slots],
            )

    def _filter(
        self,
        slots: NDArray[np.int64],
        lat: float,
        lng: float,
        wanted: NDArray[np.bool_] | None,
        needs: frozenset[str],
        now: float,
        radius_m: float | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Keep live, fresh slots with a wanted status and every need (within ``radius_m``).

        ``wanted`` is a boolean table indexed by status code (``None``: any status).
        Returns the kept slots and their great-circle distances.
        """
        col = self._col
        ok = col["alive"][slots] & (col["ts"][slots] >= now - self._ttl)
        if wanted is not None:
            ok &= wanted[col["status"][slots]]
        slots = slots[ok]
        if radius_m is not None:
            slots = slots[_in_cap_box(col["lat"][slots], col["lng"][slots], lat, lng, radius_m)]
        dist = haversine_m_array(col["lat"][slots], col["lng"][slots], lat, lng)
        if radius_m is not None:
            inside = dist <= radius_m
            slots, dist = slots[inside], dist[inside]
        if needs and slots.size:
            caps = self._caps
            has = np.fromiter((needs <= caps[i] for i in slots.tolist()), bool, slots.size)
            slots, dist = slots[has], dist[has]
        return slots, dist

    def _eligible(
        self,
        needs: frozenset[str] = _EMPTY,
        exclude: frozenset[str] = _EMPTY,
        *,
        only: Sequence[str] | None = None,
    ) -> tuple[
        NDArray[np.int64],
        tuple[str | None, ...],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
    ]:
        """Return every fresh, AVAILABLE responder with all ``needs``, not in ``exclude``.

        One consistent snapshot (under the lock): their slots, the ids of every slot
        (``ids[slots[i]]`` is row i's id; a tuple copy is far cheaper than picking ids one by
        one), and their positions and headings (NaN: unknown), in slot order. For ranking,
        which filters here once instead of walking buckets: it ranks by road time, not by
        distance. With ``only``, return exactly those responders, in that order, unfiltered.

        Raises
        ------
        UnknownResponderError
            When an id of ``only`` is not in the index.
        """
        with self._lock:
            col = self._col
            if only is not None:
                slots = np.array([self._slot(rid) for rid in only], dtype=np.int64)
            else:
                slots = self._available_slots(exclude)
                if needs and slots.size:
                    caps = self._caps
                    has = np.fromiter((needs <= caps[i] for i in slots.tolist()), bool, slots.size)
                    slots = slots[has]
            ids = tuple(self._ids)
            return slots, ids, col["lat"][slots], col["lng"][slots], col["heading"][slots]

    def _available_slots(self, exclude: Collection[str]) -> NDArray[np.int64]:
        # Every live, fresh, AVAILABLE slot not in exclude, in slot order (caller holds the lock).
        col = self._col
        n = len(self._ids)
        ok = col["alive"][:n] & (col["ts"][:n] >= self._clock() - self._ttl)
        ok &= col["status"][:n] == _AVAILABLE
        for rid in exclude:
            slot = self._slot_of.get(rid)
            if slot is not None:
                ok[slot] = False
        out: NDArray[np.int64] = np.flatnonzero(ok)
        return out

    def _pool(
        self, needs_any: Collection[frozenset[str]], exclude: Collection[str]
    ) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64], list[frozenset[str]]]:
        """Every fresh, AVAILABLE responder not in ``exclude`` holding all of at least one
        of ``needs_any``: ids, positions and capabilities, in slot order (one read).

        For batch assignment, which plans over the whole available fleet: the filter is
        vectorised, and only the responders that qualify are read one by one.
        """
        with self._lock:
            col = self._col
            slots = self._available_slots(exclude)
            if _EMPTY not in needs_any and slots.size:
                caps = self._caps
                wanted = list(needs_any)
                has = np.fromiter(
                    (any(w <= caps[i] for w in wanted) for i in slots.tolist()), bool, slots.size
                )
                slots = slots[has]
            ids, caps = self._ids, self._caps
            rows = slots.tolist()
            return (
                [str(ids[i]) for i in rows],
                col["lat"][slots],
                col["lng"][slots],
                [caps[i] for i in rows],
            )

    def _watch(self, callback: Callable[[NDArray[np.int64]], None]) -> None:
        """Call ``callback(slots)`` under the lock whenever those slots' positions change.

        For structures derived from positions (the road fleet's snaps): they learn of every
        fix at ingest, in the same batches, instead of scanning the fleet at query time.
        """
        with self._lock:
            self._watchers.append(callback)

    def _scans_fleet(self, lat: float, lng: float, radius_m: float) -> bool:
        """Whether :meth:`_near` of this disk would pass over the whole fleet (see there)."""
        with self._lock:
            if not self._slot_of or not radius_m < math.inf:
                return True
            k = rings_for_radius(radius_m, cell_edge_m(h3i.latlng_to_cell(lat, lng, self._res)))
            return 3 * k * (k + 1) + 1 > self._buckets.occupied

    def _cells_near(self, lat: float, lng: float, radius_m: float) -> list[int] | None:
        """The H3 cells covering a disk, or ``None`` when it spans more than hold anyone."""
        with self._lock:
            if not self._slot_of or not radius_m < math.inf:
                return None
            cell = h3i.latlng_to_cell(lat, lng, self._res)
            k = rings_for_radius(radius_m, cell_edge_m(cell))
            if 3 * k * (k + 1) + 1 > self._buckets.occupied:
                return None
            cover = disk_cover(lat, lng, cell, k, self._res)
            return None if cover is None else list(cover.cells)

    def _keep_eligible(
        self,
        slots: NDArray[np.int64],
        now: float,
        needs: frozenset[str],
        exclude: frozenset[str],
    ) -> NDArray[np.int64]:
        # Live, fresh, AVAILABLE, with every need, not excluded (callers hold the lock).
        col = self._col
        ok = (
            col["alive"][slots]
            & (col["ts"][slots] >= now - self._ttl)
            & (col["status"][slots] == _AVAILABLE)
        )
        slots = slots[ok]
        if exclude and slots.size:
            gone = [self._slot_of.get(x) for x in exclude]
            ex = np.array([g for g in gone if g is not None], dtype=np.int64)
            if ex.size:
                slots = slots[~np.isin(slots, ex)]
        if needs and slots.size:
            caps = self._caps
            has = np.fromiter((needs <= caps[i] for i in slots.tolist()), bool, slots.size)
            slots = slots[has]
        return slots

    def _eligible_slots(
        self,
        slots: NDArray[np.int64],
        needs: frozenset[str] = _EMPTY,
        exclude: frozenset[str] = _EMPTY,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """Of these slots, the eligible ones (as :meth:`_near`): slots, positions,
        headings and epochs (for :meth:`_names`), in one consistent read."""
        with self._lock:
            slots = self._keep_eligible(slots, self._clock(), needs, exclude)
            col = self._col
            return (
                slots,
                col["lat"][slots],
                col["lng"][slots],
                col["heading"][slots],
                col["epoch"][slots].astype(np.int64),
            )

    def _near(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        needs: frozenset[str] = _EMPTY,
        exclude: frozenset[str] = _EMPTY,
    ) -> tuple[
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """Return the fresh, AVAILABLE responders with all ``needs`` within ``radius_m``.

        What :meth:`_eligible` returns, restricted to a great-circle disk (inclusive) and
        found through the H3 buckets: the cost follows the cells of the disk and the
        responders in them, not the fleet (the fleet is scanned only when the disk spans
        more cells than hold anyone), with no Python work per responder (unless ``needs``
        are asked for). Rows: slots in no particular order, positions, headings, distances
        to the centre, and the slots' epochs (for :meth:`_names`).
        """
        with self._lock:
            cells = self._cells_near(lat, lng, radius_m)
            slots = self._all_slots() if cells is None else self._gather(cells)
            col = self._col
            if radius_m < math.inf:
                box = _in_cap_box(col["lat"][slots], col["lng"][slots], lat, lng, radius_m)
                slots = slots[box]
            slots = self._keep_eligible(slots, self._clock(), needs, exclude)
            dist = haversine_m_array(col["lat"][slots], col["lng"][slots], lat, lng)
            inside = dist <= radius_m
            slots, dist = slots[inside], dist[inside]
            return (
                slots,
                col["lat"][slots],
                col["lng"][slots],
                col["heading"][slots],
                dist,
                col["epoch"][slots].astype(np.int64),
            )

    def _names(self, slots: NDArray[np.int64], epochs: NDArray[np.int64]) -> list[str] | None:
        """The ids of slots :meth:`_near` returned; ``None`` if one was removed since."""
        with self._lock:
            col = self._col
            if not (col["alive"][slots] & (col["epoch"][slots] == epochs)).all():
                return None
            ids = self._ids
            return [str(ids[i]) for i in slots.tolist()]

    def _gather(self, cells: Iterable[int]) -> NDArray[np.int64]:
        return self._buckets.gather(list(cells))

    def _all_slots(self) -> NDArray[np.int64]:
        return np.flatnonzero(self._col["alive"][: len(self._ids)])

    def _neighbors(
        self, slots: NDArray[np.int64], dist: NDArray[np.float64], limit: int | None = None
    ) -> list[Neighbor]:
        """Order by (distance, id), dropping repeats (stale bucket entries), up to ``limit``."""
        slots, first = np.unique(slots, return_index=True)
        dist = dist[first]
        if limit is not None and slots.size > limit:
            # Everything tied with the limit-th distance stays, so ids can break the tie.
            kth = np.partition(dist, limit - 1)[limit - 1]
            close = dist <= kth
            slots, dist = slots[close], dist[close]
        order = np.argsort(dist, kind="stable")
        slots, dist = slots[order], dist[order]
        ids = self._ids
        pairs = zip(map(ids.__getitem__, slots.tolist()), dist.tolist(), strict=True)
        out = list(starmap(Neighbor, pairs))
        if slots.size > 1 and (dist[1:] == dist[:-1]).any():
            out.sort(key=lambda nb: (nb.distance_m, nb.responder_id))  # ties: by id
        return out if limit is None else out[:limit]

    def _query_args(
        self, lat: float, lng: float, needs: Iterable[str] | str, statuses: Any
    ) -> tuple[float, float, frozenset[str], NDArray[np.bool_] | None]:
        flat, flng = validate_latlng(lat, lng)
        need_set = parse_capabilities(needs, name="needs")
        if statuses is None:
            return flat, flng, need_set, None
        if isinstance(statuses, Status | str):
            statuses = (statuses,)
        wanted = np.zeros(len(STATUS_BY_CODE), dtype=bool)
        for status in statuses:
            wanted[CODE_BY_STATUS[parse_status(status)]] = True
        return flat, flng, need_set, wanted

    def nearby(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        needs: Iterable[str] = (),
        statuses: Iterable[Status | str] | None = (Status.AVAILABLE,),
    ) -> list[Neighbor]:
        """Return exactly the fresh responders within a great-circle radius.

        Parameters
        ----------
        lat, lng
            The centre, WGS-84 degrees.
        radius_m
            Radius in metres (inclusive), ``>= 0``.
        needs
            Capabilities every returned responder must have.
        statuses
            Statuses to include (``None``: any).

        Returns
        -------
        list of Neighbor
            Sorted by distance, then id.
        """
        flat, flng, need_set, codes = self._query_args(lat, lng, needs, statuses)
        radius = _check_number("radius_m", radius_m, low=0.0)
        with self._lock:
            now = self._clock()
            cover = None
            if self._slot_of:
                cell = h3i.latlng_to_cell(flat, flng, self._res)
                k = rings_for_radius(radius, cell_edge_m(cell))
                if 3 * k * (k + 1) + 1 <= self._buckets.occupied:
                    cover = disk_cover(flat, flng, cell, k, self._res)
            slots = self._all_slots() if cover is None else self._gather(cover.cells)
            slots, dist = self._filter(slots, flat, flng, codes, need_set, now, radius)
            return self._neighbors(slots, dist)

    @keyword_only("k", after=3)
    def nearest(
        self,
        lat: float,
        lng: float,
        *,
        k: int,
        needs: Iterable[str] = (),
        statuses: Iterable[Status | str] | None = (Status.AVAILABLE,),
    ) -> list[Neighbor]:
        """Return exactly the ``k`` nearest fresh responders by great-circle distance.

        Rings grow around the query cell until the k-th distance found is below the
        distance no responder outside the searched disk can beat (see
        :mod:`kayou_dispatch.spatial.cover`); fewer than ``k`` are returned only when
        fewer exist.

        ``k`` is keyword-only, as in every ranking (``nearest(lat, lng, k=5)``); the old
        positional form ``nearest(lat, lng, 5)`` still works, with a DeprecationWarning.

        Returns
        -------
        list of Neighbor
            At most ``k``, sorted by distance, then id.
        """
        flat, flng, need_set, codes = self._query_args(lat, lng, needs, statuses)
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            msg = f"k must be an integer >= 1, got {k!r}"
            raise InvalidParameterError(msg, name="k", value=k)
        k = int(k)
        with self._lock:
            now = self._clock()
            if not self._slot_of:
                return []
            cell = h3i.latlng_to_cell(flat, flng, self._res)
            rings = 1
            while 3 * rings * (rings + 1) + 1 <= self._buckets.occupied:
                cover = disk_cover(flat, flng, cell, rings, self._res)
                if cover is None:
                    break
                slots, dist = self._filter(
                    self._gather(cover.cells), flat, flng, codes, need_set, now
                )
                found = self._neighbors(slots, dist, k)
                if len(found) == k and found[-1].distance_m < cover.complete_within_m:
                    return found
                rings *= 2
            slots, dist = self._filter(self._all_slots(), flat, flng, codes, need_set, now)
            return self._neighbors(slots, dist, k)
