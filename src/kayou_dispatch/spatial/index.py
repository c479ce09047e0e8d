"""Index responder positions in an H3 grid for fast, exact proximity queries.

Positions live in columnar numpy arrays (one slot per responder); an H3 cell -> slots
bucket map answers "who is in these cells". Buckets are append-only between compactions:
a responder that moves to a new cell is appended there and left behind in the old one, so a
bulk update touches Python objects only once per *cell*, not per responder. Queries re-check
every candidate's current position exactly, so stale bucket entries cost time, never
correctness; a compaction rebuilds the buckets when they hold twice as many entries as live
responders.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

import numpy as np
from h3.api import basic_int as h3i
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidParameterError, UnknownResponderError
from kayou_dispatch.geo import haversine_m_array, validate_latlng, validate_latlng_array
from kayou_dispatch.spatial.cover import cell_edge_m, disk_cover, rings_for_radius
from kayou_dispatch.spatial.responders import (
    CODE_BY_STATUS,
    STATUS_BY_CODE,
    Neighbor,
    Responder,
    Status,
    parse_status,
)

__all__ = ["ResponderIndex"]

_AVAILABLE = CODE_BY_STATUS[Status.AVAILABLE]
_EMPTY: frozenset[str] = frozenset()


def _check_id(responder_id: Any) -> str:
    if not isinstance(responder_id, str) or not responder_id:
        msg = f"responder_id must be a non-empty string, got {responder_id!r}"
        raise InvalidParameterError(msg, name="responder_id", value=responder_id)
    return responder_id


def _check_number(name: str, value: Any, *, low: float = -math.inf) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not (x >= low and math.isfinite(x)):
        bound = "" if low == -math.inf else f" and >= {low:g}"
        msg = f"{name} must be a finite number{bound}, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return x


def _check_capabilities(capabilities: Iterable[str] | str, name: str) -> frozenset[str]:
    if isinstance(capabilities, str):
        capabilities = (capabilities,)
    try:
        caps = frozenset(capabilities)
    except TypeError:
        msg = f"{name} must be an iterable of strings, got {capabilities!r}"
        raise InvalidParameterError(msg, name=name, value=capabilities) from None
    if not all(isinstance(c, str) and c for c in caps):
        msg = f"{name} must hold non-empty strings, got {sorted(map(repr, caps))}"
        raise InvalidParameterError(msg, name=name, value=capabilities)
    return caps


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
        time. Timestamps given to updates must use the same clock.

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
        self._res = resolution
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._caps: list[frozenset[str]] = []
        self._free: list[int] = []
        cap = 1024
        self._lat = np.zeros(cap)
        self._lng = np.zeros(cap)
        self._ts = np.full(cap, -np.inf)
        self._heading = np.full(cap, np.nan)
        self._speed = np.full(cap, np.nan)
        self._cell = np.zeros(cap, dtype=np.int64)
        self._status = np.zeros(cap, dtype=np.int8)
        self._alive = np.zeros(cap, dtype=bool)
        self._buckets: dict[int, list[int]] = {}
        self._bucket_entries = 0

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
        """The injected clock."""
        return self._clock

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self._slot_of

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._slot_of))

    # -- storage ------------------------------------------------------------------------------

    def _grow(self, needed: int) -> None:
        cap = self._lat.shape[0]
        if needed <= cap:
            return
        new = max(needed, 2 * cap)

        def grow(a: NDArray[Any], fill: Any) -> NDArray[Any]:
            out = np.full(new, fill, dtype=a.dtype)
            out[:cap] = a
            return out

        self._lat = grow(self._lat, 0.0)
        self._lng = grow(self._lng, 0.0)
        self._ts = grow(self._ts, -np.inf)
        self._heading = grow(self._heading, np.nan)
        self._speed = grow(self._speed, np.nan)
        self._cell = grow(self._cell, 0)
        self._status = grow(self._status, 0)
        self._alive = grow(self._alive, False)

    def _new_slot(self, responder_id: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = responder_id
            self._caps[slot] = _EMPTY
        else:
            slot = len(self._ids)
            self._grow(slot + 1)
            self._ids.append(responder_id)
            self._caps.append(_EMPTY)
        self._slot_of[responder_id] = slot
        self._alive[slot] = True
        self._status[slot] = _AVAILABLE
        self._ts[slot] = -np.inf
        self._heading[slot] = np.nan
        self._speed[slot] = np.nan
        self._cell[slot] = 0  # no real H3 cell is 0: the first position always files it
        return slot

    def _slot(self, responder_id: str) -> int:
        try:
            return self._slot_of[responder_id]
        except (KeyError, TypeError):
            msg = f"unknown responder {responder_id!r}: it has sent no position (or was removed)"
            raise UnknownResponderError(msg, responder_id=str(responder_id)) from None

    def _file(self, cells: NDArray[np.int64], slots: NDArray[np.int64]) -> None:
        """Append slots to their cells' buckets, touching each distinct cell once."""
        if cells.size == 1:
            self._buckets.setdefault(int(cells[0]), []).append(int(slots[0]))
        elif cells.size:
            order = np.argsort(cells, kind="stable")
            cs = cells[order]
            ss = slots[order].tolist()
            starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]).tolist()
            starts.append(len(ss))
            heads = cs[starts[:-1]].tolist()
            buckets = self._buckets
            for i, cell in enumerate(heads):
                bucket = buckets.get(cell)
                if bucket is None:
                    buckets[cell] = ss[starts[i] : starts[i + 1]]
                else:
                    bucket.extend(ss[starts[i] : starts[i + 1]])
        self._bucket_entries += int(cells.size)
        if self._bucket_entries > 2 * len(self._slot_of) + 4096:
            self._compact()

    def _compact(self) -> None:
        self._buckets = {}
        self._bucket_entries = 0
        live = np.flatnonzero(self._alive[: len(self._ids)])
        self._file(self._cell[live], live)

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
            Degrees clockwise from north (normalised to ``[0, 360)``).
        speed_kph
            Reported speed, ``>= 0``.
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
        fts = self._clock() if ts is None else _check_number("ts", ts)
        fhead = math.nan if heading is None else _check_number("heading", heading) % 360.0
        fspeed = math.nan if speed_kph is None else _check_number("speed_kph", speed_kph, low=0)
        caps = None if capabilities is None else _check_capabilities(capabilities, "capabilities")
        cell = h3i.latlng_to_cell(flat, flng, self._res)
        with self._lock:
            slot = self._slot_of.get(responder_id)
            if slot is None:
                slot = self._new_slot(responder_id)
            elif fts < self._ts[slot]:
                return False
            self._lat[slot] = flat
            self._lng[slot] = flng
            self._ts[slot] = fts
            self._heading[slot] = fhead
            self._speed[slot] = fspeed
            if caps is not None:
                self._caps[slot] = caps
            if self._cell[slot] != cell:
                self._cell[slot] = cell
                self._buckets.setdefault(cell, []).append(slot)
                self._bucket_entries += 1
                if self._bucket_entries > 2 * len(self._slot_of) + 4096:
                    self._compact()
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
        la, ln = validate_latlng_array(lats, lngs)
        n = la.shape[0]
        id_list = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        if len(id_list) != n:
            msg = f"ids has {len(id_list)} rows but lats/lngs have {n}"
            raise InvalidParameterError(msg, name="ids", value=len(id_list))
        if not all(type(i) is str and i for i in id_list):
            bad = [k for k, i in enumerate(id_list) if not (isinstance(i, str) and i)]
            msg = f"responder ids must be non-empty strings; bad rows {bad[:10]}"
            raise InvalidParameterError(msg, name="ids", value=bad)
        if ts is None:
            tsa = np.full(n, float(self._clock()))
        else:
            try:
                tsa = np.broadcast_to(np.asarray(ts, dtype=np.float64), (n,)).copy()
            except (TypeError, ValueError):
                msg = f"ts must be a number or one number per row, got {ts!r}"
                raise InvalidParameterError(msg, name="ts", value=ts) from None
            if not np.isfinite(tsa).all():
                bad_ts = np.flatnonzero(~np.isfinite(tsa))[:10].tolist()
                msg = f"ts must be finite; bad rows {bad_ts}"
                raise InvalidParameterError(msg, name="ts", value=bad_ts)
        if headings is None:
            hda = np.full(n, np.nan)
        else:
            try:
                hda = np.broadcast_to(np.asarray(headings, dtype=np.float64), (n,)) % 360.0
            except (TypeError, ValueError):
                msg = "headings must be one number (or NaN) per row"
                raise InvalidParameterError(msg, name="headings", value=headings) from None
            if np.isinf(hda).any():
                msg = "headings must be finite (NaN for unknown)"
                raise InvalidParameterError(msg, name="headings", value=headings)
        if n == 0:
            return 0
        # The bare H3 cost; everything else below is vectorised or per distinct cell.
        to_cell = h3i.latlng_to_cell
        res = self._res
        cells = np.array(
            [to_cell(a, b, res) for a, b in zip(la.tolist(), ln.tolist(), strict=True)],
            dtype=np.int64,
        )
        with self._lock:
            get = self._slot_of.get
            slots_list = [get(i, -1) for i in id_list]
            slots = np.array(slots_list, dtype=np.int64)
            fresh_rows = np.flatnonzero(slots < 0)
            if fresh_rows.size:
                new_slot = self._new_slot
                slot_of = self._slot_of
                for r in fresh_rows.tolist():
                    rid = id_list[r]
                    known = slot_of.get(rid)  # an id new to the index may repeat in the batch
                    slots[r] = new_slot(rid) if known is None else known
            rows = np.arange(n)
            if len(set(id_list)) != n:
                # Keep, per slot, the newest row (later row on equal ts).
                order = np.lexsort((rows, tsa, slots))
                last = np.r_[slots[order][1:] != slots[order][:-1], True]
                rows = np.sort(order[last])
            s = slots[rows]
            keep = tsa[rows] >= self._ts[s]
            rows = rows[keep]
            s = s[keep]
            self._lat[s] = la[rows]
            self._lng[s] = ln[rows]
            self._ts[s] = tsa[rows]
            self._heading[s] = hda[rows]
            self._speed[s] = np.nan
            c = cells[rows]
            moved = self._cell[s] != c
            self._cell[s] = c
            self._file(c[moved], s[moved])
            return int(rows.size)

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
            self._status[self._slot(responder_id)] = code

    def set_capabilities(self, responder_id: str, capabilities: Iterable[str]) -> None:
        """Replace a responder's capabilities."""
        caps = _check_capabilities(capabilities, "capabilities")
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
            del self._slot_of[responder_id]
            self._ids[slot] = None
            self._caps[slot] = _EMPTY
            self._alive[slot] = False
            self._cell[slot] = 0
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
            gone = np.flatnonzero(self._alive[:n] & (self._ts[:n] < cutoff)).tolist()
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
            ts = float(self._ts[slot])
            heading = float(self._heading[slot])
            speed = float(self._speed[slot])
            return Responder(
                responder_id=responder_id,
                lat=float(self._lat[slot]),
                lng=float(self._lng[slot]),
                ts=ts,
                status=STATUS_BY_CODE[int(self._status[slot])],
                heading=None if math.isnan(heading) else heading,
                speed_kph=None if math.isnan(speed) else speed,
                capabilities=self._caps[slot],
                cell=h3i.int_to_str(int(self._cell[slot])),
                fresh=ts >= self._clock() - self._ttl,
            )

    def _filter(
        self,
        slots: NDArray[np.int64],
        lat: float,
        lng: float,
        status_codes: NDArray[np.int8] | None,
        needs: frozenset[str],
        now: float,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Keep live, fresh slots with a wanted status and every need; return distances."""
        ok = self._alive[slots] & (self._ts[slots] >= now - self._ttl)
        if status_codes is not None:
            ok &= np.isin(self._status[slots], status_codes)
        slots = slots[ok]
        if needs and slots.size:
            caps = self._caps
            slots = slots[np.fromiter((needs <= caps[s] for s in slots.tolist()), bool, slots.size)]
        dist = haversine_m_array(self._lat[slots], self._lng[slots], lat, lng)
        return slots, dist

    def _gather(self, cells: Iterable[int]) -> NDArray[np.int64]:
        buckets = self._buckets
        lists = [b for b in map(buckets.get, cells) if b]
        return np.fromiter(chain.from_iterable(lists), dtype=np.int64)

    def _all_slots(self) -> NDArray[np.int64]:
        return np.flatnonzero(self._alive[: len(self._ids)])

    def _neighbors(
        self, slots: NDArray[np.int64], dist: NDArray[np.float64], limit: int | None = None
    ) -> list[Neighbor]:
        # Stale bucket entries can repeat a slot; keep one, then order by (distance, id).
        slots, first = np.unique(slots, return_index=True)
        dist = dist[first]
        if limit is not None and slots.size > limit:
            # Everything tied with the limit-th distance stays, so ids can break the tie.
            kth = np.partition(dist, limit - 1)[limit - 1]
            close = dist <= kth
            slots, dist = slots[close], dist[close]
        ids = self._ids
        out = [
            Neighbor(ids[s] or "", d) for s, d in zip(slots.tolist(), dist.tolist(), strict=True)
        ]
        out.sort(key=lambda nb: (nb.distance_m, nb.responder_id))
        return out if limit is None else out[:limit]

    def _query_args(
        self, lat: float, lng: float, needs: Iterable[str] | str, statuses: Any
    ) -> tuple[float, float, frozenset[str], NDArray[np.int8] | None]:
        flat, flng = validate_latlng(lat, lng)
        need_set = _check_capabilities(needs, "needs")
        if statuses is None:
            codes = None
        else:
            if isinstance(statuses, Status | str):
                statuses = (statuses,)
            codes = np.array([CODE_BY_STATUS[parse_status(s)] for s in statuses], dtype=np.int8)
        return flat, flng, need_set, codes

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
                if 3 * k * (k + 1) + 1 <= len(self._buckets):
                    cover = disk_cover(flat, flng, cell, k, self._res)
            slots = self._all_slots() if cover is None else self._gather(cover.cells)
            slots, dist = self._filter(slots, flat, flng, codes, need_set, now)
            inside = dist <= radius
            return self._neighbors(slots[inside], dist[inside])

    def nearest(
        self,
        lat: float,
        lng: float,
        k: int,
        *,
        needs: Iterable[str] = (),
        statuses: Iterable[Status | str] | None = (Status.AVAILABLE,),
    ) -> list[Neighbor]:
        """Return exactly the ``k`` nearest fresh responders by great-circle distance.

        Rings grow around the query cell until the k-th distance found is below the
        distance no responder outside the searched disk can beat (see
        :mod:`kayou_dispatch.spatial.cover`); fewer than ``k`` are returned only when
        fewer exist.

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
            while 3 * rings * (rings + 1) + 1 <= len(self._buckets):
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
