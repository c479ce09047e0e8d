"""Which responder slots lie in which H3 cell: sorted arrays, rebuilt in bulk, plus a log of moves.

The index's buckets. A dict of Python lists costs about 40 bytes per responder and a Python
loop per gathered entry; here the slots live in two numpy arrays sorted by cell (int32
slots, and int32 keys when they are small, such as node indices: 8 to 12 bytes per
responder), so the slots of a set of cells come out with two binary searches per cell and
one vectorised copy. A slot whose cell changed since the arrays were built is flagged
and listed in ``moved``: its sorted entry is ignored and its current cell is looked up
instead. When the moves outnumber a share of the fleet the arrays are rebuilt (one sort,
``O(n log n)``), so an update costs ``O(log n)`` amortised and a gather follows the cells
and the responders in them, plus the moves not yet folded in (bounded by that share).

Every live slot is returned exactly once by :meth:`CellBuckets.gather` when its current
cell is among the cells asked for (dead slots may appear: callers filter on ``alive``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["CellBuckets"]

_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY_SLOTS = np.zeros(0, dtype=np.int32)
# Moves kept beside the sorted arrays before they are rebuilt: this share of the fleet ...
_MOVED_SHARE = 16
# ... or at least this many. Every gather scans the moves, so a small fleet is rebuilt
# often (sorting 5,000 slots costs about as much as scanning a few hundred moves twice).
_MOVED_MIN = 256
# Cells below this (and slots below 2**32) pack into one sortable int64 with their slot,
# and are kept as int32.
_SMALL = 1 << 30
#: Most slots the buckets file (their slots are kept as int32).
MAX_SLOTS = (1 << 31) - 1


class CellBuckets:
    """Slots by H3 cell (see the module docstring).

    Parameters
    ----------
    cells, alive
        The cell and alive columns of the index (read, never written): ``cells[slot]`` is
        the slot's current cell.
    """

    def __init__(
        self, cells: NDArray[np.signedinteger[Any]], alive: NDArray[np.bool_]
    ) -> None:
        self._col = cells
        self._alive = alive
        self._cells: NDArray[np.signedinteger[Any]] = _EMPTY  # sorted cells filed at the build
        self._slots: NDArray[np.int32] = _EMPTY_SLOTS  # their slots, same order
        self._flag = np.zeros(cells.shape[0], dtype=bool)  # moved since the build
        self._moved: list[int] = []
        self._moved_cache: NDArray[np.int64] | None = None
        self._distinct = 0  # distinct cells at the last build
        self._gone = 0  # filed slots whose alive flag was cleared since (see forget)

    @property
    def occupied(self) -> int:
        """An upper bound on the number of cells holding a responder."""
        return self._distinct + len(self._moved)

    def follows(self, cells: NDArray[np.signedinteger[Any]], alive: NDArray[np.bool_]) -> bool:
        """Whether these are the columns followed now (no :meth:`retarget` needed)."""
        return self._col is cells and self._alive is alive

    def retarget(
        self, cells: NDArray[np.signedinteger[Any]], alive: NDArray[np.bool_]
    ) -> None:
        """Follow the index's columns after they grew (same contents, new arrays)."""
        self._col = cells
        self._alive = alive
        if self._flag.shape[0] < cells.shape[0]:
            flag = np.zeros(cells.shape[0], dtype=bool)
            flag[: self._flag.shape[0]] = self._flag
            self._flag = flag

    def rebuild(self) -> None:
        """File every live slot under its current cell; forget the moves."""
        live = np.flatnonzero(self._alive)
        cells = self._col[live]
        if live.size and int(live[-1]) > MAX_SLOTS:  # (the index refuses such fleets first)
            msg = f"at most {MAX_SLOTS:,} slots can be filed, got slot {int(live[-1]):,}"
            raise InvalidParameterError(msg, name="slots", value=int(live[-1]))
        if cells.size and int(cells.min()) >= -1 and int(cells.max()) < _SMALL:
            # Small keys (nodes): sort (cell, slot) packed in one integer, unstable but
            # unique, so the same order as a stable sort of cells, about 3x faster.
            key = np.sort(((cells.astype(np.int64) + 1) << 32) | live)
            self._cells = ((key >> 32) - 1).astype(np.int32)
            self._slots = (key & 0xFFFFFFFF).astype(np.int32)
        else:
            order = np.argsort(cells, kind="stable")
            self._cells = cells[order]
            self._slots = live[order].astype(np.int32)
        self._distinct = int(np.count_nonzero(np.diff(self._cells))) + int(cells.size > 0)
        self._flag[:] = False
        self._moved = []
        self._moved_cache = None
        self._gone = 0

    def forget(self, count: int) -> None:
        """Note that ``count`` filed slots left (their alive flag was cleared): past half of
        those filed, rebuild so gathers stop meeting them."""
        self._gone += count
        if self._gone > max(_MOVED_MIN, self._slots.size // 2):
            self.rebuild()

    def _room(self) -> int:
        return max(_MOVED_MIN, self._slots.size // _MOVED_SHARE)

    def move(self, slot: int) -> None:
        """Note that one slot's cell changed (or that it is new, or was reused)."""
        if not self._flag[slot]:
            self._flag[slot] = True
            self._moved.append(slot)
            if len(self._moved) > self._room():
                self.rebuild()

    def move_many(self, slots: NDArray[np.int64]) -> None:
        """Note that these slots' cells changed."""
        if len(self._moved) + slots.shape[0] > self._room():
            self.rebuild()  # a big batch: sorting beats finding which are new
            return
        fresh = np.unique(slots[~self._flag[slots]])
        if not fresh.size:
            return
        self._flag[fresh] = True
        self._moved.extend(fresh.tolist())

    def _moved_array(self) -> NDArray[np.int64]:
        # The log as an array, extended by the moves since it was last made (the log only
        # grows until a rebuild empties it): many gathers between two fixes share it.
        m = len(self._moved)
        cached = self._moved_cache
        have = 0 if cached is None else cached.shape[0]
        if cached is None or have != m:
            tail = np.fromiter(self._moved[have:], dtype=np.int64, count=m - have)
            cached = tail if cached is None else np.concatenate([cached, tail])
            self._moved_cache = cached
        return cached

    def gather(
        self, cells: list[int] | NDArray[np.int64], *, distinct: bool = False
    ) -> NDArray[np.int64]:
        """Return the slots whose current cell is one of ``cells`` (each once).

        ``distinct``: ``cells`` has no repeats (it is then only sorted, when moves need it).
        """
        want = np.asarray(cells, dtype=np.int64)
        if not distinct:
            want = np.unique(want)
        elif self._moved:
            want = np.sort(want)
        out = []
        keys = self._cells
        if keys.size and want.size:
            filed = want
            if keys.dtype != want.dtype:  # int32 keys: search in their type (no copy of them)
                filed = want[(want >= -(1 << 31)) & (want < (1 << 31))].astype(keys.dtype)
            lo = np.searchsorted(keys, filed, side="left")
            hi = np.searchsorted(keys, filed, side="right")
            counts = hi - lo
            total = int(counts.sum())
            if total:
                # Concatenated ranges [lo, hi): positions lo[i] + 0..counts[i]-1.
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                idx = starts + np.arange(total)
                found = self._slots[idx]
                out.append(found[~self._flag[found]])
        if self._moved:
            moved = self._moved_array()
            at = self._col[moved]
            if want.size:
                pos = np.searchsorted(want, at)
                pos[pos == want.size] = 0
                out.append(moved[want[pos] == at])
        if not out:
            return _EMPTY
        found_all = out[0] if len(out) == 1 else np.concatenate(out)
        return found_all.astype(np.int64, copy=False)
