"""CellBuckets (the index's buckets) against the obvious oracle: a scan of the cell column."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch.spatial import _cells
from kayou_dispatch.spatial._cells import CellBuckets

# An operation: (slot, new cell) moves one slot; (slot, None) kills it; "many" moves a batch;
# "rebuild" folds everything in.
_op = st.one_of(
    st.tuples(st.integers(0, 63), st.one_of(st.none(), st.integers(1, 12))),
    st.tuples(
        st.just("many"), st.lists(st.tuples(st.integers(0, 63), st.integers(1, 12)), max_size=20)
    ),
    st.just("rebuild"),
)


@given(
    ops=st.lists(_op, max_size=80),
    asks=st.lists(st.lists(st.integers(0, 13), max_size=6), min_size=1, max_size=5),
    small=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_gather_is_every_live_slot_of_the_cells_once(ops, asks, small):
    cells = np.zeros(64, dtype=np.int64)
    alive = np.zeros(64, dtype=bool)
    buckets = CellBuckets(cells, alive)
    old = _cells._MOVED_MIN
    _cells._MOVED_MIN = 3 if small else old  # fold often, or never
    try:
        for op in ops:
            if op == "rebuild":
                buckets.rebuild()
            elif op[0] == "many":
                slots = np.array([s for s, _ in op[1]], dtype=np.int64)
                for s, c in op[1]:
                    cells[s], alive[s] = c, True
                buckets.move_many(slots)
            else:
                slot, cell = op
                if cell is None:
                    alive[slot] = False  # as ResponderIndex.remove: no bucket call
                    cells[slot] = 0
                else:
                    alive[slot] = True
                    if cells[slot] != cell:
                        cells[slot] = cell
                        buckets.move(slot)
            for ask in asks:
                want = np.flatnonzero(alive & np.isin(cells, ask))
                distinct = np.array(list(dict.fromkeys(ask)), dtype=np.int64)[::-1]
                for got in (buckets.gather(ask), buckets.gather(distinct, distinct=True)):
                    live = got[alive[got]]
                    assert live.size == np.unique(live).size  # each once
                    assert sorted(live.tolist()) == want.tolist()
    finally:
        _cells._MOVED_MIN = old


def test_moves_are_folded_in_bulk():
    cells = np.zeros(100_000, dtype=np.int64)
    alive = np.ones(100_000, dtype=bool)
    buckets = CellBuckets(cells, alive)
    buckets.rebuild()
    for slot in range(20_000):
        cells[slot] = 1 + slot % 7
        buckets.move(slot)
        assert len(buckets._moved) <= max(_cells._MOVED_MIN, 100_000 // _cells._MOVED_SHARE)
    assert sorted(buckets.gather([3]).tolist()) == [s for s in range(20_000) if 1 + s % 7 == 3]


def test_int32_keys_answer_asks_beyond_int32_and_large_keys_stay_int64():
    # Small keys (node indices) are kept as int32: asking for a cell outside int32 finds
    # nothing (rather than wrapping round onto a small one); H3-sized keys stay int64.
    for dtype in (np.int32, np.int64):
        cells = np.array([5, 7, 5, -1], dtype=dtype)
        alive = np.ones(4, dtype=bool)
        buckets = CellBuckets(cells, alive)
        buckets.rebuild()
        assert buckets._cells.dtype == np.int32 and buckets._slots.dtype == np.int32
        got = buckets.gather([5, 5 + (1 << 32), -(1 << 40)])
        assert got.dtype == np.int64 and sorted(got.tolist()) == [0, 2]
    h3 = 0x88283082A3FFFFF
    cells = np.array([h3, h3 + 1, h3], dtype=np.int64)
    buckets = CellBuckets(cells, np.ones(3, dtype=bool))
    buckets.rebuild()
    assert buckets._cells.dtype == np.int64
    assert sorted(buckets.gather([h3]).tolist()) == [0, 2]


def test_slots_beyond_int32_are_refused(monkeypatch):
    from kayou_dispatch import InvalidParameterError

    monkeypatch.setattr(_cells, "MAX_SLOTS", 2)
    buckets = CellBuckets(np.ones(4, dtype=np.int64), np.ones(4, dtype=bool))
    with pytest.raises(InvalidParameterError, match="at most 2 slots"):
        buckets.rebuild()
