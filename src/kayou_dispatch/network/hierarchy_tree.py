"""A :class:`~kayou_dispatch.network.trips.DestinationTree` answered by a contraction hierarchy.

One hierarchy search towards the destination's entries settles the marked departure nodes
nearest it (:meth:`~kayou_dispatch.network.hierarchy.ContractionHierarchy.search`): their
times are exact, and every node it did not settle takes at least :attr:`HierarchyTree.frontier`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network.hierarchy import ContractionHierarchy
from kayou_dispatch.network.paths import CSRGraph
from kayou_dispatch.network.snap import Snap, SnapArrays
from kayou_dispatch.network.trips import DestinationTree

__all__ = ["HierarchyTree"]


class HierarchyTree(DestinationTree):
    """The times of the ``want`` marked departure nodes nearest ``dest``, and their routes' lengths.

    Parameters
    ----------
    arrays, graph, twins
        The network's arrays, sparse graphs and edge twins.
    hierarchy, marks
        The network's hierarchy and the marks of the responders' departure nodes.
    dest
        Where trips end.
    want
        Stop once this many marked departure nodes are settled.
    limit_s
        Settle nothing slower than this.
    """

    def __init__(
        self,
        arrays: EdgeArrays,
        graph: CSRGraph,
        twins: NDArray[np.int64],
        hierarchy: ContractionHierarchy,
        marks: NDArray[np.uint8],
        dest: Snap,
        *,
        want: int,
        limit_s: float = math.inf,
    ) -> None:
        self._aim(arrays, graph, twins, dest, limit_s, None)
        self.pred = None
        seeds = np.array([node for node, _ in self.entries], dtype=np.int64)
        offsets = np.array([off for _, off in self.entries])
        self.search = hierarchy.search(seeds, offsets, marks, want=want, limit_s=limit_s)
        self.frontier = self.search.frontier
        self._marks = marks

    def times_at(self, nodes: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return each node's time (``inf``: not settled, so at least the frontier)."""
        return self.search.times_at(nodes)

    def reached_nodes(self) -> NDArray[np.int64]:
        """The settled nodes that are some responder's departure node (network numbering)."""
        nodes = self.search.nodes
        return nodes[(self._marks[nodes] & 1) > 0]

    def _to_dest(self, x: int) -> tuple[float, int]:
        return self.search.trace(x, self.arrays, self.graph)

    def lengths_m(self, origins: SnapArrays, rows: Sequence[int]) -> NDArray[np.float64]:
        """Return the driven length of each given origin row's fastest trip, metres."""
        return self._traced_lengths_m(origins, rows)
