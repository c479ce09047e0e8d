"""Which slot holds which responder id: an open-addressing table of int32 slots.

The index's id -> slot map. A dict costs about 63 bytes per responder at a million (its
entries and index, plus one Python int object per slot). Here each table entry is an int32
slot and a 16-bit tag (other bits of the id's hash), 6 bytes, the table kept between a
third and two thirds full (as a dict's): 9 to 18 bytes per responder. It is probed
linearly from Python's own hash of the id (cached in the string); the tags let a bulk
lookup probe in numpy alone. The ids themselves stay in the index's slot -> id list (which
the map needed anyway), and every answer is checked against it: the slot returned holds
that very id, never one whose hash merely matches.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["IdTable"]

_EMPTY = -1  # never held an entry: a probe stops here
_GONE = -2  # held one that was removed: a probe goes on past it (an insert may take it)
_MIN_SIZE = 8
_TAG_SHIFT = 48  # the tag: hash bits 48-63 (the table's position uses the low bits)


def _tag(h: int) -> int:
    return (h >> _TAG_SHIFT) & 0xFFFF


class IdTable:
    """Map responder ids to slots (see the module docstring).

    Parameters
    ----------
    ids
        The index's slot -> id list (``None``: a free slot), read, never written: the
        table holds slots, and ``ids[slot]`` is that slot's id.
    """

    def __init__(self, ids: list[str | None]) -> None:
        self._ids = ids
        self._count = 0  # ids held
        self._make(_MIN_SIZE)

    def _make(self, size: int) -> None:
        self._tab: NDArray[np.int32] = np.full(size, _EMPTY, dtype=np.int32)
        self._tags: NDArray[np.uint16] = np.zeros(size, dtype=np.uint16)
        self._mv = memoryview(self._tab)  # type: ignore[arg-type]  # Python-int reads, writes
        self._tmv = memoryview(self._tags)  # type: ignore[arg-type]
        self._mask = size - 1
        self._used = 0  # entries not _EMPTY (held or _GONE)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, responder_id: object) -> bool:
        return self.get(responder_id) is not None

    def __iter__(self) -> Iterator[str]:
        # In slot order (the ids list's).
        return iter([rid for rid in self._ids if rid is not None])

    @property
    def nbytes(self) -> int:
        """Bytes of the table (the ids are the index's)."""
        return int(self._tab.nbytes + self._tags.nbytes)

    def get(self, responder_id: object, default: int | None = None) -> int | None:
        """The slot of ``responder_id``, else ``default`` (``TypeError`` if unhashable)."""
        # One by one, the tags are not read: the id compared is read anyway on a match (the
        # usual first probe), and reading the tag too costs one more cache miss.
        mask, mv, ids = self._mask, self._mv, self._ids
        i = hash(responder_id) & mask
        while True:
            slot = mv[i]
            if slot >= 0:
                if ids[slot] == responder_id:
                    return slot
            elif slot == _EMPTY:
                return default
            i = (i + 1) & mask

    def __getitem__(self, responder_id: object) -> int:
        slot = self.get(responder_id)
        if slot is None:
            raise KeyError(responder_id)
        return slot

    def get_many(self, responder_ids: Sequence[Any]) -> NDArray[np.int64]:
        """The slot of every id (``-1``: not held), probing all rows at once.

        Raises ``TypeError`` when an id is unhashable.
        """
        n = len(responder_ids)
        hashes = np.fromiter(map(hash, responder_ids), dtype=np.int64, count=n)
        out = np.full(n, -1, dtype=np.int64)
        if not n or not self._count:
            return out
        tab, tags, mask = self._tab, self._tags, self._mask
        want = ((hashes >> _TAG_SHIFT) & 0xFFFF).astype(np.uint16)
        pos = hashes & mask
        rows = np.arange(n)
        while rows.size:  # numpy only: the first entry with the row's tag, or _EMPTY
            found = tab[pos]
            hit = (found >= 0) & (tags[pos] == want[rows])
            out[rows[hit]] = found[hit]
            go = ~hit & (found != _EMPTY)
            rows = rows[go]
            pos = (pos[go] + 1) & mask
        # Check every candidate against the ids (one pass); a tag that matched another id
        # (about one row in 65,536 probed past it) is looked up again, probing past it.
        ids = self._ids
        cand = np.flatnonzero(out >= 0)
        asked: Iterable[Any]
        if cand.shape[0] == n:
            asked = responder_ids
        else:
            asked = map(responder_ids.__getitem__, cand.tolist())
        same = np.fromiter(
            map(operator.eq, map(ids.__getitem__, out[cand].tolist()), asked),
            dtype=bool,
            count=cand.shape[0],
        )
        for row in cand[~same].tolist():
            slot = self.get(responder_ids[row])
            out[row] = -1 if slot is None else slot
        return out

    def add_many(self, responder_ids: Sequence[str], slots: NDArray[np.int64]) -> None:
        """File new ids (none held yet, no repeats) under these slots."""
        k = len(responder_ids)
        if not k:
            return
        if 3 * (self._used + k) > 2 * self._tab.shape[0]:
            self._resize(self._count + k)
        hashes = np.fromiter(map(hash, responder_ids), dtype=np.int64, count=k)
        self._place(hashes, slots)
        self._count += k

    def add(self, responder_id: str, slot: int) -> None:
        """File one new id (not held yet) under ``slot``."""
        if 3 * (self._used + 1) > 2 * self._tab.shape[0]:
            self._resize(self._count + 1)
        h = hash(responder_id)
        mask, mv = self._mask, self._mv
        i = h & mask
        while mv[i] >= 0:
            i = (i + 1) & mask
        if mv[i] == _EMPTY:
            self._used += 1
        mv[i] = slot
        self._tmv[i] = _tag(h)
        self._count += 1

    def remove(self, responder_id: object) -> int:
        """Forget an id: its slot (``KeyError`` when not held)."""
        h = hash(responder_id)
        tag = _tag(h)
        mask, mv, tmv, ids = self._mask, self._mv, self._tmv, self._ids
        i = h & mask
        while True:
            slot = mv[i]
            if slot >= 0:
                if tmv[i] == tag and ids[slot] == responder_id:
                    mv[i] = _GONE
                    self._count -= 1
                    return int(slot)
            elif slot == _EMPTY:
                raise KeyError(responder_id)
            i = (i + 1) & mask

    def _resize(self, count: int) -> None:
        # A table at most half full for ``count`` ids, refilled with the ids held now.
        size = _MIN_SIZE
        while size < 2 * count:
            size *= 2
        slots = self._tab[self._tab >= 0].astype(np.int64)
        held = list(map(self._ids.__getitem__, slots.tolist()))
        self._make(size)
        if held:
            self._place(np.fromiter(map(hash, held), dtype=np.int64, count=len(held)), slots)

    def _place(self, hashes: NDArray[np.int64], slots: NDArray[np.int64]) -> None:
        # Insert at once: each round, every pending entry writes its slot at its probe
        # position when that is free; one write per position stays (the slots differ), and
        # the entries whose write did not stay probe on.
        tab, tags, mask = self._tab, self._tags, self._mask
        pos = hashes & mask
        values = slots.astype(np.int32)
        tag = ((hashes >> _TAG_SHIFT) & 0xFFFF).astype(np.uint16)
        while pos.size:
            free = np.flatnonzero(tab[pos] < 0)
            at = pos[free]
            empty = tab[at] == _EMPTY
            tab[at] = values[free]
            won = tab[at] == values[free]
            self._used += int(np.count_nonzero(won & empty))
            tags[at[won]] = tag[free[won]]
            rest = np.ones(pos.shape[0], dtype=bool)
            rest[free[won]] = False
            pos = (pos[rest] + 1) & mask
            values = values[rest]
            tag = tag[rest]
