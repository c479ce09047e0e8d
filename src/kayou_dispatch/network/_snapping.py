"""Snap points to a road network's edges: the snapping methods of ``RoadNetwork``.

:class:`SnapMethods` holds :meth:`~kayou_dispatch.network.RoadNetwork.snap` and
:meth:`~kayou_dispatch.network.RoadNetwork.snap_many`;
:class:`~kayou_dispatch.network.RoadNetwork` inherits them (a mixin: ``_graph.py`` keeps
construction, persistence and the lazily built structures; reach the methods through
``RoadNetwork``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import OffNetworkError
from kayou_dispatch.geo import validate_latlng, validate_latlng_array
from kayou_dispatch.network._validate import check_heading, check_headings, check_max_distance_m
from kayou_dispatch.network.snap import SegmentIndex, Snap, SnapArrays

__all__ = ["DEFAULT_MAX_DISTANCE_M", "SnapMethods"]

#: How far a point may be from the nearest (qualifying) road when snapping, by default.
#: Point-to-point queries (``travel_time``, ``route``, ``travel_times_to``) always use it.
DEFAULT_MAX_DISTANCE_M = 1000.0


class SnapMethods:
    """The snapping methods of :class:`~kayou_dispatch.network.RoadNetwork` (a mixin)."""

    if TYPE_CHECKING:  # provided by RoadNetwork

        @property
        def edge_twin(self) -> NDArray[np.int64]: ...

        @property
        def _segments(self) -> SegmentIndex: ...

    def snap_many(
        self,
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        headings: ArrayLike | None = None,
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
        measure_far: bool = True,
    ) -> SnapArrays:
        """Snap many points at once (vectorised); off-network rows are marked, not raised.

        Parameters
        ----------
        lats, lngs
            Points, WGS-84 degrees.
        headings
            Optional travel direction per point, degrees clockwise from north; a row then
            only snaps to edges whose bearing is within 60 degrees of it.
        max_distance_m
            Rows farther than this from every qualifying road get ``edge == -1``.
        measure_far
            Whether such a row's ``distance_m`` is its nearest qualifying road's (True), or
            ``inf`` once a bound proves it off the network (False: much faster for points
            far from every road, such as trucks on minor roads off a main-road network).

        Returns
        -------
        SnapArrays
            ``edge``, ``fraction``, ``distance_m``, ``lat``, ``lng``, ``node`` arrays.

        Raises
        ------
        InvalidCoordinateError
            When any point is not a WGS-84 coordinate.
        InvalidParameterError
            For bad ``headings`` or ``max_distance_m``.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> s = RoadNetwork.from_arrays(a).snap_many([0.0001, 0.5], [0.005, 0.005])
        >>> s.edge.tolist(), s.fraction.round(2).tolist()[:1], s.distance_m.round(1).tolist()[:1]
        ([0, -1], [0.5], [11.1])
        """
        la, ln = validate_latlng_array(lats, lngs)
        hd = check_headings(headings, la.shape[0])
        limit = check_max_distance_m(max_distance_m)
        if la.shape[0] == 0:
            e = np.zeros(0, dtype=np.int64)
            f = np.zeros(0)
            return SnapArrays(e, f, f.copy(), f.copy(), f.copy(), e.copy(), e.copy())
        res = self._segments.snap_many(la, ln, hd, limit, measure_far=bool(measure_far))
        return self._with_twins(res, hd is not None)

    def _with_twins(self, res: SnapArrays, headed: bool) -> SnapArrays:
        # Without a heading, a point on a two-way road may leave along either direction.
        if headed:
            return res
        free = (res.edge >= 0) & (res.node < 0)
        twin = np.where(free, self.edge_twin[np.where(free, res.edge, 0)], -1)
        return res._replace(twin=twin.astype(np.int64))

    def snap(
        self,
        lat: float,
        lng: float,
        *,
        heading: float | None = None,
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> Snap:
        """Snap a point to the nearest road edge.

        Parameters
        ----------
        lat, lng
            The point, WGS-84 degrees.
        heading
            Optional travel direction, degrees clockwise from north: only edges whose
            bearing at the snapped point is within 60 degrees of it count, so a truck is not
            snapped to the opposite carriageway.
        max_distance_m
            How far the nearest (qualifying) road may be.

        Raises
        ------
        InvalidCoordinateError
            When the point is not a WGS-84 coordinate.
        InvalidParameterError
            For a bad ``heading`` or ``max_distance_m``.
        OffNetworkError
            When no qualifying road is within ``max_distance_m``.

        Examples
        --------
        >>> from kayou_dispatch.network import EdgeArrays, RoadNetwork
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> s = RoadNetwork.from_arrays(a).snap(0.0001, 0.0025)
        >>> s.edge, round(s.fraction, 3), round(s.distance_m, 1), s.node
        (0, 0.25, 11.1, None)
        """
        la, ln = validate_latlng(lat, lng)
        h = check_heading(heading)
        limit = check_max_distance_m(max_distance_m)
        one = self._segments.snap_point(la, ln, h, limit)
        if one is not None:  # the common case, in scalars: the same snap as snap_many's
            e, frac, d, slat, slng, node = one
            if e < 0:
                self._off_network(la, ln, d, limit, "point")
            twin = -1 if h is not None or node >= 0 else int(self.edge_twin[e])
            return Snap(
                edge=e,
                fraction=frac,
                distance_m=d,
                lat=slat,
                lng=slng,
                node=node if node >= 0 else None,
                twin=twin if twin >= 0 else None,
            )
        res = self._segments.snap_many(
            np.array([la]), np.array([ln]), None if h is None else np.array([h]), limit
        )
        return self._snap_row(self._with_twins(res, h is not None), 0, la, ln, limit, what="point")

    @staticmethod
    def _off_network(lat: float, lng: float, d: float, limit: float, what: str) -> NoReturn:
        msg = (
            f"{what} ({lat}, {lng}) is {d:.0f} m from the nearest qualifying road; "
            f"max_distance_m is {limit:g}"
        )
        raise OffNetworkError(msg, lat=lat, lng=lng, distance_m=d, max_distance_m=limit)

    @staticmethod
    def _snap_row(
        res: SnapArrays, i: int, lat: float, lng: float, limit: float, *, what: str
    ) -> Snap:
        if res.edge[i] < 0:
            SnapMethods._off_network(lat, lng, float(res.distance_m[i]), limit, what)
        node = int(res.node[i])
        twin = int(res.twin[i])
        return Snap(
            edge=int(res.edge[i]),
            fraction=float(res.fraction[i]),
            distance_m=float(res.distance_m[i]),
            lat=float(res.lat[i]),
            lng=float(res.lng[i]),
            node=node if node >= 0 else None,
            twin=twin if twin >= 0 else None,
        )
