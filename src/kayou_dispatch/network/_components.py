"""Keep the largest strongly connected component of a network (``largest_component=``)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kayou_dispatch.network._arrays import EdgeArrays

__all__ = ["largest_component"]


def largest_component(arrays: EdgeArrays) -> tuple[EdgeArrays, int, int]:
    """Return ``(kept, dropped_nodes, dropped_edges)``: the largest strongly connected part.

    ``arrays`` itself (no copy) when nothing is dropped.
    """
    n = arrays.n_nodes
    adj = csr_matrix((np.ones(arrays.n_edges), (arrays.u, arrays.v)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    keep_label = int(np.argmax(np.bincount(labels)))
    keep_node = labels == keep_label
    keep_edge = keep_node[arrays.u] & keep_node[arrays.v]
    dropped_nodes = int(n - keep_node.sum())
    dropped_edges = int(arrays.n_edges - keep_edge.sum())
    if dropped_nodes == 0 and dropped_edges == 0:
        return arrays, 0, 0
    kept = arrays.subset(keep_node, keep_edge)
    return kept, dropped_nodes, dropped_edges
