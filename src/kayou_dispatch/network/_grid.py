"""List straight segments per cell of a uniform square grid, to gather snapping candidates.

Each cell lists every segment that comes within ``halo_m`` of the cell (a superset: the
segment's rows in each column of cells are taken from its y range over the column widened
by the halo, so rounding cannot drop a cell). The lists of a block of cells around a point
therefore hold every segment within ``halo_m`` of the block, and any segment left out is
farther from the point than ``halo_m`` plus the distance to the block's nearest side.
:meth:`SegmentGrid.gather` returns that distance (the block's *reach*) with the candidates;
the caller decides whether its nearest candidate is closer than the reach. The grid covers
every segment; a block partly off it loses nothing (the part on the grid is at least as near
every segment), but a block wholly off it gathers nothing and its reach means nothing:
callers skip empty blocks. Candidates may repeat in blocks of several cells (a segment
listed in several of them); that changes no minimum.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["SegmentGrid"]

# Halos are widened by this much (metres) so rounding cannot drop a cell.
_SLACK_M = 0.01
# Dense cell tables above this many cells would cost more memory than they save time.
_MAX_CELLS = 1 << 22
# Wanted list entries per segment (memory), on average: cells grow until the estimate fits.
_ENTRIES_PER_SEGMENT = 9.0


class SegmentGrid:
    """Segments ``(ax, ay) -> (bx, by)`` (plane metres) listed per grid cell, CSR style.

    Parameters
    ----------
    ax, ay, bx, by
        Segment end points in a plane, metres.
    ids
        The id to list for each segment (an index into the caller's arrays).
    cell_m
        Wanted cell side; raised when the network's extent would need too many cells or
        the lists too many entries (sparse networks).
    halo_m
        Each cell lists the segments within this distance of it.
    """

    def __init__(
        self,
        ax: NDArray[np.float64],
        ay: NDArray[np.float64],
        bx: NDArray[np.float64],
        by: NDArray[np.float64],
        ids: NDArray[np.int64],
        cell_m: float,
        halo_m: float,
    ) -> None:
        x_lo = float(min(ax.min(), bx.min())) - 1.0
        y_lo = float(min(ay.min(), by.min())) - 1.0
        x_hi = float(max(ax.max(), bx.max())) + 1.0
        y_hi = float(max(ay.max(), by.max())) + 1.0
        c = max(cell_m, math.sqrt((x_hi - x_lo) * (y_hi - y_lo) / _MAX_CELLS))
        # Sparse networks get larger cells: keep the lists near _ENTRIES_PER_SEGMENT on average
        # (estimated from each halo's bounding box).
        wx = np.abs(bx - ax) + 2.0 * halo_m
        wy = np.abs(by - ay) + 2.0 * halo_m
        while c < 4.0 * cell_m:
            estimate = float(np.sum((wx / c + 1.0) * (wy / c + 1.0)))
            if estimate <= _ENTRIES_PER_SEGMENT * ax.shape[0]:
                break
            c *= 1.2
        nx = int((x_hi - x_lo) // c) + 1
        ny = int((y_hi - y_lo) // c) + 1
        self.cell_m = c
        self.x0 = x_lo
        self.y0 = y_lo
        self.nx = nx
        self.ny = ny

        self.halo_m = halo_m
        reach = halo_m + _SLACK_M
        # Every column of cells the segment's halo meets, then in each column the rows
        # between the segment's lowest and highest point over the column's x range (widened
        # by the halo): a superset of the cells within halo_m of the segment, without repeats.
        x_min = np.minimum(ax, bx)
        x_max = np.maximum(ax, bx)
        i0 = np.floor((x_min - reach - x_lo) / c).astype(np.int64)
        i1 = np.floor((x_max + reach - x_lo) / c).astype(np.int64)
        i0 = np.clip(i0, 0, nx - 1)
        i1 = np.clip(i1, 0, nx - 1)
        n_col = i1 - i0 + 1
        col_seg = np.repeat(np.arange(ax.shape[0], dtype=np.int64), n_col)
        col = i0[col_seg] + np.arange(col_seg.shape[0]) - (np.cumsum(n_col) - n_col)[col_seg]
        sx0, sy0 = ax[col_seg], ay[col_seg]
        sdx, sdy = (bx - ax)[col_seg], (by - ay)[col_seg]
        cx_lo = x_lo + col * c - reach
        cx_hi = x_lo + (col + 1) * c + reach
        steep = np.abs(sdx) < 1e-6
        safe_dx = np.where(steep, 1.0, sdx)
        ta = np.clip((cx_lo - sx0) / safe_dx, 0.0, 1.0)
        tb = np.clip((cx_hi - sx0) / safe_dx, 0.0, 1.0)
        ta = np.where(steep, 0.0, ta)
        tb = np.where(steep, 1.0, tb)
        ya = sy0 + ta * sdy
        yb = sy0 + tb * sdy
        j0 = np.floor((np.minimum(ya, yb) - reach - y_lo) / c).astype(np.int64)
        j1 = np.floor((np.maximum(ya, yb) + reach - y_lo) / c).astype(np.int64)
        j0 = np.clip(j0, 0, ny - 1)
        j1 = np.clip(j1, 0, ny - 1)
        n_row = j1 - j0 + 1
        cell_col = np.repeat(np.arange(col.shape[0], dtype=np.int64), n_row)
        j = j0[cell_col] + np.arange(cell_col.shape[0]) - (np.cumsum(n_row) - n_row)[cell_col]
        cell = j * nx + col[cell_col]
        # Stable: each cell lists its segments in ascending order.
        order = np.argsort(cell, kind="stable")
        self.seg = ids[col_seg[cell_col[order]]].astype(np.int32)
        # Only cells that list something are kept (most of a regional network's extent is
        # empty): ``off[i]:off[i + 1]`` are the entries of cell ``cells[i]``.
        counts = np.bincount(cell, minlength=nx * ny)
        nonempty = np.flatnonzero(counts)
        self.cells = nonempty.astype(np.int32)
        self.off = np.zeros(nonempty.shape[0] + 1, dtype=np.int32)
        np.cumsum(counts[nonempty], out=self.off[1:])

    def start_of(self, cell: NDArray[np.int64]) -> NDArray[np.int32]:
        """Return where the list of each (row-major) cell starts in :attr:`seg`.

        Cells in a row are consecutive, so ``start_of(c1) - start_of(c0)`` entries from
        ``start_of(c0)`` are the lists of cells ``c0 .. c1 - 1`` (empty cells included).
        """
        # In the table's own dtype: a mixed-dtype search would cast the whole table.
        out: NDArray[np.int32] = self.off[np.searchsorted(self.cells, cell.astype(np.int32))]
        return out

    @property
    def nbytes(self) -> int:
        """Memory held by the cell table and the lists."""
        return int(self.seg.nbytes + self.off.nbytes + self.cells.nbytes)

    def gather(
        self, qx: NDArray[np.float64], qy: NDArray[np.float64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Gather the segments listed in a ``k`` x ``k`` block of cells around each point.

        The block is the one whose centre is nearest the point, so every side is at least
        ``(k - 1) / 2`` cells away.

        Returns
        -------
        row, seg
            One pair per candidate, grouped by point (``row`` ascending).
        count
            Candidates per point.
        reach
            ``halo_m`` plus the distance from each point to the nearest side of its block
            (minus a slack): every segment not gathered is at least this far from the point,
            in the plane, unless the point gathered nothing (a block wholly off the grid);
            ``inf`` for a block that covers the whole grid (it gathers every segment).
        """
        start, stop, reach = self.block(qx, qy, k)
        row, seg, count = self.take(start, stop)
        return row, seg, count, reach

    def block(
        self, qx: NDArray[np.float64], qy: NDArray[np.float64], k: int
    ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
        """Where the lists of each point's ``k`` x ``k`` block lie in :attr:`seg`, unread.

        ``start[i, j]:stop[i, j]`` are the entries of the block's ``j``-th row of cells
        around point ``i`` (``(stop - start).sum(axis=1)`` counts its candidates before
        :meth:`take` reads them); ``reach`` as :meth:`gather` returns it.
        """
        c = self.cell_m
        fx = (qx - self.x0) / c
        fy = (qy - self.y0) / c
        # The block's lower corner: the point's cell centred (odd k) or the cell corner
        # nearest the point centred (even k).
        shift = 0.5 * (k - 1)
        lo_x = np.floor(fx - shift).astype(np.int64)
        lo_y = np.floor(fy - shift).astype(np.int64)
        bx0 = self.x0 + lo_x * c
        by0 = self.y0 + lo_y * c
        reach = np.minimum(
            np.minimum(qx - bx0, bx0 + k * c - qx), np.minimum(qy - by0, by0 + k * c - qy)
        )
        reach = reach + (self.halo_m - _SLACK_M)
        whole = (lo_x <= 0) & (lo_x + k >= self.nx) & (lo_y <= 0) & (lo_y + k >= self.ny)
        reach[whole] = np.inf
        # Rows of the block: cells [lo_x, lo_x + k) in each of k grid rows, clipped.
        cx0 = np.clip(lo_x, 0, self.nx)
        cx1 = np.clip(lo_x + k, 0, self.nx)
        ys = lo_y[:, None] + np.arange(k)[None, :]
        inside = (ys >= 0) & (ys < self.ny) & (cx1 > cx0)[:, None]
        base = np.where(inside, ys, 0) * self.nx
        start = np.where(inside, self.start_of(base + cx0[:, None]), 0).astype(np.int32)
        stop = np.where(inside, self.start_of(base + cx1[:, None]), 0).astype(np.int32)
        return start, stop, reach

    def take(
        self, start: NDArray[np.int32], stop: NDArray[np.int32]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Read the lists of blocks (from :meth:`block`): ``row, seg, count`` as in gather."""
        n, k = start.shape
        cnt = (stop - start).astype(np.int64).ravel()
        total = int(cnt.sum())
        count = cnt.reshape(n, k).sum(axis=1)
        row = np.repeat(np.arange(n, dtype=np.int64), count)
        ends = np.cumsum(cnt)
        idx = np.arange(total, dtype=np.int64) + np.repeat(start.ravel() - (ends - cnt), cnt)
        return row, self.seg[idx].astype(np.int64), count
