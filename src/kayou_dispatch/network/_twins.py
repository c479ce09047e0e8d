"""Find each edge's twin: the same road driven the other way (one geometry, two directions).

A two-way road is stored as two directed edges ``u -> v`` and ``v -> u`` with the same shape
points in reverse order; a point on it is on both. One-way roads, self loops and divided
carriageways (two separate geometries) have no twin. Among parallel candidates the
lowest-indexed edge is the twin.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.network._arrays import EdgeArrays

__all__ = ["twin_edges"]

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    # splitmix64's finaliser; uint64 arithmetic wraps (arrays only: no overflow warnings).
    x = (x ^ (x >> np.uint64(30))) * _C1
    x = (x ^ (x >> np.uint64(27))) * _C2
    out: NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


def _bits(x: NDArray[np.float64]) -> NDArray[np.uint64]:
    # + 0.0 turns -0.0 into 0.0 so equal coordinates hash equally.
    out: NDArray[np.uint64] = np.ascontiguousarray(x + 0.0, dtype=np.float64).view(np.uint64)
    return out


def twin_edges(arrays: EdgeArrays) -> NDArray[np.int64]:
    """Return the twin of every edge, ``-1`` where it has none.

    Candidates are found by hashing ``(tail, head, shape)`` forwards and backwards, then
    checked exactly, so a hash collision can only hide a twin, never invent one.

    Examples
    --------
    >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
    ...                         lng=[0.0, 0.001, 0.002], u=[0, 1, 1], v=[1, 0, 2],
    ...                         length_m=[111.2, 111.2, 111.2], travel_time_s=[10.0, 10.0, 10.0])
    >>> twin_edges(a).tolist()
    [1, 0, -1]
    """
    u = np.asarray(arrays.u, dtype=np.int64)
    v = np.asarray(arrays.v, dtype=np.int64)
    off = np.asarray(arrays.geom_offsets, dtype=np.int64)
    m = u.shape[0]
    cnt = np.diff(off)
    edge_of = np.repeat(np.arange(m, dtype=np.int64), cnt)
    pos = (np.arange(edge_of.shape[0], dtype=np.int64) - off[:-1][edge_of]).astype(np.uint64)
    rpos = cnt[edge_of].astype(np.uint64) - np.uint64(1) - pos
    pt = _mix(_bits(arrays.geom_lat) ^ _mix(_bits(arrays.geom_lng) + _GOLDEN))
    h_fwd = np.zeros(m, dtype=np.uint64)
    h_bwd = np.zeros(m, dtype=np.uint64)
    np.add.at(h_fwd, edge_of, _mix(pt + pos * _GOLDEN))
    np.add.at(h_bwd, edge_of, _mix(pt + rpos * _GOLDEN))

    def key(
        a: NDArray[np.int64], b: NDArray[np.int64], h: NDArray[np.uint64]
    ) -> NDArray[np.uint64]:
        k = _mix(a.astype(np.uint64) + _GOLDEN)
        k = _mix(k ^ b.astype(np.uint64))
        k = _mix(k ^ cnt.astype(np.uint64))
        return _mix(k ^ h)

    k_fwd = key(u, v, h_fwd)
    k_want = key(v, u, h_bwd)
    order = np.argsort(k_fwd, kind="stable")  # equal keys: lowest index first
    at = np.minimum(np.searchsorted(k_fwd, k_want, sorter=order), max(m - 1, 0))
    cand = order[at] if m else np.zeros(0, dtype=np.int64)
    ok = (k_fwd[cand] == k_want) & (u[cand] == v) & (v[cand] == u) & (u != v)
    ok &= cnt[cand] == cnt
    # Exact check of the shapes: point i of e against point cnt-1-i of its candidate.
    shaped = ok & (cnt > 0)
    if shaped.any():
        pts = np.flatnonzero(shaped[edge_of])
        e = edge_of[pts]
        mirror = off[cand[e]] + cnt[e] - 1 - (pts - off[e])
        same = (arrays.geom_lat[pts] == arrays.geom_lat[mirror]) & (
            arrays.geom_lng[pts] == arrays.geom_lng[mirror]
        )
        bad = np.zeros(m, dtype=bool)
        bad[e[~same]] = True
        ok &= ~bad
    out: NDArray[np.int64] = np.where(ok, cand, -1).astype(np.int64)
    return out
