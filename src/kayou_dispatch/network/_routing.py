"""Shortest times and routes on a road network: the search methods of ``RoadNetwork``.

:class:`RouteMethods` holds the node-level searches
(:meth:`~kayou_dispatch.network.RoadNetwork.shortest_times_from`, ...), the point-to-point
times (:meth:`~kayou_dispatch.network.RoadNetwork.travel_time`,
:meth:`~kayou_dispatch.network.RoadNetwork.travel_times_to`,
:meth:`~kayou_dispatch.network.RoadNetwork.tree_to_snapped`) and routes;
:class:`~kayou_dispatch.network.RoadNetwork` inherits them (a mixin: ``_graph.py`` keeps
construction, persistence, the lazily built structures and ``_search_area``, the subgraph a
bounded search covers; reach the methods through ``RoadNetwork``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidParameterError, OffNetworkError
from kayou_dispatch.geo import validate_latlng_array
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network._snapping import DEFAULT_MAX_DISTANCE_M, SnapMethods
from kayou_dispatch.network._validate import check_node
from kayou_dispatch.network.paths import CSRGraph, Route
from kayou_dispatch.network.snap import Snap, SnapArrays
from kayou_dispatch.network.trips import DestinationTree, snap_row

__all__ = ["RouteMethods"]


class RouteMethods(SnapMethods):
    """The search and routing methods of :class:`~kayou_dispatch.network.RoadNetwork` (a mixin)."""

    _arrays: EdgeArrays

    if TYPE_CHECKING:  # provided by RoadNetwork

        @property
        def n_nodes(self) -> int: ...

        @property
        def n_edges(self) -> int: ...

        @property
        def _graph(self) -> CSRGraph: ...

        def _search_area(self, destination: Snap, limit_s: float) -> NDArray[np.int64] | None: ...

    # --- node-level shortest paths ------------------------------------------------------

    def shortest_times_from(self, node: int) -> NDArray[np.float64]:
        """Return the fastest time from dense node ``node`` to every node (``inf``: none).

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> RoadNetwork.from_arrays(a).shortest_times_from(1).tolist()
        [inf, 0.0, 5.0]
        """
        return self._graph.times_from(check_node(node, self.n_nodes))

    def shortest_times_to(self, node: int) -> NDArray[np.float64]:
        """Return the fastest time from every node to dense node ``node`` (``inf``: none).

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> RoadNetwork.from_arrays(a).shortest_times_to(1).tolist()
        [10.0, 0.0, inf]
        """
        return self._graph.times_to(check_node(node, self.n_nodes))

    def shortest_path(self, source: int, target: int) -> list[int]:
        """Return the dense nodes of a fastest path, ``[]`` when ``target`` is unreachable.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.shortest_path(0, 2), net.shortest_path(2, 0)
        ([0, 1, 2], [])
        """
        s = check_node(source, self.n_nodes, name="source")
        t = check_node(target, self.n_nodes, name="target")
        return self._graph.path_nodes(s, t)

    # --- point-to-point travel times ----------------------------------------------------

    def travel_time(
        self,
        lat1: float,
        lng1: float,
        lat2: float,
        lng2: float,
        *,
        heading: float | None = None,
    ) -> float:
        """Return the fastest driving time from point 1 to point 2, seconds.

        Both points are snapped (within 1000 m); the partial edges at both ends count.
        ``heading`` (degrees clockwise from north) applies to the start point.

        A point on a two-way road lies on both of its directed edges (twins, see
        :attr:`edge_twin`): the trip may reach point 2 along either, and may leave point 1
        along either unless a ``heading`` picks one; a snap at a node is free to use any of
        its edges.

        Returns
        -------
        float
            Seconds, ``math.inf`` when point 2 cannot be reached from point 1.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError, OffNetworkError
            For bad coordinates, a bad heading, or a point off the network.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.travel_time(0.0, 0.0025, 0.0, 0.0075), net.travel_time(0.0, 0.0075, 0.0, 0.0025)
        (30.0, inf)
        """
        start = self.snap(lat1, lng1, heading=heading)
        end = self.snap(lat2, lng2)
        return float(self.tree_to_snapped(end).times(snap_row(start))[0])

    def travel_times_to(
        self,
        lat: float,
        lng: float,
        origin_lats: ArrayLike,
        origin_lngs: ArrayLike,
        *,
        origin_headings: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Return the fastest driving time from each origin to one destination, seconds.

        One Dijkstra search on the reversed graph from the destination's snap serves every
        origin; partial edges at both ends count as in :meth:`travel_time`.

        Parameters
        ----------
        lat, lng
            The destination.
        origin_lats, origin_lngs
            The origins.
        origin_headings
            Optional travel direction of each origin (see :meth:`snap`).

        Returns
        -------
        numpy.ndarray
            float64 seconds per origin, ``inf`` where the destination is unreachable.

        Raises
        ------
        InvalidCoordinateError
            For a bad destination or origin coordinate.
        InvalidParameterError
            For bad headings.
        OffNetworkError
            When the destination, or any origin, is more than 1000 m from every
            (qualifying) road; for origins the message names the first such row. Use
            :meth:`snap_many` first to find and leave out such origins.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.travel_times_to(0.0, 0.0075, [0.0, 0.0], [0.0025, 0.009]).tolist()
        [30.0, inf]
        """
        dest = self.snap(lat, lng)
        origins = self.snap_many(origin_lats, origin_lngs, headings=origin_headings)
        bad = np.flatnonzero(origins.edge < 0)
        if bad.size:
            i = int(bad[0])
            la, ln = validate_latlng_array(origin_lats, origin_lngs)
            d = float(origins.distance_m[i])
            msg = (
                f"{bad.size} origin(s) are more than {DEFAULT_MAX_DISTANCE_M:g} m from every "
                "qualifying road; "
                f"first is row {i} ({la[i]}, {ln[i]}) at {d:.0f} m"
            )
            raise OffNetworkError(
                msg,
                lat=float(la[i]),
                lng=float(ln[i]),
                distance_m=d,
                max_distance_m=DEFAULT_MAX_DISTANCE_M,
            )
        return self.tree_to_snapped(dest).times(origins)

    def travel_times_to_snapped(
        self, destination: Snap, origins: SnapArrays, *, limit_s: float = math.inf
    ) -> NDArray[np.float64]:
        """Return :meth:`travel_times_to` for points snapped already (one search, no snapping).

        For callers that snap each position once (when it is reported) and rank many times.

        Parameters
        ----------
        destination
            From :meth:`snap`.
        origins
            From :meth:`snap_many`; every row must be on the network (``edge >= 0``).
        limit_s
            Search only this far: origins whose time is ``<= limit_s`` get it exactly, the
            others ``inf``. A small limit makes the search far cheaper (it stops there).

        Raises
        ------
        InvalidParameterError
            When the snaps are not from this network's snapping, a row is off the network,
            or ``limit_s`` is negative or NaN.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> trucks = net.snap_many([0.0, 0.0], [0.0025, 0.005])
        >>> net.travel_times_to_snapped(net.snap(0.0, 0.0075), trucks).tolist()
        [30.0, 15.0]
        >>> net.travel_times_to_snapped(net.snap(0.0, 0.0075), trucks, limit_s=20.0).tolist()
        [inf, 15.0]
        """
        self._check_origins(origins)
        return self.tree_to_snapped(destination, limit_s=limit_s).times(origins)

    def _check_origins(self, origins: SnapArrays) -> None:
        if not isinstance(origins, SnapArrays) or origins.edge.ndim != 1:
            msg = "origins must be the SnapArrays returned by this network's snap_many()"
            raise InvalidParameterError(msg, name="origins", value=type(origins).__name__)
        bad = np.flatnonzero(
            (origins.edge < 0)
            | (origins.edge >= self.n_edges)
            | (origins.twin < -1)
            | (origins.twin >= self.n_edges)
        )
        if bad.size:
            msg = (
                f"{bad.size} origin row(s) are not on the network (edge -1 or unknown), "
                f"first is row {int(bad[0])}; leave them out before ranking"
            )
            raise InvalidParameterError(msg, name="origins", value=int(bad[0]))

    def tree_to_snapped(
        self, destination: Snap, *, limit_s: float = math.inf, predecessors: bool = False
    ) -> DestinationTree:
        """Search once towards a snapped destination; query times and routes from it.

        The building block of :meth:`travel_times_to_snapped` and ranking: one reverse
        Dijkstra search (bounded by ``limit_s``) whose :meth:`DestinationTree.times` gives
        exact times from any snapped origins and, with ``predecessors``,
        :meth:`DestinationTree.legs` / :meth:`DestinationTree.distances_m` their routes.

        Raises
        ------
        InvalidParameterError
            When ``destination`` is not a snap of this network, or ``limit_s`` is negative
            or NaN.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> tree = net.tree_to_snapped(net.snap(0.0, 0.0075), predecessors=True)
        >>> trucks = net.snap_many([0.0], [0.0025])
        >>> tree.times(trucks).tolist(), tree.distances_m(tree.legs(trucks, [0])).round(1).tolist()
        ([30.0], [556.0])
        """
        if not isinstance(destination, Snap) or not 0 <= destination.edge < self.n_edges:
            msg = "destination must be a Snap returned by this network's snap()"
            raise InvalidParameterError(msg, name="destination", value=destination)
        try:
            limit = float(limit_s)
        except (TypeError, ValueError):
            limit = math.nan
        if not limit >= 0.0:
            msg = f"limit_s must be a number of seconds >= 0 (inf allowed), got {limit_s!r}"
            raise InvalidParameterError(msg, name="limit_s", value=limit_s)
        return DestinationTree(
            self._arrays,
            self._graph,
            self.edge_twin,
            destination,
            limit_s=limit,
            predecessors=predecessors,
            within=self._search_area(destination, limit),
        )

    def route_snapped(self, start: Snap, end: Snap) -> Route:
        """Return :meth:`route` between points snapped already.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.route_snapped(net.snap(0.0, 0.0025), net.snap(0.0, 0.0075)).eta_s
        30.0
        """
        if not isinstance(start, Snap) or not 0 <= start.edge < self.n_edges:
            msg = "start must be a Snap returned by this network's snap()"
            raise InvalidParameterError(msg, name="start", value=start)
        tree = self.tree_to_snapped(end, predecessors=True)
        return tree.route(start, self._segments)

    def route(
        self,
        lat1: float,
        lng1: float,
        lat2: float,
        lng2: float,
        *,
        heading: float | None = None,
    ) -> Route:
        """Return the fastest route from point 1 to point 2 with its shape.

        Returns
        -------
        Route
            ``(eta_s, distance_m, coords)``; ``coords`` runs from the start's snapped point
            through every shape point to the end's snapped point. When there is no route:
            ``Route(inf, inf, ())``.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError, OffNetworkError
            As :meth:`travel_time`.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.001],
        ...                         lng=[0.0, 0.001, 0.001], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 10.0])
        >>> r = RoadNetwork.from_arrays(a).route(0.0, 0.0005, 0.0005, 0.001)
        >>> r.eta_s, round(r.distance_m, 1), len(r.coords)
        (10.0, 111.2, 3)
        """
        start = self.snap(lat1, lng1, heading=heading)
        end = self.snap(lat2, lng2)
        return self.route_snapped(start, end)

    # The grammar's names: units in every name that returns a quantity (seconds here).
    # Each is the method above it names, the same function: the old names keep working.
    #: :meth:`travel_time` (its old name), seconds.
    travel_time_s = travel_time
    #: :meth:`travel_times_to` (its old name), seconds.
    travel_times_to_s = travel_times_to
    #: :meth:`travel_times_to_snapped` (its old name), seconds.
    travel_times_to_snapped_s = travel_times_to_snapped
    #: :meth:`shortest_times_from` (its old name), seconds.
    shortest_times_from_s = shortest_times_from
    #: :meth:`shortest_times_to` (its old name), seconds.
    shortest_times_to_s = shortest_times_to
