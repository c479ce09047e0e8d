"""Snap GPS points to the nearest road edge, optionally only to edges heading the same way.

Every edge is cut into its straight segments (node, shape points, node), drawn in one
equirectangular plane around the network's centre (metres). For each point, a KD-tree of
samples taken every 40 m along the segments gives an upper bound on the distance to the
nearest segment; a shapely :class:`~shapely.STRtree` over the segments then returns every
segment whose envelope lies within that bound (widened by the plane's distortion, below).
Those candidates are measured exactly in a small plane centred on the point, and the
reported ``distance_m`` is the great-circle distance to the snapped point.

The network's plane stretches east-west distances by ``cos(lat0) / cos(lat)`` away from its
centre latitude; the search radius is widened by the worst such factor over the latitudes
between the point and the network, so no candidate is missed however large the network.
With a heading, the search radius doubles until a matching road is found or the radius
passes ``max_distance_m``. Without one, points more than 2 km from every road (off the
network unless ``max_distance_m`` is larger) take the STRtree's own nearest search instead,
in the network's plane: exact for city-sized networks, within the plane's distortion beyond.

Networks must not straddle the antimeridian."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from kayou_dispatch.geo import EARTH_RADIUS_M, haversine_m_array

__all__ = ["HEADING_TOLERANCE_DEG", "NODE_SNAP_M", "SegmentIndex", "Snap", "SnapArrays"]

#: A heading matches an edge when the edge's bearing at the snapped point is this close.
HEADING_TOLERANCE_DEG = 60.0
#: A snapped point this close to an end of its edge is that node.
NODE_SNAP_M = 1.0

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
# Segments are sampled at most this far apart (plane metres) for the first, upper-bound search.
_PIECE_M = 40.0
# Points farther than this from every road are snapped with the STRtree's nearest search.
_FAR_M = 2000.0


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


class SegmentIndex:
    """The straight segments of every edge, with an STRtree to find the nearest ones.

    Parameters
    ----------
    lat, lng
        Node coordinates.
    u, v, geom_offsets, geom_lat, geom_lng
        Edges and their intermediate shape points, as in
        :class:`~kayou_dispatch.network.EdgeArrays`.
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
        # Length along the edge before each segment starts.
        first_seg = pt_off[:-1] - np.arange(m)
        edge_cum0 = np.concatenate(([0.0], cum))[first_seg]
        seg_before = cum - seg_len - edge_cum0[seg_edge]
        edge_len = np.bincount(seg_edge, weights=seg_len, minlength=m)
        # Fraction of each point along its edge (for cutting routes at snapped points).
        pt_edge = np.repeat(np.arange(m, dtype=np.int64), n_pts)
        pt_before = np.zeros(total)
        pt_before[seg_a + 1] = seg_before + seg_len
        safe_len = np.where(edge_len > 0, edge_len, 1.0)
        pt_frac = np.where(edge_len[pt_edge] > 0, pt_before / safe_len[pt_edge], 0.0)
        pt_frac[pt_off[1:] - 1] = 1.0

        self.pt_off = pt_off
        self.pt_lat = pt_lat
        self.pt_lng = pt_lng
        self.pt_frac = pt_frac
        self.seg_edge = seg_edge
        self.a_lat = pt_lat[seg_a]
        self.a_lng = pt_lng[seg_a]
        self.b_lat = pt_lat[seg_a + 1]
        self.b_lng = pt_lng[seg_a + 1]
        self.seg_len_m = seg_len
        self.seg_before_m = seg_before
        self.edge_len_m = edge_len
        self.u = u
        self.v = v
        self.node_lat = lat
        self.node_lng = lng

        self.lat_min = float(pt_lat.min())
        self.lat_max = float(pt_lat.max())
        self.lat0 = 0.5 * (self.lat_min + self.lat_max)
        self.lng0 = 0.5 * (float(pt_lng.min()) + float(pt_lng.max()))
        self.cos0 = math.cos(math.radians(self.lat0))
        ax, ay = self.to_plane(self.a_lat, self.a_lng)
        bx, by = self.to_plane(self.b_lat, self.b_lng)
        coords = np.stack([np.stack([ax, ay], axis=1), np.stack([bx, by], axis=1)], axis=1)
        self.tree = shapely.STRtree(shapely.linestrings(coords))
        # Points along every segment: the nearest one bounds the nearest segment's distance
        # from above, which sizes the STRtree search (a KD-tree answers far faster than the
        # STRtree's own nearest-geometry search).
        seg_p = np.hypot(bx - ax, by - ay)
        n_pieces = np.maximum(1, np.ceil(seg_p / _PIECE_M)).astype(np.int64)
        piece_seg = np.repeat(np.arange(seg_p.shape[0]), n_pieces)
        starts = np.cumsum(n_pieces) - n_pieces
        along = (np.arange(piece_seg.shape[0]) - starts[piece_seg] + 0.5) / n_pieces[piece_seg]
        px = ax[piece_seg] + along * (bx - ax)[piece_seg]
        py = ay[piece_seg] + along * (by - ay)[piece_seg]
        self.samples = cKDTree(np.stack([px, py], axis=1))
        self.sample_seg = piece_seg
        self.ax, self.ay, self.bx, self.by = ax, ay, bx, by
        xs, ys = self.to_plane(pt_lat, pt_lng)
        self.diag_p = float(math.hypot(xs.max() - xs.min(), ys.max() - ys.min()))

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
    ) -> SnapArrays:
        """Snap validated points; see :meth:`RoadNetwork.snap_many`."""
        n = lats.shape[0]
        qx, qy = self.to_plane(lats, lngs)
        kmin, kmax = self._distortion(lats)
        # The segment of the nearest sample is at least as far as the nearest segment.
        _, sample = self.samples.query(np.stack([qx, qy], axis=1))
        p_near = self._plane_distance(qx, qy, self.sample_seg[sample])
        radius = p_near * (kmax / kmin) * 1.01 + 1.0
        limit = max_distance_m * kmax * 1.01 + 1.0
        everything = p_near + self.diag_p + 1.0
        if headings is not None:
            # The nearest road often runs the other way; start wide enough for the next one.
            radius = np.minimum(2.0 * radius + 60.0, limit)

        best = (np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, np.inf))
        if headings is None:
            # One pass finds the nearest segment for every point within _FAR_M of a road (and
            # within reach of max_distance_m). Farther points are off the network or snap far
            # away; the STRtree's nearest search serves them without huge candidate sets.
            r = np.minimum(radius, np.minimum(limit, _FAR_M * kmax * 1.01 + 1.0))
            self._search(np.arange(n), r, qx, qy, lats, lngs, None, best)
            far = np.flatnonzero(best[2] * kmax * 1.01 + 1.0 > r)
            if far.size:
                self._search_nearest(far, qx, qy, lats, lngs, best)
        else:
            todo = np.arange(n)
            while todo.size:
                r = radius[todo]
                self._search(todo, r, qx, qy, lats, lngs, headings, best)
                found = best[2][todo] * kmax[todo] * 1.01 + 1.0 <= r
                exhausted = (r >= limit[todo]) | (r >= everything[todo])
                todo = todo[~(found | exhausted)]
                radius[todo] = np.minimum(np.maximum(2.0 * radius[todo], 16.0), limit[todo])
        best_seg, best_t, best_d = best
        return self._finish(lats, lngs, best_seg, best_t, best_d, max_distance_m)

    def _search(
        self,
        rows: NDArray[np.int64],
        r: NDArray[np.float64],
        qx: NDArray[np.float64],
        qy: NDArray[np.float64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        best: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    ) -> None:
        # Envelope overlap only: a superset of the segments within radius r, found far faster
        # than an exact "dwithin"; _measure computes the exact distances anyway.
        boxes = shapely.box(qx[rows] - r, qy[rows] - r, qx[rows] + r, qy[rows] + r)
        pairs = self.tree.query(boxes)
        self._keep_best(rows[pairs[0]], pairs[1], lats, lngs, headings, best)

    def _search_nearest(
        self,
        rows: NDArray[np.int64],
        qx: NDArray[np.float64],
        qy: NDArray[np.float64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        best: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    ) -> None:
        # The nearest segments in the network's plane (exact up to its distortion).
        pts = shapely.points(qx[rows], qy[rows])
        pairs = self.tree.query_nearest(pts, all_matches=True)
        self._keep_best(rows[pairs[0]], pairs[1], lats, lngs, None, best)

    def _keep_best(
        self,
        qi: NDArray[np.int64],
        seg: NDArray[np.int64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
        best: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    ) -> None:
        d, t, ok = self._measure(qi, seg, lats, lngs, headings)
        qi, seg, d, t = qi[ok], seg[ok], d[ok], t[ok]
        if qi.size and qi[0] == qi[-1] and (qi == qi[0]).all():
            # One point (a single snap): the same choice without sorting every candidate.
            key = np.round(d, 6)
            tied = np.flatnonzero(key == key.min())
            j = tied[np.argmin(seg[tied])]
            q = qi[0]
            if d[j] < best[2][q]:
                best[0][q], best[1][q], best[2][q] = seg[j], t[j], d[j]
            return
        # Round so twin edges drawn from opposite ends tie exactly; then lowest index wins.
        order = np.lexsort((seg, np.round(d, 6), qi))
        qi, seg, d, t = qi[order], seg[order], d[order], t[order]
        first = np.ones(qi.shape[0], dtype=bool)
        first[1:] = qi[1:] != qi[:-1]
        qi, seg, d, t = qi[first], seg[first], d[first], t[first]
        better = d < best[2][qi]
        qi = qi[better]
        best[0][qi] = seg[better]
        best[1][qi] = t[better]
        best[2][qi] = d[better]

    def _plane_distance(
        self, qx: NDArray[np.float64], qy: NDArray[np.float64], seg: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        ax = self.ax[seg] - qx
        ay = self.ay[seg] - qy
        dx = self.bx[seg] - self.ax[seg]
        dy = self.by[seg] - self.ay[seg]
        dd = dx * dx + dy * dy
        t = np.clip(-(ax * dx + ay * dy) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
        out: NDArray[np.float64] = np.hypot(ax + t * dx, ay + t * dy)
        return out

    def _measure(
        self,
        qi: NDArray[np.int64],
        seg: NDArray[np.int64],
        lats: NDArray[np.float64],
        lngs: NDArray[np.float64],
        headings: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        # Exact-enough point-to-segment geometry in a plane centred on each query point.
        qlat = lats[qi]
        qlng = lngs[qi]
        sx = np.cos(np.radians(qlat)) * _M_PER_DEG
        ax = (self.a_lng[seg] - qlng) * sx
        ay = (self.a_lat[seg] - qlat) * _M_PER_DEG
        dx = (self.b_lng[seg] - qlng) * sx - ax
        dy = (self.b_lat[seg] - qlat) * _M_PER_DEG - ay
        dd = dx * dx + dy * dy
        nonzero = dd > 0.0
        t = np.where(nonzero, -(ax * dx + ay * dy) / np.where(nonzero, dd, 1.0), 0.0)
        t = np.clip(t, 0.0, 1.0)
        d = np.hypot(ax + t * dx, ay + t * dy)
        if headings is None:
            ok = np.ones(qi.shape[0], dtype=bool)
        else:
            bearing = np.degrees(np.arctan2(dx, dy))
            diff = np.abs((bearing - headings[qi] + 180.0) % 360.0 - 180.0)
            ok = nonzero & (diff <= HEADING_TOLERANCE_DEG)
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
        e = self.seg_edge[s]
        slat = self.a_lat[s] + t * (self.b_lat[s] - self.a_lat[s])
        slng = self.a_lng[s] + t * (self.b_lng[s] - self.a_lng[s])
        elen = self.edge_len_m[e]
        frac = np.where(
            elen > 0,
            (self.seg_before_m[s] + t * self.seg_len_m[s]) / np.where(elen > 0, elen, 1.0),
            0,
        )
        frac = np.clip(frac, 0.0, 1.0)
        node = np.full(s.shape[0], -1, dtype=np.int64)
        uu, vv = self.u[e], self.v[e]
        at_v = haversine_m_array(slat, slng, self.node_lat[vv], self.node_lng[vv]) <= NODE_SNAP_M
        at_u = haversine_m_array(slat, slng, self.node_lat[uu], self.node_lng[uu]) <= NODE_SNAP_M
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

    def edge_coords(self, edge: int, lo: float, hi: float) -> list[tuple[float, float]]:
        """Return the shape points of ``edge`` strictly between fractions ``lo`` and ``hi``."""
        a, b = int(self.pt_off[edge]), int(self.pt_off[edge + 1])
        fr = self.pt_frac[a:b]
        sel = np.flatnonzero((fr > lo) & (fr < hi)) + a
        return list(zip(self.pt_lat[sel].tolist(), self.pt_lng[sel].tolist(), strict=True))
