"""Compute exact shortest travel times on the road graph with scipy's Dijkstra.

The graph is held twice as compressed sparse rows, forward and reversed, built once per
network. Parallel edges collapse to the fastest (lowest index on ties) and self loops are
left out: neither can shorten a path. Explicit zero weights stay edges (scipy keeps
explicit zeros of a sparse matrix).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

__all__ = ["CSRGraph", "Route"]


class Route(NamedTuple):
    """A driven route between two points.

    Attributes
    ----------
    eta_s
        Travel time, seconds (``inf`` when there is no route).
    distance_m
        Driven length, metres (``inf`` when there is no route).
    coords
        ``(lat, lng)`` pairs from the start snap point through every shape point to the
        end snap point (empty when there is no route).
    """

    eta_s: float
    distance_m: float
    coords: tuple[tuple[float, float], ...]


def _csr(
    n: int, tail: NDArray[np.int64], head: NDArray[np.int64], w: NDArray[np.float64]
) -> tuple[csr_matrix, NDArray[np.int64]]:
    idx = np.arange(tail.shape[0], dtype=np.int64)
    keep = tail != head
    tail, head, w, idx = tail[keep], head[keep], w[keep], idx[keep]
    order = np.lexsort((idx, w, head, tail))
    tail, head, w, idx = tail[order], head[order], w[order], idx[order]
    first = np.ones(tail.shape[0], dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    tail, head, w, idx = tail[first], head[first], w[first], idx[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    graph = csr_matrix((w, head, indptr), shape=(n, n))
    return graph, idx


class CSRGraph:
    """Forward and reversed sparse graphs of a network, with the edge behind each entry.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, travel_time_s
        Directed edges and their weights.
    """

    def __init__(
        self,
        n: int,
        u: NDArray[np.int64],
        v: NDArray[np.int64],
        travel_time_s: NDArray[np.float64],
    ) -> None:
        self.n = n
        self._head = v
        self.forward, self.forward_edge = _csr(n, u, v, travel_time_s)
        self.reverse, _ = _csr(n, v, u, travel_time_s)

    def times_from(self, node: int) -> NDArray[np.float64]:
        """Return the shortest time from ``node`` to every node (``inf`` if unreachable)."""
        out: NDArray[np.float64] = dijkstra(self.forward, directed=True, indices=node)
        return out

    def times_to(self, node: int) -> NDArray[np.float64]:
        """Return the shortest time from every node to ``node`` (``inf`` if unreachable)."""
        out: NDArray[np.float64] = dijkstra(self.reverse, directed=True, indices=node)
        return out

    def path_edges(self, source: int, target: int) -> tuple[float, list[int]] | None:
        """Return ``(time, edges)`` of a fastest path, or ``None`` when there is none."""
        dist, pred = dijkstra(self.forward, directed=True, indices=source, return_predecessors=True)
        if not math.isfinite(dist[target]):
            return None
        nodes = [target]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        indptr, indices = self.forward.indptr, self.forward.indices
        edges = []
        for a, b in itertools.pairwise(nodes):
            lo, hi = int(indptr[a]), int(indptr[a + 1])
            k = lo + int(np.searchsorted(indices[lo:hi], b))
            edges.append(int(self.forward_edge[k]))
        return float(dist[target]), edges

    def path_nodes(self, source: int, target: int) -> list[int]:
        """Return the nodes of a fastest path (empty when there is none)."""
        found = self.path_edges(source, target)
        if found is None:
            return []
        _, edges = found
        return [source, *(int(self._head[e]) for e in edges)]
