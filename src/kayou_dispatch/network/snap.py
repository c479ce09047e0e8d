"""Snap GPS points to the nearest road edge, optionally only to edges heading the same way.

Every edge is cut into its straight segments (node, shape points, node). A point snaps to the
nearest segment over all segments (with a heading: all segments whose bearing is within 60
degrees of it), measured in an equirectangular plane centred on the point
(:meth:`SegmentIndex._geometry`); segments within 1 µm of the nearest distance tie, and the
lowest segment (so the lowest edge) among them wins. Two details make the common ties exact
rather than left to rounding: the nearest point is taken as the end point itself whenever
the projection clips, so roads meeting at a node measure bit-identical distances to it; and
twin edges (one two-way road, see ``_twins``) are measured on one *canonical* segment, the
lowest-indexed edge's, so a road and its twin measure identically. The tolerance covers the
rest (overlapping roads drawn from different points). The reported ``distance_m`` is the
great-circle distance to the snapped point.

**Fast path (a grid).** Canonical segments are listed in a uniform grid of square cells in
the network's own equirectangular plane (``_grid``): each cell lists every segment within
its *halo* (30 m) of the cell. The lists of a k x k block of cells around a point therefore
hold every segment within ``reach`` = halo + (distance from the point to the block's
nearest side) of it in that plane, and every segment left out is farther than ``reach``. A
point's own plane is the network's plane stretched east-west by ``cos(lat) / cos(lat0)``, a
linear map, so distances there are at least ``reach * min(1, cos(lat) / cos(lat0))``.
Whenever the nearest gathered candidate is closer than that bound by more than the tie
tolerance (and a margin far above rounding), no segment left out can beat it or tie with
it, so the gathered candidates decide exactly what all segments would: exact by
construction, for any network size. The same holds for headings, since left-out segments
are too far whatever their bearing. Points that their own cell (k = 1) cannot settle try
blocks of 2, 4 and 8 cells; the rest (far from every road, or no matching heading nearby)
go on to the coarse grid. With a heading, a canonical segment stands for itself when its
bearing matches and otherwise for its lowest twin running the other way, if that one
matches.

**Coarse grid.** The same canonical segments listed in 640 m cells with no halo (about one
entry per segment), saved with the network like the fine grid: nothing is built on a
query. Blocks there are settled by the same test; a block that holds candidates is widened
at once to the side that would settle its nearest one (the nearest can only get nearer),
one that holds none four times, and a block that covers the whole grid settles every
point. A point outside the network's extent starts with a block reaching into it. With a
heading, or when ``measure_far`` is off, the search stops once a block's reach passes
``max_distance_m`` (widened by the plane's worst distortion between the point's and the
network's latitudes): nothing beyond can be within it, so a point whose nearest candidate
by then is farther still is off the network (``distance_m`` inf without ``measure_far``),
and one whose nearest may be within it searches on until proven. Candidates are measured in batches
of bounded size, so a point a thousand kilometres away costs one pass over the segments,
never a matrix of them.

Networks must not straddle the antimeridian.

Why this file is long (over 600 lines): the exact nearest-segment search has a single-point
path, a batch path and the coarse grid's widening blocks, and all must apply the same
distance arithmetic and the same tie rules bit for bit, headings included; they are kept
side by side so that one rule is never changed without the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.geo import EARTH_RADIUS_M, haversine_m_array
from kayou_dispatch.network._grid import SegmentGrid
from kayou_dispatch.network._persist import narrow

__all__ = ["HEADING_TOLERANCE_DEG", "NODE_SNAP_M", "SegmentIndex", "Snap", "SnapArrays"]

# One snapped point as scalars: (edge, fraction, distance_m, lat, lng, node), edge -1 if off.
_OnePoint = tuple[int, float, float, float, float, int]

#: A heading matches an edge when the edge's bearing at the snapped point is this close.
HEADING_TOLERANCE_DEG = 60.0
#: A snapped point this close to an end of its edge is that node.
NODE_SNAP_M = 1.0

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
# Grid cell side (network plane metres) and the blocks of cells tried before the coarse grid:
# a k x k block settles points within (k - 1) / 2 cells of their nearest road.
_CELL_M = 40.0
_HALO_M = 30.0
_BLOCKS = (1, 2, 4, 8)
# The coarse grid's cells (plane metres, no halo), and at most this many candidates (or
# block rows) measured at once there.
_COARSE_CELL_M = 640.0
_MAX_PAIRS = 1 << 21
# Points snapped at once (more are snapped in pieces of this many).
_SNAP_CHUNK = 1 << 17
_COS2_TOLERANCE = math.cos(math.radians(HEADING_TOLERANCE_DEG)) ** 2
# Distances this close to the nearest count as equal: the lowest segment among them wins
# (overlapping roads drawn from different points measure a little differently).
_TIE_M = 1e-6
# Stands for "no segment" in minimum reductions.
_NO_SEG = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Snap:
    """Where a point meets the road network.

    Attributes
    ----------
    edge
        Index of the directed edge the point was snapped to.
    fraction
        Position along that edge by length, ``0`` at its tail node, ``1`` at its head.
    distance_m
        Great-circle distance from the point to the snapped point.
    lat, lng
        The snapped point.
    node
        The dense node index when the snapped point is within :data:`NODE_SNAP_M` of an end
        of the edge (``fraction`` is then exactly 0 or 1), else ``None``.
    twin
        The edge's twin (the same two-way road driven the other way, where the point lies
        at fraction ``1 - fraction``) when a trip starting here may leave along it too:
        ``None`` on one-way roads, at nodes, and when the point was snapped with a heading
        (the heading picks the direction). A trip *ending* here is always reachable along
        both twins (see :attr:`RoadNetwork.edge_twin`).
    """

    edge: int
    fraction: float
    distance_m: float
    lat: float
    lng: float
    node: int | None = None
    twin: int | None = None


class SnapArrays(NamedTuple):
    """Snaps of many points, one row per point.

    Rows with no qualifying road within ``max_distance_m`` have ``edge == -1``,
    ``fraction``, ``lat`` and ``lng`` NaN, and ``distance_m`` the distance to the nearest
    qualifying road found (``inf`` when none qualifies within the search). ``node`` is
    ``-1`` where the snap is not at a node; ``twin`` is ``-1`` where :attr:`Snap.twin` is
    ``None``.
    """

    edge: NDArray[np.int64]
    fraction: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    node: NDArray[np.int64]
    twin: NDArray[np.int64]


def _heading_ok(
    dx: NDArray[np.float64], dy: NDArray[np.float64], hv: NDArray[np.float64]
) -> NDArray[np.bool_]:
    # Direction (dx, dy) within 60 degrees of the unit heading vector hv (east, north):
    # cos(angle) >= cos(tolerance), i.e. dot >= 0 and dot^2 >= cos^2 |d|^2 (no trigonometry
    # per candidate).
    dot = dx * hv[..., 0]
    dot += dy * hv[..., 1]
    dd = dx * dx
    dd += dy * dy
    out: NDArray[np.bool_] = (dot >= 0.0) & (dot * dot >= _COS2_TOLERANCE * dd)
    return out


def _haversine_one(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    # haversine_m_array for one pair, operation for operation (the same numpy functions for
    # the transcendental steps, IEEE arithmetic for the rest), in four numpy calls.
    p1, p2, dl = np.radians([lat1, lat2, lng2 - lng1]).tolist()
    s0, s1 = np.sin([(p2 - p1) * 0.5, dl * 0.5]).tolist()
    c1, c2 = np.cos([p1, p2]).tolist()
    a = s0 * s0 + c1 * c2 * (s1 * s1)
    return float(2.0 * EARTH_RADIUS_M * np.arcsin([math.sqrt(min(a, 1.0))])[0])


def _pick(
    d2: NDArray[np.float64],
    seg: NDArray[np.int64],
    starts: NDArray[np.int64],
    counts: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    # Per group of candidates (contiguous, non-empty): the least squared distance, and the
    # lowest segment within _TIE_M of it (_NO_SEG when none qualifies: all inf).
    d_min = np.minimum.reduceat(d2, starts)
    limit = np.sqrt(d_min)
    limit += _TIE_M
    limit *= limit
    tied = d2 <= np.repeat(limit, counts)
    s_min = np.minimum.reduceat(np.where(tied, seg, _NO_SEG), starts)
    return d_min, s_min


def _heading_vectors(headings: NDArray[np.float64] | None) -> NDArray[np.float64] | None:
    if headings is None:
        return None
    h = np.radians(headings)
    return np.stack([np.sin(h), np.cos(h)], axis=-1)


def _block_side(reach: NDArray[np.float64], cell_m: float) -> NDArray[np.int64]:
    # The least side k of a block of cells whose reach, (k - 1) / 2 cells less the grid's
    # slack, is at least reach (capped far beyond any network: no overflow).
    k = np.ceil(2.0 * (np.minimum(reach, 1e15) + 0.02) / cell_m) + 1.0
    return k.astype(np.int64)


def _row_chunks(rows: NDArray[np.int64], side: int) -> list[NDArray[np.int64]]:
    # Rows in groups whose blocks' row tables (side entries each) stay small.
    step = max(1, _MAX_PAIRS // side)
    return [rows[i : i + step] for i in range(0, rows.shape[0], step)]


def _chunks(count: NDArray[np.int64], cap: int) -> list[NDArray[np.int64]]:
    # Consecutive runs of positions whose counts total at most cap (one over it alone).
    cum = np.cumsum(count)
    out = []
    lo = 0
    while lo < count.shape[0]:
        base = int(cum[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, base + cap, side="right")))
        out.append(np.arange(lo, hi))
        lo = hi
    return out


class SegmentIndex:
    """The straight segments of every edge, in a fine and a coarse grid.

    Parameters
    ----------
    lat, lng
        Node coordinates.
    u, v, geom_offsets, geom_lat, geom_lng
        Edges and their intermediate shape points, as in
        :class:`~kayou_dispatch.network.EdgeArrays`.
    twin
        Each edge's twin or ``-1`` (:func:`~kayou_dispatch.network._twins.twin_edges`);
        twins are then measured on one shared segment and listed in the grid once.
        Without it every edge stands alone (still correct, a little slower).
    """

    def __init__(
        self,
        lat: NDArray[np.float64],
        lng: NDArray[np.float64],
        u: NDArray[np.int64],
        v: NDArray[np.int64],
        geom_offsets: NDArray[np.int64],
        geom_lat: NDArray[np.float64],
        geom_lng: NDArray[np.float64],
        *,
        twin: NDArray[np.int64] | None = None,
    ) -> None:
        m = u.shape[0]
        n_shape = np.diff(geom_offsets)
        n_pts = n_shape + 2
        pt_off = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(n_pts, out=pt_off[1:])
        total = int(pt_off[-1])
        pt_lat = np.empty(total)
        pt_lng = np.empty(total)
        pt_lat[pt_off[:-1]] = lat[u]
        pt_lng[pt_off[:-1]] = lng[u]
        pt_lat[pt_off[1:] - 1] = lat[v]
        pt_lng[pt_off[1:] - 1] = lng[v]
        shape_edge = np.repeat(np.arange(m, dtype=np.int64), n_shape)
        shape_pos = pt_off[shape_edge] + 1 + np.arange(geom_lat.shape[0]) - geom_offsets[shape_edge]
        pt_lat[shape_pos] = geom_lat
        pt_lng[shape_pos] = geom_lng

        is_start = np.ones(total, dtype=bool)
        is_start[pt_off[1:] - 1] = False
        seg_a = np.flatnonzero(is_start)
        seg_edge = np.repeat(np.arange(m, dtype=np.int64), n_pts - 1)
        seg_len = haversine_m_array(
            pt_lat[seg_a], pt_lng[seg_a], pt_lat[seg_a + 1], pt_lng[seg_a + 1]
        )
        cum = np.cumsum(seg_len)
        # Each point's fraction along its edge: the length before it over the edge's (0 on
        # a zero-length edge); an edge's ends are exactly 0 and 1.
        first_seg = pt_off[:-1] - np.arange(m)
        edge_cum0 = np.concatenate(([0.0], cum))[first_seg]
        seg_before = cum - seg_len - edge_cum0[seg_edge]
        edge_len = np.bincount(seg_edge, weights=seg_len, minlength=m)
        seg_elen = edge_len[seg_edge]
        pt_frac = np.zeros(total)
        pt_frac[seg_a] = np.divide(
            seg_before, seg_elen, out=np.zeros_like(seg_before), where=seg_elen > 0
        )
        pt_frac[pt_off[:-1]] = 0.0
        pt_frac[pt_off[1:] - 1] = edge_len > 0

        # Index arrays are stored as narrow as their range allows (narrow). Edge e's points
        # are geom_offsets[e] + 2 e onwards (its two ends and its shape points), and segment
        # s runs from point s + seg_edge[s] to the next one (an edge of p points has p - 1
        # segments): no per-segment copy of the end points is kept.
        self.geom_offsets = geom_offsets  # the graph's own array (saved by reference)
        self.pt_lat = pt_lat
        self.pt_lng = pt_lng
        self.seg_edge = narrow(seg_edge)
        self.pt_frac = pt_frac
        self.u = u
        self.v = v
        self.node_lat = lat
        self.node_lng = lng

        self.lat_min = float(pt_lat.min())
        self.lat_max = float(pt_lat.max())
        self.lat0 = 0.5 * (self.lat_min + self.lat_max)
        self.lng0 = 0.5 * (float(pt_lng.min()) + float(pt_lng.max()))
        self.cos0 = math.cos(math.radians(self.lat0))
        ax, ay, bx, by = self._plane_ends(np.arange(seg_edge.shape[0], dtype=np.int64))

        # Twins: every segment is measured in the orientation of its canonical segment (the
        # same piece of road in the lowest-indexed edge), so twins tie exactly.
        n_seg = seg_edge.shape[0]
        canon_edge = np.arange(m, dtype=np.int64)
        flip_edge = np.zeros(m, dtype=bool)
        if twin is not None and m:
            tw = np.asarray(twin, dtype=np.int64)
            while True:
                t = tw[canon_edge]
                move = (t >= 0) & (t < canon_edge)
                if not move.any():
                    break
                canon_edge = np.where(move, t, canon_edge)
                flip_edge ^= move
        seg_first = pt_off[:-1] - np.arange(m)
        seg_count = n_pts - 1
        pos = np.arange(n_seg, dtype=np.int64) - seg_first[seg_edge]
        flip = flip_edge[seg_edge]
        seg_canon = seg_first[canon_edge[seg_edge]] + np.where(
            flip, seg_count[seg_edge] - 1 - pos, pos
        )
        self.seg_canon = narrow(seg_canon)
        self.seg_flip = flip
        # The lowest segment running against each canonical one (-1: none).
        rev = np.full(n_seg, n_seg, dtype=np.int64)
        flipped = np.flatnonzero(flip)
        np.minimum.at(rev, seg_canon[flipped], flipped)
        self.seg_rev = narrow(np.where(rev < n_seg, rev, -1))
        canonical = np.flatnonzero(seg_canon == np.arange(n_seg))
        ends_c = (ax[canonical], ay[canonical], bx[canonical], by[canonical])
        self.grid = SegmentGrid(*ends_c, canonical, _CELL_M, _HALO_M)
        # The same segments in coarse cells without a halo (about one entry each): the blocks
        # that settle what the fine grid's cannot (far from roads, no matching heading near).
        self.coarse = SegmentGrid(*ends_c, canonical, _COARSE_CELL_M, 0.0)

    def _ends(self, seg: NDArray[np.int64]) -> NDArray[np.int64]:
        # The point each segment starts at (it ends at the next one).
        out: NDArray[np.int64] = seg.astype(np.int64) + self.seg_edge[seg]
        return out

    def _plane_ends(
        self, seg: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        # The segments' end points in the network's plane (ax, ay, bx, by), computed from the
        # points each time: the same arithmetic gives the same bits as a stored copy would.
        a = self._ends(seg)
        ax, ay = self.to_plane(self.pt_lat[a], self.pt_lng[a])
        bx, by = self.to_plane(self.pt_lat[a + 1], self.pt_lng[a + 1])
        return ax, ay, bx, by

    def to_plane(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Project to the network's equirectangular plane, metres."""
        return (lng - self.lng0) * (self.cos0 * _M_PER_DEG), lat * _M_PER_DEG

    def _distortion(
        self, lats: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        # Bounds kmin <= plane/true <= kmax over latitudes between the query and the network.
        lo = np.minimum(lats, self.lat_min)
        hi = np.maximum(lats, self.lat_max)
        c_lo = np.cos(np.radians(lo))
        c_hi = np.cos(np.radians(hi))
        c_max = np.where((lo <= 0.0) & (hi >= 0.0), 1.0, np.maximum(c_lo, c_hi))
        c_min = np.maximum(np.minimum(c_lo, c_hi), 1e-12)
        return np.minimum(1.0, self.cos0 / c_max), np.maximum(1.0, self.cos0 / c_min)

    def snap_many(
        self,
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        max_distance_m: float,
        *,
        measure_far: bool = True,
    ) -> SnapArrays:
        """Snap validated points; see :meth:`RoadNetwork.snap_many`.

        ``measure_far=False``: a point provably farther than ``max_distance_m`` from every
        road is marked off the network without finding its nearest road (its
        ``distance_m`` is then ``inf``, not that road's distance). Snapping a moving fleet
        off a main-road network would otherwise search far for each of those.
        """
        n = lats.shape[0]
        if n > _SNAP_CHUNK:
            # In pieces: each piece's working arrays stay in cache (measured: a million
            # points snap in 2.1-2.9 s in pieces of 131,072, 5.0 s at once).
            parts = [
                self.snap_many(
                    lats[i : i + _SNAP_CHUNK],
                    lngs[i : i + _SNAP_CHUNK],
                    None if headings is None else headings[i : i + _SNAP_CHUNK],
                    max_distance_m,
                    measure_far=measure_far,
                )
                for i in range(0, n, _SNAP_CHUNK)
            ]
            return SnapArrays._make(np.concatenate(c) for c in zip(*parts, strict=True))
        headings = _heading_vectors(headings)
        if n == 1:
            one = self._snap_one(lats, lngs, headings, max_distance_m)
            if one is not None:
                return one
        qx, qy = self.to_plane(lats, lngs)
        best = (np.full(n, -1, dtype=np.int64), np.full(n, np.inf))
        # Local plane distances are at least this fraction of the network plane's.
        shrink = np.minimum(1.0, np.cos(np.radians(lats)) / self.cos0) * (1.0 - 1e-9)
        todo = np.arange(n, dtype=np.int64)
        for k in _BLOCKS:
            if not todo.size:
                break
            todo = self._grid_pass(todo, k, qx, qy, lats, lngs, headings, shrink, best)
        if todo.size:
            self._exhaustive(
                todo, qx, qy, lats, lngs, headings, shrink, max_distance_m, best, measure_far
            )
        best_seg, best_d2 = best
        best_d = np.sqrt(best_d2)
        hit = np.flatnonzero(best_seg >= 0)
        best_t = np.full(n, np.nan)
        _, best_t[hit], _ = self._measure(hit, best_seg[hit], lats, lngs, None)
        return self._finish(lats, lngs, best_seg, best_t, best_d, max_distance_m)

    def snap_point(
        self, lat: float, lng: float, heading: float | None, max_distance_m: float
    ) -> _OnePoint | None:
        """:meth:`snap_many` of one validated point as scalars ``(edge, fraction,
        distance_m, lat, lng, node)`` (edge ``-1``: off the network), without twins; ``None``
        when the small blocks around it cannot settle it (then call :meth:`snap_many`)."""
        headings = _heading_vectors(None if heading is None else np.array([heading]))
        return self._snap_one_parts(np.array([lat]), np.array([lng]), headings, max_distance_m)

    def _snap_one(
        self,
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        max_distance_m: float,
    ) -> SnapArrays | None:
        one = self._snap_one_parts(lats, lngs, headings, max_distance_m)
        if one is None:
            return None
        e, frac, dist, slat, slng, node = one
        none = np.full(1, -1, dtype=np.int64)
        if e < 0:
            nan = np.full(1, np.nan)
            far = np.array([dist])
            return SnapArrays(none, nan, far, nan.copy(), nan.copy(), none.copy(), none.copy())
        return SnapArrays(
            np.array([e]),
            np.array([frac]),
            np.array([dist]),
            np.array([slat]),
            np.array([slng]),
            np.array([node]),
            none,
        )

    def _snap_one_parts(
        self,
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        max_distance_m: float,
    ) -> _OnePoint | None:
        # snap_many's grid passes and _finish for one point, in scalars where the arithmetic
        # is the same (IEEE) and with the very same numpy calls elsewhere, so the result is
        # bit-identical. None when the small blocks cannot settle it.
        g = self.grid
        lat, lng = float(lats[0]), float(lngs[0])
        qx = (lng - self.lng0) * (self.cos0 * _M_PER_DEG)
        qy = lat * _M_PER_DEG
        c = g.cell_m
        fx = (qx - g.x0) / c
        fy = (qy - g.y0) / c
        sx = np.cos(np.radians(lats)) * _M_PER_DEG
        shrink = min(1.0, math.cos(math.radians(lat)) / self.cos0) * (1.0 - 1e-6)
        for k in _BLOCKS[:2]:
            ix = math.floor(fx - 0.5 * (k - 1))
            iy = math.floor(fy - 0.5 * (k - 1))
            x0, y0 = g.x0 + ix * c, g.y0 + iy * c
            reach = min(qx - x0, x0 + k * c - qx, qy - y0, y0 + k * c - qy) + g.halo_m - 0.02
            cx0, cx1 = max(ix, 0), min(ix + k, g.nx)
            rows = range(max(iy, 0), min(iy + k, g.ny)) if cx1 > cx0 else range(0)
            ends = g.start_of(np.array([[r * g.nx + cx0, r * g.nx + cx1] for r in rows]))
            parts = [g.seg[int(a) : int(b)] for a, b in ends.reshape(-1, 2).tolist()]
            cs = parts[0] if len(parts) == 1 else np.concatenate(parts or [g.seg[:0]])
            if not cs.shape[0]:
                continue
            d, dx, dy, t = self._geometry(lats, lngs, sx, cs)
            seg = cs.astype(np.int64)
            if headings is not None:
                d, seg = self._heading_filter(d, dx, dy, seg, headings)
            d_min = float(d.min())
            if not math.sqrt(d_min) + _TIE_M < reach * shrink - 1e-6:
                continue
            limit = math.sqrt(d_min) + _TIE_M
            tied = np.flatnonzero(d <= limit * limit)
            i = int(tied[np.argmin(seg[tied])])
            s = int(seg[i])
            # The same t as _measure's: the canonical segment's, reversed for a twin.
            t_s = 1.0 - float(t[i]) if self.seg_flip[s] else float(t[i])
            return self._finish_one(lats, lngs, s, t_s, max_distance_m)
        return None

    def _finish_one(
        self,
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        s: int,
        t: float,
        max_distance_m: float,
    ) -> _OnePoint:
        # _finish for one snapped point, step for step in scalars.
        e = int(self.seg_edge[s])
        a = s + e
        a_lat, b_lat = float(self.pt_lat[a]), float(self.pt_lat[a + 1])
        a_lng, b_lng = float(self.pt_lng[a]), float(self.pt_lng[a + 1])
        slat = a_lat + t * (b_lat - a_lat)
        slng = a_lng + t * (b_lng - a_lng)
        f0, f1 = float(self.pt_frac[a]), float(self.pt_frac[a + 1])
        frac = min(max(f0 + t * (f1 - f0), 0.0), 1.0)
        node = -1
        u, v = int(self.u[e]), int(self.v[e])
        near = [
            self._node_distance(np.array([slat]), np.array([slng]), np.array([end]))[0]
            if self._maybe_near(slat, slng, end)
            else math.inf
            for end in (u, v)
        ]
        # _finish's rule: the nearer end within NODE_SNAP_M, the tail on a tie.
        if near[0] <= NODE_SNAP_M and near[0] <= near[1]:
            node, frac = u, 0.0
        elif near[1] <= NODE_SNAP_M:
            node, frac = v, 1.0
        if node >= 0:
            slat, slng = float(self.node_lat[node]), float(self.node_lng[node])
        dist = _haversine_one(float(lats[0]), float(lngs[0]), slat, slng)
        if not dist <= max_distance_m:
            return -1, math.nan, dist, math.nan, math.nan, -1
        return e, frac, dist, slat, slng, node

    def _grid_pass(
        self,
        rows: NDArray[np.int64],
        k: int,
        qx: NDArray[np.float64],
        qy: NDArray[np.float64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        shrink: NDArray[np.float64],
        best: tuple[NDArray[np.int64], NDArray[np.float64]],
    ) -> NDArray[np.int64]:
        # Measure the canonical segments of a k x k block of cells around each point; keep
        # the rows whose winner is provably global, return the others.
        pair_row, cs, count, reach = self.grid.gather(qx[rows], qy[rows], k)
        if not pair_row.size:
            return rows
        # Pairs come grouped by point: repeat the points' data rather than gather it.
        sx = np.cos(np.radians(lats[rows])) * _M_PER_DEG
        q = (np.repeat(lats[rows], count), np.repeat(lngs[rows], count), np.repeat(sx, count))
        h = None if headings is None else np.repeat(headings[rows], count, axis=0)
        d, seg = self._measure_canonical(q, cs, h)
        some = count > 0
        starts = (np.cumsum(count) - count)[some]
        d_min, s_min = _pick(d, seg, starts, count[some])
        got = rows[some]
        # Every segment not gathered is at least reach away in the network's plane, so at
        # least reach * shrink in the point's plane: farther than the nearest one gathered
        # plus the tie tolerance.
        sure = np.sqrt(d_min) + _TIE_M < reach[some] * shrink[got] - 1e-6
        won = got[sure]
        best[0][won] = s_min[sure]
        best[1][won] = d_min[sure]
        done = np.zeros(rows.shape[0], dtype=bool)
        done[np.flatnonzero(some)[sure]] = True
        return rows[~done]

    def _exhaustive(
        self,
        rows: NDArray[np.int64],
        qx: NDArray[np.float64],
        qy: NDArray[np.float64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        shrink: NDArray[np.float64],
        max_distance_m: float,
        best: tuple[NDArray[np.int64], NDArray[np.float64]],
        measure_far: bool = True,
    ) -> None:
        # Points the fine blocks could not settle (far from roads, or no matching heading
        # near): ever wider blocks of the coarse grid, settled by the same test as the fine
        # ones. With a heading, or without measure_far, the search stops once a block's
        # reach passes every road within max_distance_m (plane distances exceed true ones at
        # most kmax times), unless the nearest found may be within it.
        g = self.coarse
        c = g.cell_m
        _, kmax = self._distortion(lats)
        # Nothing lies nearer than the grid's extent (the first block reaches into it); a
        # block of side top holds the whole grid (or, bounded, reaches past the bound).
        gap = np.maximum.reduce(
            [g.x0 - qx, qx - (g.x0 + g.nx * c), g.y0 - qy, qy - (g.y0 + g.ny * c), 0.0 * qx]
        )
        whole = _block_side(gap + (g.nx + g.ny) * c, c)
        bounded = headings is not None or not measure_far
        far = (max_distance_m * 1.01 + 1.0) * kmax  # every road within max_distance_m is nearer
        top = np.minimum(whole, _block_side(far, c)) if bounded else whole
        k = np.minimum(np.maximum(_block_side(gap[rows], c), 2), top[rows])
        while rows.size:
            again: list[NDArray[np.int64]] = []
            again_k: list[NDArray[np.int64]] = []
            for side in np.unique(k).tolist():
                for group in _row_chunks(rows[k == side], side):
                    pass_ = self._coarse_pass(group, side, qx, qy, lats, lngs, headings)
                    d_min, s_min, reach = pass_
                    found = np.isfinite(d_min)
                    ok = np.sqrt(d_min) + _TIE_M < reach * shrink[group] - 1e-6
                    ok |= side >= whole[group]  # the block held every segment
                    # Past the bound, a point whose nearest found may still be within
                    # max_distance_m widens on until proven; the others stop: without
                    # measure_far, off the network (distance inf); with it (a heading), at
                    # the nearest found.
                    capped = (side >= top[group]) & ~ok
                    maybe_on = found & (np.sqrt(d_min) <= 2.0 * far[group])
                    widen = capped & maybe_on
                    sure = (ok | capped) & ~widen
                    won = found & (ok | (capped & ~widen & measure_far))
                    best[0][group[won]] = s_min[won]
                    best[1][group[won]] = d_min[won]
                    # The rest: a block wide enough to settle the nearest found, else 4 x.
                    need = (np.sqrt(d_min) + _TIE_M + 1e-3) / shrink[group]
                    wider = np.where(found, _block_side(need, c), 4 * side)
                    cap = np.where(widen, whole[group], top[group])
                    again.append(group[~sure])
                    again_k.append(np.minimum(np.maximum(wider, side + 1), cap)[~sure])
            rows, k = np.concatenate(again), np.concatenate(again_k)

    def _coarse_pass(
        self,
        rows: NDArray[np.int64],
        side: int,
        qx: NDArray[np.float64],
        qy: NDArray[np.float64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        # Per point of rows: the least squared distance and lowest tied segment over its
        # coarse block (inf, -1: nothing qualifies there), and the block's reach; candidates
        # are measured in batches of at most _MAX_PAIRS.
        g = self.coarse
        start, stop, reach = g.block(qx[rows], qy[rows], side)
        count = (stop - start).astype(np.int64).sum(axis=1)
        d_min = np.full(rows.shape[0], np.inf)
        s_min = np.full(rows.shape[0], -1, dtype=np.int64)
        for part in _chunks(count, _MAX_PAIRS):
            pair_row, cs, n_of = g.take(start[part], stop[part])
            if not pair_row.size:
                continue
            at = rows[part[pair_row]]
            sx = np.cos(np.radians(lats[at])) * _M_PER_DEG
            h = None if headings is None else headings[at]
            d, seg = self._measure_canonical((lats[at], lngs[at], sx), cs, h)
            some = n_of > 0
            starts = (np.cumsum(n_of) - n_of)[some]
            d_part, s_part = _pick(d, seg, starts, n_of[some])
            d_min[part[some]] = d_part
            s_min[part[some]] = np.where(s_part == _NO_SEG, -1, s_part)
        return d_min, s_min, reach

    def _geometry(
        self,
        qlat: NDArray[np.float64],
        qlng: NDArray[np.float64],
        sx: NDArray[np.float64],
        cs: NDArray[np.int64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        # Squared distance from each point (lat, lng, east-west metres per degree there) to
        # canonical segment cs in a plane centred on the point, the segment's direction
        # (dx, dy) and the parameter t of the nearest point on it. The nearest point is an
        # end point exactly when t clips, so roads meeting at a node measure bit-identical
        # distances to it.
        a = self._ends(cs)
        b = a + 1
        ax = (self.pt_lng[a] - qlng) * sx
        ay = (self.pt_lat[a] - qlat) * _M_PER_DEG
        bx = (self.pt_lng[b] - qlng) * sx
        by = (self.pt_lat[b] - qlat) * _M_PER_DEG
        dx = bx - ax
        dy = by - ay
        dd = dx * dx
        dd += dy * dy
        # A point segment has dot == 0: t = 0.
        t = ax * dx
        t += ay * dy
        np.negative(t, out=t)
        t /= dd + (dd == 0.0)
        np.maximum(t, 0.0, out=t)
        np.minimum(t, 1.0, out=t)
        # (1 - t) a + t b is exactly a at t = 0 and exactly b at t = 1.
        u = 1.0 - t
        px = u * ax
        px += t * bx
        py = u * ay
        py += t * by
        px *= px
        py *= py
        px += py
        return px, dx, dy, t

    def _points(
        self, qi: NDArray[np.int64], lats: NDArray[np.float64], lngs: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        sx = np.cos(np.radians(lats)) * _M_PER_DEG
        return lats[qi], lngs[qi], sx[qi]

    def _measure_canonical(
        self,
        q: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
        cs: NDArray[np.int64],
        h: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        # Distances to canonical segments, and the segment each stands for: itself, or with a
        # heading the lowest twin running the heading's way (inf, _NO_SEG: none qualifies).
        d, dx, dy, _ = self._geometry(*q, cs)
        if h is None:
            return d, cs
        return self._heading_filter(d, dx, dy, cs, h)

    def _heading_filter(
        self,
        d: NDArray[np.float64],
        dx: NDArray[np.float64],
        dy: NDArray[np.float64],
        cs: NDArray[np.int64],
        h: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        nonzero = (dx != 0.0) | (dy != 0.0)
        fwd = nonzero & _heading_ok(dx, dy, h)
        rev = self.seg_rev[cs].astype(np.int64)
        back = nonzero & (rev >= 0) & _heading_ok(-dx, -dy, h)
        seg = np.where(fwd, cs, np.where(back, rev, _NO_SEG))
        return np.where(seg != _NO_SEG, d, np.inf), seg

    def _measure(
        self,
        qi: NDArray[np.int64],
        seg: NDArray[np.int64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        # Distance, position along seg and whether its bearing matches the heading. Twins
        # are measured on their canonical segment, reversed.
        flip = self.seg_flip[seg]
        d, dx, dy, t = self._geometry(*self._points(qi, lats, lngs), self.seg_canon[seg])
        t = np.where(flip, 1.0 - t, t)
        if headings is None:
            ok = np.ones(qi.shape[0], dtype=bool)
        else:
            dx = np.where(flip, -dx, dx)
            dy = np.where(flip, -dy, dy)
            nonzero = (dx != 0.0) | (dy != 0.0)
            ok = nonzero & _heading_ok(dx, dy, headings[qi])
        return d, t, ok

    def _finish(
        self,
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        best_seg: NDArray[np.int64],
        best_t: NDArray[np.float64],
        best_d: NDArray[np.float64],
        max_distance_m: float,
    ) -> SnapArrays:
        n = lats.shape[0]
        hit = best_seg >= 0
        s = best_seg[hit]
        t = best_t[hit]
        e = self.seg_edge[s].astype(np.int64)
        a = s + e
        a_lat, a_lng = self.pt_lat[a], self.pt_lng[a]
        slat = a_lat + t * (self.pt_lat[a + 1] - a_lat)
        slng = a_lng + t * (self.pt_lng[a + 1] - a_lng)
        f0 = self.pt_frac[a]
        frac = np.clip(f0 + t * (self.pt_frac[a + 1] - f0), 0.0, 1.0)
        node = np.full(s.shape[0], -1, dtype=np.int64)
        uu, vv = self.u[e], self.v[e]
        d_v = self._node_distance(slat, slng, vv)
        d_u = self._node_distance(slat, slng, uu)
        # Within the rule of both ends (a sub-metre edge): the nearer end, the tail on a tie.
        at_u = (d_u <= NODE_SNAP_M) & (d_u <= d_v)
        at_v = (d_v <= NODE_SNAP_M) & ~at_u
        node[at_v] = vv[at_v]
        frac[at_v] = 1.0
        node[at_u] = uu[at_u]
        frac[at_u] = 0.0
        nd = node >= 0
        slat[nd] = self.node_lat[node[nd]]
        slng[nd] = self.node_lng[node[nd]]

        if s.shape[0] == n:  # every row hit a road (the usual case): no scatter needed
            dist = haversine_m_array(lats, lngs, slat, slng)
            if (dist <= max_distance_m).all():
                twin = np.full(n, -1, dtype=np.int64)
                return SnapArrays(e, frac, dist, slat, slng, node, twin)
        out_edge = np.full(n, -1, dtype=np.int64)
        out_frac = np.full(n, np.nan)
        out_lat = np.full(n, np.nan)
        out_lng = np.full(n, np.nan)
        out_node = np.full(n, -1, dtype=np.int64)
        dist = best_d.copy()
        dist[hit] = haversine_m_array(lats[hit], lngs[hit], slat, slng)
        rows = np.flatnonzero(hit)
        keep = dist[rows] <= max_distance_m
        rows = rows[keep]
        out_edge[rows] = e[keep]
        out_frac[rows] = frac[keep]
        out_lat[rows] = slat[keep]
        out_lng[rows] = slng[keep]
        out_node[rows] = node[keep]
        twin = np.full(n, -1, dtype=np.int64)
        return SnapArrays(out_edge, out_frac, dist, out_lat, out_lng, out_node, twin)

    def _maybe_near(self, lat: float, lng: float, end: int) -> bool:
        # _node_distance's plane estimate in scalars (with room to spare): only a node that
        # passes needs the vectorised check.
        nlat = float(self.node_lat[end])
        ey = (lat - nlat) * _M_PER_DEG
        ex = (lng - float(self.node_lng[end])) * (math.cos(math.radians(nlat)) * _M_PER_DEG)
        return ex * ex + ey * ey <= (2.5 * NODE_SNAP_M) ** 2

    def _node_distance(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64], node: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        # Great-circle distance to the node where it may be within the node rule, inf
        # elsewhere: haversine only where a generous plane estimate (good to far better than
        # 1 % at a few metres) leaves the answer open.
        nlat, nlng = self.node_lat[node], self.node_lng[node]
        dy = (lat - nlat) * _M_PER_DEG
        dx = (lng - nlng) * (np.cos(np.radians(nlat)) * _M_PER_DEG)
        out = np.full(lat.shape[0], np.inf)
        close = np.flatnonzero(dx * dx + dy * dy <= (2.0 * NODE_SNAP_M) ** 2)
        out[close] = haversine_m_array(lat[close], lng[close], nlat[close], nlng[close])
        return out

    def edge_coords(self, edge: int, lo: float, hi: float) -> list[tuple[float, float]]:
        """Return the shape points of ``edge`` strictly between fractions ``lo`` and ``hi``."""
        a = int(self.geom_offsets[edge]) + 2 * edge
        b = int(self.geom_offsets[edge + 1]) + 2 * edge + 2
        fr = self.pt_frac[a:b].copy()
        fr[-1] = 1.0
        sel = np.flatnonzero((fr > lo) & (fr < hi)) + a
        return list(zip(self.pt_lat[sel].tolist(), self.pt_lng[sel].tolist(), strict=True))
