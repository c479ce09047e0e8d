"""The segment grid's one promise: every segment left out of a block is at least reach away."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch.network._grid import SegmentGrid

coords = st.floats(-500.0, 500.0, allow_nan=False)
segments = st.lists(st.tuples(coords, coords, coords, coords), min_size=1, max_size=25)


def _point_segment_m(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    dd = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    return np.hypot(ax + t * dx - px, ay + t * dy - py)


@settings(max_examples=300, deadline=None)
@given(
    segments,
    st.lists(st.tuples(st.floats(-700.0, 700.0), st.floats(-700.0, 700.0)), min_size=1),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from([(10.0, 0.0), (25.0, 15.0), (40.0, 30.0)]),
)
def test_segments_within_reach_are_gathered(segs, pts, k, cell_halo):
    s = np.array(segs, dtype=float)
    ax, ay, bx, by = s.T
    ids = np.arange(s.shape[0], dtype=np.int64) * 3 + 7  # ids are passed through
    grid = SegmentGrid(ax, ay, bx, by, ids, *cell_halo)
    qx = np.array([p[0] for p in pts])
    qy = np.array([p[1] for p in pts])
    row, seg, count, reach = grid.gather(qx, qy, k)
    assert count.sum() == row.shape[0] == seg.shape[0]
    assert (np.diff(row) >= 0).all()
    assert (reach >= cell_halo[1] + 0.5 * (k - 1) * grid.cell_m - 0.02).all()
    for i in range(qx.shape[0]):
        if not count[i]:
            # A block wholly off the grid gathers nothing: snapping never trusts its reach.
            continue
        got = set(seg[row == i].tolist())
        d = _point_segment_m(qx[i], qy[i], ax, ay, bx, by)
        for j in np.flatnonzero(d < reach[i]):
            assert int(ids[j]) in got


def test_a_sparse_network_gets_larger_cells():
    # Long, far-apart roads: cells grow until the lists stay small on average.
    n = 200
    ax = np.arange(n) * 1000.0
    ay = np.zeros(n)
    grid = SegmentGrid(ax, ay, ax + 900.0, ay, np.arange(n, dtype=np.int64), 40.0, 30.0)
    assert grid.cell_m > 40.0
    assert grid.seg.shape[0] <= 9.5 * n
